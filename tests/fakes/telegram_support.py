"""Shared pieces for the Telegram tests and benchmark: a deterministic FakeAssistant, a fake kb.admin,
and `BotHarness`, which runs the real PTB Application against `tests.fakes.telegram_api.FakeBotAPI`."""
from __future__ import annotations

import re
import shutil
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.adapters.telegram import build_application, start_application, stop_application
from bot.config import Config, load_config
from bot.core.compose import answer as composed
from bot.core.types import ANSWERED, CLARIFY, NOT_FOUND, Answer, Citation, Parts, Reward, Session
from bot.errors import KBError
from bot.qlog import QuestionLog
from bot.runtime import Runtime
from bot.sessions import SessionStore

WEBHOOK_SECRET = "test-secret_0123456789"

JC_39 = Citation(
    doc="晋城市人民政府办公室关于印发晋城市支持专业镇高质量发展若干措施的通知",
    number="晋市政办〔2023〕39号",
    clause="一、（二）支持企业做大做强",
    text="对专业镇内营业收入首次突破5亿元的企业，给予一次性奖励10万元。",
    clause_id="jc-2023-39/1-2",
)
REGIONS = {"高平": "高平市", "泽州": "泽州县", "阳城": "阳城县", "陵川": "陵川县", "沁水": "沁水县",
           "城区": "晋城市城区"}
LONG_SENTENCE = "专业镇企业申报奖励时，应当如实填写营业收入、纳税和用工情况，并附上年度财务报表。"
LONG_SUGGESTION = "如果我们是涉农企业，营收首次突破10亿元，能拿多少奖励呢？"     # too long for callback data
CHOICES = ["高平", "泽州", "阳城"]


class FakeAssistant:
    """A deterministic stand-in for the core's Assistant (same duck type), so the adapter's tests do
    not depend on retrieval. It knows one rule (晋城, 营收首次过5亿 → 10万), asks for region and revenue
    when they are missing, echoes unknown questions (for escaping tests), and answers about documents
    it finds in `documents_dir` (for the upload flow: `reloaded()` re-reads them)."""

    def __init__(self, documents_dir: Path | None = None, gate: threading.Event | None = None):
        self.documents_dir = documents_dir
        self.gate = gate            # questions containing "慢" wait for it (a slow answer)
        self.reloads = 0
        self.docs: dict[str, tuple[str, str]] = {}      # doc id → (title, first line of the body)
        if documents_dir and documents_dir.is_dir():
            for p in sorted(documents_dir.glob("*.txt")):
                lines = [x.strip("# ").strip() for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]
                meta = p.with_suffix(".yaml")
                title = (yaml.safe_load(meta.read_text(encoding="utf-8")) or {}).get("title") if meta.exists() else None
                if lines:
                    self.docs[p.stem] = (title or lines[0], lines[1] if len(lines) > 1 else lines[0])

    def answer(self, question: str, session: Session) -> Answer:
        session.turns += 1
        if "boom" in question:
            raise RuntimeError("simulated failure in the core")
        if "慢" in question and self.gate is not None:
            if not self.gate.wait(10):
                raise RuntimeError("gate never opened")
            return Answer(NOT_FOUND, "慢问题的回答。")
        if "长回答" in question:
            text = "\n".join(f"{i}. {LONG_SENTENCE}" for i in range(1, 200))
            return Answer(ANSWERED, text[:5000])
        for doc_id, (title, body) in self.docs.items():
            if title in question:
                return Answer(ANSWERED, f"根据《{title}》：{body}",
                              citations=[Citation(title, "测试文号〔2026〕1号", "第一条", body, f"{doc_id}/1")])
        for short, full in REGIONS.items():
            if short in question:
                session.facts["region"] = full
        m = re.search(r"(\d+(?:\.\d+)?)\s*亿", question)
        if m:
            session.facts["revenue_yi"] = float(m.group(1))
        if "奖励" in question or session.pending:
            missing = [f for f in ("region", "revenue_yi") if f not in session.facts]
            if missing:
                session.pending = {"question": question}
                if missing == ["region"]:      # like the core: buttons when only the county is missing
                    return composed(Parts(headline="请问贵企业在哪个县（市、区）？", choices=CHOICES), CLARIFY,
                                    asked_for=missing)
                return Answer(CLARIFY, "请问贵企业在哪个县（市、区）？上一年营业收入是多少？", asked_for=missing)
            session.pending = None
            if session.facts["revenue_yi"] >= 5:
                # laid out in parts, as the core does
                parts = Parts(headline=f"{session.facts['region']}的企业营收首次突破5亿元，可获一次性奖励10万元。",
                              body=["· 营收首次突破5亿元：一次性奖励10万元。", "· 营收达到10亿元另有20万元<档>。"],
                              notes=["注意：与其他同类政策不重复奖补 & 不叠加。"],
                              assumptions=["按您之前说的：" + session.facts["region"]],
                              source="依据：晋市政办〔2023〕39号 一、（二）。",
                              offices="责任单位：市工信局。咨询电话：0356-2218792。",
                              suggestions=["这个找谁办？", LONG_SUGGESTION])
                return composed(parts, ANSWERED, citations=[JC_39],
                                rewards=[Reward("营收首次突破5亿元", 100000, "晋市政办〔2023〕39号")],
                                total_yuan=100000, rule_ids=["jc39-revenue-5e8"])
            return Answer(ANSWERED, "营收未达到5亿元，暂不符合该项奖励条件。", citations=[JC_39])
        return Answer(NOT_FOUND, f"抱歉，现有文件中没有找到关于“{question}”的规定。")

    def citation(self, clause_id: str) -> Citation | None:
        return JC_39 if clause_id == JC_39.clause_id else None

    def describe_facts(self, facts: dict) -> list[str]:
        out = []
        if "region" in facts:
            out.append(f"所在地区：{facts['region']}")
        if "revenue_yi" in facts:
            out.append(f"营业收入：{facts['revenue_yi']:g} 亿元")
        return out

    def is_current(self) -> bool:
        """Runtime asks whether another process swapped in a newer build; the fake never goes stale."""
        return True

    def reloaded(self):
        new = FakeAssistant(self.documents_dir, self.gate)
        new.reloads = self.reloads + 1
        return new, {"documents": len(new.docs), "clauses": 3 * len(new.docs)}


@dataclass
class Draft:
    title: str
    number: str = "测试文号〔2026〕1号"
    issuer: str = "晋城市工业和信息化局"
    region: str = "晋城市"
    valid_from: str = "2026-01-01"
    valid_until: str = "2028-12-31"
    kind: str = "support_policy"

    def describe(self) -> list[str]:
        return [f"标题：{self.title}", f"文号：{self.number}", f"发文机关：{self.issuer}", f"地区：{self.region}",
                f"有效期：{self.valid_from} 至 {self.valid_until}"]


@dataclass
class AddReport:
    doc_id: str
    clauses: int
    unchanged: bool = False


class FakeKBAdmin:
    """The two functions of kb/admin.py the adapter uses, over plain text files."""

    def __init__(self):
        self.inspected: list[str] = []
        self.added: list[str] = []
        self.overrides: list[dict | None] = []

    def inspect_file(self, path: Path, original_name: str) -> Draft:
        self.inspected.append(original_name)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise KBError(f"{original_name}: 读不出文字（不是 UTF-8/GBK 文本）")
        if not text.strip():
            raise KBError(f"{original_name}: 文件是空的")
        return Draft(title=text.splitlines()[0].strip())

    def add_document(self, config: Config, path: Path, original_name: str, overrides: dict | None = None) -> AddReport:
        draft = self.inspect_file(path, original_name)
        self.overrides.append(overrides)
        doc_id = "upload-" + str(len(self.added) + 1)
        config.documents_dir.mkdir(parents=True, exist_ok=True)
        target = config.documents_dir / f"{doc_id}.txt"
        shutil.copyfile(path, target)
        self.added.append(draft.title)
        return AddReport(doc_id, len([x for x in target.read_text(encoding="utf-8").splitlines() if x.strip()]) - 1)


def make_config(tmp: Path, **changes) -> Config:
    env = {"PZ_DATA_DIR": str(tmp / "var"), "PZ_DOCUMENTS_DIR": str(tmp / "documents"),
           "TELEGRAM_BOT_TOKEN": "123456:TEST-token"}
    return load_config(env=env).with_(**changes)


def make_runtime(config: Config, assistant) -> Runtime:
    """A Runtime over `assistant` with its sessions and question log in `config.data_dir`."""
    sessions = SessionStore(config.sessions_db, idle_seconds=config.session_idle_minutes * 60)
    return Runtime(config, assistant, sessions,
                   QuestionLog(config.log_db, config.log_key or None, key_file=config.log_key_path))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BotHarness:
    """The real PTB Application, started in polling or webhook mode against a FakeBotAPI.
    Every exception a handler raises is collected in `errors` (tests assert it is empty)."""

    def __init__(self, api, config: Config, runtime: Runtime, mode: str = "polling",
                 rate_limiter: bool = True, kb_admin=None):
        self.api, self.config, self.runtime, self.mode = api, config, runtime, mode
        self.rate_limiter, self.kb_admin = rate_limiter, kb_admin
        self.errors: list[BaseException] = []
        self.app = None
        self.webhook_url: str | None = None

    async def _collect(self, update, context) -> None:
        self.errors.append(context.error)

    async def start(self) -> "BotHarness":
        self.app = build_application(self.config, self.runtime, base_url=self.api.base_url,
                                     base_file_url=self.api.base_file_url, token=self.api.token,
                                     rate_limiter=self.rate_limiter, kb_admin=self.kb_admin)
        # the collector runs first, so an error is recorded before the user's apology goes out
        others = dict(self.app.error_handlers)
        self.app.error_handlers.clear()
        self.app.add_error_handler(self._collect)
        self.app.error_handlers.update(others)
        if self.mode == "polling":
            await start_application(self.app, poll_timeout=10)
        else:
            port = free_port()
            self.webhook_url = f"http://127.0.0.1:{port}/telegram/hook"
            await start_application(self.app, webhook_url=self.webhook_url, secret_token=WEBHOOK_SECRET,
                                    listen="127.0.0.1", port=port)
        return self

    async def stop(self) -> None:
        if self.app is not None:
            app, self.app = self.app, None
            await stop_application(app)

    @property
    def policy_bot(self):
        from bot.adapters.telegram import BOT_DATA_KEY
        return self.app.bot_data[BOT_DATA_KEY]

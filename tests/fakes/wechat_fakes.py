"""Fakes for the web and WeChat adapter tests: an assistant that answers a few questions the way the
real one does (clarify, then an amount with its clause), a customer-service API client, a runtime."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from bot.config import Config
from bot.core.types import ANSWERED, CLARIFY, NOT_FOUND, Answer, Citation, Reward, Session
from bot.qlog import QuestionLog
from bot.runtime import Runtime
from bot.sessions import SessionStore

CLAUSE = Citation(
    doc="晋城市人民政府办公室关于支持专业镇高质量发展的若干措施",
    number="晋市政办〔2023〕39号",
    clause="三、支持企业做大做强 · （一）",
    text="对专业镇内营业收入首次突破1亿元、5亿元、10亿元的企业，分别给予5万元、10万元、20万元奖励。",
    clause_id="jc-2023-39#3.1",
)
LAOZIHAO = Citation(
    doc="晋城市人民政府办公室关于支持专业镇高质量发展的若干措施",
    number="晋市政办〔2023〕39号",
    clause="四、支持品牌建设",
    text="对新认定的中华老字号企业，给予一次性20万元奖励。",
    clause_id="jc-2023-39#4",
)


class FakeAssistant:
    """Duck-types bot.core.service.Assistant. `gate`, when given, blocks every answer until set."""

    def __init__(self, gate: threading.Event | None = None):
        self.gate = gate
        self.questions: list[str] = []
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.questions)

    def answer(self, question: str, session: Session) -> Answer:
        with self._lock:
            self.questions.append(question)
        if self.gate is not None:
            assert self.gate.wait(timeout=30), "the test never released the fake assistant"
        session.turns += 1
        if "高平" in question or "晋城" in question:
            session.facts["region"] = "晋城市高平市"
        if "5亿" in question:
            session.facts["revenue_first"] = 500_000_000
        if "长答案" in question:
            return Answer(status=ANSWERED, answer="\n".join(f"第{i}条：" + "政策说明文字" * 20 for i in range(60)))
        if "老字号" in question:
            return Answer(status=ANSWERED, answer="新认定的中华老字号企业，给予一次性20万元奖励。",
                          citations=[LAOZIHAO], rewards=[Reward("中华老字号认定", 200_000, LAOZIHAO.number)],
                          total_yuan=200_000)
        if "奖励" in question or session.pending:
            if "region" not in session.facts:
                session.pending = {"question": question}
                return Answer(status=CLARIFY, answer="请问贵企业在哪个市、县（区）？今年营业收入是多少？",
                              asked_for=["region", "revenue"])
            session.pending = None
            return Answer(status=ANSWERED,
                          answer="按晋市政办〔2023〕39号，营业收入首次突破5亿元的企业可获10万元奖励。",
                          citations=[CLAUSE],
                          rewards=[Reward("营业收入首次突破5亿元", 100_000, f"{CLAUSE.number} {CLAUSE.clause}")],
                          total_yuan=100_000)
        return Answer(status=NOT_FOUND, answer=f"抱歉，现有政策文件中没有找到关于“{question}”的规定。")

    def citation(self, clause_id: str) -> Citation | None:
        return {c.clause_id: c for c in (CLAUSE, LAOZIHAO)}.get(clause_id)

    def describe_facts(self, facts: dict) -> list[str]:
        return [f"{k}: {v}" for k, v in facts.items()]

    def reloaded(self):
        return self, {}


class FakeCustomerService:
    """bot.adapters.wechat.CustomerService that records what it would send."""

    def __init__(self):
        self.sent: list[tuple[str, str]] = []
        self._changed = asyncio.Event()

    async def send_text(self, openid: str, content: str) -> None:
        self.sent.append((openid, content))
        self._changed.set()

    async def wait_for(self, count: int, timeout: float = 20) -> list[tuple[str, str]]:
        async def _wait():
            while len(self.sent) < count:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(_wait(), timeout)
        return self.sent


def make_config(tmp: Path, **changes) -> Config:
    return Config(documents_dir=tmp / "documents", rules_dir=tmp / "rules", data_dir=tmp / "data",
                  **changes)


def make_runtime(config: Config, assistant) -> Runtime:
    sessions = SessionStore(config.sessions_db, idle_seconds=config.session_idle_minutes * 60)
    return Runtime(config, assistant, sessions, QuestionLog(config.log_db, "test-salt"))



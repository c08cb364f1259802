"""The channel-agnostic query handler: `Assistant.answer(question, session) -> Answer`.

One question: clean it → analyse it into a frame (type + slots) → update the dialogue state (facts,
corrections) → the handler of its type (rules computed in code, sentences from the documents) → the
reply, with the subject of the answer remembered for follow-ups. Models, indexes and rule tables load
once, at start-up.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from datetime import date, datetime
from typing import Callable
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.core.compose import answer as make_answer
from bot.core.documents import Documents
from bot.core.evidence import EvidenceFinder
from bot.core.hooks import Hooks
from bot.core.handlers import HANDLERS, RETRIEVAL_TYPES
from bot.core.handlers.base import Ctx, Resources, describe_facts
from bot.core.state import last_subject, merge_facts, remember_subject
from bot.core.types import ANSWERED, CLARIFY, NOT_FOUND, Answer, Citation, Parts, Session
from bot.errors import IndexError_
from bot.nlu.frame import Analyzer, Frame
from bot.nlu.slots import has_cue, lexicon, read_slots
from index.search import Hit, Retriever
from kb.regions import Gazetteer
from kb.rules import RuleSet, load_rules
from kb.store import KnowledgeBase

log = logging.getLogger(__name__)

MAX_CHARS = 500
# types whose answer depends on the enterprise: their messages update what we know about it
ENTERPRISE_TYPES = {"reward", "eligibility", "facts_update", "checkup"}
FIRST_PERSON = re.compile(r"我们|我司|我厂|咱们|俺们|咱|本企业|本公司|我家|我是|我在")
ADDITIVE = re.compile(r"另外|加上|再加|加起来|连同|一起算|合起来|还有一个|还有一项|同时|一共|总共|合计|总计|"
                      r"[也还]又?新?(?:通过|入选|评上|获得|拿到|认定)")
TOTAL_ONLY = re.compile(r"(?:那|那么|请问)?(?:加起来|合起来|总共|一共|合计|总计)+(?:能|可以)?(?:拿|领|得|给|奖)?(?:多少|几多|多少钱|多钱)?(?:钱|万)?(?:呢|啊|呀)?")
# below this the type alone is not trusted: the reply says how it understood the question
UNSURE = 0.35


def today_in(tz: str) -> Callable[[], date]:
    zone = ZoneInfo(tz)
    return lambda: datetime.now(zone).date()


class Assistant:
    def __init__(self, config: Config, kb: KnowledgeBase, retriever: Retriever, rules: RuleSet,
                 gazetteer: Gazetteer, today: Callable[[], date] | None = None, build_id: str = "",
                 analyzer: Analyzer | None = None):
        from bot.core import calculator
        self.config, self.kb, self.retriever, self.rules, self.gaz = config, kb, retriever, rules, gazetteer
        self.today = today or today_in(config.timezone)
        self.build_id = build_id
        if analyzer is None:
            raise IndexError_("no question-type model loaded: use Assistant.load")
        self.analyzer = analyzer
        self.docs = Documents(kb, gazetteer)
        self.res = Resources(config, kb, retriever, rules, gazetteer, self.docs,
                             EvidenceFinder(retriever.index.sentences), calculator.families(rules),
                             _pending_proposals(config, kb))

    # ---- loading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, config: Config, today: Callable[[], date] | None = None, build: bool = True,
             embedder=None) -> "Assistant":
        from bot.nlu.model import load_model, query_text
        from index.embedder import make_embedder
        from index.store import LoadedIndex, Manifest, check_compatible, current_dir
        from index.tokenize import use_cache
        use_cache(config.cache_dir or config.data_dir / "cache")   # jieba's dictionary, split for a fast start
        embedder = embedder or make_embedder(config.embedder_backend, config.embedder_model, config.embed_batch_size,
                                             config.cache_dir, config.embed_spin)
        if build:
            from bot.build import build_all
            from kb.admin import recover
            recover(config, rebuild=False)   # a staff change a killed process left half-done
            build_all(config, progress=True, embedder=embedder)
        cur = current_dir(config.data_dir)
        if cur is None:
            raise IndexError_(f"no knowledge base built in {config.data_dir}: run `python -m bot build`")
        check_compatible(Manifest.read(cur, clauses=False), embedder.backend, embedder.model, embedder.dim)
        kb = KnowledgeBase.load(cur / "kb.sqlite")
        index = LoadedIndex.load(cur)
        gaz = Gazetteer.load()
        rules = load_rules(config.rules_dir, kb.clauses, gaz)   # checked clause by clause, not scanned
        retriever = Retriever(kb, index, embedder, gaz, config.rrf_k, config.candidates, config.sparse_weight,
                              config.sentence_weight, config.heading_weight)
        analyzer = Analyzer(load_model(config.cache_dir or config.data_dir / "cache", embedder), gaz,
                            lambda t: embedder.query(query_text(t)))
        return cls(config, kb, retriever, rules, gaz, today, index.manifest.build_id, analyzer)

    def reloaded(self) -> tuple["Assistant", dict]:
        from bot.build import build_all
        report = build_all(self.config, progress=False, embedder=self.retriever.embedder)
        new = Assistant.load(self.config, self.today, build=False, embedder=self.retriever.embedder)
        return new, {"documents": report.documents, "clauses": report.clauses, "embedded": report.embedded,
                     "unchanged": report.unchanged}

    def is_current(self) -> bool:
        """False when another process has swapped in a newer build."""
        from index.store import current_dir
        cur = current_dir(self.config.data_dir)
        return cur is None or cur.name == self.build_id

    @property
    def hooks(self) -> Hooks:
        """Curated replies and the hand-off inbox, supplied by the runtime (carried over on reload)."""
        return self.res.hooks

    @hooks.setter
    def hooks(self, value: Hooks) -> None:
        self.res.hooks = value

    # ---- helpers for adapters ---------------------------------------------------------------------
    def citation(self, clause_id: str) -> Citation | None:
        c = self.kb.clauses.get(clause_id)
        if not c:
            return None
        d = self.kb.documents[c.doc_id]
        return Citation(d.title, d.number, c.heading, c.text, c.id)

    def describe_facts(self, facts: dict) -> list[str]:
        return describe_facts(facts)

    def search(self, query: str, k: int = 5, region: str | None = None) -> list[Hit]:
        return self.retriever.search(query, k, region, self.today())

    def rules_in_force(self, today: date | None = None) -> tuple[RuleSet, set[str]]:
        """Rule rows whose source document answers today (not retired, not superseded), and those documents."""
        live = self.kb.live_documents(today or self.today())
        keep = lambda rows: [r for r in rows if r.source.doc in live]  # noqa: E731
        rs = self.rules
        extra = {name: keep(getattr(rs, name)) for name in ("awards",) if hasattr(rs, name)}
        return RuleSet(keep(rs.revenue_tiers), keep(rs.fixed_awards), keep(rs.recognition_thresholds),
                       keep(rs.policy_terms), keep(rs.contacts), rs.versions, **extra), live

    # ---- the answer ----------------------------------------------------------------------------
    def answer(self, question: str, session: Session) -> Answer:
        if session.state.get("handoff") and question and str(question).strip():
            # a message or a phone number for the person who will answer: taken as written
            q = re.sub(r"\s+", " ", "".join(ch for ch in str(question)[:MAX_CHARS * 2]
                                             if unicodedata.category(ch)[0] != "C")).strip()
            if q:
                return self._handoff_step(q, session)
        q = self._clean(question)
        if isinstance(q, Answer):
            return q
        session.turns += 1
        if q.strip("。！!？? ") in lexicon()["reset_exact"]:
            session.reset()
            return make_answer(Parts(headline="好的，已清除之前记录的企业信息，我们重新开始。请问有什么可以帮您？"))
        from bot.core.handlers.checkup import profile_answer, profile_command
        command = profile_command(q)
        if command:
            ans = profile_answer(command, session)
            ans.qtype = "profile"
            return ans
        today = self.today()
        asked = session.state.setdefault("asked", [])
        asked[:] = (asked + [q[:200]])[-6:]          # the conversation so far, for a hand-off's context
        frame = self.analyzer.analyse(q, today)
        curated = self._curated(frame)
        if curated is not None:
            return curated
        qtype = "checkup" if q.strip("。！!？? ") in lexicon()["checkup_exact"] else self._decide(frame, session)
        if qtype != frame.type and qtype in HANDLERS:
            frame.type = qtype          # what the answer was about, for "依据是什么" and corrections after it
        _answering(frame, session.pending)
        about_enterprise = qtype in ENTERPRISE_TYPES or bool(FIRST_PERSON.search(q))
        facts = merge_facts(session.facts, frame.slots) if about_enterprise else dict(session.facts)
        said = frame.slots.enterprise_facts() if about_enterprise else {}
        target, item_text = frame, None
        rules, live = self.rules_in_force(today)
        last = session.state.get("last") or {}
        if qtype == "facts_update":
            again = session.pending or last
            if again.get("question") and again.get("type") in HANDLERS:
                asked_again = again["question"]
                if again.get("type") in RETRIEVAL_TYPES and not session.pending:
                    asked_again = self._swap_subject(asked_again, q, again.get("clause_ids") or [])
                target = self.analyzer.analyse(asked_again, today)
                _apply_facts(target, facts)
                target.type = qtype = again["type"]
                item_text = self._item_text(again["question"], q, rules)
        elif qtype == "reward" and last.get("type") == "reward" and ADDITIVE.search(q):
            # "另外我们还评上了…", "一共多少": everything asked for so far in this conversation, and this
            item_text = session.state.get("reward_text") or last["question"]
            if not TOTAL_ONLY.fullmatch(q.strip("。？?！! ")):
                item_text += "；" + q
        elif qtype == "reward" and last.get("type") == "reward" and len(q) <= 14 and not _states_facts(frame) \
                and not self._names_award(q, rules):
            # "具体多少钱啊": the same award again
            target = self.analyzer.analyse(last["question"], today)
            _apply_facts(target, facts)
        ctx = Ctx(self.res, target, session, facts, said, last_subject(session), today, rules, live,
                  item_text=item_text)
        ans = HANDLERS[qtype](ctx) if qtype != "facts_update" else HANDLERS["facts_noted"](ctx)
        if qtype in COMPOUND_TYPES and target is frame and not session.pending and ans.status == ANSWERED:
            ans = self._compound(q, qtype, ans, ctx, session, facts, today, rules, live) or ans
        if qtype == "reset":
            return ans
        if qtype == "reward" and ans.status == ANSWERED:
            session.state["reward_text"] = item_text or target.text
        elif qtype not in ("reward", "facts_update", "ref_source", "ref_text", "office", "validity", "thanks"):
            session.state.pop("reward_text", None)
        interview = session.state.get("checkup")
        if interview and qtype != "checkup":
            # another question: the check-up's interview and its consent question are no longer pending
            interview["asking"] = None
            if interview.get("consent") == "asked":
                interview["consent"] = None
        if about_enterprise:
            session.facts.clear()
            session.facts.update(facts)
        session.pending = {"type": qtype, "question": target.text, "asked_for": ans.asked_for} \
            if ans.status == CLARIFY else None
        if ctx.about:
            remember_subject(session, ctx.about)
        if frame.confidence < UNSURE and ans.status == ANSWERED and ans.parts is not None and qtype in RETRIEVAL_TYPES:
            ans.answer += "\n（如果没有回答到您想问的，请换个说法再问一次。）"
        if ans.status == NOT_FOUND and qtype not in ("chitchat", "greeting", "thanks") and self.res.hooks.inbox:
            ans.answer += "\n需要工作人员解答的话，回复“留言”。"
            if ans.parts is not None:
                ans.parts.suggestions = ["留言"] + ans.parts.suggestions
        ans.qtype = qtype
        return ans

    def _handoff_step(self, q: str, session: Session) -> Answer:
        today = self.today()
        rules, live = self.rules_in_force(today)
        frame = Frame(q, "handoff_step", 1.0, [("handoff_step", 1.0)], read_slots(q, self.gaz, today))
        ctx = Ctx(self.res, frame, session, dict(session.facts), {}, last_subject(session), today, rules, live)
        ans = HANDLERS["handoff_step"](ctx)
        ans.qtype = "handoff"
        return ans

    def _curated(self, frame: Frame) -> Answer | None:
        """A reply staff wrote for a question close in meaning to this one (marked as such)."""
        source = self.res.hooks.curated
        if source is None or frame.type in ("facts_update", "reset", "greeting", "thanks", "handoff", "chitchat",
                                            "ref_source", "ref_text"):
            return None
        reply = source.match(frame.text, frame.qvec)
        if reply is None:
            return None
        cites = [c for c in map(self.citation, reply.clause_ids) if c]
        parts = Parts(headline=reply.text, notes=["（这是工作人员审核过的答复。）"])
        ans = make_answer(parts, ANSWERED, cites)
        ans.qtype = "curated"
        return ans

    def _names_award(self, text: str, rules: RuleSet) -> bool:
        from bot.core.calculator import awards_named, items_in
        return bool(items_in(text, rules, fams=self.res.families) or
                    awards_named(text, rules.awards, self.res.evidence.coverage))

    def _item_text(self, earlier: str, now: str, rules: RuleSet) -> str:
        """Where a what-if's award items are named: the new message when it names some (they replace the
        earlier ones, or join them with 另外/加上), else the earlier question."""
        from bot.core.calculator import items_in
        named = items_in(now, rules, fams=self.res.families)
        if not named:
            return earlier
        return earlier + "；" + now if ADDITIVE.search(now) else now

    def _compound(self, q: str, qtype: str, first: Answer, ctx: Ctx, session: Session, facts: dict,
                  today: date, rules: RuleSet, live: set[str]) -> Answer | None:
        """"提案答复有没有联系电话 承办人是谁": asks of different kinds in one message, each answered by its own
        handler (asks of one kind are the handler's own business). None when the message asks one thing."""
        asks = _asks(q)
        if len(asks) < 2 or qtype == "doc_meta":      # a document's fields are answered together already
            return None
        answers: list[tuple[str, Answer]] = []
        for i, ask in enumerate(asks):
            part = self.analyzer.analyse(ask, today)
            kind = self._decide(part, session)          # the kind from the ask itself…
            if i and len(ask) <= 10:
                # …the subject from what it leans on ("…领导小组组长是谁 办公室设在哪")
                part = self.analyzer.analyse(f"{_context(q, ask)} {ask}", today)
                part.type = kind
            if kind not in COMPOUND_TYPES:
                return None
            answers.append((ask, first if kind == qtype and i == 0 else HANDLERS[kind](
                Ctx(self.res, part, session, facts, {}, ctx.last, today, rules, live))))
        if all(a.parts is None for _, a in answers):
            return None
        heads = [a.parts.headline if a.parts else a.answer for _, a in answers]
        if len(set(heads)) < 2:
            return None         # the same answer for every ask: one thing asked in several words
        parts = Parts(status=next((a.parts.status for _, a in answers if a.parts and a.parts.status), ""))
        for ask, a in answers:
            p = a.parts
            if a.status != ANSWERED or p is None:
                parts.body.append(f"· {ask.rstrip('？?')}？文件中没有找到相关内容。")
                continue
            parts.body.append(f"· {ask.rstrip('？?')}？{p.headline}")
            parts.body += [b for b in p.body if not b.startswith("原文：")]
        parts.headline, parts.body = parts.body[0], parts.body[1:]
        sources = [a.parts.source for _, a in answers if a.parts and a.parts.source]
        parts.source = "依据：" + "；".join(dict.fromkeys(x.removeprefix("依据：").rstrip("。") for x in sources)) + "。" \
            if sources else ""
        parts.offices = next((a.parts.offices for _, a in answers if a.parts and a.parts.offices), "")
        cites = list({c.clause_id or c.clause: c for _, a in answers for c in a.citations}.values())
        warnings = list(dict.fromkeys(w for _, a in answers for w in a.warnings))
        return make_answer(parts, ANSWERED, cites, [], None, warnings)

    def _swap_subject(self, earlier: str, now: str, clause_ids: list[str]) -> str:
        """"代州黄酒呢" after "定襄法兰到2025年产值目标多少": the earlier question about the new subject — the
        words it shared with the heading of the clause that answered it give way to the new ones."""
        from index.tokenize import tokenize
        new = re.sub(r"^(?:那么?|那个|还有|另外)|(?:的)?呢?[？?。！!]*$", "", now).strip()
        if not new or new in earlier:
            return earlier
        heads = " ".join(self.kb.clauses[c].heading.split(" › ")[-1] for c in clause_ids if c in self.kb.clauses)
        subject = [t for t in tokenize(earlier) if len(t) >= 2 and t in heads]
        rest = earlier
        for t in subject:
            rest = rest.replace(t, "")
        return f"{rest} {new}" if subject else f"{earlier} {new}"

    def analyse(self, question: str) -> Frame:
        return self.analyzer.analyse(question, self.today())

    def _decide(self, frame: Frame, session: Session) -> str:
        """The handler for this frame: its type, unless the conversation says otherwise."""
        t = frame.type
        has_last = bool(session.state.get("last")) or bool(session.pending)
        if t not in ("reset",) and (session.state.get("checkup") or {}):
            from bot.core.handlers.checkup import answers_interview
            if answers_interview(frame, session):
                return "checkup"
        if t == "facts_update" and not has_last:
            # facts with nothing to apply them to: a question in them is answered as asked
            second = next((x for x, _ in frame.ranked[1:] if x != "facts_update"), "reward")
            if has_cue(frame.text, "question_cues"):
                return second
            rev = frame.slots.revenue
            if rev.current_yuan is not None and (rev.first_time or rev.prior_max_yuan is not None):
                return "reward"     # "泽州 铸造 首次过5亿 之前3亿 不涉农": the facts of a reward, told to have it worked out
            if self._names_award(frame.text, self.rules):
                return "reward"     # "我们公司新入选了山西精品 晋城高平的"
            return "facts_update"
        if (session.state.get("last") or {}).get("type") == "reward" and ADDITIVE.search(frame.text) and \
                (TOTAL_ONLY.fullmatch(frame.text.strip("。？?！! ")) or self._names_award(frame.text, self.rules)
                 or _states_facts(frame)):
            return "reward"         # "一共多少", "另外我们还评上了晋城老字号": added to the reward just answered
        if session.pending and t not in ("reset", "greeting", "thanks"):
            # the answer to what was asked: facts, or the award item the clarify asked to name
            from bot.core.calculator import items_in
            names_item = "item" in session.pending.get("asked_for", []) and \
                items_in(frame.text, self.rules, fams=self.res.families)
            if names_item or (_states_facts(frame) and frame.score("facts_update") >= 0.15):
                return "facts_update"
        if t in ("person", "policy", "list") and frame.slots.meta_fields and \
                re.search(r"提案|答复|文件|方案|政策|通知", frame.text) and \
                set(frame.slots.meta_fields) & {"answers_to", "title", "number", "issuer", "date"}:
            return "doc_meta"       # "卢瑞莲委员那份提案叫什么题目": a fact about a document, not in it
        if t in ("policy", "out_of_scope"):
            # support asked for an award item the rule tables name is a question about that award — when the
            # item's own clause is what answers it (not another document's measure on the same subject)
            from bot.core.calculator import awards_named, items_in
            rows = items_in(frame.text, self.rules, fams=self.res.families) + \
                awards_named(frame.text, self.rules.awards, self.res.evidence.coverage)
            if rows and (re.search(r"奖|补|多少钱|怎么算|给多少|拿多少", frame.text) or
                         self._answered_by(frame, {r.source.clause for r in rows})):
                return "reward"
        return t

    def _answered_by(self, frame: Frame, clause_ids: set[str]) -> bool:
        region = frame.slots.region
        hits = self.retriever.search(frame.text, 5, region, self.today(), qvec=frame.qvec)
        own = [h for h in hits if self.kb.doc_of(h.clause_id).region == region]
        hits = own or hits      # a place with its own document is answered from it first
        return bool(hits) and hits[0].clause_id in clause_ids

    def _clean(self, question: str) -> str | Answer:
        if question is None or not str(question).strip():
            return Answer(CLARIFY, "请输入您的问题，例如：“晋城涉农企业营收首次达到3亿元，奖励多少？”",
                          asked_for=["question"])
        q = "".join(ch for ch in str(question) if unicodedata.category(ch)[0] != "C" or ch in "\n\t")
        q = re.sub(r"\s+", " ", q).strip()
        if not q:
            return Answer(CLARIFY, "您的消息里没有可识别的文字，请用文字描述您的问题。", asked_for=["question"])
        if len(q) > MAX_CHARS:
            return Answer(CLARIFY, f"问题太长了（{len(q)}字）。请用{MAX_CHARS}字以内说明您想了解的政策问题，"
                                   "例如企业所在县区、营收、想了解的奖励。", asked_for=["question"])
        if not re.search(r"[\u4e00-\u9fff]", q):
            if re.search(r"[A-Za-z]{3,}", q):
                return Answer(NOT_FOUND, "目前只支持中文提问，请用中文描述您的问题。"
                                         "(Please ask in Chinese: the policy documents are in Chinese.)")
            return Answer(CLARIFY, "没看懂您的消息，请用文字描述您的问题，例如：“新入选中华老字号奖励多少？”",
                          asked_for=["question"])
        return q


def _pending_proposals(config: Config, kb: KnowledgeBase) -> dict:
    """Amount sentences staff have not reviewed yet, by clause: quoted, never computed."""
    from kb.proposals import load_review
    out: dict = {}
    try:
        for p in load_review(config.rules_dir):
            if p.status == "pending" and p.clause in kb.clauses and p.kind != "not_a_reward":
                out.setdefault(p.clause, []).append(p)
    except Exception as e:  # a damaged review file must not stop the assistant answering
        log.warning("rule proposals under review unreadable: %s", e)
    return out


# the kinds of ask a message may combine ("有没有电话 承办人是谁"): answered one by one
COMPOUND_TYPES = {"office", "person", "list", "number", "when", "doc_meta", "policy", "eligibility"}
_ASK = re.compile(r"谁|哪|多少|几|吗|什么|啥|有没有|是否|怎么|如何|呢$")


def _asks(q: str) -> list[str]:
    """The pieces of a message that each ask something, in order."""
    pieces = [p.strip() for p in re.split(r"[？?；;，,。\s]+", q) if p.strip()]
    return [p for p in pieces if _ASK.search(p) and len(p) >= 3]


def _context(q: str, ask: str) -> str:
    """What a short ask leans on: the message before it, without the other asks' question words."""
    before = q[:q.find(ask)] if ask in q else q
    return re.sub(r"[？?；;，,。]", " ", before).strip()


def _answering(frame: Frame, pending: dict | None) -> None:
    """A bare figure answering "设备购置额是多少" is that figure, not revenue."""
    s = frame.slots
    asked = (pending or {}).get("asked_for", [])
    if "investment" in asked and s.investment_yuan is None and s.revenue.current_yuan is not None \
            and not has_cue(frame.text, "revenue_words"):
        s.investment_yuan = s.revenue.current_yuan
        s.revenue = type(s.revenue)()


def _states_facts(frame: Frame) -> bool:
    s = frame.slots
    return bool(s.enterprise_facts()) or bool(s.not_regions)


def _apply_facts(frame: Frame, facts: dict) -> None:
    """A question asked again with the facts known now (a correction or a what-if)."""
    from bot.nlu.slots import Revenue
    s = frame.slots
    s.region = facts.get("region")
    s.not_regions = []
    s.agricultural = facts.get("agricultural")
    s.agricultural_inferred = bool(facts.get("agricultural_inferred"))
    s.revenue = Revenue.from_dict(facts.get("revenue"))
    for k in ("category", "output_yuan", "leading_firms", "partner_firms", "investment_yuan", "people", "area_mu"):
        setattr(s, k, facts.get(k))
    if facts.get("category"):
        s.categories = [facts["category"]]     # "那特优农业的呢": the category asked about now

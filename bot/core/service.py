"""The channel-agnostic query handler: `Assistant.answer(question, session) -> Answer`.

Loads the knowledge base, index and rule tables once (at start-up, never at import). The flow for one
question: facts from the question and the session → intent → rules (amounts computed in code) and/or
retrieved clauses → a plain-Chinese reply with 文号, clause and office → warnings for expired policies.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache
from datetime import date, datetime
from typing import Callable
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.core import calculator as calc
from bot.core.amounts import format_yuan
from bot.core.facts import Facts, describe, extract
from bot.core.types import ANSWERED, CLARIFY, NOT_FOUND, Answer, Citation, Reward, Session
from bot.errors import IndexError_
from index.search import Hit, Retriever
from index.tokenize import tokenize
from kb.regions import Gazetteer
from kb.rules import RuleSet, load_rules
from kb.store import KnowledgeBase

log = logging.getLogger(__name__)

MAX_CHARS = 500
RESET_WORDS = ("重新开始", "重置", "清除", "从头开始", "/reset")
REWARD = re.compile(r"奖励|奖补|补贴|补助|奖金|奖多少|能拿|拿多少|给多少|多少钱|一共|有奖|有什么支持|有啥支持|能获得|能得到|扶持多少|支持多少|奖吗")
RECOGNITION = re.compile(r"认定|申报|够不够|够格|够资格|达标吗|条件|标准|要求|门槛|评定|评上|创建|要达到|需要达到|达到多少")
OFFICE = re.compile(r"哪个部门|什么部门|找谁|找哪|负责单位|责任单位|哪个单位|联系电话|电话|联系谁|办理")
DOMAIN = re.compile(r"专业镇|奖|补|政策|营收|产值|认定|申报|龙头|老字号|地理标志|认证|资金|目标|领导小组|责任单位|"
                    r"部门|园区|用地|土地|环评|融资|担保|贷款|上市|人才|培训|标准|品牌|电商|展会|专精特新|企业")
GREETING = re.compile(r"^(你好|您好|hi|hello|在吗|在不在|嗨)[!！。.？?]*$", re.I)


def today_in(tz: str) -> Callable[[], date]:
    zone = ZoneInfo(tz)
    return lambda: datetime.now(zone).date()


@lru_cache(maxsize=16384)
def _tokens(text: str) -> frozenset[str]:
    """Token set of a question, sentence or heading; sentences and headings repeat across questions."""
    return frozenset(tokenize(text))


def _cn_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


class Assistant:
    def __init__(self, config: Config, kb: KnowledgeBase, retriever: Retriever, rules: RuleSet,
                 gazetteer: Gazetteer, today: Callable[[], date] | None = None, build_id: str = ""):
        self.config, self.kb, self.retriever, self.rules, self.gaz = config, kb, retriever, rules, gazetteer
        self.today = today or today_in(config.timezone)
        self.build_id = build_id
        self._idf = self._token_weights()

    def _token_weights(self) -> dict[str, float]:
        """Inverse clause frequency of each token: rare words decide which sentence answers."""
        import math
        df: dict[str, int] = {}
        for c in self.kb.clauses.values():
            for t in set(tokenize(c.text)):
                df[t] = df.get(t, 0) + 1
        n = max(len(self.kb.clauses), 1)
        return {t: math.log(1 + n / d) for t, d in df.items()}

    # ---- loading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, config: Config, today: Callable[[], date] | None = None, build: bool = True,
             embedder=None) -> "Assistant":
        from index.embedder import make_embedder
        from index.store import LoadedIndex, Manifest, check_compatible, current_dir
        from kb.build import build as build_kb
        embedder = embedder or make_embedder(config.embedder_backend, config.embedder_model,
                                             config.embed_batch_size)
        if build:
            from kb.admin import recover
            recover(config, rebuild=False)   # a staff change a killed process left half-done
            build_kb(config, progress=True, embedder=embedder)
        cur = current_dir(config.data_dir)
        if cur is None:
            raise IndexError_(f"no knowledge base built in {config.data_dir}: run `python -m bot build`")
        check_compatible(Manifest.read(cur), embedder.backend, embedder.model, embedder.dim)
        kb = KnowledgeBase.load(cur / "kb.sqlite")
        index = LoadedIndex.load(cur)
        gaz = Gazetteer.load()
        rules = load_rules(config.rules_dir, set(kb.clauses), gaz)
        retriever = Retriever(kb, index, embedder, gaz, config.rrf_k, config.candidates, config.sparse_weight)
        return cls(config, kb, retriever, rules, gaz, today, index.manifest.build_id)

    def reloaded(self) -> tuple["Assistant", dict]:
        from kb.build import build as build_kb
        report = build_kb(self.config, progress=False, embedder=self.retriever.embedder)
        new = Assistant.load(self.config, self.today, build=False, embedder=self.retriever.embedder)
        return new, {"documents": report.documents, "clauses": report.clauses, "embedded": report.embedded,
                     "unchanged": report.unchanged}

    def is_current(self) -> bool:
        """False when another process has swapped in a newer build."""
        from index.store import current_dir
        cur = current_dir(self.config.data_dir)
        return cur is None or cur.name == self.build_id

    # ---- helpers for adapters ---------------------------------------------------------------------
    def citation(self, clause_id: str) -> Citation | None:
        c = self.kb.clauses.get(clause_id)
        if not c:
            return None
        d = self.kb.documents[c.doc_id]
        return Citation(d.title, d.number, c.heading, c.text, c.id)

    def describe_facts(self, facts: dict) -> list[str]:
        return describe(facts)

    def search(self, query: str, k: int = 5, region: str | None = None) -> list[Hit]:
        return self.retriever.search(query, k, region, self.today())

    # ---- the answer ----------------------------------------------------------------------------
    def answer(self, question: str, session: Session) -> Answer:
        q = self._clean(question)
        if isinstance(q, Answer):
            return q
        session.turns += 1
        if any(q.strip("。！!") == w for w in RESET_WORDS):
            session.reset()
            return Answer(ANSWERED, "好的，已清除之前记录的企业信息，我们重新开始。请问有什么可以帮您？")
        if GREETING.match(q):
            return Answer(ANSWERED, "您好！我可以解答专业镇支持政策：奖励金额、认定条件、目标任务和责任部门。"
                                    "例如：“我们是涉农企业，营收首次过了5亿，能拿多少奖励？”")
        new = extract(q, self.gaz)
        pending = session.pending
        follow_up = bool(pending) and self._is_follow_up(q, new)
        if follow_up:
            q_for_intent = pending["question"] + "；" + q
        else:
            q_for_intent = q
            session.pending = None
        facts = new.merged_over(session.facts)
        if follow_up and pending.get("level") and not facts.level:
            facts.level = pending["level"]
        session.facts.update(new.as_dict())
        ans = self._route(q_for_intent, facts, session)
        if ans.status == CLARIFY or (ans.status == ANSWERED and (ans.rewards or ans.rule_ids)):
            # a clarify waits for its facts; an amount can be recomputed when a fact is corrected
            session.pending = {"question": q_for_intent, "level": facts.level}
        else:
            session.pending = None
        return ans

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
            if not re.search(r"[A-Za-z0-9]", q):
                return Answer(CLARIFY, "没看懂您的消息，请用文字描述您的问题，例如：“新入选中华老字号奖励多少？”",
                              asked_for=["question"])
        return q

    def _is_follow_up(self, q: str, new: Facts) -> bool:
        has_facts = bool(new.as_dict())
        asks_new = bool(re.search(r"哪些|是谁|什么|怎么|如何|吗[？?]?$|[？?]$", q)) and not has_facts
        return has_facts and not asks_new or (not asks_new and len(q) <= 12)

    def rules_in_force(self) -> RuleSet:
        """Rule rows whose source document answers today (not retired, not superseded)."""
        live = self.kb.live_documents(self.today())
        keep = lambda rows: [r for r in rows if r.source.doc in live]  # noqa: E731
        rs = self.rules
        return RuleSet(keep(rs.revenue_tiers), keep(rs.fixed_awards), keep(rs.recognition_thresholds),
                       keep(rs.policy_terms), keep(rs.contacts), rs.versions)

    # ---- routing ---------------------------------------------------------------------------------
    def _route(self, q: str, facts: Facts, session: Session) -> Answer:
        rules = self.rules_in_force()
        items = calc.items_in(q, rules)
        wants_reward = bool(REWARD.search(q)) or bool(items and re.search(r"多少|几|吗|怎么", q))
        if facts.outside and not facts.region:
            return self._not_found(q, f"现有知识库只收录了山西省晋城市、忻州市和临汾市乡宁县的专业镇政策，"
                                      f"没有关于{facts.outside}的内容。")
        if RECOGNITION.search(q) and not items and not (wants_reward and facts.revenue_yuan) and \
                re.search(r"专业镇|区级|市级|县级|产值|龙头|配套", q):
            rec = self._recognition(q, facts, rules)
            if rec:
                return rec
        if OFFICE.search(q) and not re.search(r"多少|几", q):
            return self._office(q, facts)
        if wants_reward or items or (facts.revenue_yuan and re.search(r"首次|第一次|突破|达到|过了", q)):
            return self._reward(q, facts, items, rules)
        return self._facts_answer(q, facts)

    # ---- rewards -----------------------------------------------------------------------------------
    def _reward(self, q: str, facts: Facts, items, rules: RuleSet) -> Answer:
        region = facts.region
        if region and not self.retriever.allowed_docs(region, self.today()):
            return self._no_docs_for(region)
        regional_rules = calc.applicable(rules.revenue_tiers + rules.fixed_awards, region, self.gaz)
        if region and not regional_rules:
            return self._no_amounts_for(q, facts, items, rules)
        if not items and facts.revenue_yuan is None:
            missing = []
            if not region:
                missing.append("企业在哪个县（市、区）")
            missing.append("年营收多少、是否首次达到（如“营收首次达到5亿元”）")
            if facts.agricultural is None:
                missing.append("是否涉农企业")
            text = ("为了算出您能获得的奖励，请告诉我：" + "；".join(f"{i + 1}. {m}" for i, m in enumerate(missing)) +
                    "。如果是获得了认证或品牌（如中华老字号、地理标志、质量管理体系认证），也请直接说明。")
            return Answer(CLARIFY, text, asked_for=["region", "revenue", "agricultural"][: len(missing)])
        result = calc.RewardResult()
        if facts.revenue_yuan is not None and (REWARD.search(q) or re.search(r"营收|收入|销售|首次|突破|达到", q)):
            calc.revenue_reward(facts, rules, self.gaz, result)
        calc.fixed_rewards(items, facts, rules, self.gaz, result)
        if not result.outcomes and not result.misses and not result.other_region_rules:
            return self._facts_answer(q, facts)
        return self._compose_reward(q, facts, result, rules)

    def _compose_reward(self, q: str, facts: Facts, result: calc.RewardResult, rules: RuleSet) -> Answer:
        today = self.today()
        lines, warnings, cites, rule_ids = [], [], [], []
        total = result.total_yuan
        fixed = [o for o in result.outcomes if o.amount_yuan]
        open_ = [o for o in result.outcomes if not o.amount_yuan]
        if fixed:
            if len(fixed) > 1:
                parts = "＋".join(format_yuan(o.amount_yuan) for o in fixed)
                lines.append(f"可获得奖励合计{format_yuan(total)}（{parts}）。")
            else:
                lines.append(f"可获得奖励{format_yuan(total)}。")
            for o in fixed:
                lines.append(f"· {o.item}：{o.wording}。")
        for o in open_:
            lines.append(f"· {o.item}：{o.wording}（文件未规定具体金额，以主管部门实际审核为准）。")
        for m in result.misses:
            lines.append(m)
        if not result.outcomes and not result.misses and result.other_region_rules:
            lines.append(f"{facts.region}现有文件中没有对此规定奖励。")
        for n in result.other_region_rules:
            lines.append(f"（供参考：{n}，不适用于{facts.region}的企业。）")
        notes = list(result.notes) + [n for o in result.outcomes for n in o.notes]
        for n in dict.fromkeys(notes):
            lines.append(n)
        if result.outcomes and not facts.region:
            lines.append("以上依据为晋城市政策，适用于晋城市（含城区、泽州、高平、阳城、陵川、沁水）专业镇企业。")
        if len(fixed) > 1 or any(o.amount_yuan for o in fixed):
            nd = next((t for t in rules.policy_terms if t.kind == "no_double_reward"), None)
            if nd and any(self.gaz.covers(nd.region, self.kb.documents[self.kb.clauses[o.clause_id].doc_id].region)
                          for o in fixed):
                lines.append(f"注意：{nd.text}。")
        clause_ids = list(dict.fromkeys([o.clause_id for o in result.outcomes] + result.clause_ids))
        for cid in clause_ids:
            c = self.citation(cid)
            if c:
                cites.append(c)
        rule_ids = [o.rule_id for o in result.outcomes]
        src = self._sources_line(clause_ids)
        if src:
            lines.append(src)
        offices = self._offices_line(clause_ids)
        if offices:
            lines.append(offices)
        w = self._validity_warnings(clause_ids, today)
        warnings.extend(w)
        lines.extend(w)
        rewards = [Reward(o.item, o.amount_yuan, self._basis(o.clause_id), o.rule_id) for o in result.outcomes]
        status = ANSWERED
        return Answer(status, "\n".join(lines), cites, rewards, total, warnings, rule_ids=rule_ids)

    def _no_amounts_for(self, q: str, facts: Facts, items, rules: RuleSet) -> Answer:
        region = facts.region
        hits = self.retriever.search(q + " 奖励 支持 资金", 3, region, self.today())
        lines = [f"{region}适用的现有政策文件中，没有规定具体的奖励金额，因此无法为您计算奖励。"]
        cites = []
        for h in hits[:2]:
            c = self.citation(h.clause_id)
            cites.append(c)
            lines.append(f"{region}相关文件提到：{self._best_sentences(q, h.clause_id, 1)}（{c.number} {c.clause}）")
        other = sorted({r.region for r in rules.revenue_tiers + rules.fixed_awards})
        if other:
            lines.append(f"说明：{'、'.join(other)}的《支持专业镇高质量发展若干政策》设有营收达标等奖励，"
                         f"但只适用于{'、'.join(other)}的企业，不适用于{region}。具体支持请咨询当地工信部门。")
        return Answer(ANSWERED, "\n".join(lines), cites, [], None, [])

    def _no_docs_for(self, region: str) -> Answer:
        return Answer(NOT_FOUND, f"知识库中还没有适用于{region}的专业镇政策文件，暂时无法回答。"
                                 f"目前收录：晋城市（含各县市区）、晋城市城区、忻州市、乡宁县的文件。")

    # ---- recognition thresholds ------------------------------------------------------------------
    def _recognition(self, q: str, facts: Facts, rules: RuleSet) -> Answer | None:
        rows = rules.recognition_thresholds
        region = facts.region
        if region:
            rows = [r for r in rows if self.gaz.covers(r.region, region) or r.region == region]
        elif facts.level:
            rows = [r for r in rows if r.level == facts.level]
        if facts.level:
            rows = [r for r in rows if r.level == facts.level] or rows
        if not rows:
            return None
        regions = sorted({r.region for r in rows})
        if len(regions) > 1:
            return Answer(CLARIFY, "认定条件各地不同：请问是哪个地方的专业镇？（例如晋城市城区的区级专业镇，"
                                   "或忻州市的市级专业镇）", asked_for=["region"])
        cat = facts.category
        chosen = [r for r in rows if r.category == cat] if cat else rows
        chosen = chosen or rows
        first = chosen[0]
        today = self.today()
        lines = []
        lvl = f"{self.gaz.short(first.region) if first.region != '忻州市' else '忻州'}{first.level}专业镇"
        lines.append(f"{lvl}的量化认定条件：")
        for r in chosen:
            relaxed = (f"；主导产品具有历史发源地、地理标志等传统特色的可适当放宽，但年产值不少于"
                       f"{format_yuan(r.relaxed_min_output_yuan)}") if r.relaxed_min_output_yuan else ""
            lines.append(f"· {r.category}类：年产值{format_yuan(r.min_output_yuan)}以上"
                         f"（{r.min_output_yuan / 10**8:g}亿元）{relaxed}。")
        lines.append(f"· 龙头企业：至少{first.min_leading_firms}家实力较强、行业知名的龙头企业，带动上下游配套企业"
                     f"（含家庭农场、专业合作社）{first.min_partner_firms}户以上。")
        if facts.output_yuan is not None or facts.leading_firms is not None or facts.partner_firms is not None:
            row = next((r for r in chosen if r.category == cat), None)
            if row is None:
                lines.append("请说明专业镇属于哪一类（制造业、特优农业、轻工），我再逐项对照。")
            else:
                checks = calc.recognition(facts, row)
                mark = {calc.MET: "✅ 满足", calc.UNMET: "❌ 不满足", calc.UNKNOWN: "❓ 待确认"}
                lines.append(f"对照{row.category}类：")
                for c in checks:
                    lines.append(f"· {c.name}：{mark[c.status]}（{c.detail}）")
                if all(c.status == calc.MET for c in checks):
                    lines.append("量化条件均已满足；另需符合历史传承、就业带动、公共服务等定性条件，以主管部门评定为准。")
                elif any(c.status == calc.UNMET for c in checks):
                    lines.append("目前有量化条件未达到，暂不符合申报要求。")
        clause_ids = list(dict.fromkeys([r.source.clause for r in chosen] + [first.firms_source.clause]))
        cites = [c for c in map(self.citation, clause_ids) if c]
        lines.append(self._sources_line(clause_ids))
        w = self._validity_warnings(clause_ids, today)
        lines.extend(w)
        return Answer(ANSWERED, "\n".join(lines), cites, [], None, w,
                      rule_ids=[r.id for r in chosen])

    # ---- offices -----------------------------------------------------------------------------------
    def _office(self, q: str, facts: Facts) -> Answer:
        hits = self._relevant(q, facts)
        if not hits:
            return self._not_found(q)
        top = [h for h in hits[:3] if self.kb.clauses[h.clause_id].offices] or hits[:1]
        c = self.kb.clauses[top[0].clause_id]
        cite = self.citation(c.id)
        lines = []
        if c.offices:
            lines.append(f"这项工作的责任单位是：{c.offices}。")
        else:
            lines.append(self._best_sentences(q, c.id, 2))
        contact = self._contact_for([c.id])
        if contact:
            lines.append(contact)
        lines.append(f"依据：{cite.number}《{cite.doc}》{cite.clause}。")
        w = self._validity_warnings([c.id], self.today())
        lines.extend(w)
        return Answer(ANSWERED, "\n".join(lines), [cite], [], None, w)

    # ---- facts, lists, targets ---------------------------------------------------------------------
    def _relevant(self, q: str, facts: Facts) -> list[Hit]:
        hits = self.retriever.search(q, self.config.top_k, facts.region, self.today())
        if not hits:
            return []
        best = hits[0]
        q_tokens = _tokens(q)
        on_topic = bool(DOMAIN.search(q)) or best.sparse >= 6.0
        if not on_topic and best.dense < self.config.min_dense_score + 0.04:
            return []
        if best.dense < self.config.min_dense_score and best.sparse < 3.0:
            return []
        if not q_tokens:
            return []
        return hits

    def _facts_answer(self, q: str, facts: Facts) -> Answer:
        hits = self._relevant(q, facts)
        if not hits:
            return self._not_found(q)
        # the sentence that answers: best word overlap among the top clauses, earlier ranks preferred
        cands = []
        wants_number = bool(re.search(r"多少|目标|几|规模|比重|金额", q))
        wants_person = "谁" in q
        for rank, h in enumerate(hits[:3]):
            c = self.kb.clauses[h.clause_id]
            head = 0.5 * self._overlap(q, c.heading)
            topic = _tokens(c.heading)
            for s in self._sentences(h.clause_id):
                score = self._overlap(q, s, topic) + head
                if wants_number and re.search(r"\d", s):
                    score *= 1.3
                if wants_person and c.kind == "name_list" and "：" in s:
                    score *= 1.5
                cands.append((score * (1.0 - 0.1 * rank), rank, h.clause_id, s))
        cands.sort(key=lambda x: (-x[0], x[1]))
        best_score, _, cid, _ = cands[0]
        cids = [cid]
        quote = self._best_sentences(q, cid, 2)
        lines = [quote]
        # a second clause when it scores close and adds something
        other = next((x for x in cands[1:] if x[2] != cid), None)
        if other and other[0] >= 0.8 * best_score and other[3] not in quote:
            lines.append(other[3])
            cids.append(other[2])
        cites = [self.citation(c) for c in cids]
        lines.append(self._sources_line(cids))
        w = self._validity_warnings(cids, self.today())
        lines.extend(w)
        return Answer(ANSWERED, "\n".join(lines), cites, [], None, w)

    def _overlap(self, q: str, sentence: str, exclude: frozenset = frozenset()) -> float:
        qt = _tokens(q) - exclude
        st = _tokens(sentence)
        top = max(self._idf.values(), default=1.0)
        return sum(self._idf.get(t, top) * (1.0 if len(t) > 1 else 0.3) for t in qt & st)

    def _sentences(self, clause_id: str) -> list[str]:
        c = self.kb.clauses[clause_id]
        sents = [s.strip() for s in re.split(r"(?<=[。！？])|\n", c.text) if s.strip()]
        # the heading sentence alone (“（二）实施达标奖励措施。”) answers nothing
        return [s for s in sents if len(s) > 12 or re.search(r"\d", s)] or sents

    def _best_sentences(self, q: str, clause_id: str, n: int) -> str:
        sents = self._sentences(clause_id)
        wants_number = bool(re.search(r"多少|目标|几|规模|比重|金额", q))
        topic = _tokens(self.kb.clauses[clause_id].heading)

        def score(i: int) -> float:
            v = self._overlap(q, sents[i], topic)
            return v * 1.3 if wants_number and re.search(r"\d", sents[i]) else v
        ranked = sorted(range(len(sents)), key=lambda i: (-score(i), i))
        top = score(ranked[0])
        keep = [ranked[0]]
        for i in ranked[1:n]:
            if score(i) >= 0.5 * top and sum(len(sents[j]) for j in keep) + len(sents[i]) <= 400:
                keep.append(i)
        text = "".join(sents[i] for i in sorted(keep))
        return text if len(text) <= 400 else text[:400] + "…"

    def _not_found(self, q: str, reason: str = "") -> Answer:
        text = (reason or "抱歉，现有政策文件中没有找到能回答这个问题的内容。") + \
               "我可以解答：专业镇企业能获得的奖励金额、专业镇认定条件、各地专业镇名单和目标、责任部门等。"
        return Answer(NOT_FOUND, text)

    # ---- shared pieces -----------------------------------------------------------------------------
    def _basis(self, clause_id: str) -> str:
        c = self.kb.clauses[clause_id]
        d = self.kb.documents[c.doc_id]
        return f"{d.number} {c.heading}"

    def _sources_line(self, clause_ids: list[str]) -> str:
        by_doc: dict[str, list[str]] = {}
        for cid in clause_ids:
            c = self.kb.clauses.get(cid)
            if c:
                by_doc.setdefault(c.doc_id, []).append(c.heading)
        parts = [f"{self.kb.documents[d].number}《{self.kb.documents[d].title}》" + "、".join(dict.fromkeys(h))
                 for d, h in by_doc.items()]
        return "依据：" + "；".join(parts) + "。" if parts else ""

    def _offices_line(self, clause_ids: list[str]) -> str:
        offices = [self.kb.clauses[c].offices for c in clause_ids if c in self.kb.clauses and self.kb.clauses[c].offices]
        if not offices:
            return ""
        line = f"责任单位：{offices[0]}。"
        contact = self._contact_for(clause_ids)
        return line + (contact if contact else "")

    def _contact_for(self, clause_ids: list[str]) -> str:
        offices = " ".join(self.kb.clauses[c].offices for c in clause_ids if c in self.kb.clauses)
        regions = {self.kb.documents[self.kb.clauses[c].doc_id].region for c in clause_ids if c in self.kb.clauses}
        for ct in self.rules.contacts:
            if ct.office in offices and ct.region in regions:
                src = self.citation(ct.source.clause)
                return f"咨询电话：{ct.office} {ct.phone}（见{src.doc if src else ''}）。"
        return ""

    def _validity_warnings(self, clause_ids: list[str], today: date) -> list[str]:
        out = []
        for doc_id in dict.fromkeys(self.kb.clauses[c].doc_id for c in clause_ids if c in self.kb.clauses):
            d = self.kb.documents[doc_id]
            until = d.valid_until_date()
            if until and today > until:
                out.append(f"⚠️ 提示：{d.number}《{d.title}》的有效期至{_cn_date(until)}（{until.isoformat()}），"
                           f"今天（{_cn_date(today)}）已过期。以上按原文说明，现行是否延续或有新政策，请向责任单位核实。")
        return out

"""What every question-type handler gets: the question's frame, the conversation's facts and last subject,
and the knowledge base's pieces (retrieval, sentences, rules in force, documents), with the shared parts of a
reply (citations, source line, offices and phone, the validity status)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from bot.config import Config
from bot.core.documents import Documents
from bot.core.evidence import Evidence, EvidenceFinder
from bot.core.hooks import Hooks
from bot.core.state import Subject
from bot.core.types import Citation, Parts, Session
from bot.nlu.frame import Frame
from index.search import Hit, Retriever
from kb.regions import Gazetteer
from kb.rules import RuleSet
from kb.store import KnowledgeBase


@dataclass
class Resources:
    config: Config
    kb: KnowledgeBase
    retriever: Retriever
    rules: RuleSet             # every rule row; `Ctx.rules` keeps those in force
    gaz: Gazetteer
    docs: Documents
    evidence: EvidenceFinder
    families: dict
    pending: dict = field(default_factory=dict)   # clause id -> proposals staff have not reviewed yet
    hooks: "Hooks" = field(default_factory=lambda: Hooks())   # curated replies and the inbox (the runtime's)


@dataclass
class Ctx:
    res: Resources
    frame: Frame
    session: Session
    facts: dict                # the enterprise's facts after this message
    said: dict                 # the facts this message itself states
    last: Subject | None
    today: date
    rules: RuleSet             # rows whose document answers today
    live: set[str]             # documents that answer today
    used_memory: list[str] = field(default_factory=list)   # remembered facts the reply relies on
    about: Subject | None = None   # set by the handler: what this answer is about, for follow-ups
    item_text: str | None = None   # where award items are named, when not the question itself (a what-if)
    lookup_query: str | None = None   # the question as searched (with the county's name for "我们县")
    followup: list[str] = field(default_factory=list)   # the last answer's clauses, looked in first

    # ---- convenience ---------------------------------------------------------------------------------
    @property
    def q(self) -> str:
        return self.frame.text

    @property
    def kb(self) -> KnowledgeBase:
        return self.res.kb

    @property
    def gaz(self) -> Gazetteer:
        return self.res.gaz

    def remembered(self, key: str):
        """A fact from earlier in the conversation (not said in this message), noted as used."""
        if key in self.said or key not in self.facts:
            return self.said.get(key)
        self.used_memory.append(key)
        return self.facts[key]

    def fact(self, key: str):
        return self.said[key] if key in self.said else self.remembered(key)

    def region_for_lookup(self) -> str | None:
        """The region a fact question is about: the one it names, or the enterprise's own when it says so
        ("我们县", "我们那边")."""
        s = self.frame.slots
        if s.region:
            return s.region
        if s.own_area and self.facts.get("region"):
            return self.remembered("region")
        return None

    # ---- retrieval ---------------------------------------------------------------------------------------
    def search(self, query: str | None = None, region: str | None = None, k: int = 8,
               reuse_vector: bool = True) -> list[Hit]:
        query = query or self.q
        qvec = self.frame.qvec if reuse_vector and query == self.q else None
        return self.res.retriever.search(query, k, region, self.today, qvec=qvec)

    def named_documents(self, live: set[str] | None = None) -> list[str]:
        """The documents the question names, best first (bot/core/documents.py), among `live` if given."""
        return self.res.docs.named(self.q, self.res.evidence, live, self.res.retriever.index.titles)

    def evidence(self, clause_ids: list[str], kind: str = "content", question: str | None = None,
                 n: int = 8) -> list[Evidence]:
        from bot.core.evidence import content_tokens
        from kb.synonyms import expand
        heads = {c: self.kb.clauses[c].heading for c in clause_ids if c in self.kb.clauses}
        question = question or self.lookup_query or self.q
        expanded = expand(question)
        # the synonym table's document terms help find the sentence, but count less than the owner's own words
        minor = self.place_tokens() | (content_tokens(expanded) - content_tokens(question))
        found = self.res.evidence.best(expanded, clause_ids, kind, max(n, 12), heads, minor)
        named = self.frame.slots.region
        if named and named in self.kb.document_regions():
            # a question naming 城区 is about 城区's own document before the city's that also covers it
            for e in found:
                if self.kb.doc_of(e.clause_id).region == named:
                    e.score *= 1.2
            found.sort(key=lambda e: -e.score)
        if self.followup:
            for e in found:     # a follow-up is about what was just answered
                if e.clause_id in self.followup:
                    e.score *= 1.3
            found.sort(key=lambda e: -e.score)
        return found[:n]

    def place_tokens(self) -> frozenset[str]:
        """Words naming places that documents govern (晋城, 城区, 忻州…): the search is already limited to
        them, so in a sentence they are weak evidence. A county inside a city's document (神池, 高平) is not."""
        from index.tokenize import tokenize
        doc_regions = self.kb.document_regions()
        names = [self.q[a:b] for name, a, b in self.gaz.mentions(self.q) if name in doc_regions]
        return frozenset(t for n in names for t in tokenize(n)) | frozenset(names)

    # ---- reply pieces ------------------------------------------------------------------------------------
    def citation(self, clause_id: str) -> Citation | None:
        c = self.kb.clauses.get(clause_id)
        if not c:
            return None
        d = self.kb.documents[c.doc_id]
        return Citation(d.title, d.number, c.heading, c.text, c.id)

    def citations(self, clause_ids: list[str]) -> list[Citation]:
        return [c for c in map(self.citation, dict.fromkeys(clause_ids)) if c]

    def source_line(self, clause_ids: list[str]) -> str:
        by_doc: dict[str, list[str]] = {}
        for cid in clause_ids:
            c = self.kb.clauses.get(cid)
            if c:
                by_doc.setdefault(c.doc_id, []).append(c.heading)
        parts = [f"{self.kb.documents[d].number}《{self.kb.documents[d].title}》" + "、".join(dict.fromkeys(h))
                 for d, h in by_doc.items()]
        return "依据：" + "；".join(parts) + "。" if parts else ""

    def offices_of(self, clause_ids: list[str]) -> str:
        offices = [self.kb.clauses[c].offices for c in clause_ids if c in self.kb.clauses and self.kb.clauses[c].offices]
        return "；".join(dict.fromkeys(offices))

    def contact_for(self, clause_ids: list[str], offices: str = "") -> str:
        offices = offices or " ".join(self.kb.clauses[c].offices for c in clause_ids if c in self.kb.clauses)
        regions = {self.kb.documents[self.kb.clauses[c].doc_id].region for c in clause_ids if c in self.kb.clauses}
        for ct in self.res.rules.contacts:
            if ct.office in offices and ct.region in regions:
                src = self.citation(ct.source.clause)
                return f"咨询电话：{ct.office} {ct.phone}（见{src.doc if src else ''}）。"
        return ""

    def offices_line(self, clause_ids: list[str]) -> str:
        offices = self.offices_of(clause_ids)
        if not offices:
            return ""
        return f"责任单位：{offices}。" + self.contact_for(clause_ids, offices)

    def doc_ids(self, clause_ids: list[str]) -> list[str]:
        return list(dict.fromkeys(self.kb.clauses[c].doc_id for c in clause_ids if c in self.kb.clauses))

    def status(self, clause_ids: list[str]) -> tuple[str, list[str]]:
        """(the one status line leading the reply, the warnings) for the documents cited."""
        lines = []
        for doc_id in self.doc_ids(clause_ids):
            v = self.res.docs.validity(doc_id, self.today)
            if v.expired or v.not_yet:
                lines.append(v.sentence())
        return " ".join(lines), lines

    def finish(self, parts: Parts, clause_ids: list[str], with_offices: bool = True,
               with_source: bool = True) -> tuple[Parts, list[Citation], list[str]]:
        """Source, offices and status for the cited clauses; returns (parts, citations, warnings)."""
        clause_ids = list(dict.fromkeys(clause_ids))
        if with_source and not parts.source:
            parts.source = self.source_line(clause_ids)
        if with_offices and not parts.offices:
            parts.offices = self.offices_line(clause_ids)
        status, warnings = self.status(clause_ids)
        if status and not parts.status:
            parts.status = status
        if self.used_memory:
            described = describe_facts({k: self.facts[k] for k in dict.fromkeys(self.used_memory) if k in self.facts},
                                       compact=True)
            if described:
                parts.assumptions = ["按您之前说的：" + "，".join(described)] + parts.assumptions
        return parts, self.citations(clause_ids), warnings

    def subject(self, clause_ids: list[str], rule_ids: list[str] | None = None, quotes: list[str] | None = None,
                region: str | None = None) -> Subject:
        return Subject(self.frame.type, self.q, self.doc_ids(clause_ids), list(dict.fromkeys(clause_ids)),
                       rule_ids or [], region, quotes or [])


def describe_facts(facts: dict, compact: bool = False) -> list[str]:
    """Facts as plain Chinese: 所在地区：高平市 … (compact: 高平市，涉农企业 …, for a line of a reply)."""
    from bot.nlu.amounts import format_yuan
    from bot.nlu.slots import Revenue
    lines = []

    def add(label: str, value: str, short: str | None = None) -> None:
        lines.append((short or value) if compact else f"{label}：{value}")
    if facts.get("region"):
        add("所在地区", facts["region"])
    if facts.get("agricultural") is not None:
        add("涉农企业", "是" if facts["agricultural"] else "否", "涉农企业" if facts["agricultural"] else "非涉农企业")
    rev = Revenue.from_dict(facts.get("revenue"))
    if rev.current_yuan:
        when = f"{rev.year}年" if rev.year else ""
        first = "（首次达到）" if rev.first_time else ""
        add(f"{when}营收", f"{format_yuan(rev.current_yuan)}{first}", f"{when}营收{format_yuan(rev.current_yuan)}{first}")
    if rev.prior_max_yuan:
        add("此前最高营收", format_yuan(rev.prior_max_yuan), f"此前最高营收{format_yuan(rev.prior_max_yuan)}")
    if facts.get("category"):
        add("产业类别", facts["category"], f"{facts['category']}类")
    if facts.get("output_yuan"):
        add("专业镇年产值", format_yuan(facts["output_yuan"]), f"年产值{format_yuan(facts['output_yuan'])}")
    if facts.get("leading_firms") is not None:
        add("龙头企业", f"{facts['leading_firms']}家", f"龙头企业{facts['leading_firms']}家")
    if facts.get("partner_firms") is not None:
        add("上下游配套企业", f"{facts['partner_firms']}户", f"配套企业{facts['partner_firms']}户")
    if facts.get("investment_yuan"):
        add("投资/购置额", format_yuan(facts["investment_yuan"]), f"投资/购置额{format_yuan(facts['investment_yuan'])}")
    rec = facts.get("recognitions") or {}
    won = [f"{k}（{v['year']}年）" if v.get("year") else k for k, v in rec.items() if v.get("won")]
    if won:
        add("已获得的认定/称号", "、".join(won), "已获" + "、".join(won))
    if facts.get("people") is not None:
        add("人数", f"{facts['people']:g}人", f"{facts['people']:g}人")
    return lines


def short_region(gaz: Gazetteer, name: str | None) -> str:
    return gaz.short(name) if name else ""


def strip_heading(sentence: str) -> str:
    """A sentence without the heading marker it starts with (“（二）实施达标奖励措施。对…”)."""
    return re.sub(r"^(?:[一二三四五六七八九十]+、|（[一二三四五六七八九十\d]+）|\d+[.、])\s*", "", sentence)

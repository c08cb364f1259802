"""Documents as the answer sees them: which one a question names, whether it is in force today, who it
was addressed to."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from kb.documents import DocumentMeta
from kb.regions import Gazetteer
from kb.store import KnowledgeBase

_NUM_IN_NUMBER = re.compile(r"(\d{4})\D{0,3}(\d{1,4})\s*号")
_KIND_WORDS = {"support_policy": ("若干政策", "支持政策", "政策"), "implementation_plan": ("实施方案", "方案"),
               "status_report": ("答复", "提案", "回复")}


def cn_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


@dataclass
class Validity:
    doc: DocumentMeta
    until: date | None
    valid_from: date | None
    today: date

    @property
    def expired(self) -> bool:
        return bool(self.until and self.today > self.until)

    @property
    def not_yet(self) -> bool:
        return bool(self.valid_from and self.today < self.valid_from)

    def sentence(self) -> str:
        d = self.doc
        name = f"{d.number}《{d.title}》" if d.number else f"《{d.title}》"
        if self.expired:
            return (f"{name}的有效期至{cn_date(self.until)}，已于{cn_date(self.until)}到期（今天是"
                    f"{cn_date(self.today)}），已失效；以下按原文说明，现在是否延续或有新政策，请向责任单位核实。")
        if self.not_yet:
            return f"{name}自{cn_date(self.valid_from)}起施行，现在还未生效。"
        if self.until:
            return f"{name}的有效期至{cn_date(self.until)}，目前仍在有效期内。"
        issued = f"，{cn_date(date.fromisoformat(d.date))}印发" if d.date else ""
        return f"{name}{issued}，文件没有写明有效期或截止日期，目前未被废止或替代；具体执行以主管部门为准。"


class Documents:
    def __init__(self, kb: KnowledgeBase, gazetteer: Gazetteer):
        self.kb, self.gaz = kb, gazetteer

    def validity(self, doc_id: str, today: date) -> Validity:
        d = self.kb.documents[doc_id]
        return Validity(d, d.valid_until_date(), d.valid_from_date(), today)

    def named(self, question: str, overlap, live: set[str] | None = None) -> list[str]:
        """Documents the question names (by 文号, proposal number, title words, kind and region), best first;
        empty when it names none clearly. `overlap(question, text)` scores shared rare words."""
        region = self.gaz.find_in(question)
        scores = {}
        for doc_id, d in self.kb.documents.items():
            if live is not None and doc_id not in live:
                continue
            s = 0.0
            number = re.sub(r"\s", "", d.number or "")
            q = re.sub(r"[\s〔〕\[\]［］（）()【】]", "", question)
            plain = re.sub(r"[〔〕\[\]［］（）()【】]", "", number)
            if plain and plain in q:
                s += 20
            m = _NUM_IN_NUMBER.search(plain)
            if m and re.search(rf"(?<!\d){int(m.group(2))}\s*号", question):
                s += 8
            ta = re.search(r"TA\d{3,5}", number + d.title, re.I)
            if ta and ta.group().lower() in question.lower():
                s += 20
            s += overlap(question, d.title)
            for w in _KIND_WORDS.get(d.kind, ()):
                if w in question:
                    s += 2
                    break
            if region and region.name == d.region:
                s += 3
            elif region and not (self.gaz.covers(d.region, region.name) or self.gaz.covers(region.name, d.region)):
                s -= 6
            scores[doc_id] = s
        ranked = sorted(scores, key=scores.get, reverse=True)
        if not ranked or scores[ranked[0]] < 8:
            return []
        best = scores[ranked[0]]
        return [d for d in ranked if scores[d] >= best - 1.0]

    def answers_to(self, doc_id: str) -> str | None:
        """The proposal or letter a reply answers ("您提出的《关于…的建议》已收悉")."""
        for c in self.kb.clauses_of(doc_id):
            m = re.search(r"(?:提出的|所提|提交的|提的)《([^》]{4,60})》", c.text)
            if m:
                return m.group(1)
        return None

    def addressee(self, doc_id: str) -> str | None:
        """Who a letter or reply is addressed to ("卢瑞莲委员"), from its cover."""
        cover = self.kb.clauses.get(f"{doc_id}/cover")
        if not cover:
            return None
        for line in cover.text.split("\n"):
            m = re.fullmatch(r"([\u4e00-\u9fff]{2,4}(?:委员|代表|同志|先生|女士))[：:]", line.strip())
            if m:
                return m.group(1)
        return None

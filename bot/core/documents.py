"""Documents as the answer sees them: which one a question names, whether it is in force today, who it
was addressed to."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np

from index.titles import NUM_IN_NUMBER, TitleIndex, plain_number, plain_question, ta_key
from kb.documents import DocumentMeta
from kb.regions import Gazetteer
from kb.store import KnowledgeBase

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
    # a document is named when its score reaches NAMED; those within NEAR of the best are named with it
    NAMED, NEAR = 8.0, 1.0
    _EPS = 1e-6     # rounding between the scores summed per document and those summed per word

    def __init__(self, kb: KnowledgeBase, gazetteer: Gazetteer):
        self.kb, self.gaz = kb, gazetteer
        self._order: dict[str, int] | None = None
        self._checked: tuple[TitleIndex, bool] | None = None

    def validity(self, doc_id: str, today: date) -> Validity:
        d = self.kb.documents[doc_id]
        return Validity(d, d.valid_until_date(), d.valid_from_date(), today)

    def named(self, question: str, evidence, live: set[str] | None = None,
              titles: TitleIndex | None = None) -> list[str]:
        """Documents the question names (by 文号, proposal number, title words, kind and region), best first;
        empty when it names none clearly. `evidence` scores shared rare words (bot/core/evidence.py:
        `text_overlap`, and `overlap_weights` when `titles` is given). With the build's index of titles and
        numbers (index/titles.py) only the documents that can reach the bar are scored — the same answer as
        scoring every document."""
        region = self.gaz.find_in(question)
        if titles is not None and self._usable(titles):
            docs = self._candidates(question, region, evidence, live, titles)
        else:
            docs = [d for d in self.kb.documents if live is None or d in live]
        scores = {d: self._score(self.kb.documents[d], question, region, evidence.text_overlap) for d in docs}
        ranked = sorted(scores, key=scores.get, reverse=True)
        if not ranked or scores[ranked[0]] < self.NAMED:
            return []
        best = scores[ranked[0]]
        return [d for d in ranked if scores[d] >= best - self.NEAR]

    def _score(self, d: DocumentMeta, question: str, region, overlap) -> float:
        s = 0.0
        q = plain_question(question)
        plain = plain_number(d.number)
        if plain and plain in q:
            s += 20
        m = NUM_IN_NUMBER.search(plain)
        if m and re.search(rf"(?<!\d){int(m.group(2))}\s*号", question):
            s += 8
        ta = ta_key(d.number, d.title)
        if ta and ta in question.lower():
            s += 20
        s += overlap(question, d.title)
        s += self._kind_bonus(d.kind, question)
        if region:
            s += self._region_bonus(d.region, region.name)
        return s

    @staticmethod
    def _kind_bonus(kind: str, question: str) -> float:
        return 2.0 if any(w in question for w in _KIND_WORDS.get(kind, ())) else 0.0

    def _region_bonus(self, doc_region: str, named: str) -> float:
        if named == doc_region:
            return 3.0
        if self.gaz.covers(doc_region, named) or self.gaz.covers(named, doc_region):
            return 0.0
        return -6.0

    def _candidates(self, question: str, region, evidence, live: set[str] | None, titles: TitleIndex) -> list[str]:
        """The documents whose score can reach the bar and come within NEAR of the best, in the knowledge
        base's order: every document's score summed per word at once (numbers, title words, kind, region),
        then kept with a margin for rounding; `_score` gives the exact ones."""
        approx = titles.overlap(*evidence.overlap_weights(question))
        for docs, points in ((titles.quoting_number(question), 20.0), (titles.numbered(question), 8.0),
                             (titles.quoting_ta(question), 20.0)):
            approx[docs] += points
        approx += np.array([self._kind_bonus(k, question) for k in titles.kinds])[np.asarray(titles.doc_kind)]
        if region:
            approx += np.array([self._region_bonus(r, region.name) for r in titles.regions]
                               )[np.asarray(titles.doc_region)]
        # a named document scores NAMED at least and the others NEAR less: nothing below can be named
        pos = np.flatnonzero(approx >= self.NAMED - self.NEAR - self._EPS)
        ids = [titles.doc_id(i) for i in pos.tolist()]
        keep = [k for k, d in enumerate(ids) if live is None or d in live]
        if not keep:
            return []
        best = float(approx[pos[keep]].max())
        if best < self.NAMED - self._EPS:
            return []
        out = [ids[k] for k in keep if approx[pos[k]] >= best - self.NEAR - 2 * self._EPS]
        order = self._positions()
        return sorted(out, key=order.__getitem__)

    def _positions(self) -> dict[str, int]:
        if self._order is None:
            self._order = {d: i for i, d in enumerate(self.kb.documents)}
        return self._order

    def _usable(self, titles: TitleIndex) -> bool:
        """The index is of these very documents (else every document is scored)."""
        if self._checked is None or self._checked[0] is not titles:
            same = len(titles) == len(self.kb.documents) and \
                set(np.asarray(titles.ids).tolist()) == set(self.kb.documents)
            self._checked = (titles, same)
        return self._checked[1]

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

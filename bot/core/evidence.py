"""Evidence at sentence level: the sentence of the kind asked for (how many → a number with its unit,
which → a list, who → names, when → a date) from the best clauses, scored by the rare words it shares with
the question. Token weights, sentence splits and which clauses hold which words come from the build
(index/sentences.py): nothing here is computed over the whole knowledge base."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from index.sentences import SentenceIndex, bigrams
from index.tokenize import tokenize

# words that say what kind of answer is wanted, not what it is about
CUE_WORDS = frozenset("多少 几 几个 几家 几户 哪些 哪个 哪几 哪几个 哪几条 哪位 什么 啥 谁 是 要 有 吗 呢 都 分别 具体 一下 请问 "
                      "怎么 如何 咋 么 能 可以 是否 还 主要 包括 哪里 哪儿 哪天 哪年 何时 时候 什么时候 规定 文件 政策 说 提到 "
                      "里 中 上 方面 情况 内容 问 想 知道 了解 告诉 我们 咱们 俺们 目标 那个 这个".split())
UNIT_CUES = (("户", r"\d+(?:\.\d+)?\s*户"), ("家", r"\d+(?:\.\d+)?\s*家"), ("个", r"\d+(?:\.\d+)?\s*个"),
             ("人", r"\d+(?:\.\d+)?\s*(?:人|名)"), ("%", r"\d+(?:\.\d+)?\s*%"), ("比重", r"\d+(?:\.\d+)?\s*%"),
             ("强度", r"\d+(?:\.\d+)?\s*%"), ("吨", r"\d+(?:\.\d+)?\s*万?吨"), ("斤", r"\d+(?:\.\d+)?\s*万?斤"),
             ("亿", r"\d+(?:\.\d+)?\s*亿"), ("资金", r"\d+(?:\.\d+)?\s*(?:万|亿)元"), ("钱", r"\d+(?:\.\d+)?\s*(?:万|亿)?元"),
             ("销售", r"\d+(?:\.\d+)?\s*(?:万|亿)?元"), ("签约", r"\d+(?:\.\d+)?\s*(?:万|亿)?元"),
             ("产值", r"\d+(?:\.\d+)?\s*亿元"), ("规模", r"\d+(?:\.\d+)?\s*亿元"), ("数量", r"\d+(?:\.\d+)?\s*[个户家]"))
_NUMBER = re.compile(r"\d+(?:\.\d+)?\s*(?:%|万?亿元|万元|元|亿|户|家|个|人|名|吨|万吨|万斤|斤|条|项|倍|年)")
_DATE = re.compile(r"(?:19|20)\d\d\s*年(?:\s*\d{1,2}\s*月)?|\d{1,2}\s*月\s*\d{1,2}\s*日")
_PERSON_LINE = re.compile(r"^(?:[\u4e00-\u9fff]{1,6}[：:]\s*)?[\u4e00-\u9fff]{2,3}\s+[\u4e00-\u9fff、（）]{2,}")


HEADING_WEIGHT = 1.0   # a clause's own heading ("（四）原平煤机") names what each of its sentences is about


@dataclass
class Evidence:
    clause_id: str
    sentence: str
    score: float
    index: int          # position of the sentence in its clause


@lru_cache(maxsize=8192)
def content_tokens(question: str) -> frozenset[str]:
    return frozenset(t for t in tokenize(question) if t not in CUE_WORDS)


@lru_cache(maxsize=8192)
def question_grams(question: str) -> frozenset[str]:
    stripped = question
    for w in sorted(CUE_WORDS, key=len, reverse=True):
        if len(w) > 1:
            stripped = stripped.replace(w, " ")
    return frozenset(bigrams(stripped))


@lru_cache(maxsize=65536)
def _text_units(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """A text's tokens and bigrams (headings, item names and titles are compared with many questions)."""
    return frozenset(tokenize(text)), frozenset(bigrams(text))


def unit_pattern(question: str) -> re.Pattern | None:
    for cue, pattern in UNIT_CUES:
        if cue in question:
            return re.compile(pattern)
    return None


class EvidenceFinder:
    def __init__(self, sentences: SentenceIndex):
        self.s = sentences

    def candidates(self, question: str, allowed, k: int = 6) -> list[str]:
        """Clauses holding a sentence with the question's rarest words (a second way in, beside the
        retriever's ranking, for a sentence the clause as a whole does not rank for). `allowed`: the
        document ids the answer may come from, a mask over the index's documents (Retriever.allowed_mask),
        or a test on a clause id."""
        idf = self.s.idf
        q = sorted((t for t in content_tokens(question) if len(t) > 1 and t in idf),
                   key=lambda t: -idf.get(t, 0.0))[:3]
        layout = self.s.layout
        if callable(allowed):
            scores: dict[int, float] = {}
            for t in q:
                w = idf.get(t, 0.0)
                for r in self.s.clauses_with(t).tolist():
                    if allowed(layout.clause_id(r)):
                        scores[r] = scores.get(r, 0.0) + w
            return [layout.clause_id(r) for r in sorted(scores, key=scores.get, reverse=True)[:k]]
        doc_ok = allowed if isinstance(allowed, np.ndarray) else layout.doc_mask(set(allowed))
        rows, weights = [], []
        for t in q:
            found = self.s.clauses_with(t)
            found = found[doc_ok[np.asarray(layout.clause_doc[found])]] if len(found) else found
            rows.append(found)
            weights.append(np.full(len(found), idf.get(t, 0.0)))
        rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        if not len(rows):
            return []
        # per clause the sum of its words' weights (added in the words' order), best first, ties in the order
        # the clauses were first met
        found, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
        sums = np.bincount(inverse, weights=np.concatenate(weights), minlength=len(found))
        best = np.lexsort((first, -sums))[:k]
        return [layout.clause_id(int(r)) for r in found[best]]

    def sentences(self, clause_id: str) -> list[str]:
        return self.s.sentences(clause_id)

    def overlap(self, question: str, clause_id: str, i: int, exclude: frozenset = frozenset(),
                minor: frozenset = frozenset()) -> float:
        q = content_tokens(question) - exclude
        toks = self.s.tokens(clause_id)[i]
        top = self.s.max_idf
        tok = sum(self.s.idf.get(t, top) * (1.0 if len(t) > 1 else 0.3) * (0.3 if t in minor else 1.0)
                  for t in q & toks)
        gram = sum(self.s.gram_idf.get(g, 0.0) for g in question_grams(question) & self.s.grams(clause_id)[i])
        return tok + 0.25 * gram

    def text_overlap(self, question: str, text: str) -> float:
        """The same measure against any text (a heading, an item name, a document's title)."""
        q = content_tokens(question)
        toks, grams = _text_units(text)
        top = self.s.max_idf
        tok = sum(self.s.idf.get(t, top) * (1.0 if len(t) > 1 else 0.3) for t in q & toks)
        gram = sum(self.s.gram_idf.get(g, 0.0) for g in question_grams(question) & grams)
        return tok + 0.25 * gram

    def overlap_weights(self, question: str) -> tuple[dict[str, float], dict[str, float]]:
        """The weight of each of the question's words and of its bigrams in `text_overlap`: the overlap with a
        text is the sum of the weights of the words and bigrams the text has (to rounding). For scoring many
        texts at once (index/titles.py)."""
        top = self.s.max_idf
        tok = {t: self.s.idf.get(t, top) * (1.0 if len(t) > 1 else 0.3) for t in content_tokens(question)}
        gram = {g: 0.25 * self.s.gram_idf.get(g, 0.0) for g in question_grams(question)}
        return tok, {g: w for g, w in gram.items() if w}

    def coverage(self, question: str, text: str) -> float:
        """How much of the text's own weight the question shares (1.0: every rare word of it)."""
        whole = self.text_overlap(text, text)
        return self.text_overlap(question, text) / whole if whole else 0.0

    def full_sentence(self, clause_id: str, i: int) -> str:
        """The sentence with the pieces split off at “；” around it (a list that runs over several)."""
        sents = self.sentences(clause_id)
        a = i
        while a > 0 and sents[a - 1].endswith("；"):
            a -= 1
        b = i
        while b < len(sents) - 1 and sents[b].endswith("；"):
            b += 1
        return "".join(sents[a:b + 1])

    def best(self, question: str, clause_ids: list[str], kind: str = "content", n: int = 8,
             headings: dict[str, str] | None = None, minor: frozenset = frozenset()) -> list[Evidence]:
        """Sentences ranked for the question among the clauses (in retrieval order). Words of a clause's
        heading count once for the clause, not again in each of its sentences; `minor` words (the place
        the search was already limited to) count little."""
        units = unit_pattern(question) if kind == "number" else None
        out: list[Evidence] = []
        for rank, cid in enumerate(clause_ids):
            heading = headings.get(cid, "") if headings else ""
            topic = frozenset(tokenize(heading.split(" › ")[-1])) if heading else frozenset()
            head = HEADING_WEIGHT * self.text_overlap(question, heading.split(" › ")[-1]) if heading else 0.0
            for i, sent in enumerate(self.sentences(cid)):
                score = self.overlap(question, cid, i, topic, minor) + head
                # a list runs over the pieces split at "；": count its items over the whole of it
                whole = self.full_sentence(cid, i) if kind == "list" and sent.endswith("；") or \
                    (kind == "list" and i > 0 and self.sentences(cid)[i - 1].endswith("；")) else sent
                score *= self._kind_factor(kind, whole, units)
                score *= 1.0 - 0.06 * min(rank, 8)
                out.append(Evidence(cid, sent, score, i))
        out.sort(key=lambda e: -e.score)
        return out[:n]

    @staticmethod
    def _kind_factor(kind: str, sent: str, units: re.Pattern | None) -> float:
        if kind == "number":
            if units and units.search(sent):
                return 1.6
            return 1.25 if _NUMBER.search(sent) else 0.8
        if kind == "list":
            items = sent.count("、") + sent.count("”“") + sent.count("》《")
            return 1.3 if items >= 1 else 1.0       # "A、B": already two names
        if kind == "when":
            return 1.4 if _DATE.search(sent) else 0.8
        if kind == "person":
            return 1.5 if _PERSON_LINE.search(sent) else 1.0
        return 1.0


def focus(sentence: str, question: str, finder_overlap) -> str:
    """The part of a long sentence that answers (the comma-separated pieces that share most with the
    question, kept in order), for a headline; the whole sentence is still quoted below it."""
    if len(sentence) <= 60:
        return sentence.rstrip("。；")
    parts = [p for p in re.split(r"(?<=[，；])", sentence) if p.strip()]
    scored = [(finder_overlap(p), i) for i, p in enumerate(parts)]
    best = max(scored)[1]
    keep = {best}
    if best > 0 and len(parts[best]) < 12:
        keep.add(best - 1)
    text = "".join(parts[i] for i in sorted(keep)).strip("，；。 ")
    return text

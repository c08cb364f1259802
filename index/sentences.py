"""Sentences of every clause with their tokens, and token weights (inverse sentence frequency), made at build
time so that start-up only loads them. Fact questions are answered by a sentence, not a whole clause."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.tokenize import tokenize

_SPLIT = re.compile(r"(?<=[。！？；])|\n")
FILE = "sentences.json"


def split_sentences(text: str) -> list[str]:
    sents = [s.strip() for s in _SPLIT.split(text) if s and s.strip()]
    out: list[str] = []
    for s in sents:
        # a heading line alone ("（二）实施达标奖励措施。") carries no answer, but lists after a colon do
        if out and len(out[-1]) <= 14 and not re.search(r"\d", out[-1]) and not out[-1].endswith("："):
            out[-1] = out[-1] + s
        else:
            out.append(s)
    return out


def sentence_passage(clause, sentence: str) -> str:
    """What is embedded for a sentence: its clause's own heading, then the sentence."""
    return f"{clause.heading_path[-1] if clause.heading_path else ''}｜{sentence}"


def bigrams(text: str) -> set[str]:
    t = re.sub(r"[^\u4e00-\u9fffA-Za-z0-9%]", "", text)
    return {t[i:i + 2] for i in range(len(t) - 1)}


@dataclass
class SentenceIndex:
    by_clause: dict[str, list[str]]
    tokens: dict[str, list[frozenset[str]]]
    grams: dict[str, list[frozenset[str]]]
    idf: dict[str, float]
    gram_idf: dict[str, float]
    vectors: dict[str, "np.ndarray"] | None = None     # clause id -> one row per sentence (unit length)

    @property
    def max_idf(self) -> float:
        return self._max_idf

    def __post_init__(self):
        self._max_idf = max(self.idf.values(), default=1.0)

    def best_overlap(self, tokens: frozenset[str], clause_id: str) -> float:
        """The weight of rare words the clause's best sentence shares with `tokens`."""
        top = self._max_idf
        return max((sum(self.idf.get(t, top) * (1.0 if len(t) > 1 else 0.3) for t in tokens & st)
                    for st in self.tokens.get(clause_id, ())), default=0.0)

    @staticmethod
    def build(clauses: list[tuple[str, str]], directory: Path) -> None:
        """clauses: (clause id, text). Writes sentences.json into the build directory."""
        rows, df, gdf, n = {}, {}, {}, 0
        for cid, text in clauses:
            sents = split_sentences(text)
            rows[cid] = [[s, sorted(set(tokenize(s)))] for s in sents]
            for s, toks in rows[cid]:
                n += 1
                for t in toks:
                    df[t] = df.get(t, 0) + 1
                for g in bigrams(s):
                    gdf[g] = gdf.get(g, 0) + 1
        n = max(n, 1)
        idf = {t: round(math.log(1 + n / d), 4) for t, d in df.items()}
        gidf = {g: round(math.log(1 + n / d), 4) for g, d in gdf.items()}
        (directory / FILE).write_text(json.dumps({"sentences": rows, "idf": idf, "gram_idf": gidf},
                                                 ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> "SentenceIndex":
        raw = json.loads((directory / FILE).read_text(encoding="utf-8"))
        by_clause = {cid: [s for s, _ in rows] for cid, rows in raw["sentences"].items()}
        tokens = {cid: [frozenset(t) for _, t in rows] for cid, rows in raw["sentences"].items()}
        grams = {cid: [frozenset(bigrams(s)) for s in sents] for cid, sents in by_clause.items()}
        vectors = None
        if (directory / "sentence_vectors.npy").exists():
            matrix = np.load(directory / "sentence_vectors.npy", mmap_mode="r")
            vectors, row = {}, 0
            for cid, sents in by_clause.items():
                vectors[cid] = np.asarray(matrix[row:row + len(sents)])
                row += len(sents)
        return cls(by_clause, tokens, grams, raw["idf"], raw["gram_idf"], vectors)

"""Sparse retrieval: BM25 (bm25s) over jieba tokens of each clause (with its heading)."""
from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np

from index.tokenize import tokenize


class BM25Index:
    def __init__(self, model: bm25s.BM25, vocab_size: int):
        self.model = model
        self.vocab_size = vocab_size

    @classmethod
    def build(cls, texts: list[str]) -> "BM25Index":
        corpus = [tokenize(t) or ["∅"] for t in texts]
        model = bm25s.BM25()
        model.index(corpus, show_progress=False)
        return cls(model, len(model.vocab_dict))

    def save(self, path: Path) -> None:
        self.model.save(str(path))

    @classmethod
    def load(cls, path: Path) -> "BM25Index":
        model = bm25s.BM25.load(str(path))
        return cls(model, len(model.vocab_dict))

    def scores(self, query: str) -> np.ndarray:
        toks = [t for t in tokenize(query) if t in self.model.vocab_dict]
        if not toks:
            return np.zeros(self.model.scores["num_docs"], np.float32)
        return self.model.get_scores(toks)

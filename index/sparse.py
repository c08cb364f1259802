"""Sparse retrieval: BM25 over jieba tokens of each clause (with its heading). bm25s computes the weights at
build time; they are kept as one column per token of the shared vocabulary, rows in clause-row order, and read
memory-mapped. A search adds up only the rows of the shards asked for, in bm25s's order, so the scores are
bm25s's to the bit.

    bm25_ptr.npy   postings of token id t: [ptr[t], ptr[t+1])
    bm25_rows.npy  clause rows (ascending within a token)      bm25_data.npy  their BM25 weights (float32)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from index.tokenize import tokenize
from index.vocab import StringTable

EMPTY = "∅"     # the token of a clause without any (bm25s needs one)


def corpus_tokens(texts: list[str], progress: bool = False) -> list[list[str]]:
    from index.tokenize import tokenize_many
    return [t or [EMPTY] for t in tokenize_many(texts, progress, "tokenising clauses")]


def fit(corpus: list[list[str]]):
    """bm25s's model of the clauses' token lists (in row order); its `vocab_dict` names every token."""
    import bm25s
    model = bm25s.BM25()
    model.index(corpus, show_progress=False)
    return model


def save(model, vocab: StringTable, directory: Path) -> None:
    """The model's weights as columns of `vocab` (which must hold every token of the model)."""
    csc = model.scores
    data, indices, indptr = (np.asarray(csc[k]) for k in ("data", "indices", "indptr"))
    # bm25s names one more token than it has columns (the empty string, for unknown words): left out
    inv = {tok: i for tok, i in model.vocab_dict.items() if i < len(indptr) - 1}
    ids = vocab.ids(list(inv))
    ptr_len = np.zeros(len(vocab), np.int64)
    cols = np.full(len(vocab), -1, np.int64)
    for (tok, col), vid in zip(inv.items(), ids):
        if vid < 0:
            raise ValueError(f"BM25 token {tok!r} missing from the vocabulary")
        cols[vid] = col
        ptr_len[vid] = indptr[col + 1] - indptr[col]
    ptr = np.zeros(len(vocab) + 1, np.int64)
    np.cumsum(ptr_len, out=ptr[1:])
    rows = np.zeros(int(ptr[-1]), np.int32)
    vals = np.zeros(int(ptr[-1]), np.float32)
    for vid in np.flatnonzero(cols >= 0):
        c = cols[vid]
        a, b = indptr[c], indptr[c + 1]
        order = np.argsort(indices[a:b], kind="stable")
        rows[ptr[vid]:ptr[vid + 1]] = indices[a:b][order]
        vals[ptr[vid]:ptr[vid + 1]] = data[a:b][order]
    np.save(directory / "bm25_ptr.npy", ptr)
    np.save(directory / "bm25_rows.npy", rows)
    np.save(directory / "bm25_data.npy", vals)


class BM25Index:
    def __init__(self, directory: Path, vocab: StringTable):
        m = lambda name: np.load(directory / name, mmap_mode="r")  # noqa: E731
        self.vocab = vocab
        self.ptr, self.rows, self.data = m("bm25_ptr.npy"), m("bm25_rows.npy"), m("bm25_data.npy")

    def query_ids(self, query: str) -> np.ndarray:
        """Token ids of the query that BM25 knows, in order, repeats kept (each adds its weight again)."""
        ids = self.vocab.ids(tokenize(query))
        ids = ids[ids >= 0]
        return ids[self.ptr[ids + 1] > self.ptr[ids]] if len(ids) else ids

    def scores(self, token_ids: np.ndarray, a: int, b: int) -> np.ndarray:
        """BM25 scores of clause rows [a, b) (float32, bm25s's summation order)."""
        out = np.zeros(b - a, np.float32)
        for t in token_ids.tolist():
            lo, hi = int(self.ptr[t]), int(self.ptr[t + 1])
            rows = self.rows[lo:hi]
            i, j = np.searchsorted(rows, [a, b])
            if j > i:
                out[np.asarray(rows[i:j]) - a] += self.data[lo + i:lo + j]    # a token's rows are distinct
        return out

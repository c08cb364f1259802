"""Sentences of every clause with their tokens, and token weights (inverse sentence frequency), made at build
time so that start-up only maps them. Fact questions are answered by a sentence, not a whole clause.

    vocab.npy             every token of the index, sorted (its position is its id; shared with BM25)
    token_idf.npy         per token: weight over sentences (NaN: in no sentence), rounded to 4 places
    clause_sentences.npy  sentence rows of clause row i: [ptr[i], ptr[i+1])
    sentence_tokens.npy   token ids of each sentence (sorted, distinct) — sentence_token_ptr.npy
    sentence_text.bin     UTF-8 text of the sentences — sentence_text_ptr.npy (byte offsets)
    token_clauses.npy     clause rows holding each token (postings) — token_clause_ptr.npy
    grams.npy / gram_idf.npy   character bigrams and their weights
    sentences_meta.json   max_idf
"""
from __future__ import annotations

import json
import math
import re
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from index.shards import Layout
from index.vocab import StringTable, Weights, save_strings

_SPLIT = re.compile(r"(?<=[。！？；])|\n")


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


def _ptr(lengths: list[int]) -> np.ndarray:
    out = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def build(rows: list[tuple[str, list[str]]], directory: Path, extra_tokens: set[str],
          progress: bool = False) -> StringTable:
    """rows: (clause id, its sentences) in clause-row order. `extra_tokens`: tokens other parts of the index
    use (BM25), so the vocabulary is shared. Writes the files above and returns the vocabulary."""
    from index.tokenize import tokenize_many
    cut = iter(tokenize_many([s for _, sents in rows for s in sents], progress, "tokenising sentences"))
    sent_tokens: list[list[str]] = []
    per_clause: list[int] = []
    texts: list[str] = []
    df: dict[str, int] = {}
    gdf: dict[str, int] = {}
    postings: dict[str, list[int]] = {}
    for row, (_, sents) in enumerate(rows):
        per_clause.append(len(sents))
        for s in sents:
            toks = sorted(set(next(cut)))
            sent_tokens.append(toks)
            texts.append(s)
            for t in toks:
                df[t] = df.get(t, 0) + 1
                p = postings.setdefault(t, [])
                if not p or p[-1] != row:
                    p.append(row)
            for g in bigrams(s):
                gdf[g] = gdf.get(g, 0) + 1
    n = max(len(texts), 1)
    vocab = save_strings(directory / "vocab.npy", set(df) | extra_tokens)
    pos = {str(t): i for i, t in enumerate(vocab)}
    idf = np.full(len(vocab), np.nan)
    for t, d in df.items():
        idf[pos[t]] = round(math.log(1 + n / d), 4)
    np.save(directory / "token_idf.npy", idf)
    np.save(directory / "clause_sentences.npy", _ptr(per_clause))
    np.save(directory / "sentence_token_ptr.npy", _ptr([len(t) for t in sent_tokens]))
    np.save(directory / "sentence_tokens.npy",
            np.array([pos[t] for toks in sent_tokens for t in toks], np.int32))
    blobs = [s.encode("utf-8") for s in texts]
    np.save(directory / "sentence_text_ptr.npy", _ptr([len(b) for b in blobs]))
    (directory / "sentence_text.bin").write_bytes(b"".join(blobs))
    lists = [postings.get(str(t), []) for t in vocab]
    np.save(directory / "token_clause_ptr.npy", _ptr([len(p) for p in lists]))
    np.save(directory / "token_clauses.npy", np.array([r for p in lists for r in p], np.int32))
    grams = save_strings(directory / "grams.npy", gdf)
    np.save(directory / "gram_idf.npy", np.array([round(math.log(1 + n / gdf[str(g)]), 4) if str(g) in gdf
                                                   else np.nan for g in grams], np.float64))
    max_idf = float(np.nanmax(idf)) if np.any(~np.isnan(idf)) else 1.0
    (directory / "sentences_meta.json").write_text(json.dumps({"max_idf": max_idf, "sentences": len(texts)}),
                                                   encoding="utf-8")
    return StringTable(directory / "vocab.npy")


class SentenceIndex:
    """Per clause (by id): its sentences, each sentence's tokens and bigrams, read from the build's arrays
    when first asked for (a bounded cache keeps them); `idf` and `gram_idf` behave as dicts."""
    CACHE = 16384

    def __init__(self, directory: Path, layout: Layout, vocab: StringTable):
        m = lambda name: np.load(directory / name, mmap_mode="r")  # noqa: E731
        self.layout, self.vocab = layout, vocab
        self._clause_ptr = m("clause_sentences.npy")
        self._tok_ptr, self._toks = m("sentence_token_ptr.npy"), m("sentence_tokens.npy")
        self._text_ptr = m("sentence_text_ptr.npy")
        self._text = np.memmap(directory / "sentence_text.bin", np.uint8, "r") \
            if (directory / "sentence_text.bin").stat().st_size else np.zeros(0, np.uint8)
        self._post_ptr, self._post = m("token_clause_ptr.npy"), m("token_clauses.npy")
        self.idf = Weights(vocab, m("token_idf.npy"))
        self.gram_idf = Weights(StringTable(directory / "grams.npy"), m("gram_idf.npy"))
        self._max_idf = json.loads((directory / "sentences_meta.json").read_text(encoding="utf-8"))["max_idf"]
        self._cache: OrderedDict[str, list] = OrderedDict()     # the clauses used last
        self._lock = threading.Lock()

    @property
    def max_idf(self) -> float:
        return self._max_idf

    def _clause(self, clause_id: str) -> list:
        """[sentences, token sets, bigram sets (made when first asked for)] of the clause; empty lists for
        a clause not indexed."""
        with self._lock:
            got = self._cache.get(clause_id)
            if got is not None:
                self._cache.move_to_end(clause_id)
                return got
        row = self.layout.row(clause_id)
        if row < 0:
            got = [[], [], []]
        else:
            a, b = int(self._clause_ptr[row]), int(self._clause_ptr[row + 1])
            offs = self._text_ptr[a:b + 1].tolist()
            raw = bytes(self._text[offs[0]:offs[-1]]) if b > a else b""
            sents = [raw[x - offs[0]:y - offs[0]].decode("utf-8") for x, y in zip(offs, offs[1:])]
            tp = self._tok_ptr[a:b + 1].tolist()
            ids = np.asarray(self._toks[tp[0]:tp[-1]]) if b > a else np.zeros(0, np.int32)
            words = self.vocab.strings[ids].tolist() if len(ids) else []
            got = [sents, [frozenset(words[x - tp[0]:y - tp[0]]) for x, y in zip(tp, tp[1:])], None]
        with self._lock:
            self._cache[clause_id] = got
            if len(self._cache) > self.CACHE:
                self._cache.popitem(last=False)
        return got

    def sentences(self, clause_id: str) -> list[str]:
        return list(self._clause(clause_id)[0])

    def tokens(self, clause_id: str) -> list[frozenset[str]]:
        return self._clause(clause_id)[1]

    def grams(self, clause_id: str) -> list[frozenset[str]]:
        got = self._clause(clause_id)
        if got[2] is None:
            got[2] = [frozenset(bigrams(s)) for s in got[0]]
        return got[2]

    def clauses_with(self, token: str) -> np.ndarray:
        """Clause rows holding the token in a sentence (ascending)."""
        i = self.vocab.id(token)
        if i < 0:
            return np.zeros(0, np.int32)
        return np.asarray(self._post[int(self._post_ptr[i]):int(self._post_ptr[i + 1])])

    def best_overlaps(self, tokens: frozenset[str], rows: list[int]) -> list[float]:
        """`best_overlap` of the clauses at these rows, worked out from the token ids alone: no sentence is
        read or cached (a search weighs a hundred clauses this way, most of which it does not keep)."""
        words = sorted(tokens)
        ids = self.vocab.ids(words)
        top = self._max_idf
        weight = {i: self.idf.get(w, top) * (1.0 if len(w) > 1 else 0.3)
                  for w, i in zip(words, ids.tolist()) if i >= 0}
        if not rows or not weight:
            return [0.0] * len(rows)
        q_ids = np.array(sorted(weight), np.int64)
        q_w = np.array([weight[i] for i in q_ids.tolist()], np.float64)
        sent_a = [int(self._clause_ptr[r]) for r in rows]
        sent_b = [int(self._clause_ptr[r + 1]) for r in rows]
        per_sentence, toks = [], []
        for a, b in zip(sent_a, sent_b):
            tp = np.asarray(self._tok_ptr[a:b + 1])
            per_sentence.append(np.diff(tp))
            toks.append(np.asarray(self._toks[int(tp[0]):int(tp[-1])]) if b > a else np.zeros(0, np.int32))
        lengths = np.concatenate(per_sentence)           # tokens of each sentence, clause after clause
        ids = np.concatenate(toks).astype(np.int64)
        pos = np.minimum(np.searchsorted(q_ids, ids), len(q_ids) - 1)
        got = np.where(q_ids[pos] == ids, q_w[pos], 0.0)
        sums = np.bincount(np.repeat(np.arange(len(lengths)), lengths), weights=got, minlength=len(lengths))
        out, k = [], 0
        for a, b in zip(sent_a, sent_b):
            out.append(float(sums[k:k + b - a].max()) if b > a else 0.0)
            k += b - a
        return out

    def best_overlap(self, tokens: frozenset[str], clause_id: str) -> float:
        """The weight of rare words the clause's best sentence shares with `tokens`."""
        top = self._max_idf
        idf = self.idf
        return max((sum(idf.get(t, top) * (1.0 if len(t) > 1 else 0.3) for t in tokens & st)
                    for st in self.tokens(clause_id)), default=0.0)

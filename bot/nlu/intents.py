"""Question types learned from labelled examples (kb/nlu/<type>.yaml).

Features: the question's embedding (the same vector retrieval uses) and character 1–3-grams of the question
with digits and place names folded, TF-IDF weighted. A multinomial logistic regression is trained at build
time with scikit-learn and saved as plain arrays; at run time the scores are a few numpy dot products, so
start-up loads no scikit-learn (it alone takes 1.5 s to import here).

A misrouted question is fixed by adding examples to the bank, not code.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from bot.errors import ConfigError

log = logging.getLogger(__name__)
BANK_DIR = Path(__file__).resolve().parents[2] / "kb" / "nlu"
FORMAT = 1
NGRAMS = (1, 2, 3)
EMBED_WEIGHT = 2.0          # chosen by `python -m bot eval intents` (held-out accuracy)
C = 8.0
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_CN_NUM = re.compile(r"[零一二两三四五六七八九十百千]+(?=个?[亿万千百元块户家个人])")


@dataclass(frozen=True)
class Example:
    text: str
    type: str
    source: str


def load_bank(directory: Path = BANK_DIR) -> list[Example]:
    """Every labelled example, validated: the file's `type` is its name; no example under two types."""
    out: list[Example] = []
    seen: dict[str, str] = {}
    files = sorted(Path(directory).glob("*.yaml"))
    if not files:
        raise ConfigError(f"no example bank in {directory}")
    for path in files:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        t = raw.get("type")
        if t != path.stem:
            raise ConfigError(f"{path.name}: `type: {t}` must match the file name")
        for ex in raw.get("examples") or []:
            text = str(ex).strip()
            if not text:
                continue
            if text in seen and seen[text] != t:
                raise ConfigError(f"{path.name}: {text!r} is also an example of {seen[text]}")
            if text not in seen:
                seen[text] = t
                out.append(Example(text, t, path.name))
    return out


def bank_hash(examples: list[Example]) -> str:
    h = hashlib.sha256()
    for e in examples:
        h.update(f"{e.type}\x00{e.text}\n".encode())
    return h.hexdigest()[:16]


def fold(text: str, places: list[tuple[str, int, int]] | None = None) -> str:
    """The question as the n-gram features see it: half-width, lower case, numbers → 0, places → 地."""
    t = unicodedata.normalize("NFKC", text).lower()
    if places:
        chars = list(t)
        for _, s, e in places:
            if e <= len(chars):
                chars[s:e] = ["地"] + [""] * (e - s - 1)
        t = "".join(chars)
    t = _DIGITS.sub("0", t)
    t = _CN_NUM.sub("0", t)
    return re.sub(r"\s+", "", t)


def ngrams(folded: str) -> list[str]:
    padded = f"^{folded}$"
    return [padded[i:i + n] for n in NGRAMS for i in range(len(padded) - n + 1)]


@dataclass
class Prediction:
    type: str
    confidence: float
    ranked: list[tuple[str, float]]


class IntentModel:
    def __init__(self, types: list[str], vocab: dict[str, int], idf: np.ndarray, w_embed: np.ndarray,
                 w_ngram: np.ndarray, bias: np.ndarray, meta: dict):
        self.types, self.vocab, self.idf = types, vocab, idf
        self.w_embed, self.w_ngram, self.bias, self.meta = w_embed, w_ngram, bias, meta

    def ngram_features(self, folded: str) -> tuple[np.ndarray, np.ndarray]:
        counts = Counter(g for g in ngrams(folded) if g in self.vocab)
        if not counts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        idx = np.fromiter((self.vocab[g] for g in counts), np.int64, len(counts))
        val = np.fromiter(((1 + math.log(c)) for c in counts.values()), np.float32, len(counts)) * self.idf[idx]
        return idx, val / max(float(np.linalg.norm(val)), 1e-12)

    def predict(self, folded: str, qvec: np.ndarray) -> Prediction:
        idx, val = self.ngram_features(folded)
        z = self.bias + self.w_embed @ (EMBED_WEIGHT * qvec.astype(np.float32))
        if len(idx):
            z = z + self.w_ngram[:, idx] @ val
        p = np.exp(z - z.max())
        p /= p.sum()
        order = np.argsort(-p)
        ranked = [(self.types[i], float(p[i])) for i in order]
        return Prediction(ranked[0][0], ranked[0][1], ranked)

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        vocab = sorted(self.vocab, key=self.vocab.get)
        np.savez_compressed(tmp, idf=self.idf, w_embed=self.w_embed, w_ngram=self.w_ngram, bias=self.bias,
                            types=np.array(self.types), vocab=np.array(vocab),
                            meta=np.array(json.dumps(self.meta, ensure_ascii=False)))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "IntentModel":
        z = np.load(path, allow_pickle=False)
        vocab = {g: i for i, g in enumerate(z["vocab"].tolist())}
        return cls(z["types"].tolist(), vocab, z["idf"], z["w_embed"], z["w_ngram"], z["bias"],
                   json.loads(str(z["meta"])))


def train(texts: list[str], labels: list[str], vectors: np.ndarray, min_df: int = 1,
          meta: dict | None = None) -> IntentModel:
    """Fit the classifier (build time: imports scikit-learn)."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression
    df: Counter = Counter()
    grams = [ngrams(t) for t in texts]
    for g in grams:
        df.update(set(g))
    vocab = {g: i for i, g in enumerate(sorted(g for g, c in df.items() if c >= min_df))}
    n = len(texts)
    idf = np.array([math.log((1 + n) / (1 + df[g])) + 1 for g in sorted(vocab, key=vocab.get)], np.float32)
    types = sorted(set(labels))
    model = IntentModel(types, vocab, idf, np.zeros((len(types), vectors.shape[1]), np.float32),
                        np.zeros((len(types), len(vocab)), np.float32), np.zeros(len(types), np.float32),
                        meta or {})
    rows, cols, vals = [], [], []
    for r, t in enumerate(texts):
        idx, val = model.ngram_features(t)
        rows.extend([r] * len(idx))
        cols.extend(idx.tolist())
        vals.extend(val.tolist())
    x_ngram = sparse.csr_matrix((vals, (rows, cols)), shape=(n, len(vocab)))
    x = sparse.hstack([sparse.csr_matrix(EMBED_WEIGHT * vectors), x_ngram]).tocsr()
    clf = LogisticRegression(C=C, max_iter=3000)
    clf.fit(x, [types.index(label) for label in labels])
    coef = clf.coef_.astype(np.float32)
    model.w_embed = np.ascontiguousarray(coef[:, :vectors.shape[1]])
    model.w_ngram = np.ascontiguousarray(coef[:, vectors.shape[1]:])
    model.bias = clf.intercept_.astype(np.float32)
    return model

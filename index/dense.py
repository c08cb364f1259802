"""Dense retrieval: a FAISS inner-product index over L2-normalised passage vectors."""
from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np


class DenseIndex:
    def __init__(self, index: faiss.Index):
        self.index = index

    @classmethod
    def build(cls, vectors: np.ndarray) -> "DenseIndex":
        idx = faiss.IndexFlatIP(vectors.shape[1])
        if len(vectors):
            idx.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(idx)

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path) -> "DenseIndex":
        return cls(faiss.read_index(str(path)))

    def search(self, qvec: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(passage rows, cosine scores), best first."""
        n = min(n, self.index.ntotal)
        if n == 0:
            return np.zeros(0, int), np.zeros(0, np.float32)
        scores, rows = self.index.search(qvec.reshape(1, -1).astype(np.float32), n)
        return rows[0], scores[0]

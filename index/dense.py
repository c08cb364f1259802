"""Dense retrieval: a FAISS inner-product index over L2-normalised passage vectors, memory-mapped (read with
IO_FLAG_MMAP_IFC: start-up does not read the vectors), searched one shard's row range at a time."""
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
        flag = getattr(faiss, "IO_FLAG_MMAP_IFC", getattr(faiss, "IO_FLAG_MMAP", 0))
        return cls(faiss.read_index(str(path), flag))

    def search(self, qvec: np.ndarray, n: int, a: int = 0, b: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(passage rows, cosine scores) of the best n among rows [a, b), best first."""
        b = self.index.ntotal if b is None else min(b, self.index.ntotal)
        n = min(n, b - a)
        if n <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        q = np.ascontiguousarray(qvec.reshape(1, -1), dtype=np.float32)
        if a == 0 and b == self.index.ntotal:
            scores, rows = self.index.search(q, n)
        else:
            params = faiss.SearchParameters(sel=faiss.IDSelectorRange(a, b))
            scores, rows = self.index.search(q, n, params=params)
        keep = rows[0] >= 0
        return rows[0][keep], scores[0][keep]

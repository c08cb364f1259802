"""Dense retrieval: a FAISS inner-product index over L2-normalised passage vectors, memory-mapped (read with
IO_FLAG_MMAP_IFC: start-up does not read the vectors), searched one shard's row range at a time.

    dense.faiss      exact (IndexFlatIP): every search of a small range, every knowledge base below ANN_MIN
    dense_ivf.faiss  approximate (IndexIVFScalarQuantizer, 16-bit floats, spherical k-means), only for ANN_MIN
                     passages and more: the vectors again, in inverted lists whose ids are the passage rows,
                     added in row order, so every list is sorted by row and a shard's range is found by binary
                     search in each list (IDSelectorRange with assume_sorted). Memory-mapped too; half the size
                     of the exact index, and a search reads only the parts of the lists it probes.

`search` is always exact; `nearest` is approximate when there is an IVF index (the scores it returns are the
cosines of the passages it finds to about 1e-4: the lists hold the vectors as 16-bit floats)."""
from __future__ import annotations

import math
from pathlib import Path

import faiss
import numpy as np

ANN_FILE = "dense_ivf.faiss"
ANN_MIN = 20000      # passages from which the build adds the approximate index
# the approximate search probes enough lists to look at about SCAN vectors of the range per result asked
# for (more when the range is a small part of the index), and never fewer than NPROBE_MIN lists
SCAN = 8
NPROBE_MIN = 16


def _mmap_flag() -> int:
    return getattr(faiss, "IO_FLAG_MMAP_IFC", getattr(faiss, "IO_FLAG_MMAP", 0))


def n_lists(n: int) -> int:
    """Inverted lists for n vectors: about √n (a few hundred vectors per list)."""
    return int(min(8192, max(16, round(math.sqrt(n)))))


def build_ivf(vectors: np.ndarray, seed: int = 1234) -> faiss.IndexIVF:
    """An IVF index over the vectors, their row numbers as ids (every list sorted by row)."""
    n, d = vectors.shape
    nlist = n_lists(n)
    ivf = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(d), d, nlist, faiss.ScalarQuantizer.QT_fp16,
                                        faiss.METRIC_INNER_PRODUCT, False)
    ivf.cp.spherical = True          # unit vectors: centroids on the sphere
    ivf.cp.seed = seed
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, min(n, 48 * nlist), replace=False))
    ivf.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    for a in range(0, n, 65536):     # ids 0..n-1 in order
        ivf.add(np.ascontiguousarray(vectors[a:a + 65536], dtype=np.float32))
    return ivf


class DenseIndex:
    def __init__(self, index: faiss.Index, ann: faiss.IndexIVF | None = None):
        self.index, self.ann = index, ann

    @classmethod
    def build(cls, vectors: np.ndarray, ann_min: int = ANN_MIN) -> "DenseIndex":
        idx = faiss.IndexFlatIP(vectors.shape[1])
        if len(vectors):
            idx.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(idx, build_ivf(vectors) if len(vectors) >= max(ann_min, 1) else None)

    def save(self, path: Path) -> None:
        """The exact index at `path`, the approximate one (if any) beside it (ANN_FILE)."""
        faiss.write_index(self.index, str(path))
        if self.ann is not None:
            faiss.write_index(self.ann, str(Path(path).with_name(ANN_FILE)))

    @classmethod
    def load(cls, path: Path, ann: bool | None = None) -> "DenseIndex":
        """`ann`: True when the build made an approximate index (an error if it is missing), None: load it
        if it is there."""
        ann_path = Path(path).with_name(ANN_FILE)
        approx = None
        if ann or (ann is None and ann_path.exists()):
            approx = faiss.read_index(str(ann_path), _mmap_flag())
        return cls(faiss.read_index(str(path), _mmap_flag()), approx)

    @property
    def approximate(self) -> bool:
        return self.ann is not None

    def search(self, qvec: np.ndarray, n: int, a: int = 0, b: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(passage rows, cosine scores) of the best n among rows [a, b), best first. Exact."""
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

    def nearest(self, qvec: np.ndarray, n: int, a: int = 0, b: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """As `search`, approximately when there is an IVF index: at most n rows of [a, b), best first, with
        their cosines (to about 1e-4); possibly fewer than n, and possibly not the very best ones. Asking for
        the whole range probes every list."""
        if self.ann is None:
            return self.search(qvec, n, a, b)
        total = self.ann.ntotal
        b = total if b is None else min(b, total)
        n = min(n, b - a)
        if n <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        nlist = self.ann.nlist
        nprobe = nlist if n >= b - a else int(min(nlist, max(NPROBE_MIN, math.ceil(nlist * SCAN * n / (b - a)))))
        q = np.ascontiguousarray(qvec.reshape(1, -1), dtype=np.float32)
        if a == 0 and b == total:
            params = faiss.SearchParametersIVF(nprobe=nprobe)
        else:
            sel = faiss.IDSelectorRange(a, b, True)     # lists are sorted by row: a binary search in each
            params = faiss.SearchParametersIVF(nprobe=nprobe, sel=sel)
        scores, rows = self.ann.search(q, n, params=params)
        keep = rows[0] >= 0
        return rows[0][keep], scores[0][keep]

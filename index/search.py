"""Hybrid retrieval: dense (FAISS) + BM25, fused by reciprocal rank, filtered by region and validity."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from index.embedder import Embedder
from index.fusion import rrf
from index.store import LoadedIndex
from kb.regions import Gazetteer
from kb.store import KnowledgeBase
from kb.synonyms import expand


@dataclass
class Hit:
    clause_id: str
    score: float          # fused (RRF) score
    dense: float          # best cosine similarity of the clause's passages
    sparse: float         # BM25 score


class Retriever:
    def __init__(self, kb: KnowledgeBase, index: LoadedIndex, embedder: Embedder, gazetteer: Gazetteer,
                 rrf_k: int = 60, candidates: int = 50, sparse_weight: float = 1.0):
        self.kb, self.index, self.embedder, self.gaz = kb, index, embedder, gazetteer
        self.rrf_k, self.candidates, self.sparse_weight = rrf_k, candidates, sparse_weight
        self._bm25_pos = {cid: i for i, cid in enumerate(index.bm25_ids)}

    def allowed_docs(self, region: str | None, today: date | None) -> set[str]:
        docs = self.kb.live_documents(today) if today else set(self.kb.documents)
        if region:
            chain = set(self.gaz.ancestors(region))
            docs = {d for d in docs if self.kb.documents[d].region in chain}
        return docs

    def search(self, query: str, k: int = 5, region: str | None = None, today: date | None = None,
               qvec: np.ndarray | None = None) -> list[Hit]:
        allowed = self.allowed_docs(region, today)
        if not allowed:
            return []
        expanded = expand(query)
        if qvec is None:
            qvec = self.embedder.query(expanded)
        rows, scores = self.index.dense.search(qvec, self.index.dense.index.ntotal)
        dense_best: dict[str, float] = {}
        for r, s in zip(rows, scores):
            cid = self.index.passage_clause[r]
            if self.kb.clauses.get(cid) and self.kb.clauses[cid].doc_id in allowed and cid not in dense_best:
                dense_best[cid] = float(s)
        bm = self.index.bm25.scores(expanded)
        sparse = {cid: float(bm[i]) for cid, i in self._bm25_pos.items()
                  if cid in self.kb.clauses and self.kb.clauses[cid].doc_id in allowed}
        dense_rank = sorted(dense_best, key=dense_best.get, reverse=True)[: self.candidates]
        sparse_rank = [c for c in sorted(sparse, key=sparse.get, reverse=True) if sparse[c] > 0][: self.candidates]
        fused = rrf([dense_rank, sparse_rank], self.rrf_k, [1.0, self.sparse_weight])
        best = sorted(fused, key=fused.get, reverse=True)[:k]
        return [Hit(c, fused[c], dense_best.get(c, 0.0), sparse.get(c, 0.0)) for c in best]

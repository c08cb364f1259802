"""Hybrid retrieval: dense (FAISS) + BM25, fused by reciprocal rank, filtered by region and validity."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np

from index.embedder import Embedder
from index.fusion import rrf
from index.store import LoadedIndex
from kb.regions import Gazetteer
from kb.store import KnowledgeBase
from index.tokenize import tokenize
from kb.synonyms import expand


PERSON = re.compile(r"谁|哪位|哪几位|姓名|名单|组长|局长|县长|市长|主任|负责人|承办人")


@dataclass
class Hit:
    clause_id: str
    score: float          # fused (RRF) score
    dense: float          # best cosine similarity of the clause's passages
    sparse: float         # BM25 score


class Retriever:
    # reranking of the fused top ten (chosen on tests/gold/retrieval.yaml with `python -m bot eval retrieval`)
    OWN_DOC_BONUS = 0.1
    PERSON_BONUS = 0.25
    PARENT_PENALTY = 0.45
    def __init__(self, kb: KnowledgeBase, index: LoadedIndex, embedder: Embedder, gazetteer: Gazetteer,
                 rrf_k: int = 60, candidates: int = 50, sparse_weight: float = 1.0, sentence_weight: float = 1.0,
                 heading_weight: float = 0.1):
        self.kb, self.index, self.embedder, self.gaz = kb, index, embedder, gazetteer
        self.rrf_k, self.candidates, self.sparse_weight = rrf_k, candidates, sparse_weight
        self.sentence_weight, self.heading_weight = sentence_weight, heading_weight
        self._heading_tokens: dict[str, frozenset[str]] = {}
        paths = {(c.doc_id, tuple(c.heading_path[:-1])) for c in kb.clauses.values()}
        self._parents = {c.id for c in kb.clauses.values() if (c.doc_id, tuple(c.heading_path)) in paths}
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
        # a third view: the clause's best single sentence, by rare words shared (a long clause whose one
        # sentence answers should not lose to a short clause that shares common words)
        q_tokens = frozenset(tokenize(expanded))
        sentences = self.index.sentences
        lexical = {c: sentences.best_overlap(q_tokens, c) for c in dict.fromkeys(dense_rank + sparse_rank)}
        lexical_rank = [c for c in sorted(lexical, key=lambda c: (-lexical[c], c)) if lexical[c] > 0]
        fused = rrf([dense_rank, sparse_rank, lexical_rank], self.rrf_k,
                    [1.0, self.sparse_weight, self.sentence_weight])
        top = sorted(fused, key=lambda c: (-fused[c], c))[: max(k, 10)]
        if top:
            peak = fused[top[0]]
            own = region if region and any(self.kb.documents[d].region == region for d in allowed) else None
            who = bool(PERSON.search(query))

            def score(c: str) -> float:
                cl = self.kb.clauses[c]
                v = fused[c] / peak
                # a clause whose own heading names what is asked ("（四）龙头企业带动效应强") before its siblings
                v += self.heading_weight * min(self._heading_overlap(q_tokens, c), 10.0) / 10.0
                if own and self.kb.documents[cl.doc_id].region == own:
                    v += self.OWN_DOC_BONUS     # 城区's own plan before the city's policy that also covers it
                if who and cl.kind in ("name_list", "contact"):
                    v += self.PERSON_BONUS      # "…是谁": the list of names
                if c in self._parents and cl.text.rstrip().endswith("："):
                    v -= self.PARENT_PENALTY    # an introduction to its sub-clauses answers less than they do
                return v
            top.sort(key=lambda c: (-score(c), c))
        return [Hit(c, fused[c], dense_best.get(c, 0.0), sparse.get(c, 0.0)) for c in top[:k]]

    def _heading_overlap(self, q_tokens: frozenset[str], clause_id: str) -> float:
        toks = self._heading_tokens.get(clause_id)
        if toks is None:
            c = self.kb.clauses[clause_id]
            toks = self._heading_tokens[clause_id] = frozenset(tokenize(c.heading_path[-1])) if c.heading_path \
                else frozenset()
        s = self.index.sentences
        return sum(s.idf.get(t, s.max_idf) * (1.0 if len(t) > 1 else 0.3) for t in q_tokens & toks)

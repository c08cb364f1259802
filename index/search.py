"""Hybrid retrieval: dense (FAISS) + BM25, fused by reciprocal rank, filtered by region and validity."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np

from index.embedder import Embedder
from index.fusion import rrf
from index.shards import INTRO
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
    # a shard of up to this many passages is ranked whole (exact); a larger one by its best passages — found
    # by the approximate index when the build made one (index/dense.py), exactly otherwise — more when too few
    # of them belong to documents the question may use
    WHOLE_SHARD = 4096

    def __init__(self, kb: KnowledgeBase, index: LoadedIndex, embedder: Embedder, gazetteer: Gazetteer,
                 rrf_k: int = 60, candidates: int = 50, sparse_weight: float = 1.0, sentence_weight: float = 1.0,
                 heading_weight: float = 0.1):
        self.kb, self.index, self.embedder, self.gaz = kb, index, embedder, gazetteer
        self.rrf_k, self.candidates, self.sparse_weight = rrf_k, candidates, sparse_weight
        self.sentence_weight, self.heading_weight = sentence_weight, heading_weight
        self._heading_tokens: dict[str, frozenset[str]] = {}
        self._allowed: dict[tuple, tuple[set[str], np.ndarray]] = {}

    def allowed_docs(self, region: str | None, today: date | None) -> set[str]:
        return set(self._scope(region, today)[0])

    def allowed_mask(self, region: str | None, today: date | None) -> np.ndarray:
        """The same documents as a mask over the index's documents (Layout.docs); not to be changed."""
        return self._scope(region, today)[1]

    def _scope(self, region: str | None, today: date | None) -> tuple[set[str], np.ndarray]:
        """The documents a question may use (live today, of the region or above it), as ids and as a mask
        over the index's documents."""
        key = (region, today)
        got = self._allowed.get(key)
        if got is None:
            docs = self.kb.live_documents(today) if today else set(self.kb.documents)
            if region:      # the documents of the region and above it, not a pass over every document
                live = docs
                docs = {d for r in dict.fromkeys(self.gaz.ancestors(region)) for d in self.kb.documents_of_region(r)
                        if d in live}
            got = (docs, self.index.layout.doc_mask(docs))
            if len(self._allowed) > 256:
                self._allowed.clear()
            self._allowed[key] = got
        return got

    def search(self, query: str, k: int = 5, region: str | None = None, today: date | None = None,
               qvec: np.ndarray | None = None) -> list[Hit]:
        allowed, doc_ok = self._scope(region, today)
        if not allowed:
            return []
        lay = self.index.layout
        expanded = expand(query)
        if qvec is None:
            qvec = self.embedder.query(expanded)
        # only the shards of the region and the regions above it (every shard without a region)
        ranges = lay.ranges(self.gaz.ancestors(region) if region else None)
        dense_best = self._dense(qvec, ranges, doc_ok)
        sparse_rows, sparse_of = self._sparse(expanded, ranges, doc_ok)
        ids: dict[int, str] = {}

        def cid(row: int) -> str:
            c = ids.get(row)
            if c is None:
                c = ids[row] = lay.clause_id(row)
            return c
        dense_rows = list(dense_best)[: self.candidates]
        dense_rank = [cid(r) for r in dense_rows]
        sparse_rank = [cid(r) for r in sparse_rows]
        row_of = {c: r for r, c in ids.items()}
        # a third view: the clause's best single sentence, by rare words shared (a long clause whose one
        # sentence answers should not lose to a short clause that shares common words)
        q_tokens = frozenset(tokenize(expanded))
        sentences = self.index.sentences
        weighed = list(dict.fromkeys(dense_rank + sparse_rank))
        lexical = dict(zip(weighed, sentences.best_overlaps(q_tokens, [row_of[c] for c in weighed])))
        lexical_rank = [c for c in sorted(lexical, key=lambda c: (-lexical[c], c)) if lexical[c] > 0]
        fused = rrf([dense_rank, sparse_rank, lexical_rank], self.rrf_k,
                    [1.0, self.sparse_weight, self.sentence_weight])
        top = sorted(fused, key=lambda c: (-fused[c], c))[: max(k, 10)]
        if top:
            peak = fused[top[0]]
            own = region if region and any(d in allowed for d in self.kb.documents_of_region(region)) else None
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
                if int(lay.flags[row_of[c]]) & INTRO:
                    v -= self.PARENT_PENALTY    # an introduction to its sub-clauses answers less than they do
                return v
            top.sort(key=lambda c: (-score(c), c))
        out = []
        for c in top[:k]:
            r = row_of[c]
            d = dense_best.get(r)
            out.append(Hit(c, fused[c], d if d is not None else self._dense_of(qvec, r), sparse_of(r)))
        return out

    def _dense(self, qvec: np.ndarray, ranges: list[tuple[int, int]], doc_ok: np.ndarray) -> dict[int, float]:
        """clause row → cosine of its best passage, best first, for at least the best `candidates` clauses
        of allowed documents in the ranges (all of them in a small shard)."""
        lay, dense = self.index.layout, self.index.dense
        found_rows, found_scores = [], []
        for a, b in ranges:
            pa, pb = lay.passage_range(a, b)
            size = pb - pa
            if size <= self.WHOLE_SHARD:
                n, find = size, dense.search
            elif dense.approximate:     # it reads more of the lists the more it is asked for: a few first
                n, find = max(2 * self.candidates, 128), dense.nearest
            else:
                n, find = max(8 * self.candidates, 512), dense.search
            while True:
                rows, scores = find(qvec, n, pa, pb)
                clause_rows = np.asarray(lay.passage_clause[rows])
                ok = doc_ok[np.asarray(lay.clause_doc[clause_rows])] if len(rows) else np.zeros(0, bool)
                if n >= size or len(np.unique(clause_rows[ok])) >= self.candidates:
                    break
                n = min(size, n * 4)
            found_rows.append(rows[ok])
            found_scores.append(scores[ok])
        if not found_rows:
            return {}
        rows, scores = np.concatenate(found_rows), np.concatenate(found_scores)
        order = np.lexsort((rows, -scores))
        clauses = np.asarray(lay.passage_clause[rows[order]])
        _, first = np.unique(clauses, return_index=True)     # each clause at its best passage
        first.sort()
        return dict(zip(clauses[first].tolist(), scores[order][first].tolist()))

    def _dense_of(self, qvec: np.ndarray, row: int) -> float:
        """Cosine of the clause's best passage (for a clause found by words alone)."""
        a, b = self.index.layout.passage_range(row, row + 1)
        _, scores = self.index.dense.search(qvec, b - a, a, b)
        return float(scores[0]) if len(scores) else 0.0

    def _sparse(self, query: str, ranges: list[tuple[int, int]], doc_ok: np.ndarray):
        """(the best `candidates` clause rows of allowed documents by BM25 score, positive scores only, best
        first with ties in row order; row → its score)."""
        lay, bm25 = self.index.layout, self.index.bm25
        tids = bm25.query_ids(query)
        all_rows, all_scores = [], []
        for a, b in ranges if len(tids) else ():
            s = bm25.scores(tids, a, b)
            rows = np.flatnonzero(s > 0)
            if len(rows):
                keep = doc_ok[np.asarray(lay.clause_doc[rows + a])]
                all_rows.append(rows[keep] + a)
                all_scores.append(s[rows[keep]])
        if not all_rows:
            return [], lambda row: 0.0
        rows, scores = np.concatenate(all_rows), np.concatenate(all_scores)     # rows ascending
        n = self.candidates
        if len(scores) > n:
            # every row scoring at least the n-th best score (ties at the cut included), then ordered
            cut = np.partition(scores, len(scores) - n)[len(scores) - n]
            pick = np.flatnonzero(scores >= cut)
        else:
            pick = np.arange(len(scores))
        order = pick[np.lexsort((rows[pick], -scores[pick]))][:n]

        def score_of(row: int) -> float:
            i = int(np.searchsorted(rows, row))
            return float(scores[i]) if i < len(rows) and rows[i] == row else 0.0
        return rows[order].tolist(), score_of

    def _heading_overlap(self, q_tokens: frozenset[str], clause_id: str) -> float:
        toks = self._heading_tokens.get(clause_id)
        if toks is None:
            c = self.kb.clauses[clause_id]
            toks = frozenset(tokenize(c.heading_path[-1])) if c.heading_path else frozenset()
            if len(self._heading_tokens) > 50000:
                self._heading_tokens.clear()
            self._heading_tokens[clause_id] = toks
        s = self.index.sentences
        return sum(s.idf.get(t, s.max_idf) * (1.0 if len(t) > 1 else 0.3) for t in q_tokens & toks)

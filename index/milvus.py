"""Milvus as the search backend behind the same retriever (evaluated in benchmarks/milvus_eval.py; optional:
`pip install -r requirements-milvus.txt`). The build's passage vectors and BM25 weights are loaded into two
Milvus collections; the retriever's dense and BM25 rankings are then Milvus searches, restricted to the
documents the question may use, and everything after them (the sentence ranking, fusion, reranking) is the
retriever's own.

    passages: id = passage row, clause row, doc, vector (FLAT, inner product — exact, like the FAISS index)
    clauses:  id = clause row, doc, bm25 (sparse: token id → BM25 weight; a query's sparse vector counts its
              tokens, so the inner product is the BM25 score)

`uri` is a milvus-lite file (a local server process) or the address of a Milvus server.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from index.search import Retriever


def _client(uri: str):
    try:
        from pymilvus import MilvusClient
    except ImportError as e:     # not a runtime requirement
        raise RuntimeError("Milvus backend needs `pip install -r requirements-milvus.txt`") from e
    return MilvusClient(uri)


def load_into_milvus(index, uri: str, batch: int = 2000) -> None:
    """Copy a built index (index.store.LoadedIndex) into Milvus collections at `uri` (replacing them)."""
    from pymilvus import DataType
    client = _client(uri)
    lay, dense, bm25 = index.layout, index.dense.index, index.bm25
    for name in ("passages", "clauses"):
        if client.has_collection(name):
            client.drop_collection(name)
    s = client.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("clause", DataType.INT64)
    s.add_field("doc", DataType.INT64)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=dense.d)
    ip = client.prepare_index_params()
    ip.add_index("vector", index_type="FLAT", metric_type="IP")
    client.create_collection("passages", schema=s, index_params=ip)
    vectors = dense.reconstruct_n(0, dense.ntotal) if dense.ntotal else np.zeros((0, dense.d), np.float32)
    clause_of = np.asarray(lay.passage_clause)
    doc_of = np.asarray(lay.clause_doc)
    for a in range(0, len(vectors), batch):
        client.insert("passages", [{"id": i, "clause": int(clause_of[i]), "doc": int(doc_of[clause_of[i]]),
                                    "vector": vectors[i].tolist()} for i in range(a, min(a + batch, len(vectors)))])
    s = client.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("doc", DataType.INT64)
    s.add_field("bm25", DataType.SPARSE_FLOAT_VECTOR)
    ip = client.prepare_index_params()
    ip.add_index("bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection("clauses", schema=s, index_params=ip)
    # the BM25 columns (token → rows) turned into rows (clause → tokens)
    ptr = np.asarray(bm25.ptr)
    tokens = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    rows, data = np.asarray(bm25.rows), np.asarray(bm25.data)
    order = np.argsort(rows, kind="stable")
    rows, tokens, data = rows[order], tokens[order], data[order]
    starts = np.searchsorted(rows, np.arange(lay.size + 1))
    for a in range(0, lay.size, batch):
        b = min(a + batch, lay.size)
        client.insert("clauses", [{"id": r, "doc": int(doc_of[r]),
                                   "bm25": {int(t): float(w) for t, w in zip(tokens[starts[r]:starts[r + 1]],
                                                                              data[starts[r]:starts[r + 1]])}
                                   or {0: 0.0}} for r in range(a, b)])
    for name in ("passages", "clauses"):
        client.load_collection(name)
    client.close()


class MilvusRetriever(Retriever):
    """The retriever with its dense and BM25 rankings done by Milvus."""

    def __init__(self, *a, uri: str, **kw):
        super().__init__(*a, **kw)
        self.client = _client(uri)
        for name in ("passages", "clauses"):
            self.client.load_collection(name)

    def _filter(self, doc_ok: np.ndarray) -> str:
        return f"doc in {np.flatnonzero(doc_ok).tolist()}"

    def _dense(self, qvec, ranges, doc_ok) -> dict[int, float]:
        res = self.client.search("passages", [np.asarray(qvec, np.float32).tolist()], anns_field="vector",
                                 limit=self.candidates, filter=self._filter(doc_ok), group_by_field="clause",
                                 output_fields=["clause"], search_params={"metric_type": "IP"})[0]
        best: dict[int, float] = {}
        for hit in res:
            c = int(hit["entity"]["clause"])
            if c not in best:
                best[c] = float(hit["distance"])
        return best

    def _dense_of(self, qvec, row: int) -> float:
        return 0.0      # not needed to rank; the Hit's dense score is left out for clauses found by words

    def _sparse(self, query, ranges, doc_ok):
        tids = self.index.bm25.query_ids(query)
        if not len(tids):
            return [], lambda row: 0.0
        q = {int(t): float(n) for t, n in Counter(tids.tolist()).items()}
        res = self.client.search("clauses", [q], anns_field="bm25", limit=self.candidates,
                                 filter=self._filter(doc_ok), search_params={"metric_type": "IP"})[0]
        out = [(int(h["id"]), float(h["distance"])) for h in res if h["distance"] > 0]
        out.sort(key=lambda x: (-x[1], x[0]))
        found = dict(out)
        return [r for r, _ in out], lambda row: found.get(row, 0.0)


def milvus_assistant(assistant, uri: str | Path):
    """The same assistant with its retriever's searches done by Milvus at `uri` (loaded with load_into_milvus)."""
    r = assistant.retriever
    m = MilvusRetriever(r.kb, r.index, r.embedder, r.gaz, r.rrf_k, r.candidates, r.sparse_weight,
                        r.sentence_weight, r.heading_weight, uri=str(uri))
    assistant.retriever = m
    assistant.res.retriever = m
    return assistant

"""Start-up that does not grow with the knowledge base, and search that reads only the region's shards.

`Assistant.load` maps what the build made: it tokenises nothing, splits no sentence, imports no BM25 library and
reads no clause row; answering reads the clauses it cites, never the whole table. A search for a region reads
only the rows of its shard and of the regions above it."""
from __future__ import annotations

import re
import sqlite3
import sys
from datetime import date

import numpy as np
import pytest

from tests.conftest import TODAY

FULL_SCAN = re.compile(r"\bFROM clauses\b(?!.*\bWHERE\b)", re.S | re.I)


class Trap(Exception):
    pass


def _trap(*_a, **_k):
    raise Trap("computed at start-up")


def test_load_maps_the_build_and_computes_nothing_from_the_clauses(built_config, embedder, monkeypatch):
    import index.sentences
    import index.tokenize
    import kb.store
    from bot.core.service import Assistant
    statements: list[str] = []
    real_connect = sqlite3.connect

    def traced(*a, **k):
        con = real_connect(*a, **k)
        con.set_trace_callback(statements.append)
        return con
    with monkeypatch.context() as m:
        m.setattr(index.tokenize, "_tokenizer", _trap)           # no text is tokenised
        index.tokenize._tokens.cache_clear()
        m.setattr(index.sentences, "split_sentences", _trap)     # no clause is split into sentences
        m.setattr(index.sentences, "bigrams", _trap)
        m.setitem(sys.modules, "bm25s", None)                    # BM25 weights come from the build's files
        m.setattr(kb.store.sqlite3, "connect", traced)
        a = Assistant.load(built_config, today=lambda: TODAY, build=False, embedder=embedder)
    assert statements and not [s for s in statements if FULL_SCAN.search(s)]
    # clauses read to start: only those the rule tables cite, one by one
    assert all("WHERE id = " in s for s in statements if "FROM clauses" in s)
    # and it answers, reading clauses only as it needs them
    from bot.core.types import Session
    ans = a.answer("乡宁专业镇工作专班的办公室设在哪里？", Session(id="t"))
    assert ans.status == "answered" and any("乡宁" in c.doc for c in ans.citations)
    assert not [s for s in statements if FULL_SCAN.search(s)]


@pytest.mark.parametrize("q", ["晋城涉农企业营收首次达到3亿元，奖励多少？", "忻州市级专业镇的认定标准是什么",
                               "专业镇领导小组组长是谁", "你们有哪些文件", "城区专业镇有哪几条基本原则",
                               "TA0034号提案是哪个单位答复的", "申请奖励要准备什么材料"])
def test_answering_never_scans_the_clause_table(assistant, q):
    from bot.core.types import Session
    seen: list[str] = []
    db = assistant.kb.clauses._db
    db.set_trace_callback(seen.append)
    try:
        assistant.answer(q, Session(id="scan"))
    finally:
        db.set_trace_callback(None)
    assert not [s for s in seen if FULL_SCAN.search(s)], q


@pytest.fixture(scope="module")
def regional(tmp_path_factory):
    """A knowledge base of the real documents and rewritten copies for other regions (benchmarks/scale.py),
    with a small deterministic embedder."""
    from benchmarks.scale import make_kb
    from index.store import current_dir, doc_hash, write_build
    from kb.store import write_kb
    from tests.test_index_store import CountingEmbedder
    docs, clauses, _ = make_kb(900, seed=1)
    data = tmp_path_factory.mktemp("regional")
    metas = {d.meta.id: d.meta for d in docs}
    write_build(data, CountingEmbedder(), metas, {d.meta.id: doc_hash(d.meta, d.text) for d in docs}, clauses,
                lambda p: write_kb(p, docs=docs, clauses=clauses), progress=False)
    return current_dir(data)


def _retriever(directory):
    from index.search import Retriever
    from index.store import LoadedIndex
    from kb.regions import Gazetteer
    from kb.store import KnowledgeBase
    from tests.test_index_store import CountingEmbedder
    kb = KnowledgeBase.load(directory / "kb.sqlite")
    return Retriever(kb, LoadedIndex.load(directory), CountingEmbedder(), Gazetteer.load(), rrf_k=1, candidates=50)


def test_search_reads_only_the_shards_of_the_region_and_above(regional, monkeypatch):
    r = _retriever(regional)
    lay, gaz = r.index.layout, r.gaz
    assert len(lay.regions) >= 6                      # the copies went to many regions
    county = next(n for n in lay.regions if gaz.regions[n].level == "county" and
                  gaz.regions[n].parent in lay.regions)
    chain = [n for n in gaz.ancestors(county) if n in lay.regions]
    inside = [tuple(lay.regions[n]["rows"]) for n in chain]
    inside_passages = [tuple(lay.regions[n]["passages"]) for n in chain]
    read_rows, read_passages = [], []
    bm25_scores, dense_search = type(r.index.bm25).scores, type(r.index.dense).search

    def spy_scores(self, tids, a, b):
        read_rows.append((a, b))
        return bm25_scores(self, tids, a, b)

    def spy_search(self, q, n, a=0, b=None):
        read_passages.append((a, b))
        return dense_search(self, q, n, a, b)
    monkeypatch.setattr(type(r.index.bm25), "scores", spy_scores)
    monkeypatch.setattr(type(r.index.dense), "search", spy_search)
    short = gaz.short(county)
    hits = r.search(f"{short}专业镇企业营收首次达到10亿元奖励多少", 10, county, date(2026, 11, 22))
    assert hits and read_rows and read_passages
    covered = lambda spans, a, b: any(x <= a and b <= y for x, y in spans) or \
        (a, b) in _merged(spans)  # noqa: E731
    assert all(covered(inside, a, b) for a, b in read_rows)
    assert all(covered(inside_passages, a, b) for a, b in read_passages)
    for h in hits:
        assert r.kb.doc_of(h.clause_id).region in chain
    # the city's and the province's policies reach a county's question; another county's never do
    assert {r.kb.doc_of(h.clause_id).region for h in r.search("专业镇奖励", 50, county, None)} - set(chain) == set()


def _merged(spans):
    out = []
    for a, b in sorted(spans):
        if out and out[-1][1] == a:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def test_retired_documents_are_left_out_inside_a_shard(regional):
    r = _retriever(regional)
    retired = {d for d, m in r.kb.documents.items() if m.status != "active"}
    assert retired, "the generator retires a few documents"
    region = r.kb.documents[next(iter(retired))].region
    hits = r.search("专业镇 奖励 支持", 50, region, date(2026, 11, 22))
    assert hits and not {r.kb.doc_of(h.clause_id).id for h in hits} & retired
    # without a date (staff views) they are searchable
    allowed = r.allowed_docs(region, None)
    assert retired & allowed
    mask = r.index.layout.doc_mask(allowed)
    assert mask.sum() == len([d for d in r.index.layout.docs if d in allowed])
    assert np.asarray(r.index.layout.clause_doc).max() < len(r.index.layout.docs)

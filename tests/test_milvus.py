"""Milvus (milvus-lite) as the search backend behind the same retriever: the same rankings as FAISS + BM25 on
gold questions, and the region's documents only. Optional: runs where requirements-milvus.txt is installed."""
from __future__ import annotations

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")


@pytest.fixture(scope="module")
def both(built_config, embedder, tmp_path_factory):
    from bot.core.service import Assistant
    from index.milvus import load_into_milvus, milvus_assistant
    from tests.conftest import TODAY
    plain = Assistant.load(built_config, today=lambda: TODAY, build=False, embedder=embedder)
    uri = tmp_path_factory.mktemp("milvus") / "milvus.db"
    load_into_milvus(plain.retriever.index, str(uri))
    other = milvus_assistant(Assistant.load(built_config, today=lambda: TODAY, build=False, embedder=embedder), uri)
    yield plain, other
    other.retriever.client.close()


def test_milvus_ranks_the_gold_questions_as_faiss_and_bm25_do(both):
    from bot.evaluation import load_gold, retrieval_metrics
    plain, other = both
    cases = load_gold()[::6]
    a, _ = retrieval_metrics(plain, cases)
    b, _ = retrieval_metrics(other, cases)
    assert b["r1"] >= a["r1"] - 0.05 and b["r3"] >= a["r3"] - 0.05
    agree = sum(plain.search(c["q"], 1)[0].clause_id == other.search(c["q"], 1)[0].clause_id for c in cases)
    assert agree >= 0.9 * len(cases)


def test_milvus_searches_only_the_documents_of_the_region(both):
    _, other = both
    hits = other.search("专业镇奖励政策有哪些", 10, "代县")
    assert hits and {other.kb.doc_of(h.clause_id).region for h in hits} <= {"忻州市", "代县", "山西省"}

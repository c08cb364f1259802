"""A large knowledge base is searched without going over all of it, and answers as if it had been: the
approximate dense index (index/dense.py) finds what the exact search finds; the index of titles and numbers
(index/titles.py) names the same documents as scoring every document (bot/core/documents.py); the clauses
holding a question's rare words are the same however the allowed documents are given (bot/core/evidence.py)."""
from __future__ import annotations

import zlib
from datetime import date

import numpy as np
import pytest

from tests.conftest import TODAY


# ---- the approximate dense index ---------------------------------------------------------------------------
def _clustered(n: int, dim: int = 32, centres: int = 200, seed: int = 5, spread: float = 1.0) -> np.ndarray:
    """Unit vectors around random centres (spread 1.0: the clusters overlap, not an easy case for lists)."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim))
    x = c[rng.integers(0, centres, n)] + spread * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _near(vectors: np.ndarray, k: int, seed: int = 9) -> np.ndarray:
    """Queries close to stored vectors (as a question is close to the passage that answers it)."""
    rng = np.random.default_rng(seed)
    q = vectors[rng.integers(0, len(vectors), k)] + 0.08 * rng.standard_normal((k, vectors.shape[1]))
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def test_approximate_search_finds_the_exact_best_within_the_range():
    from index.dense import DenseIndex
    x = _clustered(20000)
    dense = DenseIndex.build(x, ann_min=5000)
    assert dense.approximate and dense.ann.nlist > 16    # enough lists that it probes only some
    assert not DenseIndex.build(x[:4000], ann_min=5000).approximate     # a small one stays exact
    same_top, recall = 0, []
    for a, b in ((0, 20000), (3000, 15000), (15000, 20000)):
        for q in _near(x[a:b], 40, seed=a):
            rows, scores = dense.nearest(q, 50, a, b)
            exact_rows, exact_scores = dense.search(q, 50, a, b)
            assert len(rows) and ((rows >= a) & (rows < b)).all()          # only the range asked for
            assert np.allclose(scores, x[rows] @ q, atol=1e-3)             # their cosines
            assert (np.diff(scores) <= 1e-6).all()                         # best first
            same_top += int(rows[0] == exact_rows[0])
            recall.append(len(set(rows[:10].tolist()) & set(exact_rows[:10].tolist())) / 10)
    # (probing a quarter as many lists: 115 and 0.80)
    assert same_top >= 117 and np.mean(recall) >= 0.9, (same_top, np.mean(recall))


def test_asking_for_the_whole_range_finds_all_of_it():
    from index.dense import DenseIndex
    x = _clustered(12000, seed=6)
    dense = DenseIndex.build(x, ann_min=1000)
    for q in _near(x, 5):
        rows, scores = dense.nearest(q, 3000, 2000, 5000)
        exact_rows, exact_scores = dense.search(q, 3000, 2000, 5000)
        assert set(rows.tolist()) == set(exact_rows.tolist()) == set(range(2000, 5000))
        assert np.allclose(np.sort(scores), np.sort(exact_scores), atol=1e-3)


class BigramEmbedder:
    """Deterministic vectors with meaning: hashed character bigrams through a fixed random projection, so
    that a question is near the passages that share its words."""
    backend, model, dim = "test", "bigram-64", 64

    def __init__(self):
        self.proj = np.random.default_rng(3).standard_normal((2048, self.dim)).astype(np.float32)

    def _vec(self, t: str) -> np.ndarray:
        v = np.zeros(self.dim, np.float32)
        for j in range(len(t) - 1):
            v += self.proj[zlib.crc32(t[j:j + 2].encode()) % 2048]
        n = np.linalg.norm(v)
        return v / n if n else v

    def passages(self, texts):
        return np.stack([self._vec(t) for t in texts])

    def query(self, text):
        return self._vec(text)


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """The real documents and rewritten copies for other regions (benchmarks/scale.py), built with the
    approximate index made from 300 passages on (it is made from 20,000 normally)."""
    from benchmarks.scale import make_kb
    from index.store import current_dir, doc_hash, write_build
    from kb.store import write_kb
    docs, clauses, _ = make_kb(900, seed=2)
    data = tmp_path_factory.mktemp("large")
    write_build(data, BigramEmbedder(), {d.meta.id: d.meta for d in docs},
                {d.meta.id: doc_hash(d.meta, d.text) for d in docs}, clauses,
                lambda p: write_kb(p, docs=docs, clauses=clauses), progress=False, ann_min=300)
    return current_dir(data)


def _retriever(directory, whole_shard: int | None = None):
    from index.search import Retriever
    from index.store import LoadedIndex
    from kb.regions import Gazetteer
    from kb.store import KnowledgeBase
    r = Retriever(KnowledgeBase.load(directory / "kb.sqlite"), LoadedIndex.load(directory), BigramEmbedder(),
                  Gazetteer.load(), rrf_k=1, candidates=50, sparse_weight=1.5)
    if whole_shard is not None:
        r.WHOLE_SHARD = whole_shard
    return r


QUESTIONS = ["专业镇企业营收首次达到10亿元有什么奖励", "新认定的省级专业镇奖励多少", "专业镇领导小组组长是谁",
             "申请奖励要准备什么材料", "龙头企业带动效应强怎么认定", "专业镇的主导产业产值要达到多少",
             "支持专业镇建设公共服务平台", "专业镇人才引进有什么政策", "中华老字号奖励", "政策有效期到什么时候"]


def test_a_large_build_searches_its_large_shards_approximately_with_the_same_top_hits(large):
    from index.store import Manifest
    assert Manifest.read(large).ann["kind"] == "ivf-fp16" and (large / "dense_ivf.faiss").exists()
    exact, approx = _retriever(large), _retriever(large, whole_shard=32)
    assert approx.index.dense.approximate
    lay, gaz = exact.index.layout, exact.gaz
    big = [n for n, s in lay.regions.items() if s["passages"][1] - s["passages"][0] > 32]
    assert len(big) >= 5                                       # these go through the approximate index
    compared = 0
    for region in [None, *big[:6]]:
        for q in QUESTIONS:
            question = f"{gaz.short(region)}{q}" if region else q
            a = approx.search(question, 5, region, TODAY)
            e = exact.search(question, 5, region, TODAY)
            assert [h.clause_id for h in a][:1] == [h.clause_id for h in e][:1], question
            assert {exact.kb.doc_of(h.clause_id).region for h in a} <= set(gaz.ancestors(region) if region
                                                                         else lay.regions)
            compared += bool(e)
    assert compared >= 60


def test_an_approximate_index_missing_from_its_build_is_refused(large, tmp_path):
    import shutil

    from bot.errors import IndexError_
    from index.store import LoadedIndex
    copy = tmp_path / "build"
    shutil.copytree(large, copy)
    (copy / "dense_ivf.faiss").unlink()
    with pytest.raises(IndexError_, match="rebuild"):
        LoadedIndex.load(copy)


# ---- the documents a question names --------------------------------------------------------------------------
class CountingEvidence:
    """The assistant's word scorer, counting the texts it is asked to score."""

    def __init__(self, evidence):
        self.evidence, self.scored = evidence, 0

    def text_overlap(self, question, text):
        self.scored += 1
        return self.evidence.text_overlap(question, text)

    def overlap_weights(self, question):
        return self.evidence.overlap_weights(question)


def _named_both_ways(docs, evidence, titles, questions, live_sets):
    named = 0
    for q in questions:
        for live in live_sets:
            by_index = docs.named(q, evidence, live, titles)
            assert by_index == docs.named(q, evidence, live), (q, live is None)
            named += bool(by_index)
    return named


def test_documents_named_through_the_index_are_those_named_by_scoring_every_document(assistant):
    import yaml

    from tests.conftest import ROOT
    a = assistant
    gold = [c["q"] for c in yaml.safe_load((ROOT / "tests" / "gold" / "retrieval.yaml").read_text(
        encoding="utf-8"))["cases"]]
    asked = ["晋市政办〔2023〕39号什么时候到期", "晋市政办[2023]39号还有效吗", "39号文件是哪个部门发的",
             "TA0034号提案是谁提的", "ta0034的答复", "忻州的实施方案有效期", "城区专业镇若干政策还管用吗",
             "泽州县的文件什么时候发的", "关于加快专业镇发展的提案答复", "高平的政策", "你们有哪些文件"]
    titles = a.retriever.index.titles
    assert len(titles) == len(a.kb.documents)
    named = _named_both_ways(a.docs, a.res.evidence, titles, gold + asked,
                             [None, a.kb.live_documents(TODAY)])
    assert named >= 20


def test_the_index_names_the_same_documents_among_many_alike_and_scores_only_a_few(large):
    from bot.core.documents import Documents
    from bot.core.evidence import EvidenceFinder
    r = _retriever(large)
    kb, gaz = r.kb, r.gaz
    docs = Documents(kb, gaz)
    evidence = EvidenceFinder(r.index.sentences)
    titles = r.index.titles
    metas = list(kb.documents.values())
    assert len(metas) >= 30 and len(titles) == len(metas)
    rng = np.random.default_rng(4)
    questions = []
    for m in (metas[int(i)] for i in rng.choice(len(metas), 25, replace=False)):
        short = gaz.short(m.region)
        number = m.number.split("〕")[-1] if m.number else ""
        questions += [f"{m.number}还有效吗", f"{m.number.replace('〔', '[').replace('〕', ']')}是哪个部门发的",
                      f"{number}文件什么时候到期", f"{m.title}的有效期", f"{short}的若干政策", f"{short}实施方案"]
    live_sets = [None, kb.live_documents(date(2026, 11, 22))]
    assert _named_both_ways(docs, evidence, titles, questions, live_sets) >= 100
    # a question quoting one 文号 scores a few documents, not every one
    counting = CountingEvidence(evidence)
    m = metas[-1]
    assert docs.named(f"{m.number}的有效期到哪天", counting, None, titles)[0] == m.id
    assert 0 < counting.scored <= len(metas) // 10


# ---- the clauses holding a question's rarest words ----------------------------------------------------------
def test_rare_word_candidates_are_the_same_for_ids_a_mask_or_a_test(large):
    from bot.core.evidence import EvidenceFinder
    r = _retriever(large)
    ev = EvidenceFinder(r.index.sentences)
    found = 0
    for region in (None, *list(r.index.layout.regions)[:5]):
        ids = r.allowed_docs(region, TODAY)
        mask = r.allowed_mask(region, TODAY)
        for q in QUESTIONS:
            by_ids = ev.candidates(q, ids)
            assert by_ids == ev.candidates(q, mask) == ev.candidates(q, lambda c: r.kb.doc_of(c).id in ids), q
            assert all(r.kb.doc_of(c).id in ids for c in by_ids)
            found += bool(by_ids)
    assert found >= 30


def test_a_clauses_best_sentence_weighed_from_token_ids_as_from_its_token_sets(large):
    from index.tokenize import tokenize
    r = _retriever(large)
    s, lay = r.index.sentences, r.index.layout
    rows = list(range(0, lay.size, 5))
    shared = 0
    for q in QUESTIONS:
        words = frozenset(tokenize(q))
        by_ids = s.best_overlaps(words, rows)
        by_sets = [s.best_overlap(words, lay.clause_id(x)) for x in rows]
        assert np.allclose(by_ids, by_sets, rtol=0, atol=1e-9), q
        shared += sum(v > 0 for v in by_sets)
    assert shared > 100

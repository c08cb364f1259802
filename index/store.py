"""The built knowledge base + index as one directory with a manifest, swapped in atomically.

    <data>/builds/<id>/ kb.sqlite  manifest.json  passages.jsonl  vectors.npy  dense.faiss  bm25/
    <data>/current -> builds/<id>        (replaced with one atomic rename)

A rebuild re-embeds only passages whose text changed; a crash mid-build leaves `current` serving.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.errors import IndexError_
from index.dense import DenseIndex
from index.embedder import Embedder
from index.passages import passages
from index.sentences import SentenceIndex, sentence_passage, split_sentences
from index.sparse import BM25Index
from kb.documents import DocumentMeta
from kb.parse import INDEXED_KINDS, Clause

log = logging.getLogger(__name__)
FORMAT = 4
KEEP_BUILDS = 3


@dataclass
class Manifest:
    format: int
    backend: str
    model: str
    dim: int
    built_at: float
    clauses: dict[str, str]          # clause id -> hash
    documents: dict[str, str]        # doc id -> hash of its metadata and text
    passages: int
    build_id: str

    @classmethod
    def read(cls, directory: Path) -> "Manifest":
        try:
            raw = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
            return cls(**raw)
        except (OSError, ValueError, TypeError) as e:
            raise IndexError_(f"index manifest unreadable in {directory}: {e}") from e

    def write(self, directory: Path) -> None:
        (directory / "manifest.json").write_text(json.dumps(self.__dict__, ensure_ascii=False, indent=1),
                                                 encoding="utf-8")


def passage_key(backend: str, model: str, text: str) -> str:
    return hashlib.sha256(f"{backend}\x00{model}\x00{text}".encode()).hexdigest()[:24]


def current_dir(data_dir: Path) -> Path | None:
    link = data_dir / "current"
    return link.resolve() if link.exists() else None


def check_compatible(manifest: Manifest, embedder_backend: str, embedder_model: str | None = None,
                     dim: int | None = None) -> None:
    if manifest.format != FORMAT:
        raise IndexError_(f"index format {manifest.format} is not {FORMAT}: rebuild with `python -m bot build`")
    if manifest.backend != embedder_backend or (embedder_model and manifest.model != embedder_model) \
            or (dim and manifest.dim != dim):
        raise IndexError_(f"index was built with {manifest.backend}/{manifest.model} ({manifest.dim}-d), "
                          f"config asks for {embedder_backend}/{embedder_model or '?'}: "
                          f"rebuild with `python -m bot build`")


def _previous_vectors(data_dir: Path, embedder: Embedder) -> dict[str, np.ndarray]:
    cur = current_dir(data_dir)
    if not cur:
        return {}
    try:
        m = Manifest.read(cur)
        if m.backend != embedder.backend or m.model != embedder.model or m.dim != embedder.dim:
            log.info("embedder changed (%s/%s -> %s/%s): re-embedding everything",
                     m.backend, m.model, embedder.backend, embedder.model)
            return {}
        keys = [json.loads(line)["key"] for line in (cur / "passages.jsonl").read_text(encoding="utf-8").splitlines()]
        vecs = np.load(cur / "vectors.npy")
        found = dict(zip(keys, vecs))
        if (cur / "sentence_keys.json").exists():
            skeys = json.loads((cur / "sentence_keys.json").read_text(encoding="utf-8"))
            found.update(zip(skeys, np.load(cur / "sentence_vectors.npy")))
        return found
    except (IndexError_, OSError, ValueError, KeyError) as e:
        log.warning("previous index unusable for reuse (%s): re-embedding everything", e)
        return {}


def doc_hash(meta: DocumentMeta, text: str) -> str:
    return hashlib.sha256((json.dumps(meta.to_dict(), sort_keys=True, ensure_ascii=False) + text).encode()
                          ).hexdigest()[:16]


def write_build(data_dir: Path, embedder: Embedder, docs: dict[str, DocumentMeta], doc_hashes: dict[str, str],
                clauses: list[Clause], write_kb, passage_chars: int = 260, progress: bool = True,
                batch_size: int = 32) -> tuple[Path, int]:
    """Write a complete new build beside the current one and swap it in. Returns (dir, passages embedded)."""
    builds = data_dir / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    build_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    tmp = builds / f".tmp-{build_id}"
    tmp.mkdir()
    try:
        write_kb(tmp / "kb.sqlite")
        rows, texts = [], []
        for c in clauses:
            if c.kind not in INDEXED_KINDS:
                continue
            for p in passages(docs[c.doc_id], c, passage_chars):
                rows.append({"clause_id": c.id, "key": passage_key(embedder.backend, embedder.model, p)})
                texts.append(p)
        indexed = [c for c in clauses if c.kind in INDEXED_KINDS]
        sentence_texts = [sentence_passage(c, sent) for c in indexed for sent in split_sentences(c.text)]
        sentence_keys = [passage_key(embedder.backend, embedder.model, t) for t in sentence_texts]
        cache = _previous_vectors(data_dir, embedder)
        wanted = dict(zip([r["key"] for r in rows], texts)) | dict(zip(sentence_keys, sentence_texts))
        todo = [k for k in wanted if k not in cache]
        log.info("index: %d passages and %d sentences, %d to embed", len(rows), len(sentence_texts), len(todo))
        if todo:
            from tqdm import tqdm
            bar = tqdm(total=len(todo), desc="embedding", unit="passage", disable=not progress,
                       file=__import__("sys").stderr)
            for start in range(0, len(todo), batch_size):
                chunk = todo[start:start + batch_size]
                for k, v in zip(chunk, embedder.passages([wanted[k] for k in chunk])):
                    cache[k] = v
                bar.update(len(chunk))
            bar.close()
        vectors = np.zeros((len(rows), embedder.dim), np.float32)
        for i, r in enumerate(rows):
            vectors[i] = cache[r["key"]]
        sentence_vectors = np.zeros((len(sentence_keys), embedder.dim), np.float32)
        for i, k in enumerate(sentence_keys):
            sentence_vectors[i] = cache[k]
        np.save(tmp / "sentence_vectors.npy", sentence_vectors)
        (tmp / "sentence_keys.json").write_text(json.dumps(sentence_keys), encoding="utf-8")
        todo = [k for k in todo if k in {r["key"] for r in rows}]
        np.save(tmp / "vectors.npy", vectors)
        with open(tmp / "passages.jsonl", "w", encoding="utf-8") as f:
            for r, t in zip(rows, texts):
                f.write(json.dumps({**r, "text": t}, ensure_ascii=False) + "\n")
        DenseIndex.build(vectors).save(tmp / "dense.faiss")
        BM25Index.build([f"{c.heading}\n{c.heading}\n{c.text}" for c in indexed]).save(tmp / "bm25")
        (tmp / "bm25_ids.json").write_text(json.dumps([c.id for c in indexed]), encoding="utf-8")
        SentenceIndex.build([(c.id, c.text) for c in indexed], tmp)
        Manifest(FORMAT, embedder.backend, embedder.model, embedder.dim, time.time(),
                 {c.id: c.hash for c in clauses}, doc_hashes, len(rows), build_id).write(tmp)
        final = builds / build_id
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    swap_current(data_dir, final)
    prune(builds, keep=final)
    return final, len(todo)


def swap_current(data_dir: Path, target: Path) -> None:
    link = data_dir / "current"
    tmp_link = data_dir / f".current-{uuid.uuid4().hex[:6]}"
    os.symlink(os.path.relpath(target, data_dir), tmp_link)
    os.replace(tmp_link, link)   # atomic: readers see the old build or the new one


def prune(builds: Path, keep: Path) -> None:
    done = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    for old in done[:-KEEP_BUILDS]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
    for stale in builds.glob(".tmp-*"):   # left by a crashed build
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)


@dataclass
class LoadedIndex:
    directory: Path
    manifest: Manifest
    passage_clause: list[str]
    dense: DenseIndex
    bm25: BM25Index
    bm25_ids: list[str]
    sentences: SentenceIndex

    @classmethod
    def load(cls, directory: Path) -> "LoadedIndex":
        m = Manifest.read(directory)
        try:
            rows = [json.loads(line)["clause_id"]
                    for line in (directory / "passages.jsonl").read_text(encoding="utf-8").splitlines()]
            dense = DenseIndex.load(directory / "dense.faiss")
            bm25 = BM25Index.load(directory / "bm25")
            ids = json.loads((directory / "bm25_ids.json").read_text(encoding="utf-8"))
            sentences = SentenceIndex.load(directory)
        except (OSError, ValueError, RuntimeError, KeyError) as e:
            raise IndexError_(f"index files damaged in {directory}: {e}; rebuild with `python -m bot build`") from e
        if dense.index.ntotal != len(rows) or len(rows) != m.passages:
            raise IndexError_(f"index in {directory} is inconsistent with its manifest; rebuild it")
        return cls(directory, m, rows, dense, bm25, ids, sentences)

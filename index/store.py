"""The built knowledge base + index as one directory with a manifest, swapped in atomically.

    <data>/builds/<id>/ kb.sqlite  manifest.json  dense.faiss [+ dense_ivf.faiss] (index/dense.py)
                        layout.json + clause_*.npy (index/shards.py)  title*.npy (index/titles.py)
                        vocab.npy  bm25_*.npy (index/sparse.py)  sentence_*.npy … (index/sentences.py)
                        passages.jsonl  vectors.npy  sentence_keys.json  sentence_vectors.npy (for reuse)
    <data>/current -> builds/<id>        (replaced with one atomic rename)

Everything derived from the clauses is computed here; loading maps the files and computes nothing, so start-up
does not grow with the knowledge base. Rows are grouped by region (shards). A rebuild re-embeds only passages
whose text changed; a crash mid-build leaves `current` serving.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.errors import IndexError_
from index import sentences as sentence_files
from index import sparse
from index import titles as title_files
from index.dense import ANN_MIN, DenseIndex
from index.embedder import Embedder
from index.passages import passages
from index.sentences import SentenceIndex, sentence_passage, split_sentences
from index.shards import INTRO, Layout, shard_order, write_layout
from index.sparse import BM25Index
from index.titles import TitleIndex
from index.vocab import StringTable
from kb.documents import DocumentMeta
from kb.parse import INDEXED_KINDS, Clause

log = logging.getLogger(__name__)
FORMAT = 6      # 6: dense_ivf.faiss (approximate search of large knowledge bases), title*.npy
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
    # what the build was made from, to tell without parsing that nothing changed: the documents folder's
    # files (name → [size, mtime_ns]) and the code that turns them into clauses and index (a hash)
    sources: dict = field(default_factory=dict)
    code: str = ""
    clause_count: int = 0
    # the approximate dense index, when the build made one: {"kind": "ivf-fp16", "nlist": …}
    ann: dict = field(default_factory=dict)

    @classmethod
    def read(cls, directory: Path, clauses: bool = True) -> "Manifest":
        """The build's manifest; the clause hashes (one per clause, in clauses.json) only when asked for:
        starting the assistant does not read them."""
        try:
            raw = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
            if "clauses" not in raw:
                raw["clauses"] = json.loads((directory / "clauses.json").read_text(encoding="utf-8")) \
                    if clauses else {}
            m = cls(**raw)
            m.clause_count = m.clause_count or len(m.clauses)
            return m
        except (OSError, ValueError, TypeError) as e:
            raise IndexError_(f"index manifest unreadable in {directory}: {e}") from e

    def write(self, directory: Path) -> None:
        small = {k: v for k, v in self.__dict__.items() if k != "clauses"}
        small["clause_count"] = len(self.clauses) or self.clause_count
        for name, value in (("clauses.json", self.clauses), ("manifest.json", small)):
            if name == "clauses.json" and not value and (directory / name).exists():
                continue     # read without its clause hashes: they stay as they were
            tmp = directory / f".{name}-{uuid.uuid4().hex[:6]}"
            tmp.write_text(json.dumps(value, ensure_ascii=False, indent=None if name == "clauses.json" else 1),
                           encoding="utf-8")
            os.replace(tmp, directory / name)


def source_stamp(documents_dir: Path) -> dict[str, list[int]]:
    """The documents folder's files as they are now: name → [size, mtime_ns]."""
    out = {}
    for p in sorted(Path(documents_dir).iterdir()) if Path(documents_dir).is_dir() else []:
        if p.suffix in (".txt", ".yaml") and p.is_file():
            st = p.stat()
            out[p.name] = [st.st_size, st.st_mtime_ns]
    return out


def code_stamp() -> str:
    """A hash of the code that turns documents into clauses and index files (kb/, index/)."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(str(FORMAT).encode())
    for p in sorted([*(root / "kb").glob("*.py"), *(root / "index").glob("*.py")]):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


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
                batch_size: int = 32, sources: dict | None = None, ann_min: int = ANN_MIN) -> tuple[Path, int]:
    """Write a complete new build beside the current one and swap it in. Returns (dir, passages embedded).
    From `ann_min` passages on, the dense search of large shards is approximate (index/dense.py)."""
    builds = data_dir / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    build_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    tmp = builds / f".tmp-{build_id}"
    tmp.mkdir()
    try:
        write_kb(tmp / "kb.sqlite")
        indexed = [c for c in clauses if c.kind in INDEXED_KINDS]
        indexed = [indexed[i] for i in shard_order([docs[c.doc_id].region for c in indexed])]
        rows, texts, passage_rows = [], [], []
        for row, c in enumerate(indexed):
            for p in passages(docs[c.doc_id], c, passage_chars):
                rows.append({"clause_id": c.id, "key": passage_key(embedder.backend, embedder.model, p)})
                texts.append(p)
                passage_rows.append(row)
        split = [split_sentences(c.text) for c in indexed]
        sentence_texts = [sentence_passage(c, sent) for c, sents in zip(indexed, split) for sent in sents]
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
        passage_keys = {r["key"] for r in rows}
        todo = [k for k in todo if k in passage_keys]
        np.save(tmp / "vectors.npy", vectors)
        with open(tmp / "passages.jsonl", "w", encoding="utf-8") as f:
            for r, t in zip(rows, texts):
                f.write(json.dumps({**r, "text": t}, ensure_ascii=False) + "\n")
        del sentence_vectors, cache
        dense = DenseIndex.build(vectors, ann_min)
        dense.save(tmp / "dense.faiss")
        ann = {"kind": "ivf-fp16", "nlist": int(dense.ann.nlist)} if dense.ann is not None else {}
        del vectors, dense
        write_derived(tmp, docs, clauses, indexed, split, passage_rows, progress)
        Manifest(FORMAT, embedder.backend, embedder.model, embedder.dim, time.time(),
                 {c.id: c.hash for c in clauses}, doc_hashes, len(rows), build_id, sources or {},
                 code_stamp() if sources else "", ann=ann).write(tmp)
        final = builds / build_id
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    swap_current(data_dir, final)
    prune(builds, keep=final)
    return final, len(todo)


def write_derived(directory: Path, docs: dict[str, DocumentMeta], clauses: list[Clause], indexed: list[Clause],
                  split: list[list[str]], passage_rows: list[int], progress: bool = False) -> None:
    """Everything the assistant needs from the clauses besides their vectors: shards, BM25 weights, sentences
    and their tokens, token weights and postings, the documents' titles and numbers."""
    from index.tokenize import prepare_bulk
    prepare_bulk()
    title_files.write(directory, docs.values())
    paths = {(c.doc_id, tuple(c.heading_path[:-1])) for c in clauses}
    flags = [INTRO if (c.doc_id, tuple(c.heading_path)) in paths and c.text.rstrip().endswith("：") else 0
             for c in indexed]
    write_layout(directory, [c.id for c in indexed], [c.doc_id for c in indexed],
                 {d: m.region for d, m in docs.items()}, passage_rows, flags)
    corpus = sparse.corpus_tokens([f"{c.heading}\n{c.heading}\n{c.text}" for c in indexed], progress)
    model = sparse.fit(corpus)
    del corpus
    vocab = sentence_files.build([(c.id, s) for c, s in zip(indexed, split)], directory,
                                 {t for t in model.vocab_dict if t}, progress)
    sparse.save(model, vocab, directory)


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
    layout: Layout
    dense: DenseIndex
    bm25: BM25Index
    sentences: SentenceIndex
    titles: TitleIndex

    @classmethod
    def load(cls, directory: Path) -> "LoadedIndex":
        """Maps the build's files (nothing is computed from the clauses here)."""
        m = Manifest.read(directory, clauses=False)
        try:
            layout = Layout.load(directory)
            dense = DenseIndex.load(directory / "dense.faiss", ann=bool(m.ann))
            vocab = StringTable(directory / "vocab.npy")
            bm25 = BM25Index(directory, vocab)
            sentences = SentenceIndex(directory, layout, vocab)
            titles = TitleIndex(directory)
        except (OSError, ValueError, RuntimeError, KeyError) as e:
            raise IndexError_(f"index files damaged in {directory}: {e}; rebuild with `python -m bot build`") from e
        if dense.index.ntotal != layout.passages or layout.passages != m.passages or \
                (dense.ann is not None and dense.ann.ntotal != layout.passages):
            raise IndexError_(f"index in {directory} is inconsistent with its manifest; rebuild it")
        return cls(directory, m, layout, dense, bm25, sentences, titles)

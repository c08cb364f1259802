"""The knowledge base in SQLite (sqlite-utils, schema by migrations), and its view for the assistant: the
documents in memory, the clauses read from the file as they are asked for (start-up does not grow with the
number of clauses)."""
from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bot.errors import KBError
from kb.documents import DocumentMeta, SourceDocument
from kb.parse import Clause


def _migrations():
    from sqlite_utils import Migrations
    migrations = Migrations("knowledge_base")

    @migrations()
    def m001_documents_and_clauses(db):
        _m001(db)

    @migrations()
    def m002_clause_kind_index(db):
        db["clauses"].create_index(["kind"])
    return migrations


def _m001(db):
    db["documents"].create({
        "id": str, "title": str, "number": str, "issuer": str, "region": str, "date": str,
        "valid_from": str, "valid_until": str, "kind": str, "status": str, "supersedes": str,
        "superseded_by": str, "source_file": str, "sha256": str, "notes": str, "text": str,
    }, pk="id")
    db["clauses"].create({
        "id": str, "doc_id": str, "seq": int, "kind": str, "heading_path": str, "heading": str,
        "text": str, "raw_text": str, "offices": str, "hash": str,
    }, pk="id", foreign_keys=[("doc_id", "documents", "id")])
    db["clauses"].create_index(["doc_id"])


def write_kb(path: Path, *, docs: list[SourceDocument], clauses: list[Clause]) -> None:
    import sqlite_utils
    db = sqlite_utils.Database(str(path))
    _migrations().apply(db)
    with db.conn:
        db["documents"].insert_all(({**d.meta.to_dict(), "text": d.text} for d in docs), pk="id")
        db["clauses"].insert_all(({
            "id": c.id, "doc_id": c.doc_id, "seq": c.seq, "kind": c.kind,
            "heading_path": json.dumps(c.heading_path, ensure_ascii=False), "heading": c.heading,
            "text": c.text, "raw_text": c.raw_text, "offices": c.offices, "hash": c.hash}
            for c in clauses), pk="id")
    db.close()


_CLAUSE_COLUMNS = "id, doc_id, seq, kind, heading_path, text, raw_text, offices"


def _clause(row) -> Clause:
    return Clause(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6], row[7] or "")


class ClauseTable(Mapping):
    """clause id → Clause, read from kb.sqlite when asked (a bounded cache keeps the recent ones). Iterates
    in document order (doc_id, seq), like the dict it replaces. The file is a finished build, never written
    again: it is opened once, read-only, and stays readable even after a newer build replaces it."""
    CACHE = 20000

    def __init__(self, path: Path):
        self.path = Path(path).resolve()
        self._db = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._cache: dict[str, Clause | None] = {}
        self._len: int | None = None

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _fetch(self, clause_id: str) -> Clause | None:
        try:
            return self._cache[clause_id]
        except KeyError:
            pass
        rows = self._rows(f"SELECT {_CLAUSE_COLUMNS} FROM clauses WHERE id = ?", (clause_id,))
        c = _clause(rows[0]) if rows else None
        if len(self._cache) >= self.CACHE:
            self._cache.clear()
        self._cache[clause_id] = c
        return c

    def __getitem__(self, clause_id: str) -> Clause:
        c = self._fetch(clause_id) if isinstance(clause_id, str) else None
        if c is None:
            raise KeyError(clause_id)
        return c

    def __contains__(self, clause_id) -> bool:
        return isinstance(clause_id, str) and self._fetch(clause_id) is not None

    def get(self, clause_id, default=None):
        c = self._fetch(clause_id) if isinstance(clause_id, str) else None
        return default if c is None else c

    def __len__(self) -> int:
        if self._len is None:
            self._len = self._rows("SELECT count(*) FROM clauses")[0][0]
        return self._len

    def __iter__(self) -> Iterator[str]:
        return iter([r[0] for r in self._rows("SELECT id FROM clauses ORDER BY doc_id, seq")])

    def values(self):
        return [_clause(r) for r in self._rows(f"SELECT {_CLAUSE_COLUMNS} FROM clauses ORDER BY doc_id, seq")]

    def items(self):
        return [(c.id, c) for c in self.values()]

    def of_doc(self, doc_id: str) -> list[Clause]:
        rows = self._rows(f"SELECT {_CLAUSE_COLUMNS} FROM clauses WHERE doc_id = ? ORDER BY seq", (doc_id,))
        return [_clause(r) for r in rows]

    def of_kind(self, kinds: tuple[str, ...]) -> list[Clause]:
        marks = ",".join("?" * len(kinds))
        rows = self._rows(f"SELECT {_CLAUSE_COLUMNS} FROM clauses WHERE kind IN ({marks}) "
                          "ORDER BY doc_id, seq", tuple(kinds))
        return [_clause(r) for r in rows]


@dataclass
class KnowledgeBase:
    documents: dict[str, DocumentMeta]
    clauses: Mapping[str, Clause]
    _live: dict = field(default_factory=dict, repr=False, compare=False)
    _by_region: dict | None = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, path: Path) -> "KnowledgeBase":
        if not Path(path).exists():
            raise KBError(f"knowledge base not built yet: {path}")
        fields = [f for f in DocumentMeta.__dataclass_fields__]
        try:
            clauses = ClauseTable(path)
            have = {r[1] for r in clauses._rows("PRAGMA table_info(documents)")}
            cols = [f for f in fields if f in have]
            docs = {r[0]: DocumentMeta(**dict(zip(cols, r[1:])))
                    for r in clauses._rows(f"SELECT id, {', '.join(cols)} FROM documents")}
        except sqlite3.DatabaseError as e:
            raise KBError(f"knowledge base unreadable: {path}: {e}") from e
        return cls(docs, clauses)

    def clauses_of(self, doc_id: str) -> list[Clause]:
        """The document's clauses in order."""
        of_doc = getattr(self.clauses, "of_doc", None)
        if of_doc is not None:
            return of_doc(doc_id)
        return [c for c in self.clauses.values() if c.doc_id == doc_id]

    def clauses_of_kind(self, *kinds: str) -> list[Clause]:
        of_kind = getattr(self.clauses, "of_kind", None)
        if of_kind is not None:
            return of_kind(kinds)
        return [c for c in self.clauses.values() if c.kind in kinds]

    def live_documents(self, today: date) -> set[str]:
        """Documents that answer today: not retired, not superseded by a successor already in force."""
        cached = self._live.get(today)
        if cached is not None:
            return set(cached)
        live = set()
        for d in self.documents.values():
            if d.status != "active":
                continue
            succ = self.documents.get(d.superseded_by) if d.superseded_by else None
            if succ and succ.status == "active" and (succ.valid_from_date() or date.min) <= today:
                continue
            live.add(d.id)
        if len(self._live) > 4:
            self._live.clear()
        self._live[today] = frozenset(live)
        return live

    def _regions(self) -> dict[str, tuple[str, ...]]:
        """region → its documents' ids, in order (worked out once: a knowledge base is not changed in place,
        a new build replaces it)."""
        if self._by_region is None:
            by: dict[str, list[str]] = {}
            for doc_id, d in self.documents.items():
                by.setdefault(d.region, []).append(doc_id)
            self._by_region = {r: tuple(ids) for r, ids in by.items()}
        return self._by_region

    def document_regions(self) -> frozenset[str]:
        """The regions the documents are issued for."""
        return frozenset(self._regions())

    def documents_of_region(self, region: str) -> tuple[str, ...]:
        """The ids of the documents issued for the region."""
        return self._regions().get(region, ())

    def doc_of(self, clause_id: str) -> DocumentMeta:
        return self.documents[self.clauses[clause_id].doc_id]

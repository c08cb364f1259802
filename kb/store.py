"""The knowledge base in SQLite (sqlite-utils, schema by migrations), and its in-memory view."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlite_utils
from sqlite_utils import Migrations

from bot.errors import KBError
from kb.documents import DocumentMeta, SourceDocument
from kb.parse import Clause

migrations = Migrations("knowledge_base")


@migrations()
def m001_documents_and_clauses(db):
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
    db = sqlite_utils.Database(str(path))
    migrations.apply(db)
    with db.conn:
        db["documents"].insert_all(({**d.meta.to_dict(), "text": d.text} for d in docs), pk="id")
        db["clauses"].insert_all(({
            "id": c.id, "doc_id": c.doc_id, "seq": c.seq, "kind": c.kind,
            "heading_path": json.dumps(c.heading_path, ensure_ascii=False), "heading": c.heading,
            "text": c.text, "raw_text": c.raw_text, "offices": c.offices, "hash": c.hash}
            for c in clauses), pk="id")
    db.close()


@dataclass
class KnowledgeBase:
    documents: dict[str, DocumentMeta]
    clauses: dict[str, Clause]

    @classmethod
    def load(cls, path: Path) -> "KnowledgeBase":
        if not Path(path).exists():
            raise KBError(f"knowledge base not built yet: {path}")
        db = sqlite_utils.Database(str(path))
        try:
            fields = set(DocumentMeta.__dataclass_fields__)
            docs = {r["id"]: DocumentMeta(**{k: v for k, v in r.items() if k in fields})
                    for r in db["documents"].rows}
            clauses = {r["id"]: Clause(r["id"], r["doc_id"], r["seq"], r["kind"], json.loads(r["heading_path"]),
                                       r["text"], r["raw_text"], r["offices"] or "")
                       for r in db["clauses"].rows_where(order_by="doc_id, seq")}
        finally:
            db.close()
        return cls(docs, clauses)

    def live_documents(self, today: date) -> set[str]:
        """Documents that answer today: not retired, not superseded by a successor already in force."""
        live = set()
        for d in self.documents.values():
            if d.status != "active":
                continue
            succ = self.documents.get(d.superseded_by) if d.superseded_by else None
            if succ and succ.status == "active" and (succ.valid_from_date() or date.min) <= today:
                continue
            live.add(d.id)
        return live

    def doc_of(self, clause_id: str) -> DocumentMeta:
        return self.documents[self.clauses[clause_id].doc_id]

"""Sessions kept in SQLite so a restart does not lose a conversation in progress."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import sqlite_utils
from sqlite_utils import Migrations

from bot.core.types import Session

migrations = Migrations("sessions")


@migrations()
def m001_sessions(db):
    db["sessions"].create({"id": str, "facts": str, "pending": str, "turns": int, "updated_at": float}, pk="id")


@migrations()
def m002_dialogue_state(db):
    db["sessions"].add_column("state", str)


class SessionStore:
    def __init__(self, path: Path | str, idle_seconds: float | None = None):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=False))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()
        migrations.apply(self._db)
        self.idle_seconds = idle_seconds

    def get(self, session_id: str) -> Session:
        with self._lock:
            try:
                row = self._db["sessions"].get(session_id)
            except sqlite_utils.db.NotFoundError:
                return Session(id=session_id)
        if self.idle_seconds and time.time() - row["updated_at"] > self.idle_seconds:
            return Session(id=session_id)
        return Session(id=session_id, facts=json.loads(row["facts"] or "{}"),
                       pending=json.loads(row["pending"]) if row["pending"] else None,
                       turns=row["turns"] or 0, updated_at=row["updated_at"],
                       state=json.loads(row.get("state") or "{}"))

    def save(self, session: Session) -> None:
        session.updated_at = time.time()
        with self._lock:
            self._db["sessions"].upsert({
                "id": session.id, "facts": json.dumps(session.facts, ensure_ascii=False),
                "pending": json.dumps(session.pending, ensure_ascii=False) if session.pending else None,
                "turns": session.turns, "updated_at": session.updated_at,
                "state": json.dumps(session.state, ensure_ascii=False)}, pk="id")

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._db["sessions"].delete_where("id = ?", [session_id])

    def purge_idle(self) -> int:
        if not self.idle_seconds:
            return 0
        with self._lock:
            cur = self._db.execute("DELETE FROM sessions WHERE updated_at < ?", [time.time() - self.idle_seconds])
            return cur.rowcount

    def close(self) -> None:
        self._db.close()

"""Sessions kept in SQLite so a restart does not lose a conversation in progress.

A session holds what the owner told the assistant about their enterprise (region, revenue …), keyed by
a pseudonym of the channel and user. Sessions idle for longer than `idle_seconds` are treated as new
and deleted by `purge_idle()` (run on a schedule by serve/telegram/run, and by `logs purge-sessions`);
deleted rows are overwritten in the file (secure_delete), not left in free pages.
"""
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


@migrations()
def m003_history(db):
    # the turns of a conversation as the web page shows them, so a reload keeps the chat (web only)
    db["history"].create({"id": int, "session": str, "ts": float, "question": str, "reply": str}, pk="id")
    db["history"].create_index(["session", "id"])


HISTORY_MAX = 100        # turns kept per conversation (the oldest are dropped)


def _dumps(value) -> str:
    """JSON for a TEXT column. Readable Chinese normally; a lone surrogate (which UTF-8 cannot hold)
    makes it fall back to \\u escapes, which read back to the same value."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=True)
    return text


class SessionStore:
    def __init__(self, path: Path | str, idle_seconds: float | None = None):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=False))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("PRAGMA secure_delete=ON")
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
                "id": session.id, "facts": _dumps(session.facts),
                "pending": _dumps(session.pending) if session.pending else None,
                "turns": session.turns, "updated_at": session.updated_at,
                "state": _dumps(session.state)}, pk="id")

    def delete(self, session_id: str) -> None:
        """Forget a conversation: its facts and its history."""
        with self._lock:
            with self._db.conn:
                self._db.execute("DELETE FROM sessions WHERE id = ?", [session_id])
                self._db.execute("DELETE FROM history WHERE session = ?", [session_id])

    # -- history (what the web page shows again after a reload)
    def add_turn(self, session_id: str, question: str, reply: dict) -> None:
        """Keep one turn: the question as typed and the reply as the page renders it (JSON)."""
        with self._lock:
            with self._db.conn:
                self._db.execute("INSERT INTO history (session, ts, question, reply) VALUES (?, ?, ?, ?)",
                                 [session_id, time.time(), question, _dumps(reply)])
                self._db.execute("DELETE FROM history WHERE session = ? AND id NOT IN (SELECT id FROM history "
                                 "WHERE session = ? ORDER BY id DESC LIMIT ?)", [session_id, session_id, HISTORY_MAX])

    def history(self, session_id: str) -> list[dict]:
        """The turns kept for a conversation, oldest first: [{"question", "reply", "ts"}]. Empty once the
        session has expired."""
        if not self._exists(session_id):
            return []
        with self._lock:
            rows = self._db.execute("SELECT ts, question, reply FROM history WHERE session = ? ORDER BY id",
                                    [session_id]).fetchall()
        return [{"ts": ts, "question": q, "reply": json.loads(reply)} for ts, q, reply in rows]

    def _exists(self, session_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT updated_at FROM sessions WHERE id = ?", [session_id]).fetchone()
        return bool(row) and not (self.idle_seconds and time.time() - row[0] > self.idle_seconds)

    def purge_idle(self, now: float | None = None) -> int:
        """Delete the sessions idle for longer than `idle_seconds` (their facts too); returns how many."""
        if not self.idle_seconds:
            return 0
        return self._delete("updated_at < ?", [(now or time.time()) - self.idle_seconds])

    def delete_all(self) -> int:
        """Delete every session (e.g. after the pseudonym key changed: no one can reach them any more)."""
        return self._delete("1", [])

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM sessions").fetchone()[0]

    def _delete(self, where: str, args: list) -> int:
        with self._lock:
            with self._db.conn:
                n = self._db.execute(f"DELETE FROM sessions WHERE {where}", args).rowcount
                # a conversation's history goes with it
                self._db.execute("DELETE FROM history WHERE session NOT IN (SELECT id FROM sessions)")
            if n:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return n

    def close(self) -> None:
        self._db.close()

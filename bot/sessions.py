"""Sessions kept in the database so a restart does not lose a conversation in progress, and a conversation
whose turns reach different workers keeps its facts.

A session holds what the owner told the assistant about their enterprise (region, revenue …), keyed by
a pseudonym of the channel and user. Sessions idle for longer than `idle_seconds` are treated as new
and deleted by `purge_idle()` (run on a schedule by serve/telegram/run, and by `logs purge-sessions`);
on SQLite deleted rows are overwritten in the file (secure_delete), not left in free pages.

`SessionStore(path_or_database, idle_seconds)`: a SQLite file, or a `bot.storage.Database` (e.g.
PostgreSQL, shared with the other stores).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from sqlite_utils import Migrations

from bot.core.types import Session
from bot.storage import Database, Schema, Store

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


class SessionStore(Store):
    schema = Schema("sessions", migrations)

    def __init__(self, path: "Path | str | Database", idle_seconds: float | None = None):
        super().__init__(path)
        self.idle_seconds = idle_seconds

    def get(self, session_id: str) -> Session:
        row = self.database.execute("SELECT facts, pending, turns, updated_at, state FROM sessions WHERE id = ?",
                                    [session_id]).fetchone()
        if row is None:
            return Session(id=session_id)
        facts, pending, turns, updated_at, state = row
        if self.idle_seconds and time.time() - updated_at > self.idle_seconds:
            return Session(id=session_id)
        return Session(id=session_id, facts=json.loads(facts or "{}"),
                       pending=json.loads(pending) if pending else None,
                       turns=turns or 0, updated_at=updated_at, state=json.loads(state or "{}"))

    def save(self, session: Session) -> None:
        session.updated_at = time.time()
        self.database.execute(
            "INSERT INTO sessions (id, facts, pending, turns, updated_at, state) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET facts = excluded.facts, pending = excluded.pending, "
            "turns = excluded.turns, updated_at = excluded.updated_at, state = excluded.state",
            [session.id, _dumps(session.facts), _dumps(session.pending) if session.pending else None,
             session.turns, session.updated_at, _dumps(session.state)])

    def lock(self, session_id: str):
        """Hold this conversation for one turn, across every worker on the database: two messages sent
        at once (e.g. to two workers) are answered one after the other, each seeing what the other
        learnt."""
        return self.database.exclusive("session:" + session_id)

    def delete(self, session_id: str) -> None:
        """Forget a conversation: its facts and its history."""
        with self.database.transaction() as tx:
            tx.execute("DELETE FROM sessions WHERE id = ?", [session_id])
            tx.execute("DELETE FROM history WHERE session = ?", [session_id])

    # -- history (what the web page shows again after a reload)
    def add_turn(self, session_id: str, question: str, reply: dict) -> None:
        """Keep one turn: the question as typed and the reply as the page renders it (JSON)."""
        with self.database.transaction() as tx:
            tx.execute("INSERT INTO history (session, ts, question, reply) VALUES (?, ?, ?, ?)",
                       [session_id, time.time(), question, _dumps(reply)])
            tx.execute("DELETE FROM history WHERE session = ? AND id NOT IN (SELECT id FROM history "
                       "WHERE session = ? ORDER BY id DESC LIMIT ?)", [session_id, session_id, HISTORY_MAX])

    def history(self, session_id: str) -> list[dict]:
        """The turns kept for a conversation, oldest first: [{"question", "reply", "ts"}]. Empty once the
        session has expired."""
        if not self._exists(session_id):
            return []
        rows = self.database.execute("SELECT ts, question, reply FROM history WHERE session = ? ORDER BY id",
                                     [session_id]).fetchall()
        return [{"ts": ts, "question": q, "reply": json.loads(reply)} for ts, q, reply in rows]

    def _exists(self, session_id: str) -> bool:
        row = self.database.execute("SELECT updated_at FROM sessions WHERE id = ?", [session_id]).fetchone()
        return bool(row) and not (self.idle_seconds and time.time() - row[0] > self.idle_seconds)

    def purge_idle(self, now: float | None = None) -> int:
        """Delete the sessions idle for longer than `idle_seconds` (their facts too); returns how many."""
        if not self.idle_seconds:
            return 0
        return self._delete("updated_at < ?", [(now or time.time()) - self.idle_seconds])

    def delete_all(self) -> int:
        """Delete every session (e.g. after the pseudonym key changed: no one can reach them any more)."""
        return self._delete("TRUE", [])

    def count(self) -> int:
        return self.database.execute("SELECT count(*) FROM sessions").scalar()

    def _delete(self, where: str, args: list) -> int:
        with self.database.transaction() as tx:
            n = tx.execute(f"DELETE FROM sessions WHERE {where}", args).rowcount
            # a conversation's history goes with it
            tx.execute("DELETE FROM history WHERE NOT EXISTS "
                       "(SELECT 1 FROM sessions s WHERE s.id = history.session)")
        if n:
            self.database.scrub()
        return n

"""The staff inbox: messages owners leave for a person ("转人工" / "留言", or 留言 after a not-found answer).

    inbox = Inbox(path)
    ref = inbox.add(HandoffMessage, channel)      # what the core's hook stores; returns the reference
    inbox.list(status="open") / get(id) / answer(id, reply, by) / mark_closed(id, by)
    inbox.replies_for(session) -> [(id, reply)]   # staff replies not yet shown to the owner
    inbox.delivered(ids)

A message keeps the conversation's pseudonym (never a raw Telegram id or openid), what the owner wrote,
the questions before it, the contact they agreed to leave (only with consent), their region and the office
told to answer. A staff reply is shown to the owner in the same chat the next time they write (and on the
web page's history). Contacts are personal data: `purge` deletes answered messages after a while.

`Inbox(path_or_database)`: a SQLite file, or a `bot.storage.Database` (PostgreSQL, shared by the workers).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Migrations

from bot.core.hooks import HandoffMessage
from bot.storage import Database, Schema, Store

migrations = Migrations("inbox")
OPEN, ANSWERED, CLOSED = "open", "answered", "closed"


@migrations()
def m001_messages(db):
    db["messages"].create({
        "id": int, "ts": float, "channel": str, "session": str, "message": str, "context": str,
        "contact": str, "region": str, "office": str, "status": str, "reply": str, "answered_ts": float,
        "answered_by": str, "delivered_ts": float,
    }, pk="id", defaults={"status": OPEN})
    db["messages"].create_index(["status", "ts"])
    db["messages"].create_index(["session", "status"])


@dataclass
class Message:
    id: int
    ts: float
    channel: str
    session: str
    message: str
    context: list[str] = field(default_factory=list)
    contact: str | None = None
    region: str | None = None
    office: str | None = None
    status: str = OPEN
    reply: str | None = None
    answered_ts: float | None = None
    answered_by: str | None = None
    delivered_ts: float | None = None

    @property
    def ref(self) -> str:
        return reference(self.id)


def reference(message_id: int) -> str:
    """What the owner is told: 留言编号 000042."""
    return f"{message_id:06d}"


def parse_reference(text: str | int) -> int | None:
    try:
        n = int(str(text).strip().lstrip("#"))
    except ValueError:
        return None
    return n if n > 0 else None


class Inbox(Store):
    schema = Schema("inbox", migrations)

    def __init__(self, path: "Path | str | Database"):
        super().__init__(path)

    def add(self, msg: HandoffMessage, channel: str = "") -> Message:
        row = {"ts": time.time(), "channel": channel, "session": msg.session, "message": msg.message[:2000],
               "context": json.dumps(list(msg.context or [])[-5:], ensure_ascii=False),
               "contact": (msg.contact or None) and msg.contact[:100], "region": msg.region, "office": msg.office,
               "status": OPEN}
        return self.get(self.database.insert("messages", row))

    def get(self, message_id: int) -> Message | None:
        rows = self._select("WHERE id = ?", [message_id])
        return rows[0] if rows else None

    def list(self, status: str | None = OPEN, limit: int = 200) -> list[Message]:
        if status in (None, "all"):
            return self._select("ORDER BY id DESC LIMIT ?", [limit])
        return self._select("WHERE status = ? ORDER BY id DESC LIMIT ?", [status, limit])

    def counts(self) -> dict[str, int]:
        return dict(self.database.execute("SELECT status, count(*) FROM messages GROUP BY status").fetchall())

    def _select(self, tail: str, args: list) -> list[Message]:
        rows = self.database.execute(f"SELECT * FROM messages {tail}", args).dicts()
        for r in rows:
            r["context"] = json.loads(r["context"] or "[]")
        return [Message(**r) for r in rows]

    def answer(self, message_id: int, reply: str, by: str) -> bool:
        """Record staff's reply (shown to the owner the next time they write). False: no such message."""
        reply = reply.strip()
        if not reply:
            raise ValueError("the reply is empty")
        n = self.database.execute("UPDATE messages SET status = ?, reply = ?, answered_ts = ?, answered_by = ?, "
                                  "delivered_ts = NULL WHERE id = ?",
                                  [ANSWERED, reply[:2000], time.time(), by, message_id]).rowcount
        return n == 1

    def mark_closed(self, message_id: int, by: str) -> bool:
        """Mark answered without a reply in the chat (e.g. staff phoned the owner)."""
        n = self.database.execute("UPDATE messages SET status = ?, answered_ts = ?, answered_by = ? WHERE id = ?",
                                  [CLOSED, time.time(), by, message_id]).rowcount
        return n == 1

    def replies_for(self, session: str) -> list[Message]:
        """Staff replies in this conversation not yet shown to the owner, oldest first."""
        return self._select("WHERE session = ? AND status = ? AND delivered_ts IS NULL ORDER BY id",
                            [session, ANSWERED])

    def take_replies(self, session: str) -> list[Message]:
        """The staff replies not yet shown in this conversation, marked delivered in the same step, so
        two workers answering the same conversation at once never both show one."""
        now = time.time()
        with self.database.transaction() as tx:
            rows = tx.execute("UPDATE messages SET delivered_ts = ? WHERE session = ? AND status = ? "
                              "AND delivered_ts IS NULL RETURNING *", [now, session, ANSWERED]).dicts()
        for r in rows:
            r["context"] = json.loads(r["context"] or "[]")
        return sorted((Message(**r) for r in rows), key=lambda m: m.id)

    def delivered(self, ids: list[int]) -> None:
        if not ids:
            return
        self.database.execute(f"UPDATE messages SET delivered_ts = ? WHERE id IN ({','.join('?' * len(ids))})",
                              [time.time(), *ids])

    def purge(self, older_than_days: float, now: float | None = None) -> int:
        """Delete answered or closed messages (and the contacts in them) older than this many days."""
        cutoff = (now or time.time()) - older_than_days * 86400
        n = self.database.execute("DELETE FROM messages WHERE status != ? AND ts < ?", [OPEN, cutoff]).rowcount
        self.database.scrub()
        return n

"""Saved enterprise profiles (only with the owner's consent) and the outbox of new-policy notices.

    store = ProfileStore(path)
    store.save(key, channel, address, facts)      # the owner said yes to "保存您的企业信息，有新政策时通知您？"
    store.get(key) / update_facts(key, facts) / set_notify(key, on) / delete(key) / list()
    store.purge(retention_days)                   # profiles not updated for that long, with their notices
    store.seen() / mark_seen({rule_id: digest})   # rule rows already known (bot/notify.py finds the new ones)
    store.add_notice(Notice) -> id | None          # once per owner, document and set of rows
    store.pending(channel=None) / mark_sent(id) / mark_failed(id, error) / mark_skipped(id, why)
    store.take_web(key)                            # web notices shown on the owner's next visit

A profile is keyed by the conversation's pseudonym (`Runtime.session_key`). To reach the owner later it
also keeps the channel's address (the Telegram chat id, the WeChat openid; none for the web, whose notices
wait for the next visit): personal data, kept only because the owner agreed, deleted with the profile
("删除我的信息", /profile, the web panel) or after `profiles.retention_days` without an update.

`ProfileStore(path_or_database)`: a SQLite file, or a `bot.storage.Database` (PostgreSQL, shared by the
workers); the schema is migrations for each (bot/storage/postgresql/profiles/).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Migrations

from bot.storage import Database, Schema, Store

migrations = Migrations("profiles")
PENDING, SENT, FAILED, SKIPPED, DELIVERED = "pending", "sent", "failed", "skipped", "delivered"
MAX_ATTEMPTS = 5


@migrations()
def m001_profiles(db):
    db["profiles"].create({"profile_key": str, "channel": str, "address": str, "facts": str, "notify": int,
                           "created": float, "updated": float}, pk="profile_key", defaults={"notify": 1})
    db["profiles"].create_index(["updated"])
    db["notices"].create({"id": int, "profile_key": str, "channel": str, "address": str, "doc_id": str,
                          "rule_ids": str, "digest": str, "text": str, "reasons": str, "status": str,
                          "created": float, "sent_ts": float, "attempts": int, "error": str},
                         pk="id", defaults={"status": PENDING, "attempts": 0})
    db["notices"].create_index(["profile_key", "doc_id", "digest"], unique=True)
    db["notices"].create_index(["status", "channel"])
    db["rules_seen"].create({"rule_id": str, "digest": str, "first_seen": float}, pk="rule_id")


@dataclass
class Profile:
    key: str
    channel: str
    address: str | None
    facts: dict
    notify: bool = True
    created: float = 0.0
    updated: float = 0.0


@dataclass
class Notice:
    profile_key: str
    channel: str
    address: str | None
    doc_id: str
    rule_ids: list[str]
    digest: str
    text: str
    reasons: list[str] = field(default_factory=list)    # why this owner: for `notify --dry-run` and staff
    id: int | None = None
    status: str = PENDING
    created: float = 0.0
    sent_ts: float | None = None
    attempts: int = 0
    error: str | None = None


class ProfileStore(Store):
    schema = Schema("profiles", migrations)

    def __init__(self, path: "Path | str | Database"):
        super().__init__(path)

    def _run(self, sql: str, args: list | tuple = ()):
        return self.database.execute(sql, list(args))

    def _rows(self, sql: str, args: list | tuple = ()) -> list[dict]:
        return self.database.execute(sql, list(args)).dicts()

    # ---- profiles ------------------------------------------------------------------------------
    def save(self, key: str, channel: str, address: str | None, facts: dict, notify: bool = True,
             now: float | None = None) -> Profile:
        """Keep (or replace) the profile the owner agreed to save."""
        now = now or time.time()
        self._run("INSERT INTO profiles (profile_key, channel, address, facts, notify, created, updated) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (profile_key) DO UPDATE SET channel = excluded.channel, "
                  "address = excluded.address, facts = excluded.facts, notify = excluded.notify, "
                  "updated = excluded.updated",
                  [key, channel, address, _dumps(facts), int(notify), now, now])
        return self.get(key)

    def get(self, key: str) -> Profile | None:
        rows = self._rows("SELECT * FROM profiles WHERE profile_key = ?", [key])
        return _profile(rows[0]) if rows else None

    def list(self, notify_only: bool = False) -> list[Profile]:
        where = "WHERE notify = 1 " if notify_only else ""
        return [_profile(r) for r in self._rows(f"SELECT * FROM profiles {where}ORDER BY created, profile_key")]

    def update_facts(self, key: str, facts: dict, now: float | None = None) -> bool:
        """What the owner told since (the profile they agreed to keep stays current). False: none saved."""
        n = self._run("UPDATE profiles SET facts = ?, updated = ? WHERE profile_key = ?",
                      [_dumps(facts), now or time.time(), key]).rowcount
        return n == 1

    def set_notify(self, key: str, on: bool) -> bool:
        with self.database.transaction() as tx:
            n = tx.execute("UPDATE profiles SET notify = ?, updated = ? WHERE profile_key = ?",
                           [int(on), time.time(), key]).rowcount
            if not on:
                tx.execute("UPDATE notices SET status = ?, error = ? WHERE profile_key = ? AND status = ?",
                           [SKIPPED, "opted out", key, PENDING])
        return n == 1

    def delete(self, key: str) -> bool:
        """The profile and every notice for it (their texts name the enterprise's facts)."""
        with self.database.transaction() as tx:
            tx.execute("DELETE FROM notices WHERE profile_key = ?", [key])
            n = tx.execute("DELETE FROM profiles WHERE profile_key = ?", [key]).rowcount
        self.database.scrub()
        return n == 1

    def purge(self, retention_days: float, now: float | None = None) -> int:
        """Delete profiles not updated within `retention_days`, and their notices."""
        cutoff = (now or time.time()) - retention_days * 86400
        with self.database.transaction() as tx:
            tx.execute("DELETE FROM notices WHERE profile_key IN (SELECT profile_key FROM profiles WHERE updated < ?)",
                       [cutoff])
            n = tx.execute("DELETE FROM profiles WHERE updated < ?", [cutoff]).rowcount
        if n:
            self.database.scrub()
        return n

    # ---- rule rows already known ----------------------------------------------------------------
    def seen(self) -> dict[str, str]:
        return {r["rule_id"]: r["digest"] for r in self._rows("SELECT rule_id, digest FROM rules_seen")}

    def mark_seen(self, digests: dict[str, str], now: float | None = None) -> None:
        now = now or time.time()
        with self.database.transaction() as tx:
            for rid, dg in digests.items():
                tx.execute("INSERT INTO rules_seen (rule_id, digest, first_seen) VALUES (?, ?, ?) "
                           "ON CONFLICT (rule_id) DO UPDATE SET digest = excluded.digest", [rid, dg, now])

    # ---- the outbox -----------------------------------------------------------------------------
    def add_notice(self, n: Notice, now: float | None = None) -> int | None:
        """Queue a notice; None when this owner was already told about these rows of this document."""
        return self._run(
            "INSERT INTO notices (profile_key, channel, address, doc_id, rule_ids, digest, text, reasons, "
            "status, created, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0) "
            "ON CONFLICT (profile_key, doc_id, digest) DO NOTHING RETURNING id",
            [n.profile_key, n.channel, n.address, n.doc_id, json.dumps(n.rule_ids), n.digest, n.text,
             _dumps(n.reasons), PENDING, now or time.time()]).scalar()

    def notices(self, status: str | None = None, channel: str | None = None, key: str | None = None) -> list[Notice]:
        where, args = [], []
        for col, val in (("status", status), ("channel", channel), ("profile_key", key)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = "SELECT * FROM notices" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [_notice(r) for r in self._rows(sql, args)]

    def pending(self, channel: str | None = None) -> list[Notice]:
        return self.notices(PENDING, channel)

    def mark_sent(self, notice_id: int) -> None:
        self._run("UPDATE notices SET status = ?, sent_ts = ?, attempts = attempts + 1, error = NULL WHERE id = ?",
                  [SENT, time.time(), notice_id])

    def mark_failed(self, notice_id: int, error: str) -> None:
        """A failed send stays pending until MAX_ATTEMPTS, then is marked failed."""
        self._run("UPDATE notices SET attempts = attempts + 1, error = ?, "
                  "status = CASE WHEN attempts + 1 >= ? THEN ? ELSE status END WHERE id = ?",
                  [error[:500], MAX_ATTEMPTS, FAILED, notice_id])

    def mark_skipped(self, notice_id: int, why: str) -> None:
        self._run("UPDATE notices SET status = ?, error = ? WHERE id = ?", [SKIPPED, why[:500], notice_id])

    def take_web(self, key: str) -> list[Notice]:
        """The web notices waiting for this owner, marked delivered in the same step (shown once, on the
        next visit, even with two workers)."""
        rows = self._rows("UPDATE notices SET status = ?, sent_ts = ? WHERE profile_key = ? AND channel = 'web' "
                          "AND status = ? RETURNING *", [DELIVERED, time.time(), key, PENDING])
        return sorted((_notice(r) for r in rows), key=lambda n: n.id)

    def counts(self) -> dict[str, int]:
        profiles = self.database.execute("SELECT count(*), sum(notify) FROM profiles").fetchone()
        by = dict(self.database.execute("SELECT status, count(*) FROM notices GROUP BY status").fetchall())
        return {"profiles": profiles[0] or 0, "notify_on": profiles[1] or 0,
                **{f"notices_{k}": v for k, v in by.items()}}


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)


def _profile(r: dict) -> Profile:
    return Profile(r["profile_key"], r["channel"], r["address"], json.loads(r["facts"] or "{}"), bool(r["notify"]),
                   r["created"], r["updated"])


def _notice(r: dict) -> Notice:
    return Notice(r["profile_key"], r["channel"], r["address"], r["doc_id"], json.loads(r["rule_ids"] or "[]"),
                  r["digest"], r["text"], json.loads(r["reasons"] or "[]"), r["id"], r["status"], r["created"],
                  r["sent_ts"], r["attempts"], r["error"])

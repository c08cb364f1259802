"""State the workers share that is not a conversation: WeChat message dedupe, nonces and answers waiting
for “结果”, and rate-limit counters.

    state = WeChatState(db)
    state.first_use(nonce, body_digest, window) -> bool     # False: nonce already used with another body
    state.claim(key, openid) -> bool                         # True for exactly one worker per MsgId
    state.settle(key, reply=…) / settle(key, deferred=True)  # what the claiming worker told WeChat
    state.outcome(key) -> Outcome | None                     # what a retry elsewhere is told
    state.put_pending(openid, answer) / take_pending(openid) -> str | None

    limits = RateLimits(db); limiter = SharedRateLimiter(limits, limit=8, period=30)
    limiter.check(key) -> "ok" | "warn" | "drop";  limiter.retry_after(key) -> seconds

Every decision is one atomic statement (INSERT … ON CONFLICT, DELETE … RETURNING), the same SQL on SQLite
and PostgreSQL, so two workers can never both win. Times are wall-clock (time.time()): workers on
several machines compare them. Expired rows are deleted now and then by whoever writes.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlite_utils import Migrations

from bot.storage import Database, Schema, Store

migrations = Migrations("worker_state")

WORKING, REPLIED, DEFERRED = "working", "replied", "deferred"
MESSAGE_TTL_SECONDS = 600          # WeChat retries within ~15 s; a MsgId is remembered well beyond that
PENDING_TTL_SECONDS = 86400        # an answer waiting for “结果” is kept a day
PURGE_EVERY_SECONDS = 60


@migrations()
def m001_worker_state(db):
    db["wechat_messages"].create({"key": str, "openid": str, "at": float, "state": str, "reply": str}, pk="key")
    db["wechat_messages"].create_index(["at"])
    db["wechat_nonces"].create({"nonce": str, "digest": str, "at": float}, pk="nonce")
    db["wechat_nonces"].create_index(["at"])
    db["wechat_pending"].create({"openid": str, "answer": str, "at": float}, pk="openid")
    db["rate_limits"].create({"key": str, "period_start": int, "hits": int, "warned": int, "expires": float},
                             pk=("key", "period_start"), not_null={"hits", "warned"}, defaults={"warned": 0})
    db["rate_limits"].create_index(["expires"])


SCHEMA = Schema("worker_state", migrations)


class _Expiring(Store):
    schema = SCHEMA

    def __init__(self, target: "Database | str | Path", clock: Callable[[], float] = time.time):
        super().__init__(target)
        self.clock = clock
        self._next_purge = 0.0

    def _maybe_purge(self, now: float) -> None:
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY_SECONDS
            self.purge(now)

    def purge(self, now: float | None = None) -> int:
        raise NotImplementedError


@dataclass(frozen=True)
class Outcome:
    state: str                 # working, replied or deferred
    reply: str | None = None   # the passive reply (replied)


class WeChatState(_Expiring):
    def first_use(self, nonce: str, digest: str, window: float) -> bool:
        """Record a signed request's nonce. False when the nonce was used within 2×`window` (timestamps
        are accepted ± window) with another body: a replayed query string. True for a new nonce or
        WeChat's own retry of the same request (same body)."""
        now = self.clock()
        self._maybe_purge(now)
        fresh = self.database.execute(
            "INSERT INTO wechat_nonces (nonce, digest, at) VALUES (?, ?, ?) ON CONFLICT (nonce) DO UPDATE "
            "SET digest = excluded.digest, at = excluded.at WHERE wechat_nonces.at < ?",
            [nonce, digest, now, now - 2 * window]).rowcount
        if fresh == 1:
            return True
        seen = self.database.execute("SELECT digest FROM wechat_nonces WHERE nonce = ?", [nonce]).scalar()
        return seen == digest

    def claim(self, key: str, openid: str) -> bool:
        """True for the one worker that answers message `key` (a MsgId); False when another delivery of it
        has been claimed (here or elsewhere) within MESSAGE_TTL_SECONDS."""
        now = self.clock()
        self._maybe_purge(now)
        return self.database.execute(
            "INSERT INTO wechat_messages (key, openid, at, state, reply) VALUES (?, ?, ?, ?, NULL) "
            "ON CONFLICT (key) DO UPDATE SET openid = excluded.openid, at = excluded.at, state = excluded.state, "
            "reply = NULL WHERE wechat_messages.at < ?",
            [key, openid, now, WORKING, now - MESSAGE_TTL_SECONDS]).rowcount == 1

    def settle(self, key: str, reply: str | None = None, *, deferred: bool = False) -> None:
        """What the claiming worker told WeChat: the passive `reply`, or that the answer comes later."""
        self.database.execute("UPDATE wechat_messages SET state = ?, reply = ? WHERE key = ?",
                              [DEFERRED if deferred else REPLIED, None if deferred else reply, key])

    def outcome(self, key: str) -> Outcome | None:
        row = self.database.execute("SELECT state, reply FROM wechat_messages WHERE key = ?", [key]).fetchone()
        return Outcome(row[0], row[1]) if row else None

    def put_pending(self, openid: str, answer: str) -> None:
        """Keep an answer until the owner sends “结果” (to whichever worker)."""
        self.database.execute(
            "INSERT INTO wechat_pending (openid, answer, at) VALUES (?, ?, ?) ON CONFLICT (openid) DO UPDATE "
            "SET answer = excluded.answer, at = excluded.at", [openid, answer, self.clock()])

    def take_pending(self, openid: str) -> str | None:
        """The answer waiting for this owner, removed in the same step (given once)."""
        row = self.database.execute("DELETE FROM wechat_pending WHERE openid = ? RETURNING answer, at",
                                    [openid]).fetchone()
        if row is None or self.clock() - row[1] > PENDING_TTL_SECONDS:
            return None
        return row[0]

    def purge(self, now: float | None = None) -> int:
        now = self.clock() if now is None else now
        with self.database.transaction() as tx:
            n = tx.execute("DELETE FROM wechat_messages WHERE at < ?", [now - MESSAGE_TTL_SECONDS]).rowcount
            # nonces are compared over twice the replay window; none is ever accepted older than an hour
            n += tx.execute("DELETE FROM wechat_nonces WHERE at < ?", [now - 3600]).rowcount
            n += tx.execute("DELETE FROM wechat_pending WHERE at < ?", [now - PENDING_TTL_SECONDS]).rowcount
        return n


class RateLimits(_Expiring):
    """Fixed-window counters: `hit(key, period)` counts one message of `key` in the current window of
    `period` seconds and returns (hits so far in it, whether this is the first refusal to warn about)."""

    def hit(self, key: str, limit: int, period: float) -> tuple[int, bool]:
        now = self.clock()
        self._maybe_purge(now)
        start = int(now // period)
        hits = self.database.execute(
            "INSERT INTO rate_limits (key, period_start, hits, warned, expires) VALUES (?, ?, 1, 0, ?) "
            "ON CONFLICT (key, period_start) DO UPDATE SET hits = rate_limits.hits + 1 RETURNING hits",
            [key, start, (start + 1) * period]).scalar()
        if hits <= limit:
            return hits, False
        first = self.database.execute("UPDATE rate_limits SET warned = 1 WHERE key = ? AND period_start = ? "
                                      "AND warned = 0", [key, start]).rowcount == 1
        return hits, first

    def purge(self, now: float | None = None) -> int:
        now = self.clock() if now is None else now
        return self.database.execute("DELETE FROM rate_limits WHERE expires < ?", [now]).rowcount


class SharedRateLimiter:
    """At most `limit` messages per key in each window of `period` seconds, counted in the shared
    database (so a sender cannot get more by reaching several workers). `check(key)`: "ok" (counted),
    "warn" (refused; tell the sender, once per window) or "drop" (refused silently). The interface of
    bot/adapters/telegram.py's in-memory RateLimiter; a limit or period of 0 disables limiting."""
    OK, WARN, DROP = "ok", "warn", "drop"

    def __init__(self, store: RateLimits, limit: int, period: float, *, scope: str = ""):
        self.store, self.limit, self.period, self.scope = store, limit, period, scope

    def _key(self, key) -> str:
        return f"{self.scope}:{key}"

    def check(self, key) -> str:
        if self.limit <= 0 or self.period <= 0:
            return self.OK
        hits, warn = self.store.hit(self._key(key), self.limit, self.period)
        if hits <= self.limit:
            return self.OK
        return self.WARN if warn else self.DROP

    def retry_after(self, key) -> int:
        """Whole seconds until the current window ends."""
        if self.limit <= 0 or self.period <= 0:
            return 0
        now = self.store.clock()
        return max(1, math.ceil((now // self.period + 1) * self.period - now))

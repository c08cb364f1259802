"""Question log: every question from every channel, its answer status, citations, latency and feedback.

Users are stored only as a salted hash. Logging never fails an answer: errors are logged and swallowed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path

import sqlite_utils
from sqlite_utils import Migrations

from bot.core.types import Answer

log = logging.getLogger(__name__)
migrations = Migrations("question_log")


@migrations()
def m001_questions(db):
    db["questions"].create({
        "id": int, "ts": float, "channel": str, "user_hash": str, "question": str,
        "status": str, "citations": str, "rule_ids": str, "amounts": str, "total_yuan": int,
        "latency_ms": float, "feedback": int, "feedback_reason": str, "feedback_ts": float,
    }, pk="id")
    db["questions"].create_index(["ts"])
    db["questions"].create_index(["status"])


@migrations()
def m002_user_time_index(db):
    # report(): "clarify not followed by another question from the same user" looks rows up by user and time
    db["questions"].create_index(["user_hash", "channel", "ts"], if_not_exists=True)


def pseudonym(user_id: object, salt: str) -> str:
    return hashlib.sha256(f"{salt}\x00{user_id}".encode()).hexdigest()[:20]


class QuestionLog:
    def __init__(self, path: Path | str, salt: str = ""):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(path)
        # one connection shared by the threads answering questions (serialised by self._lock)
        self._db = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=False))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("PRAGMA secure_delete=ON")   # purged questions are overwritten, not left in free pages
        self._lock = threading.Lock()
        migrations.apply(self._db)
        self.salt = salt or self._stored_salt()

    def _stored_salt(self) -> str:
        # A per-database random salt when none is configured: hashes stay stable across restarts.
        with self._lock:
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self._db.execute("SELECT value FROM meta WHERE key='salt'").fetchone()
            if row:
                return row[0]
            import secrets
            salt = secrets.token_hex(16)
            self._db.execute("INSERT INTO meta VALUES ('salt', ?)", [salt])
            self._db.conn.commit()
            return salt

    @property
    def db(self) -> sqlite_utils.Database:
        return self._db

    def record(self, channel: str, user_id: object, question: str, answer: Answer | None,
               latency_ms: float, status: str | None = None) -> int | None:
        try:
            row = {
                "ts": time.time(), "channel": channel, "user_hash": pseudonym(user_id, self.salt),
                "question": question[:2000],
                "status": status or (answer.status if answer else "error"),
                "citations": json.dumps([c.clause_id for c in answer.citations] if answer else []),
                "rule_ids": json.dumps(answer.rule_ids if answer else []),
                "amounts": json.dumps([r.amount_yuan for r in answer.rewards] if answer else []),
                "total_yuan": answer.total_yuan if answer else None,
                "latency_ms": round(latency_ms, 2),
            }
            with self._lock:
                return self._db["questions"].insert(row).last_pk
        except Exception:  # never let logging break an answer
            log.exception("question log: could not record a question")
            return None

    def feedback(self, question_id: int, value: int, reason: str | None = None) -> bool:
        try:
            with self._lock:
                tbl = self._db["questions"]
                tbl.get(question_id)
                upd = {"feedback": 1 if value > 0 else -1, "feedback_ts": time.time()}
                if reason is not None:
                    upd["feedback_reason"] = reason[:1000]
                tbl.update(question_id, upd)
            return True
        except Exception:
            log.exception("question log: could not record feedback for %s", question_id)
            return False

    def stats(self, days: float = 7, top: int = 5) -> dict:
        since = time.time() - days * 86400
        q = lambda sql, *a: self._db.execute(sql, [since, *a]).fetchall()  # noqa: E731
        with self._lock:
            total = q("SELECT count(*) FROM questions WHERE ts >= ?")[0][0]
            by_status = dict(q("SELECT status, count(*) FROM questions WHERE ts >= ? GROUP BY status"))
            frequent = q("SELECT question, count(*) c FROM questions WHERE ts >= ? GROUP BY question "
                         "ORDER BY c DESC, max(ts) DESC LIMIT ?", top)
            unanswered = q("SELECT question, count(*) c FROM questions WHERE ts >= ? AND status='not_found' "
                           "GROUP BY question ORDER BY c DESC LIMIT ?", top)
            up = q("SELECT count(*) FROM questions WHERE ts >= ? AND feedback = 1")[0][0]
            down = q("SELECT count(*) FROM questions WHERE ts >= ? AND feedback = -1")[0][0]
        return {"days": days, "total": total, "by_status": by_status, "frequent": frequent,
                "unanswered": unanswered, "up": up, "down": down}

    def rows(self, since_seconds: float | None = None, until: float | None = None) -> list[dict]:
        """Logged questions (oldest first), each as a dict; user ids only as their pseudonyms."""
        where, args = [], []
        if since_seconds is not None:
            where.append("ts >= ?")
            args.append((until or time.time()) - since_seconds)
        if until is not None:
            where.append("ts <= ?")
            args.append(until)
        sql = "SELECT * FROM questions" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY ts, id"
        with self._lock:
            cur = self._db.execute(sql, args)
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    def report(self, since_seconds: float, now: float | None = None, session_seconds: float = 7200,
               tz: str = "Asia/Shanghai", examples: int = 20) -> dict:
        """The raw material of the staff report over the last `since_seconds`: volume by day and channel,
        questions with their counts, not-found questions, clarify-abandoned questions (a clarify the same
        user never followed within `session_seconds`), 👎 with reasons. Grouping by meaning is done by the
        caller (it needs the embedder)."""
        from collections import Counter, defaultdict
        from datetime import datetime
        from zoneinfo import ZoneInfo
        now = now or time.time()
        zone = ZoneInfo(tz)
        rows = [r for r in self.rows(since_seconds, until=now)]
        day = lambda ts: datetime.fromtimestamp(ts, zone).date().isoformat()  # noqa: E731
        volume: dict[str, Counter] = defaultdict(Counter)
        for r in rows:
            volume[day(r["ts"])][r["channel"]] += 1
        by_user: dict[tuple, list[dict]] = defaultdict(list)
        for r in rows:
            by_user[(r["channel"], r["user_hash"])].append(r)
        abandoned = []
        for seq in by_user.values():
            for i, r in enumerate(seq):
                if r["status"] != "clarify" or now - r["ts"] < session_seconds:
                    continue   # a clarify younger than a session may still be answered
                nxt = seq[i + 1] if i + 1 < len(seq) else None
                if nxt is None or nxt["ts"] - r["ts"] > session_seconds:
                    abandoned.append(r)
        counts = Counter(r["question"].strip() for r in rows)
        return {
            "since": now - since_seconds, "until": now, "total": len(rows),
            "by_status": dict(Counter(r["status"] for r in rows)),
            "by_channel": dict(Counter(r["channel"] for r in rows)),
            "volume": {d: dict(c) for d, c in sorted(volume.items())},
            "questions": counts.most_common(),
            "not_found": Counter(r["question"].strip() for r in rows if r["status"] == "not_found").most_common(),
            "clarify_abandoned": Counter(r["question"].strip() for r in abandoned).most_common(),
            "negative": [{"ts": r["ts"], "question": r["question"], "reason": r["feedback_reason"],
                          "status": r["status"]} for r in rows if r["feedback"] == -1],
            "positive": sum(1 for r in rows if r["feedback"] == 1),
            "latency_ms_median": _median([r["latency_ms"] for r in rows if r["latency_ms"] is not None]),
        }

    def purge(self, older_than_days: float, now: float | None = None) -> int:
        """Delete questions older than this many days, and their bytes from the file (WAL included)."""
        cutoff = (now or time.time()) - older_than_days * 86400
        with self._lock:
            with self._db.conn:
                n = self._db.execute("DELETE FROM questions WHERE ts < ?", [cutoff]).rowcount
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return n

    def export(self, out, fmt: str = "csv", since_seconds: float | None = None) -> int:
        """Write the log (pseudonymous user ids only) to a text stream as CSV or JSON lines."""
        import csv
        rows = self.rows(since_seconds)
        cols = ["id", "ts", "time", "channel", "user_hash", "question", "status", "citations", "rule_ids",
                "amounts", "total_yuan", "latency_ms", "feedback", "feedback_reason", "feedback_ts"]
        from datetime import datetime, timezone
        for r in rows:
            r["time"] = datetime.fromtimestamp(r["ts"], timezone.utc).isoformat(timespec="seconds")
        if fmt == "jsonl":
            for r in rows:
                out.write(json.dumps({c: r.get(c) for c in cols}, ensure_ascii=False) + "\n")
        elif fmt == "csv":
            w = csv.DictWriter(out, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        else:
            raise ValueError(f"unknown export format {fmt!r}: csv or jsonl")
        return len(rows)

    def close(self) -> None:
        self._db.close()


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2

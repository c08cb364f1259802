"""Question log: every question from every channel, its answer status, citations, latency and feedback.

Users are stored only as a salted hash. Logging never fails an answer: errors are logged and swallowed.
"""
from __future__ import annotations

import hashlib
import json
import logging
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


def pseudonym(user_id: object, salt: str) -> str:
    return hashlib.sha256(f"{salt}\x00{user_id}".encode()).hexdigest()[:20]


class QuestionLog:
    def __init__(self, path: Path | str, salt: str = ""):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(path)
        self._db = sqlite_utils.Database(str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
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

    def close(self) -> None:
        self._db.close()

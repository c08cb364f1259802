"""Question log: every question from every channel, its answer status, citations, latency and feedback.

Users are stored only as pseudonyms: HMAC-SHA256 of the user id under a key kept *outside* the
database (the environment, `PZ_LOG_KEY`, or a 0600 key file beside the data, created on first use), so
a copy of the database alone cannot be turned back into Telegram ids or openids. Each question also
keeps the pseudonym of the conversation (session) it was asked in, so feedback is accepted only from
that conversation. Logging never fails an answer: errors are logged and swallowed.

`QuestionLog(path_or_database, key)`: a SQLite file, or a `bot.storage.Database` (PostgreSQL, shared by
the workers; every worker must then use the same key: PZ_LOG_KEY, or the same key file).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from pathlib import Path

from sqlite_utils import Migrations

from bot.core.types import Answer
from bot.storage import SQLITE, Database, Schema, Store

log = logging.getLogger(__name__)
migrations = Migrations("question_log")
MAX_QUESTION_ID = 2**63 - 1          # SQLite's INTEGER range: anything larger is no question of ours


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


@migrations()
def m003_question_session(db):
    # the pseudonym of the conversation each question was asked in: only that conversation may vote on it
    db["questions"].add_column("session_hash", str)


@migrations()
def m004_forget_stored_salt(db):
    # Databases made before the keyed pseudonyms kept their random salt in a `meta` table, next to the
    # hashes it protected (anyone with the file could hash candidate ids and recover them). The key now
    # lives outside the database; the old salt is deleted (secure_delete is on: its bytes are overwritten),
    # which also makes the old hashes unlinkable to anyone without an old copy of the file.
    if db["meta"].exists():
        db.execute("DELETE FROM meta WHERE key = 'salt'")
        if not db.execute("SELECT count(*) FROM meta").fetchone()[0]:
            db["meta"].drop()


@migrations()
def m005_answer_type_conversation(db):
    # what the owner was told (the text), the question type it was answered as, the conversation it belongs
    # to (a new one after 重新开始 or an expired session) and the region it was about: the report groups
    # questions within one region and folds a clarify's answer ("阳城的") into the question it completes
    for col in ("answer", "qtype", "conversation", "region"):
        db["questions"].add_column(col, str)
    db["questions"].create_index(["conversation", "ts"], if_not_exists=True)


# ---------------------------------------------------------------- the key and the pseudonyms
def _key_bytes(key: str | bytes) -> bytes:
    return key if isinstance(key, bytes) else key.encode("utf-8", "surrogatepass")


def pseudonym(user_id: object, key: str | bytes) -> str:
    """HMAC-SHA256(key, user id), 20 hex digits: stable for a given key, not reversible without it."""
    msg = str(user_id).encode("utf-8", "surrogatepass")
    return hmac.new(_key_bytes(key), msg, hashlib.sha256).hexdigest()[:20]


def write_key_file(path: Path | str, *, replace: bool = False) -> str:
    """Write a new random key to `path` (mode 0600) and return it. Without `replace`, an existing file
    wins (two processes starting at once end up with the same key). Written to a temp file first, so
    a crash never leaves an empty or half-written key."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key + "\n")
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)        # fails if the file exists: never overwrite a key by accident
            except FileExistsError:
                return read_key_file(path)
    finally:
        tmp.unlink(missing_ok=True)
    return key


def read_key_file(path: Path | str) -> str:
    path = Path(path)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ValueError(f"{path}: the pseudonym key is missing or too short (delete the file to make a new one)")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("%s is readable by other users (mode %o): chmod 600 it", path, mode)
    return key


def load_key(key: str | bytes | None, key_file: Path | str) -> str | bytes:
    """The pseudonym key: `key` when given (PZ_LOG_KEY / PZ_LOG_SALT), else the key file (made on first use)."""
    if key:
        return key
    key_file = Path(key_file)
    if key_file.exists():
        return read_key_file(key_file)
    log.info("no pseudonym key yet: writing a new one to %s", key_file)
    return write_key_file(key_file)


# ---------------------------------------------------------------- text that is safe to store and show
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` as valid UTF-8 for SQLite: lone surrogates (from JSON like "\\ud800") become visible escapes."""
    if _SURROGATE.search(text):
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection): text beginning
    with = + - @, a tab or a carriage return gets a leading apostrophe. Numbers are left alone."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


# question types that are not questions about the policies: left out of the report's question counts
NOT_QUESTIONS = frozenset({"greeting", "thanks", "handoff", "reset"})


def conversation_key(row: dict) -> tuple:
    """The conversation a logged row belongs to: its conversation id, else (older rows) its chat."""
    if row.get("conversation"):
        return ("c", row["conversation"])
    return ("u", row["channel"], row.get("session_hash") or row["user_hash"])


class QuestionLog(Store):
    """`QuestionLog(path, key)`; without a key, the key file `key_file` (default: `log.key` beside the
    database file) is read, or created on first use. `salt=` is the old name of `key`."""
    schema = Schema("question_log", migrations)

    def __init__(self, path: "Path | str | Database", key: str | bytes | None = None, *,
                 key_file: Path | str | None = None, salt: str | None = None):
        if not (key or salt or key_file) and isinstance(path, Database) and path.kind != SQLITE:
            raise ValueError("a question log in a shared database needs its key (PZ_LOG_KEY) or key file")
        super().__init__(path)
        default_file = (self.path or Path(".")).parent / "log.key"
        try:
            self.key = load_key(key or salt, key_file or default_file)
        except BaseException:
            self.close()
            raise
        if self.migrated and self.database.kind == SQLITE:
            self.database.scrub()       # e.g. the salt m004 deleted, out of the WAL too

    @property
    def salt(self) -> str | bytes:
        """The old name of `key`."""
        return self.key

    @property
    def db(self):
        """The database itself: a sqlite_utils.Database on SQLite, else the `bot.storage.Database`."""
        return self.database.utils if self.database.kind == SQLITE else self.database

    def pseudonym(self, value: object) -> str:
        return pseudonym(value, self.key)

    def record(self, channel: str, user_id: object, question: str, answer: Answer | None,
               latency_ms: float, status: str | None = None, session: str | None = None,
               conversation: str | None = None, region: str | None = None) -> int | None:
        """Log one question; `session` is the pseudonym of the chat it was asked in (feedback on the
        question is accepted only from there), `conversation` the id of the conversation within it (new
        after a reset or an expired session), `region` what the question was about. Returns the question
        id, or None if it could not be logged."""
        try:
            row = {
                "ts": time.time(), "channel": channel, "user_hash": pseudonym(user_id, self.key),
                "session_hash": session,
                "question": storable(str(question)[:2000]),
                "status": status or (answer.status if answer else "error"),
                "citations": json.dumps([c.clause_id for c in answer.citations] if answer else []),
                "rule_ids": json.dumps(answer.rule_ids if answer else []),
                "amounts": json.dumps([r.amount_yuan for r in answer.rewards] if answer else []),
                "total_yuan": answer.total_yuan if answer else None,
                "latency_ms": round(latency_ms, 2),
                "answer": storable(str(answer.answer)[:4000]) if answer else None,
                "qtype": (getattr(answer, "qtype", "") or None) if answer else None,
                "conversation": conversation, "region": region,
            }
            return self.database.insert("questions", row)
        except Exception:  # never let logging break an answer
            log.exception("question log: could not record a question")
            return None

    def feedback(self, question_id: int, value: int, reason: str | None = None,
                 session: str | None = None) -> bool | None:
        """Record 👍 (+1) / 👎 (-1) and an optional reason. With `session`, only on a question asked in
        that conversation. True: recorded; False: no such question (in that session); None: the
        database failed (logged)."""
        if isinstance(question_id, bool) or not isinstance(question_id, int) or not 0 < question_id <= MAX_QUESTION_ID:
            return False
        try:
            upd = {"feedback": 1 if value > 0 else -1, "feedback_ts": time.time()}
            if reason is not None:
                upd["feedback_reason"] = storable(reason[:1000])
            sets = ", ".join(f"{k} = ?" for k in upd)
            where, args = "id = ?", [question_id]
            if session is not None:
                where += " AND session_hash = ?"
                args.append(session)
            cur = self.database.execute(f"UPDATE questions SET {sets} WHERE {where}", [*upd.values(), *args])
            return cur.rowcount == 1
        except Exception:
            log.exception("question log: could not record feedback for %s", question_id)
            return None

    def get(self, question_id: int) -> dict | None:
        """One logged question as a dict (None if there is no such question)."""
        if isinstance(question_id, bool) or not isinstance(question_id, int) or not 0 < question_id <= MAX_QUESTION_ID:
            return None
        rows = self.database.execute("SELECT * FROM questions WHERE id = ?", [question_id]).dicts()
        return rows[0] if rows else None

    def last_question(self, session: str, within_seconds: float | None = None,
                      statuses: tuple[str, ...] = ("answered", "not_found")) -> int | None:
        """The id of the latest question asked in `session` whose answer could be rated (by default an
        answer or a not-found, not a follow-up question), within the last `within_seconds`."""
        where, args = ["session_hash = ?"], [session]
        if within_seconds is not None:
            where.append("ts >= ?")
            args.append(time.time() - within_seconds)
        sql = (f"SELECT id, status FROM questions WHERE {' AND '.join(where)} ORDER BY ts DESC, id DESC LIMIT 1")
        row = self.database.execute(sql, args).fetchone()
        return row[0] if row and row[1] in statuses else None

    def stats(self, days: float = 7, top: int = 5) -> dict:
        since = time.time() - days * 86400
        q = lambda sql, *a: self.database.execute(sql, [since, *a]).fetchall()  # noqa: E731
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
        return self.database.execute(sql, args).dicts()

    def report(self, since_seconds: float, now: float | None = None, session_seconds: float = 7200,
               tz: str = "Asia/Shanghai", examples: int = 20, region_of=None) -> dict:
        """The raw material of the staff report over the last `since_seconds`: volume by day and channel,
        questions with their counts (overall and per region), not-found questions, clarify-abandoned
        questions (a clarify the same conversation never followed within `session_seconds`), 👎 with
        reasons. A message that answers a follow-up question ("阳城的") is not a question of its own: it
        is left out of the counts (the question it completes is counted). Greetings, thanks and messages
        for staff (留言, contacts) are not counted either. `region_of(question)` names the region of a
        question logged without one (older rows). Grouping by meaning is done by the caller (it needs
        the embedder)."""
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
        by_conv: dict[tuple, list[dict]] = defaultdict(list)
        for r in rows:
            by_conv[conversation_key(r)].append(r)
        abandoned, follow_ups = [], set()
        for seq in by_conv.values():
            for i, r in enumerate(seq):
                if i and seq[i - 1]["status"] == "clarify" and r["ts"] - seq[i - 1]["ts"] <= session_seconds:
                    follow_ups.add(r["id"])
                if r["status"] != "clarify" or now - r["ts"] < session_seconds:
                    continue   # a clarify younger than a session may still be answered
                nxt = seq[i + 1] if i + 1 < len(seq) else None
                if nxt is None or nxt["ts"] - r["ts"] > session_seconds:
                    abandoned.append(r)
        asked = [r for r in rows if r["id"] not in follow_ups and (r.get("qtype") or "") not in NOT_QUESTIONS]
        counts = Counter(r["question"].strip() for r in asked)
        by_region: dict[str, Counter] = defaultdict(Counter)
        for r in asked:
            region = r.get("region") or (region_of(r["question"]) if region_of else None) or ""
            by_region[region][r["question"].strip()] += 1
        latest_id = {r["question"].strip(): r["id"] for r in rows}
        return {
            "since": now - since_seconds, "until": now, "total": len(rows),
            "by_status": dict(Counter(r["status"] for r in rows)),
            "by_channel": dict(Counter(r["channel"] for r in rows)),
            "volume": {d: dict(c) for d, c in sorted(volume.items())},
            "questions": counts.most_common(),
            "questions_by_region": {k: v.most_common() for k, v in sorted(by_region.items())},
            "not_found": Counter(r["question"].strip() for r in asked if r["status"] == "not_found").most_common(),
            "clarify_abandoned": Counter(r["question"].strip() for r in abandoned).most_common(),
            "negative": [{"id": r["id"], "ts": r["ts"], "question": r["question"], "reason": r["feedback_reason"],
                          "status": r["status"], "answer": r.get("answer")} for r in rows if r["feedback"] == -1],
            "positive": sum(1 for r in rows if r["feedback"] == 1),
            "latency_ms_median": _median([r["latency_ms"] for r in rows if r["latency_ms"] is not None]),
            "question_ids": latest_id,
        }

    def purge(self, older_than_days: float, now: float | None = None) -> int:
        """Delete questions older than this many days, and their bytes from the file (WAL included)."""
        cutoff = (now or time.time()) - older_than_days * 86400
        n = self.database.execute("DELETE FROM questions WHERE ts < ?", [cutoff]).rowcount
        self.database.scrub()
        return n

    def export(self, out, fmt: str = "csv", since_seconds: float | None = None) -> int:
        """Write the log (pseudonymous user ids only) to a text stream as CSV or JSON lines."""
        import csv
        rows = self.rows(since_seconds)
        cols = ["id", "ts", "time", "channel", "user_hash", "session_hash", "question", "status", "citations",
                "rule_ids", "amounts", "total_yuan", "latency_ms", "feedback", "feedback_reason", "feedback_ts",
                "qtype", "conversation", "region", "answer"]
        from datetime import datetime, timezone
        for r in rows:
            r["time"] = datetime.fromtimestamp(r["ts"], timezone.utc).isoformat(timespec="seconds")
        if fmt == "jsonl":
            for r in rows:
                out.write(json.dumps({c: r.get(c) for c in cols}, ensure_ascii=False) + "\n")
        elif fmt == "csv":
            w = csv.DictWriter(out, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows({c: csv_cell(r.get(c)) for c in cols} for r in rows)
        else:
            raise ValueError(f"unknown export format {fmt!r}: csv or jsonl")
        return len(rows)



def _median(values: list[float]) -> float | None:
    if not values:
        return None
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2

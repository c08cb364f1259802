"""New-policy notices: staff add (then replace) a county policy with `kb add` / `kb replace`, its rules
accepted; `python -m bot notify --dry-run` says who would be told and why; `python -m bot notify` tells
exactly the owners whose saved profile the new rows concern — a Telegram message through the Bot API (the
fake on 127.0.0.1), a WeChat customer-service message (a fake WeChat API on 127.0.0.1), a web notice shown
on the next visit — and nobody else: not another county, not an owner the rows rule out, not one who opted
out or never agreed to be saved."""
from __future__ import annotations

import asyncio
import os
import sys
from datetime import date

import pytest
from aiohttp import web

from tests.conftest import ROOT

TODAY = date(2026, 11, 22)
POLICY = ("泽州县人民政府办公室文件\n泽政办发〔2026〕5号\n泽州县支持铸造专业镇企业提质升级若干措施\n"
          "一、支持企业创优\n"
          "（一）对首次获评省级专精特新中小企业的铸造企业，一次性奖励15万元。\n"
          "（二）对新入选“三晋老字号”的企业，再给予一次性奖励5万元。\n"
          "本措施自2026年1月1日起施行，有效期至2028年12月31日。\n")
REVISED = POLICY.replace("〔2026〕5号", "〔2026〕9号").replace("奖励15万元", "奖励20万元") \
    .replace("提质升级若干措施", "提质升级若干措施（修订）")
SAVE = ("不问了", "保存并通知我")
WECHAT_B = "oWx-owner-b"
WEB_F = "web-owner-f"
# who says what before saving (or not): the test's cast
OWNERS = {
    ("telegram", 501): ["我们是泽州的铸造企业，今年评上了省级专精特新，帮我看看能申请哪些", *SAVE],   # A: both rows
    ("wechat", WECHAT_B): ["我们泽州做陶瓷的，帮我看看能申请哪些", *SAVE],          # B: only 三晋老字号 (not 铸造)
    ("telegram", 503): ["我们是高平的铸造企业，帮我看看能申请哪些", *SAVE],          # C: another county
    ("telegram", 504): ["我们是泽州的铸造企业，还没评上专精特新，也没入选三晋老字号，帮我看看能申请哪些",
                        *SAVE],                                              # D: both rows ruled out
    ("telegram", 505): ["我们是泽州的铸造企业，帮我看看能申请哪些", *SAVE, "退订"],  # E: opted out
    ("web", WEB_F): ["泽州的企业，我们入选过三晋老字号，帮我看看能申请哪些", *SAVE],    # F: web, met
    ("telegram", 507): ["我们是泽州的铸造企业，帮我看看能申请哪些", "不问了", "不用了"],  # G: never saved
}
TOLD = {("telegram", 501), ("wechat", WECHAT_B), ("web", WEB_F)}


def _copy(built, dst):
    """A copy of the built knowledge base (as the county-policy tests make it), and its environment."""
    from tests.test_awards_answer import _copy as copy_built
    cfg = copy_built(built, dst)
    env = {"PZ_DATA_DIR": str(cfg.data_dir), "PZ_DOCUMENTS_DIR": str(cfg.documents_dir),
           "PZ_RULES_DIR": str(cfg.rules_dir), "PZ_CACHE_DIR": str(cfg.cache_dir)}
    return cfg, env


@pytest.fixture(scope="module")
def world(built_config, embedder, tmp_path_factory):
    """A copy of the built knowledge base and a runtime on it where the cast has talked to the assistant."""
    from bot.core.service import Assistant
    from bot.runtime import Runtime
    tmp = tmp_path_factory.mktemp("notify")
    cfg, env = _copy(built_config, tmp)
    assistant = Assistant.load(cfg, today=lambda: TODAY, build=False, embedder=embedder)
    rt = Runtime.start(cfg, assistant=assistant)
    for (channel, user), messages in OWNERS.items():
        for m in messages:
            rt.ask_sync(channel, user, m)
    yield cfg, env, rt, tmp
    rt.close()


async def run(env: dict, *args: str, extra: dict | None = None) -> str:
    """`python -m bot …` as staff run it, without blocking the loop the fake servers run in."""
    full = dict(os.environ, HF_HUB_OFFLINE="1", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
                **env, **(extra or {}))
    for k in ("TELEGRAM_BOT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET"):
        if k not in (extra or {}):
            full.pop(k, None)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, cwd=ROOT, env=full,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 600)
    assert proc.returncode == 0, err.decode()[-3000:]
    return out.decode()


@pytest.fixture
async def wechat_api():
    """A fake WeChat API (token + customer-service send) on 127.0.0.1; what was sent, in order."""
    sent: list[dict] = []

    async def token(request):
        return web.json_response({"access_token": "ACCESS", "expires_in": 7200})

    async def send(request):
        sent.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})
    app = web.Application()
    app.router.add_get("/cgi-bin/token", token)
    app.router.add_post("/cgi-bin/message/custom/send", send)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/cgi-bin/", sent
    await runner.cleanup()


@pytest.fixture
async def telegram_api(monkeypatch):
    from tests.fakes.telegram_api import FakeBotAPI
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")
    async with FakeBotAPI() as server:
        yield server


def _key(rt, who) -> str:
    return rt.session_key(*who)[:8]


async def test_a_new_document_tells_exactly_the_owners_it_concerns(world, telegram_api, wechat_api):
    _, env, rt, tmp = world
    saved = {(p.channel, p.key) for p in rt.profiles.list()}
    assert len(saved) == 6                                   # everyone but G, who did not agree
    policy = tmp / "zz-2026-5.txt"
    policy.write_text(POLICY, encoding="utf-8")
    added = await run(env, "kb", "add", str(policy), "--region", "泽州县", "--yes")
    assert "Rule proposals: 2 accepted" in added

    # the dry run: who would be told, about which rows and why; nothing sent or stored
    dry = await run(env, "notify", "--dry-run", "--today", TODAY.isoformat())
    told = {who for who in OWNERS if f"({_key(rt, who)})" in dry}
    assert told == TOLD
    assert "because" in dry and "专精特新" in dry and "✓" in dry
    assert rt.profiles.notices() == []

    api_url, wechat_sent = wechat_api
    out = await run(env, "notify", "--today", TODAY.isoformat(), extra={
        "TELEGRAM_BOT_TOKEN": telegram_api.token, "TELEGRAM_API_BASE_URL": telegram_api.base_url,
        "WECHAT_APP_ID": "wx-test", "WECHAT_APP_SECRET": "secret", "WECHAT_API_BASE_URL": api_url})
    assert "sent 2 notice(s)" in out and "waits for the owner's next visit" in out
    # Telegram: one message to A with the new amount and its clause; nothing to C, D, E, G
    to_a = telegram_api.messages_to(501)
    assert len(to_a) == 1
    text = to_a[0].text
    assert "泽政办发〔2026〕5号" in text and "15万元" in text and "（一）" in text and "符合条件" in text
    assert "5万元" in text                                     # 三晋老字号: hinges on what A has not said
    for other in (503, 504, 505, 507):
        assert telegram_api.messages_to(other) == []
    # WeChat: B, about 三晋老字号 only (the 15万 row is for 铸造 firms; B makes ceramics)
    assert [m["touser"] for m in wechat_sent] == [WECHAT_B]
    assert "5万元" in wechat_sent[0]["text"]["content"] and "15万元" not in wechat_sent[0]["text"]["content"]
    # the web owner sees it on the next visit, once
    shown = rt.take_notices("web", WEB_F)
    assert len(shown) == 1 and "三晋老字号" in shown[0]["text"] and "符合条件" in shown[0]["text"]
    assert rt.take_notices("web", WEB_F) == []

    # nothing new: nobody is told twice
    again = await run(env, "notify", "--today", TODAY.isoformat(), extra={
        "TELEGRAM_BOT_TOKEN": telegram_api.token, "TELEGRAM_API_BASE_URL": telegram_api.base_url})
    assert "0 new rule row(s)" in again and len(telegram_api.messages_to(501)) == 1

    # staff replace it with a revised version (20万): the new amount reaches the same owners
    revised = tmp / "zz-2026-9.txt"
    revised.write_text(REVISED, encoding="utf-8")
    doc_id = next(p.doc_id for p in rt.profiles.notices(status="sent"))
    await run(env, "kb", "replace", doc_id, str(revised), "--valid-from", "2026-11-01", "--yes")
    dry = await run(env, "notify", "--dry-run", "--today", TODAY.isoformat())
    assert {who for who in OWNERS if f"({_key(rt, who)})" in dry} == TOLD
    await run(env, "notify", "--today", TODAY.isoformat(), extra={
        "TELEGRAM_BOT_TOKEN": telegram_api.token, "TELEGRAM_API_BASE_URL": telegram_api.base_url})
    to_a = telegram_api.messages_to(501)
    assert len(to_a) == 2 and "20万元" in to_a[1].text and "泽政办发〔2026〕9号" in to_a[1].text
    listing = await run(env, "notify", "outbox")
    assert "sent" in listing and "skipped" not in listing
    profiles = await run(env, "notify", "profiles")
    assert "notices off" in profiles and "501" not in profiles        # addresses are masked

"""Enterprise profiles kept only with the owner's consent: saved after a check-up when the owner says yes,
kept current, brought back in a new conversation, viewed and deleted (in chat, on the web panel), notices
turned off, removed after the retention period. The store on SQLite and on a real PostgreSQL server."""
from __future__ import annotations

import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.profiles import DELIVERED, PENDING, SKIPPED, Notice, ProfileStore
from bot.storage import POSTGRESQL, SQLITE

CHECKUP = "我们是泽州的铸造企业，2025年营收首次过了5亿，之前最高4亿，帮我看看能申请哪些"


@pytest.fixture(params=[SQLITE, POSTGRESQL])
def where(request, tmp_path):
    if request.param == POSTGRESQL:
        return request.getfixturevalue("pg_url")
    return tmp_path / "profiles.sqlite"


def notice(key: str, doc: str = "zz-2026-1", channel: str = "web") -> Notice:
    return Notice(key, channel, None, doc, ["zz-2026-1-1-1-a"], "d1", "📢 新政策提醒", ["泽州县 ✓"])


def test_the_store_on_both_backends(where):
    a, b = ProfileStore(where), ProfileStore(where)        # two workers on one database
    try:
        a.save("k1", "telegram", "501", {"region": "泽州县"})
        a.save("k2", "web", None, {"region": "高平市"}, now=time.time() - 400 * 86400)
        assert b.get("k1").facts == {"region": "泽州县"} and b.get("k1").address == "501"
        assert b.update_facts("k1", {"region": "泽州县", "agricultural": False})
        assert a.get("k1").facts["agricultural"] is False
        # one notice per owner, document and rows, even when queued twice
        first, again = a.add_notice(notice("k1")), b.add_notice(notice("k1"))
        assert first is not None and again is None
        # a web notice is shown once, whichever worker the next visit reaches
        shown = [a.take_web("k1"), b.take_web("k1")]
        assert sorted(len(x) for x in shown) == [0, 1]
        assert a.notices(key="k1")[0].status == DELIVERED
        # opting out skips what is still pending
        b.add_notice(notice("k1", doc="other"))
        assert a.set_notify("k1", False) and a.notices(key="k1")[-1].status == SKIPPED
        assert [p.key for p in b.list(notify_only=True)] == ["k2"]
        # the retention period: only the profile not updated for longer goes, with its notices
        a.add_notice(notice("k2"))
        assert b.purge(365) == 1
        assert a.get("k2") is None and a.notices(key="k2") == [] and a.get("k1") is not None
        # deleting removes the profile and every notice for it
        assert a.delete("k1") and b.get("k1") is None and b.notices(key="k1") == []
        assert not a.delete("k1")
        a.mark_seen({"r1": "x"})
        assert b.seen() == {"r1": "x"}
    finally:
        a.close()
        b.close()


def _ask(runtime, user, *questions, channel="telegram"):
    return [runtime.ask_sync(channel, user, q).answer for q in questions]


def test_saved_only_when_the_owner_agrees(runtime):
    _, b, c = _ask(runtime, 11, CHECKUP, "不问了", "不用了")
    assert "保存您的企业信息，有新政策时通知您？" in b.answer
    assert "不保存" in c.answer
    assert runtime.profile_status("telegram", 11) is None and runtime.profiles.list() == []
    # another owner says yes
    *_, d = _ask(runtime, 12, CHECKUP, "不问了", "保存并通知我")
    assert "已保存" in d.answer
    saved = runtime.profiles.get(runtime.session_key("telegram", 12))
    assert saved.address == "12" and saved.notify and saved.facts["region"] == "泽州县"
    assert runtime.profile_status("telegram", 12)["notify"] is True
    # the rule rows in force when it was saved are known: only rows added later are news to this owner
    assert "jc39-brand-sanjin" in runtime.profiles.seen()


def test_a_saved_profile_stays_current_and_comes_back_in_a_new_conversation(runtime):
    _ask(runtime, 21, CHECKUP, "不问了", "保存并通知我")
    key = runtime.session_key("telegram", 21)
    _ask(runtime, 21, "我们去年还入选了三晋老字号")
    assert runtime.profiles.get(key).facts["recognitions"]["三晋老字号"]["won"] is True
    runtime.sessions.delete(key)                 # the conversation expired
    again, = _ask(runtime, 21, "政策体检")
    assert again.total_yuan == 200000           # 5亿 tier + 三晋老字号, from the saved facts
    assert "已获三晋老字号" in again.answer
    # 重新开始 starts without them; the profile stays saved until the owner deletes it
    runtime.reset("telegram", 21)
    fresh, = _ask(runtime, 21, "政策体检")
    assert fresh.status == "clarify" and runtime.profile_status("telegram", 21) is not None


def test_delete_my_information(runtime):
    _ask(runtime, 31, CHECKUP, "不问了", "保存并通知我")
    key = runtime.session_key("telegram", 31)
    runtime.profiles.add_notice(notice(key, channel="telegram"))
    gone, = _ask(runtime, 31, "删除我的信息")
    assert "已删除" in gone.answer and "不会再收到新政策通知" in gone.answer
    assert runtime.profile_status("telegram", 31) is None
    assert runtime.profiles.notices(key=key) == [] and runtime.profile("telegram", 31) == []


def test_notices_off_and_on_in_chat(runtime):
    _ask(runtime, 41, CHECKUP, "不问了", "保存并通知我")
    off, = _ask(runtime, 41, "退订")
    assert "不再给您发送新政策通知" in off.answer and runtime.profile_status("telegram", 41)["notify"] is False
    on, = _ask(runtime, 41, "开启通知")
    assert runtime.profile_status("telegram", 41)["notify"] is True and "会通知您" in on.answer
    shown, = _ask(runtime, 41, "我的信息")
    assert "泽州县" in shown.answer and "已按您的同意保存" in shown.answer


def test_profiles_past_the_retention_period_are_removed(runtime):
    _ask(runtime, 51, CHECKUP, "不问了", "保存并通知我")
    _ask(runtime, 52, CHECKUP, "不问了", "保存并通知我")
    old = runtime.profiles.get(runtime.session_key("telegram", 52))
    runtime.profiles.save(old.key, old.channel, old.address, old.facts, now=time.time() - 366 * 86400)
    runtime.start_housekeeping(every_seconds=3600)
    assert runtime.housekept.wait(30)
    assert runtime.profile_status("telegram", 52) is None
    assert runtime.profile_status("telegram", 51) is not None


# ---- the web panel ---------------------------------------------------------------------------------
@pytest.fixture
async def client(runtime, monkeypatch):
    from bot.adapters.server import create_app
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")
    c = TestClient(TestServer(create_app(runtime, runtime.config), host="127.0.0.1"))
    await c.start_server()
    yield c
    await c.close()


async def test_the_web_panel_saves_deletes_and_shows_notices_once(client, runtime):
    resp = await client.post("/api/ask", json={"question": "政策体检"})
    first = await resp.json()
    sid = first["session_id"]
    assert first["qtype"] == "checkup" and "泽州" in first["parts"]["choices"]
    nothing = await (await client.post("/api/profile", json={"session_id": sid, "action": "save"})).json()
    assert "还没有可保存的企业信息" in nothing["error"]
    await client.post("/api/ask", json={"session_id": sid, "question": "泽州"})
    saved = await (await client.post("/api/profile", json={"session_id": sid, "action": "save"})).json()
    assert saved["profile"]["saved"] and saved["profile"]["notify"]
    assert any(f["key"] == "region" for f in saved["facts"])
    off = await (await client.post("/api/profile", json={"session_id": sid, "action": "notify_off"})).json()
    assert off["profile"]["notify"] is False
    await client.post("/api/profile", json={"session_id": sid, "action": "notify_on"})
    # a notice waiting for this owner is shown on the next visit, once
    key = runtime.session_key("web", sid)
    runtime.profiles.add_notice(notice(key))
    visit = await (await client.post("/api/history", json={"session_id": sid})).json()
    assert [n["text"] for n in visit["notices"]] == ["📢 新政策提醒"] and visit["profile"]["saved"]
    again = await (await client.post("/api/history", json={"session_id": sid})).json()
    assert again["notices"] == []
    assert runtime.profiles.notices(key=key)[0].status != PENDING
    gone = await (await client.post("/api/profile", json={"session_id": sid, "action": "delete"})).json()
    assert gone["profile"] is None and gone["facts"] == []
    bad = await client.post("/api/profile", json={"session_id": sid, "action": "drop table"})
    assert bad.status == 400


# ---- the page in a real browser ----------------------------------------------------------------------
async def test_the_page_checks_up_saves_and_shows_a_notice_on_the_next_visit(request, tmp_path):
    from tests.test_web import real_page
    expect = pytest.importorskip("playwright.async_api", reason="playwright is not installed").expect
    async with real_page(request, tmp_path, viewport={"width": 390, "height": 844}) as (_, page, runtime, errors):
        bots = page.locator("#messages .msg.bot:not(.typing)")
        await expect(bots).to_have_count(1)
        await page.locator("#chips .chip", has_text="政策体检").click()          # the check-up button
        await expect(bots).to_have_count(2)
        await bots.nth(1).locator(".choices .choice", has_text="泽州").click()
        await expect(bots).to_have_count(3)
        listing = bots.nth(2)
        await expect(listing.locator(".bubble")).to_contain_text("取决于您还没告诉我的情况")
        await expect(listing.locator(".choices .choice", has_text="跳过")).to_have_count(1)
        # the facts panel: save with consent
        await page.click("#open-facts")
        await expect(page.locator("#profile-status")).to_contain_text("只在本次对话中使用")
        await page.click("#profile-save")
        await expect(page.locator("#profile-status")).to_contain_text("已按您的同意保存")
        await page.click("#close-facts")
        # a notice queued for this owner shows on the next visit, once
        sid = await page.evaluate("localStorage.getItem('pz.session_id')")
        saved = [p for p in runtime.profiles.list() if p.channel == "web"]
        assert len(saved) == 1 and saved[0].key == runtime.session_key("web", sid)
        runtime.profiles.add_notice(notice(saved[0].key))
        await page.reload()
        await expect(page.locator("#messages .msg.notice .bubble")).to_contain_text("新政策提醒")
        await page.reload()
        await expect(page.locator("#messages .msg.bot").first).to_be_visible()
        await expect(page.locator("#messages .msg.notice")).to_have_count(0)
        # and deleted from the panel
        await page.click("#open-facts")
        await page.click("#profile-delete")
        await expect(page.locator("#profile-status")).to_contain_text("只在本次对话中使用")
        assert runtime.profiles.list() == []
        assert errors == []

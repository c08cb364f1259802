"""The policy check-up: every rule row that applies to the enterprise, judged from what the owner said —
the sum of what can be claimed, what hinges on a fact not told, the nearest next step, expiry judged at the
date of the achievement — and the guided interview that updates the list answer by answer. Through
answer(), `ask --json` and Telegram's /checkup against the fake Bot API."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot.core.types import Session
from tests.conftest import ROOT

OWNER = 7301


def talk(assistant, *questions, session=None):
    session = session or Session(id="checkup")
    return [assistant.answer(q, session) for q in questions], session


def test_a_profile_matching_several_rows(assistant):
    (a,), _ = talk(assistant, "我们是泽州的铸造厂，2025年营业收入头一回过了十个亿，之前最多9个亿，"
                              "去年还入选了三晋老字号，帮我看看都能申请哪些")
    assert a.qtype == "checkup" and a.status == "answered"
    # the sum of what can be claimed: the 10亿 tier and 三晋老字号, both achieved in 2025 under a policy valid
    # to 2025-12-31 (the expiry is said)
    paid = {r.rule_id: r.amount_yuan for r in a.rewards}
    assert paid == {"jc39-rev-general-10e": 200000, "jc39-brand-sanjin": 100000}
    assert a.total_yuan == 300000 and "合计30万元" in a.answer
    assert a.parts.status.startswith("晋市政办〔2023〕39号") and "已于2025年12月31日到期" in a.parts.status
    # rows that hinge on a fact not told, with their amount
    assert "如已入选“中华老字号”，另可得20万元" in a.answer
    assert "如已入选“山西精品”，另可得10万元" in a.answer
    # the nearest next step, marked as the expired policy's offer
    assert "营收再增加10亿元即达到20亿元档，原政策奖励30万元" in a.answer
    # each condition judged, with the office and phone, and what the documents say about applying
    assert any("✅" in c and "2025年" in c for c in a.parts.conditions)
    assert "市工信局，电话0356-2218792" in a.answer
    assert "文件没有写明申请流程" in a.answer
    assert any(c.number == "晋市政办〔2023〕39号" for c in a.citations)
    # rows the documents support with no amount are named, never summed
    assert "文件支持但未规定金额" in a.answer and "专精特新" in a.answer
    # and the interview goes on with the fact deciding the most rows still open
    assert a.parts.choices and "都没有" in a.parts.choices and "请问：" in a.answer


def test_an_achievement_after_the_expiry_is_not_counted_but_what_the_policy_offered_is_said(assistant):
    (a,), _ = talk(assistant, "泽州铸造企业，2026年营收首次过了5亿元，之前最高4亿，帮我看看能申请哪些")
    assert a.qtype == "checkup" and a.total_yuan is None
    assert not [r for r in a.rewards if r.amount_yuan]
    assert "2026年，政策已于2025年12月31日到期" in a.answer
    assert "原政策奖励20万元" in a.answer           # the next tier, as the expired policy offered it


def test_without_the_year_the_expired_policy_hinges_on_it_and_the_interview_asks(assistant):
    (a, b), _ = talk(assistant, "帮我们体检一下：高平的企业，非涉农，2025年营收3亿元，评上了山西精品", "2025年或更早")
    assert a.total_yuan is None
    assert "在政策有效期内" in a.answer and "可得10万元" in a.answer
    assert a.asked_for == ["year:山西精品"] and a.parts.choices[:2] == ["2025年或更早", "2026年以后"]
    assert b.total_yuan == 100000 and {r.rule_id for r in b.rewards} == {"jc39-brand-sxjp"}


def test_the_interview_asks_one_fact_at_a_time_and_each_answer_updates_the_list(assistant):
    (a, b, c, d, e, f), session = talk(
        assistant, "帮我看看我们能申请哪些", "高平", "去年营收3.5亿，以前最高2.8亿，是涉农企业", "中华老字号",
        "2025年或更早", "保存并通知我")
    assert a.status == "clarify" and "高平" in a.parts.choices           # the region decides every row: first
    assert b.qtype == "checkup" and b.asked_for == ["revenue"]           # then the revenue tiers (8 rows)
    assert b.total_yuan is None and "告诉我营收就能算" in b.answer
    assert c.total_yuan == 200000 and "营收2025年首次达到3亿元" in c.answer   # 涉农: the 3亿 tier
    assert "营收再增加1.5亿元即达到5亿元档" in c.answer
    assert c.asked_for == ["recognitions"] and "中华老字号" in c.parts.choices
    assert d.asked_for == ["year:中华老字号"]
    assert e.total_yuan == 400000 and "合计40万元（20万元＋20万元）" in e.answer
    # the list is complete: the owner is asked whether to keep it for new-policy notices
    assert "保存您的企业信息，有新政策时通知您？" in e.answer and e.parts.choices == ["保存并通知我", "不用了"]
    assert f.effects == ["profile.save"] and "已保存" in f.answer
    assert session.facts["recognitions"]["中华老字号"] == {"won": True, "year": 2025}


def test_skip_and_stop(assistant):
    (a, b, c), _ = talk(assistant, "我们是泽州的，能申请的都有啥", "跳过", "不问了")
    assert a.asked_for == ["revenue"]
    assert b.asked_for and b.asked_for != ["revenue"]
    assert not c.asked_for and c.parts.choices == ["保存并通知我", "不用了"]


def test_another_question_ends_the_interview(assistant):
    (a, b, c), _ = talk(assistant, "我们是泽州的，能申请的都有啥", "依据是哪个文件？", "好的")
    assert a.asked_for == ["revenue"]
    assert b.qtype != "checkup"
    assert c.qtype != "checkup" and not c.effects


def test_a_region_without_amounts_says_so(assistant):
    (a,), _ = talk(assistant, "我们是忻州定襄做法兰的，帮我看看能申请哪些")
    assert a.total_yuan is None and not a.rewards
    assert "没有规定具体的奖励金额" in a.answer


def test_the_check_up_by_name_and_the_profile_commands(assistant):
    (a, b, c), session = talk(assistant, "政策体检", "退订", "删除我的信息")
    assert a.qtype == "checkup" and a.status == "clarify"
    assert "还没有保存企业信息" in b.answer and not b.effects
    assert c.effects == ["profile.delete"] and session.facts == {}


def test_ask_json_carries_the_rewards_and_the_total(built_config):
    env = dict(os.environ, PZ_DATA_DIR=str(built_config.data_dir), PZ_DOCUMENTS_DIR=str(built_config.documents_dir),
               PZ_RULES_DIR=str(built_config.rules_dir), HF_HUB_OFFLINE="1")
    q = "泽州的铸造企业，2025年营收首次突破10亿元，此前最高9亿元，去年入选三晋老字号，帮我全面体检一下能拿哪些"
    out = subprocess.run([sys.executable, "-m", "bot", "ask", "--json", q], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["total_yuan"] == 300000
    assert sorted(r["amount_yuan"] for r in data["rewards"] if r["amount_yuan"]) == [100000, 200000]
    assert all("晋市政办〔2023〕39号" in r["basis"] for r in data["rewards"])


# ---- Telegram: /checkup against the fake Bot API ------------------------------------------------------
@pytest.fixture
async def api(monkeypatch):
    from tests.fakes.telegram_api import FakeBotAPI
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")
    async with FakeBotAPI(default_wait=20) as server:
        yield server


async def test_telegram_checkup_command_with_buttons(api, runtime):
    from tests.fakes.telegram_support import BotHarness
    tg = await BotHarness(api, runtime.config, runtime, rate_limiter=False).start()
    try:
        await api.send_text(OWNER, "/checkup")
        ask_region = await api.next_message(OWNER)
        assert "哪个县" in ask_region.text
        await api.click(OWNER, ask_region, "泽州")
        listing = await api.next_message(OWNER)
        assert "取决于您还没告诉我的情况" in listing.text and "请问：" in listing.text
        await api.send_text(OWNER, "2025年营收6亿元，第一次过5亿，不是涉农企业")
        updated = await api.next_message(OWNER)
        assert "可以申请1项，合计10万元" in updated.text
        assert "<b>10万元</b>" in updated.html                         # the amount paid, in bold
        assert "都没有" in [b["text"] for b in updated.buttons]          # the next question's choices
        await api.click(OWNER, updated, "都没有")
        done = await api.next_message(OWNER)
        assert "保存您的企业信息" in done.text
        await api.click(OWNER, done, "保存并通知我")
        saved = await api.next_message(OWNER)
        assert "已保存" in saved.text
        await api.send_text(OWNER, "/profile")
        profile = await api.next_message(OWNER)
        assert "已按您的同意保存" in profile.text
        await api.click(OWNER, profile, "🗑 删除我的信息")
        edited = await api.wait_call("editMessageText")
        assert "没有保存" in edited["text"] or "还没有记录" in edited["text"]
        assert runtime.profile_status("telegram", OWNER) is None
    finally:
        await tg.stop()
    assert tg.errors == []

"""Pure parts of the Telegram adapter: message splitting and escaping (bot/adapters/text.py), the
per-user rate limiter, button payloads, and the fake server's HTML check the other tests rely on."""
from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.telegram import (CALLBACK_DATA_MAX, PerChatUpdateProcessor, RateLimiter, answer_keyboard,
                                   file_url_for, format_citation, format_stats, without_feedback)
from bot.adapters.text import escape, html_pieces, split_message, utf16_len
from bot.core.types import Answer, Citation
from tests.fakes.telegram_api import ApiError, parse_html


# ------------------------------------------------------------------ splitting

def _rejoined(pieces: list[str]) -> str:
    return "".join(pieces)


def _squash(text: str) -> str:
    return "".join(text.split())


def test_short_text_is_one_piece():
    assert split_message("  你好。  ") == ["你好。"]
    assert split_message("") == [] and split_message(" \n ") == []


def test_cuts_at_the_last_sentence_end_that_fits():
    text = "第一句话。第二句话！第三句话？第四句"
    assert split_message(text, limit=12) == ["第一句话。第二句话！", "第三句话？第四句"]


def test_prefers_paragraphs_then_lines_then_sentences():
    para = "甲" * 30 + "。" + "乙" * 20 + "\n\n" + "丙" * 10 + "。"
    assert split_message(para, limit=60)[0] == "甲" * 30 + "。" + "乙" * 20
    lines = "一二三四五六七八九十。\n" + "短句。" * 3 + "尾" * 5
    assert split_message(lines, limit=22) == ["一二三四五六七八九十。", "短句。短句。短句。尾尾尾尾尾"]
    early_line = "一二\n" + "短句。" * 6 + "尾" * 5
    assert split_message(early_line, limit=22)[0] == "一二\n" + "短句。" * 6   # a line break too early: sentence


def test_closing_quotes_stay_with_their_sentence():
    text = "他说：“按规定给予奖励。”然后" + "继续" * 10
    assert split_message(text, limit=20)[0] == "他说：“按规定给予奖励。”"


def test_without_boundaries_cuts_hard_and_loses_nothing():
    text = "字" * 10000
    pieces = split_message(text)
    assert [len(p) for p in pieces] == [4096, 4096, 1808]
    assert _rejoined(pieces) == text


def test_limit_counts_utf16_units_like_telegram():
    text = "😀" * 3000                       # 6000 UTF-16 units
    pieces = split_message(text)
    assert all(utf16_len(p) <= 4096 for p in pieces) and _rejoined(pieces) == text
    assert utf16_len("😀a") == 3


def test_5000_character_answer_splits_in_two_at_a_sentence():
    sentence = "专业镇企业营收首次突破5亿元的，给予一次性奖励10万元。"
    text = (sentence * (5000 // len(sentence) + 1))[:5000]
    pieces = split_message(text)
    assert len(pieces) == 2 and pieces[0].endswith("。") and len(pieces[0]) <= 4096
    assert _rejoined(pieces) == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab 。！？\n，😀&<>字")), max_size=400),
       st.integers(min_value=1, max_value=60))
def test_split_property_fits_and_keeps_every_visible_character(text, limit):
    pieces = split_message(text, limit)
    assert all(p and p == p.strip() and utf16_len(p) <= max(limit, 2) for p in pieces)
    assert _squash("".join(pieces)) == _squash(text)


def test_byte_measure_for_other_channels():
    pieces = split_message("你好。" * 100, limit=30, measure=lambda s: len(s.encode()))
    assert all(len(p.encode()) <= 30 for p in pieces) and pieces[0] == "你好。" * 3


def test_escape_and_html_pieces():
    assert escape("<script>alert('x')</script> A&B") == "&lt;script&gt;alert('x')&lt;/script&gt; A&amp;B"
    assert escape(None) == "" and escape(5) == "5"
    pieces = html_pieces("a&b。" * 3, limit=4)
    assert pieces == ["a&amp;b。"] * 3
    assert all(parse_html(p) == "a&b。" for p in pieces)


# ------------------------------------------------------------------ rate limiter

def test_rate_limiter_sliding_window_and_one_warning():
    now = [1000.0]
    rl = RateLimiter(3, 10, clock=lambda: now[0])
    assert [rl.check("u") for _ in range(3)] == ["ok"] * 3
    assert [rl.check("u") for _ in range(3)] == ["warn", "drop", "drop"]
    assert rl.check("v") == "ok"                       # other users are not affected
    assert rl.retry_after("u") == 10
    now[0] += 10.001                                   # the first hits leave the window
    assert rl.check("u") == "ok"
    assert RateLimiter(0, 10).check("u") == "ok"       # 0 disables


# ------------------------------------------------------------------ buttons

def test_answer_keyboard_payloads_fit_64_bytes():
    cites = [Citation("d", "n", "c", "t", clause_id=f"jc-2023-39/1-{i}") for i in range(5)]
    cites.append(Citation("d", "n", "c", "t", clause_id="x" * 80))         # too long: no button
    kb = answer_keyboard(Answer("answered", "…", citations=cites + cites[:1]), 2 ** 62)
    data = [b.callback_data for row in kb.inline_keyboard for b in row]
    assert all(1 <= len(d.encode()) <= CALLBACK_DATA_MAX for d in data)
    assert data[:3] == ["c:jc-2023-39/1-0", "c:jc-2023-39/1-1", "c:jc-2023-39/1-2"]   # at most 3, no repeats
    assert data[3:] == [f"f:1:{2 ** 62}", f"f:0:{2 ** 62}"]
    assert [b.callback_data for row in without_feedback(kb).inline_keyboard for b in row] == data[:3]


def test_no_keyboard_for_a_follow_up_question_without_citations():
    assert answer_keyboard(Answer("clarify", "在哪个县？"), 7) is None
    assert answer_keyboard(Answer("answered", "…"), None) is None


def test_small_formatters():
    assert file_url_for("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"
    assert file_url_for("https://tg.example.org/api/") == "https://tg.example.org/file/bot"
    c = Citation("某通知", "晋市政办〔2023〕39号", "一、（二）", "给予10万元奖励。")
    assert format_citation(c) == "《某通知》\n晋市政办〔2023〕39号 一、（二）\n\n给予10万元奖励。"
    assert "找不到" in format_citation(None)
    text = format_stats({"days": 7, "total": 3, "by_status": {"answered": 2, "not_found": 1}, "up": 1, "down": 0,
                         "frequent": [("奖励多少", 2)], "unanswered": [("火星？", 1)]})
    assert "共 3 个问题" in text and "1. 奖励多少（2 次）" in text and "1. 火星？（1 次）" in text


# ------------------------------------------------------------------ update order per chat

async def test_per_chat_processor_keeps_order_within_a_chat_and_runs_chats_concurrently():
    from telegram import Chat, Message, Update
    proc = PerChatUpdateProcessor(16)
    log: list[str] = []
    release = asyncio.Event()

    def update(chat_id: int, n: int) -> Update:
        msg = Message(n, None, Chat(chat_id, "private"), text=str(n))
        return Update(n, message=msg)

    async def work(tag: str, wait: bool):
        if wait:
            await release.wait()
        log.append(tag)

    tasks = [asyncio.create_task(proc.process_update(update(1, 1), work("a1", True))),
             asyncio.create_task(proc.process_update(update(1, 2), work("a2", False))),
             asyncio.create_task(proc.process_update(update(2, 3), work("b1", False)))]
    done, _ = await asyncio.wait(tasks[2:], timeout=5)
    assert done and log == ["b1"]                 # chat 2 is not held up by chat 1's slow update
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert log == ["b1", "a1", "a2"]              # chat 1 in arrival order
    assert proc._locks == {}                      # no lock left behind


async def test_a_flooding_chat_holds_one_slot_not_all():
    from telegram import Chat, Message, Update
    proc = PerChatUpdateProcessor(2)
    release = asyncio.Event()

    def update(chat_id: int, n: int) -> Update:
        return Update(n, message=Message(n, None, Chat(chat_id, "private"), text=str(n)))

    async def work(wait: bool):
        if wait:
            await release.wait()

    flood = [asyncio.create_task(proc.process_update(update(1, i), work(True))) for i in range(10)]
    other = asyncio.create_task(proc.process_update(update(2, 99), work(False)))
    await asyncio.wait_for(other, 5)              # served although chat 1 has 10 updates waiting
    assert proc.current_concurrent_updates == 1
    release.set()
    await asyncio.wait_for(asyncio.gather(*flood), 5)


# ------------------------------------------------------------------ the fake server's HTML check

def test_fake_server_parses_html_like_telegram():
    assert parse_html("<b>粗</b> &lt;x&gt; &amp; &#20320;") == "粗 <x> & 你"
    for bad in ("<script>x</script>", "a & b", "<b>x", "x</b>", "a > b"):
        with pytest.raises(ApiError):
            parse_html(bad)


async def test_message_rate_limiter_does_not_spend_the_budget_on_typing_actions():
    from bot.adapters.telegram import MessageRateLimiter
    limiter = MessageRateLimiter(overall_max_rate=1, overall_time_period=3600, max_retries=0)
    await limiter.initialize()
    calls = []

    async def call(endpoint):
        calls.append(endpoint)
        return True

    for _ in range(20):     # would wait an hour each if they were counted
        await asyncio.wait_for(limiter.process_request(call, ("sendChatAction",), {}, "sendChatAction",
                                                       {"chat_id": 1}, None), 5)
    await asyncio.wait_for(limiter.process_request(call, ("sendMessage",), {}, "sendMessage",
                                                   {"chat_id": 1}, None), 5)
    assert calls == ["sendChatAction"] * 20 + ["sendMessage"]
    await limiter.shutdown()

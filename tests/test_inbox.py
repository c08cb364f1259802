"""The hand-off to a person: the core's conversation (留言 → message → contact with consent) lands in the
staff inbox through the runtime; staff list, read and answer it with `python -m bot inbox`; the owner gets
the reply in the same chat. Messages and contacts never reach the question log."""
from __future__ import annotations

import re
import sqlite3

import pytest
from click.testing import CliRunner

from bot.core.hooks import HandoffMessage
from bot.inbox import ANSWERED, OPEN, Inbox, parse_reference, reference

PHONE = "13812345678"


def test_store_add_answer_deliver_purge(tmp_path):
    box = Inbox(tmp_path / "inbox.sqlite")
    m = box.add(HandoffMessage("s1", "奖励怎么兑现？", ["营收5亿奖励多少"], PHONE, "晋城市高平市", "市工信局"), "web")
    assert m.ref == "000001" and parse_reference("000001") == parse_reference("#1") == 1 == m.id
    assert parse_reference("abc") is None and reference(42) == "000042"
    assert [x.id for x in box.list()] == [1] and box.counts() == {OPEN: 1}
    assert box.replies_for("s1") == []
    assert box.answer(1, "已转市工信局，明天电话联系您。", "王工") and not box.answer(99, "x", "王工")
    replies = box.replies_for("s1")
    assert [(r.reply, r.answered_by) for r in replies] == [("已转市工信局，明天电话联系您。", "王工")]
    box.delivered([r.id for r in replies])
    assert box.replies_for("s1") == [] and box.get(1).status == ANSWERED and box.get(1).delivered_ts
    assert box.purge(0, now=m.ts + 1) == 1 and box.get(1) is None
    box.close()


@pytest.mark.slow
def test_handoff_lands_in_the_inbox_and_the_reply_comes_back(runtime):
    notices = []
    runtime.inbox_listeners.append(notices.append)
    user = "handoff-owner"
    first = runtime.ask_sync("web", user, "营收首次过了5亿，在高平，涉农，能拿多少奖励？")
    assert first.answer.status == "answered"
    asked = runtime.ask_sync("web", user, "转人工")
    assert asked.answer.qtype == "handoff" and "message" in asked.answer.asked_for
    msg = runtime.ask_sync("web", user, "奖励资金怎么申请兑现？需要什么材料？")
    assert "contact" in msg.answer.asked_for and msg.answer.parts.choices == ["不留"]
    done = runtime.ask_sync("web", user, PHONE)
    ref = re.search(r"留言编号：(\d+)", done.answer.answer).group(1)
    assert "电话" in done.answer.answer and "工信" in done.answer.answer

    [stored] = runtime.inbox.list()
    assert stored.ref == ref and stored.channel == "web" and stored.contact == PHONE
    assert stored.message == "奖励资金怎么申请兑现？需要什么材料？"
    assert stored.region == "高平市" and "工信" in stored.office
    assert any("5亿" in q for q in stored.context)
    assert stored.session == runtime.session_key("web", user)         # a pseudonym, not the raw id
    assert [n.ref for n in notices] == [ref]

    # the question log keeps neither the message nor the phone number
    logged = [r["question"] for r in runtime.qlog.rows()]
    assert PHONE not in " ".join(logged) and "需要什么材料" not in " ".join(logged)
    assert logged[-2:] == ["［给工作人员的留言］", "［给工作人员的留言］"]
    with sqlite3.connect(runtime.config.log_db) as db:
        assert not db.execute("SELECT count(*) FROM questions WHERE answer LIKE ?", [f"%{PHONE}%"]).fetchone()[0]

    # staff answer; the owner sees it with their next turn, once
    runtime.inbox.answer(stored.id, "您好，兑现需提交申请表和营收证明，已短信发送清单。", "王工")
    nxt = runtime.ask_sync("web", user, "谢谢")
    assert [r.reply for r in nxt.staff_replies] == ["您好，兑现需提交申请表和营收证明，已短信发送清单。"]
    assert runtime.ask_sync("web", user, "好的").staff_replies == []
    history = runtime.history("web", user)
    assert history[-2]["reply"]["staff_replies"][0]["ref"] == ref      # the page shows it after a reload too


@pytest.mark.slow
def test_handoff_without_contact_and_cancel(runtime):
    user = "no-contact"
    runtime.ask_sync("telegram", user, "留言")
    runtime.ask_sync("telegram", user, "想了解技改补贴")
    done = runtime.ask_sync("telegram", user, "不留")
    assert "没有留联系方式" in done.answer.answer
    assert runtime.inbox.list()[0].contact is None and runtime.inbox.list()[0].channel == "telegram"
    runtime.ask_sync("telegram", user, "留言")
    assert "已取消" in runtime.ask_sync("telegram", user, "取消").answer.answer
    assert len(runtime.inbox.list()) == 1


def test_inbox_commands(tmp_path, monkeypatch):
    from bot.cli import main
    data = tmp_path / "data"
    monkeypatch.setenv("PZ_DATA_DIR", str(data))
    monkeypatch.setenv("PZ_STAFF_NAME", "王工")
    box = Inbox(data / "inbox.sqlite")
    box.add(HandoffMessage("s1", "奖励怎么兑现？", ["营收5亿奖励多少"], PHONE, "晋城市高平市", "市工信局"), "web")
    box.add(HandoffMessage("s2", "技改补贴找谁", [], None, None, "当地工信部门"), "wechat")
    box.close()
    run = lambda *a, **kw: CliRunner().invoke(main, list(a), catch_exceptions=False, **kw)  # noqa: E731
    res = run("inbox")
    assert res.exit_code == 0 and "000001" in res.output and "000002" in res.output and PHONE in res.output
    res = run("inbox", "show", "1")
    assert "营收5亿奖励多少" in res.output and "市工信局" in res.output and "not yet" not in res.output
    res = run("inbox", "answer", "000001", input="请带营收证明到市工信局。\n")
    assert res.exit_code == 0 and "next time they write" in res.output and PHONE in res.output
    res = run("inbox", "show", "1")
    assert "请带营收证明到市工信局。" in res.output and "王工" in res.output and "not yet seen" in res.output
    assert run("inbox", "close", "2").exit_code == 0
    res = run("inbox", "list")
    assert "No open messages" in res.output
    assert "000002" in run("inbox", "list", "--status", "closed").output
    assert run("inbox", "show", "77").exit_code != 0 and run("inbox", "show", "x").exit_code != 0
    assert "Deleted 2" in run("inbox", "purge", "--older-than", "0").output
    for args in (["inbox", "--help"], ["inbox", "answer", "--help"], ["inbox", "purge", "--help"]):
        assert run(*args).exit_code == 0

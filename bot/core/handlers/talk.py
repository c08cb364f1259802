"""Greetings, thanks, small talk, a human hand-off, and what is outside the documents."""
from __future__ import annotations

import re

from bot.core.compose import answer
from bot.core.handlers.base import Ctx
from bot.core.handlers.facts import not_found
from bot.core.types import ANSWERED, NOT_FOUND, Answer, Parts

EXAMPLES = ["营收首次达到5亿元能奖多少？", "城区区级专业镇的认定条件是什么？", "营收达标奖励找哪个部门？"]


def greeting(ctx: Ctx) -> Answer:
    return answer(Parts(headline="您好！我可以解答专业镇支持政策：奖励金额、认定条件、目标任务、责任部门，以及文件的文号和有效期。"
                                 "例如：“我们是涉农企业，营收首次过了5亿，能拿多少奖励？”", suggestions=EXAMPLES))


def thanks(ctx: Ctx) -> Answer:
    return answer(Parts(headline="不客气！还有其他专业镇政策的问题，随时问我。"))


def chitchat(ctx: Ctx) -> Answer:
    return answer(Parts(headline="我是专业镇政策助手，只能回答专业镇支持政策方面的问题，比如奖励金额、认定条件和找哪个部门。",
                        suggestions=EXAMPLES), NOT_FOUND)


def out_of_scope(ctx: Ctx) -> Answer:
    return not_found(ctx)


def reset(ctx: Ctx) -> Answer:
    ctx.session.reset()
    return answer(Parts(headline="好的，已清除之前记录的企业信息，我们重新开始。请问有什么可以帮您？"))


CANCEL = ("算了", "取消", "不用了", "不留了", "不要了", "退出")
NO_CONTACT = ("不留", "不用留", "不方便", "不需要", "不要", "匿名", "不了")


def _office(ctx: Ctx) -> tuple[str, str]:
    """(who answers, the phone to call meanwhile) for the owner's region, from the contacts table."""
    region = ctx.facts.get("region")
    rows = [ct for ct in ctx.res.rules.contacts if ct.source.doc in ctx.live
            and (region is None or ctx.gaz.covers(ct.region, region))]
    if rows:
        return rows[0].office, f"{rows[0].office} {rows[0].phone}"
    return "当地工信部门", ""


def handoff(ctx: Ctx) -> Answer:
    """"转人工" / "留言": collect the message, then (with consent) a contact, then file it in the inbox."""
    ctx.session.state["handoff"] = {"step": "message"}
    office, phone = _office(ctx)
    meanwhile = f"着急的话可以先打电话：{phone}。" if phone else ""
    return answer(Parts(headline="好的，我帮您转给工作人员。请直接输入您想问的问题和企业情况（一条消息说清楚），"
                                 f"我会转交{office}的工作人员答复。{meanwhile}",
                        notes=["不想留言了，回复“取消”。"]), asked_for=["message"])


def handoff_step(ctx: Ctx) -> Answer:
    state = ctx.session.state.get("handoff") or {}
    text = ctx.q.strip()
    if any(text.startswith(w) for w in CANCEL):
        ctx.session.state.pop("handoff", None)
        return answer(Parts(headline="好的，已取消留言。还有其他问题可以直接问我。"))
    if state.get("step") == "message":
        state.update(step="contact", message=text)
        ctx.session.state["handoff"] = state
        return answer(Parts(headline="收到。是否愿意留下联系电话，方便工作人员回复您？您的电话只用于这次答复。"
                                     "请回复电话号码，或回复“不留”。", choices=["不留"]), asked_for=["contact"])
    if any(w in text for w in NO_CONTACT):
        contact = None
    elif re.search(r"\d[\d\s-]{6,}|@|微信|邮箱|QQ|qq", text):
        contact = text[:60]
    elif not state.get("asked_again"):
        state["asked_again"] = True
        ctx.session.state["handoff"] = state
        return answer(Parts(headline="请回复您的电话号码（例如 138xxxxxxxx），或回复“不留”。", choices=["不留"]),
                      asked_for=["contact"])
    else:
        contact = None
    ctx.session.state.pop("handoff", None)
    office, phone = _office(ctx)
    ref = ""
    if ctx.res.hooks.inbox is not None:
        from bot.core.hooks import HandoffMessage
        context = [x for x in ctx.session.state.get("asked", []) if x != state.get("message")][-5:]
        ref = ctx.res.hooks.inbox(HandoffMessage(ctx.session.id, state.get("message", ""), context, contact,
                                                 ctx.facts.get("region"), office))
    how = "工作人员会通过您留的电话联系您" if contact else "您没有留联系方式，工作人员的答复会在这里的对话中给您"
    meanwhile = f"需要尽快办理的，可以直接打{phone}。" if phone else ""
    number = f"（留言编号：{ref}）" if ref else ""
    return answer(Parts(headline=f"您的留言已转给{office}的工作人员{number}。{how}，一般在工作日内答复。{meanwhile}"))


def facts_noted(ctx: Ctx) -> Answer:
    from bot.core.handlers.base import describe_facts
    known = describe_facts(ctx.facts)
    head = "好的，我记下了：" + "；".join(known) + "。" if known else "好的。"
    return answer(Parts(headline=head + "您想了解什么？例如能拿多少奖励、够不够申报专业镇。",
                        suggestions=["我们能拿多少奖励？", "帮我看看我们能申请哪些？"]))

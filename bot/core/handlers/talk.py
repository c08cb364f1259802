"""Greetings, thanks, small talk, a human hand-off, and what is outside the documents."""
from __future__ import annotations

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


def handoff(ctx: Ctx) -> Answer:
    contact = next(iter(ctx.res.rules.contacts), None)
    phone = f"您也可以直接咨询{contact.office}，电话 {contact.phone}。" if contact else ""
    return answer(Parts(headline="好的，我会把您的问题转给工作人员。" + phone))


def facts_noted(ctx: Ctx) -> Answer:
    from bot.core.handlers.base import describe_facts
    known = describe_facts(ctx.facts)
    head = "好的，我记下了：" + "；".join(known) + "。" if known else "好的。"
    return answer(Parts(headline=head + "您想了解什么？例如能拿多少奖励、够不够申报专业镇。",
                        suggestions=["我们能拿多少奖励？", "帮我看看我们能申请哪些？"]))

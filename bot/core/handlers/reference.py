"""Questions about the previous answer: which document it rests on, and its original wording."""
from __future__ import annotations

from bot.core.compose import answer
from bot.core.handlers.base import Ctx
from bot.core.types import ANSWERED, NOT_FOUND, Answer, Parts

NOTHING_YET = "我还没有回答过具体的政策问题，请先问一个问题，例如：“新入选中华老字号奖励多少？”"


def source(ctx: Ctx) -> Answer:
    if not ctx.last or not ctx.last.clause_ids:
        return answer(Parts(headline=NOTHING_YET), NOT_FOUND)
    cids = ctx.last.clause_ids
    parts = Parts(headline=ctx.source_line(cids).replace("依据：", "上面的回答依据的是：", 1))
    for doc_id in ctx.doc_ids(cids):
        d = ctx.kb.documents[doc_id]
        when = f"，{d.date}印发" if d.date else ""
        parts.body.append(f"· {d.number}《{d.title}》：{d.issuer}{when}，适用于{d.region}。")
    parts, cites, warnings = ctx.finish(parts, cids, with_offices=False, with_source=False)
    ctx.about = ctx.last
    return answer(parts, ANSWERED, cites, [], None, warnings)


def text(ctx: Ctx) -> Answer:
    if not ctx.last or not ctx.last.clause_ids:
        return answer(Parts(headline=NOTHING_YET), NOT_FOUND)
    cids = ctx.last.clause_ids
    quotes = [q for q in ctx.last.quotes if q] or [ctx.kb.clauses[c].text for c in cids[:2] if c in ctx.kb.clauses]
    parts = Parts(headline="原文是这样写的：")
    parts.body = [f"“{q.strip()}”" for q in dict.fromkeys(quotes)]
    parts, cites, warnings = ctx.finish(parts, cids, with_offices=False)
    ctx.about = ctx.last
    return answer(parts, ANSWERED, cites, [], None, warnings)

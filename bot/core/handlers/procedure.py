"""How to apply, what to bring, when the money arrives: what the documents say about it — usually that
they don't — and whom to ask."""
from __future__ import annotations

import re

from bot.core.compose import answer
from bot.core.evidence import content_tokens
from bot.core.handlers.base import Ctx, strip_heading
from bot.core.handlers.facts import lookup, not_found
from bot.core.types import ANSWERED, Answer, Parts

PROCEDURE_WORDS = re.compile(r"申报|申请|材料|兑现|拨付|受理|审核|审批|办理|程序|流程|时限|截止|到账")


PROCEDURE_CUES = frozenset("怎么 如何 申请 申报 办理 手续 流程 程序 材料 资料 准备 需要 多久 多长时间 时间 什么时候 到账 发放 "
                           "兑现 审批 审核 批 下来 提交 交 哪里 网上 线上 窗口 截止 期限 步骤 要 走 哪些".split())


def handle(ctx: Ctx) -> Answer:
    s = ctx.frame.slots
    if s.outside and not s.region:
        return not_found(ctx)
    if ctx.last and ctx.last.clause_ids and (s.anaphora or len(ctx.q) <= 12):
        clause_ids = ctx.last.clause_ids
    else:
        known = ctx.res.evidence.s.idf
        topic = [t for t in content_tokens(ctx.q) if t not in PROCEDURE_CUES and len(t) > 1 and t in known]
        clause_ids, _ = lookup(ctx)
        ev = ctx.evidence(clause_ids, n=1)
        if not topic or not ev or ev[0].score < 4.0:
            # a procedure for something the documents never mention (注销, 办护照): not theirs to answer
            return not_found(ctx)
        clause_ids = [ev[0].clause_id] + [c for c in clause_ids if c != ev[0].clause_id]
    parts = Parts(headline="文件没有写明申请的具体流程、所需材料、截止时间和资金到账时间（未规定），"
                           "需要以主管部门发布的申报通知为准，建议直接咨询责任单位。")
    cited = clause_ids[:1]
    ev = ctx.evidence(clause_ids[:5], n=3) if clause_ids else []
    said = [e for e in ev if e.score >= 5.0 and PROCEDURE_WORDS.search(e.sentence)]
    if said:
        parts.body.append(f"文件中相关的表述：{strip_heading(said[0].sentence)}")
        cited = list(dict.fromkeys(cited + [said[0].clause_id]))
    offices = ctx.offices_line(cited)
    if not offices and cited:
        doc = ctx.kb.clauses[cited[0]].doc_id
        contact = next((ct for ct in ctx.res.rules.contacts if ctx.kb.documents[doc].region == ct.region), None)
        offices = f"可咨询：{contact.office} {contact.phone}。" if contact else ""
    parts.offices = offices
    parts, cites, warnings = ctx.finish(parts, cited)
    ctx.about = ctx.subject(cited)
    return answer(parts, ANSWERED, cites, [], None, warnings)

"""Who handles it? The responsible units of the clause the question is about (or of the last answer when
it points back: "这个找谁办？"), the contact phone the documents give, and where a document names the
office in charge of 专业镇 work in general."""
from __future__ import annotations

import re

from bot.core.compose import answer
from bot.core.evidence import content_tokens
from bot.core.handlers.base import Ctx, strip_heading
from bot.core.handlers.facts import lookup, not_found
from bot.core.types import ANSWERED, Answer, Parts

OFFICE_CUES = frozenset("部门 单位 负责 负责人 找 办 办理 联系 电话 号码 归 管 牵头 责任 去 问 咨询 哪里 哪儿 事 事情 专业镇 这个 那 "
                        "这 主管 对接 窗口 机构 处理 审批 受理 那边 这边 我们 我们那边 当地".split())
GENERAL_QUERY = "专业镇 领导小组 办公室设在 负责日常协调工作 申报认定"


def _topic(ctx: Ctx) -> set[str]:
    places = {n for n, *_ in ctx.gaz.mentions(ctx.q)} | {ctx.gaz.short(n) for n, *_ in ctx.gaz.mentions(ctx.q)}
    known = ctx.res.evidence.s.idf      # a topic is something the documents talk about
    return {t for t in content_tokens(ctx.q) if t not in OFFICE_CUES and t not in places and len(t) > 1
            and t in known}


PHONE = re.compile(r"电话|号码|联系方式|打哪个|拨打|热线|座机|手机")
ROLE_SENTENCE = re.compile(r"办公室设在|设在|牵头|负责|责任单位|责任部门|主管|承担|兼任|由.{2,12}(?:负责|办理)")


def handle(ctx: Ctx) -> Answer:
    s = ctx.frame.slots
    if s.outside and not s.region:
        return not_found(ctx)
    topic = _topic(ctx)
    refers_back = bool(ctx.last and ctx.last.clause_ids and (s.anaphora or not topic) and not s.own_area)
    if PHONE.search(ctx.q):
        phone = _phone(ctx, ctx.last.doc_ids if refers_back else None)
        if phone:
            return phone
    if refers_back:
        clause_ids, region = ctx.last.clause_ids, ctx.last.region
        with_units = [c for c in clause_ids if ctx.kb.clauses.get(c) and ctx.kb.clauses[c].offices]
        if with_units:
            return _reply(ctx, with_units, [], region)
        return _general(ctx, region or _region_of(ctx, clause_ids), ctx.doc_ids(clause_ids))
    if not topic:
        return _general(ctx, ctx.region_for_lookup(), None)
    clause_ids, region = lookup(ctx)
    if not clause_ids:
        return not_found(ctx)
    ev = ctx.evidence(clause_ids[:6])
    if not ev or ev[0].score < 3.0:
        return not_found(ctx)
    said = [e for e in ev[:4] if ROLE_SENTENCE.search(e.sentence) and e.score >= 0.7 * ev[0].score]
    if re.search(r"在哪|设在|哪个部门|哪个单位", ctx.q):
        said.sort(key=lambda e: "设在" not in e.sentence)
    said = said[0] if said else None
    ranked = list(dict.fromkeys(e.clause_id for e in ev)) + clause_ids
    with_units = [c for c in ranked[:4] if ctx.kb.clauses[c].offices]
    if with_units and (ctx.kb.clauses[ev[0].clause_id].offices or not said):
        return _reply(ctx, with_units[:1], [], region)
    if said:
        return _sentence(ctx, said, region)
    return _general(ctx, region or _region_of(ctx, clause_ids[:1]), ctx.doc_ids(clause_ids[:1]))


OFFICE_NAME = re.compile(r"[\u4e00-\u9fff]{1,12}(?:局|委员会|委|办公室|办|中心|政府|管委会)")


def _sentence(ctx: Ctx, e, region: str | None) -> Answer:
    sentence = e.sentence
    if not re.search(r"设在|由.{2,12}(?:负责|兼任)|责任单位|牵头", sentence):
        # "办公室承担日常工作" names no office: the clause's "办公室设在…" does
        placed = next((x for x in ctx.res.evidence.sentences(e.clause_id) if "设在" in x), None)
        if placed:
            sentence = placed
    parts = Parts(headline=strip_heading(sentence))
    contact = ctx.contact_for([e.clause_id], e.sentence)
    if contact:
        parts.body.append(contact)
    parts, cites, warnings = ctx.finish(parts, [e.clause_id], with_offices=False)
    ctx.about = ctx.subject([e.clause_id], quotes=[sentence], region=region)
    return answer(parts, ANSWERED, cites, [], None, warnings)


def _phone(ctx: Ctx, docs: list[str] | None) -> Answer | None:
    """The contact numbers the documents give, for the region (or documents) the question is about."""
    region = ctx.region_for_lookup()
    regions = {ctx.kb.documents[d].region for d in docs} if docs else None
    rows = [ct for ct in ctx.res.rules.contacts if ct.source.doc in ctx.live
            and (regions is None or ct.region in regions)
            and (region is None or ctx.gaz.covers(ct.region, region) or ct.region == region)]
    if not rows:
        return None
    ct = rows[0]
    parts = Parts(headline=f"文件中给出的联系电话：{ct.office} {ct.phone}。")
    parts, cites, warnings = ctx.finish(parts, [ct.source.clause], with_offices=False)
    ctx.about = ctx.subject([ct.source.clause], quotes=[ctx.kb.clauses[ct.source.clause].text])
    return answer(parts, ANSWERED, cites, [], None, warnings)


def _region_of(ctx: Ctx, clause_ids: list[str]) -> str | None:
    docs = ctx.doc_ids(clause_ids)
    return ctx.kb.documents[docs[0]].region if docs else None


def _reply(ctx: Ctx, clause_ids: list[str], extra: list[str], region: str | None) -> Answer:
    offices = ctx.offices_of(clause_ids)
    parts = Parts(headline=f"这项工作的责任单位是：{offices}。")
    contact = ctx.contact_for(clause_ids, offices)
    if contact:
        parts.body.append(contact)
    parts.body += extra
    parts, cites, warnings = ctx.finish(parts, clause_ids, with_offices=False)
    ctx.about = ctx.subject(clause_ids, region=region)
    return answer(parts, ANSWERED, cites, [], None, warnings)


def _general(ctx: Ctx, region: str | None, docs: list[str] | None) -> Answer:
    """The office in charge of 专业镇 work where no clause names one: the document's own 领导小组办公室."""
    hits = ctx.search(GENERAL_QUERY, region, k=12, reuse_vector=False)
    cands = [h.clause_id for h in hits if docs is None or ctx.kb.clauses[h.clause_id].doc_id in docs] or \
        [h.clause_id for h in hits]
    ev = ctx.evidence(cands, question=GENERAL_QUERY, n=6)
    ev = sorted((e for e in ev if re.search(r"办公室设在|负责|牵头", e.sentence)),
                key=lambda e: ("办公室设在" not in e.sentence, -e.score))
    if not ev:
        return not_found(ctx, "文件中没有写明这项工作由哪个部门负责。")
    best = ev[0]
    m = re.search(r"办公室设在([^，。；]+)", best.sentence)
    head = f"专业镇工作由领导小组办公室负责日常协调，办公室设在{m.group(1)}。" if m else strip_heading(best.sentence)
    parts = Parts(headline=head, body=[f"原文：{strip_heading(best.sentence)}"])
    contact = ctx.contact_for([best.clause_id], m.group(1) if m else "")
    if contact:
        parts.body.append(contact)
    parts, cites, warnings = ctx.finish(parts, [best.clause_id], with_offices=False)
    ctx.about = ctx.subject([best.clause_id], quotes=[best.sentence], region=region)
    return answer(parts, ANSWERED, cites, [], None, warnings)

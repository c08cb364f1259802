"""Questions about documents themselves: is it still in force (validity), its 文号 / issuer / date /
addressee (doc_meta), and which documents the assistant knows (kb_contents)."""
from __future__ import annotations

from datetime import date

from bot.core.compose import answer
from bot.core.documents import cn_date
from bot.core.handlers.base import Ctx
from bot.core.handlers.facts import lookup, not_found
from bot.core.types import ANSWERED, CLARIFY, Answer, Parts


def _docs(ctx: Ctx, allow_topic: bool = True, min_score: float = 4.0) -> list[str]:
    """The documents the question is about: named ones, else the last answer's when it points back or names
    nothing, else those of the clauses it is about."""
    named = ctx.named_documents()
    if named:
        return named[:2]
    s = ctx.frame.slots
    if ctx.last and ctx.last.doc_ids and (s.anaphora or len(ctx.q) <= 16 or ctx.frame.type == "validity"):
        return ctx.last.doc_ids
    if allow_topic:
        clause_ids, _ = lookup(ctx)
        ev = ctx.evidence(clause_ids[:5], n=1)
        if ev and ev[0].score >= min_score:
            return ctx.doc_ids([ev[0].clause_id])
    return []


def validity(ctx: Ctx) -> Answer:
    docs = _docs(ctx)
    if not docs:
        return _which_document(ctx)
    lines = [ctx.res.docs.validity(d, ctx.today) for d in docs]
    parts = Parts(headline=lines[0].sentence(), body=[v.sentence() for v in lines[1:]])
    expired = [v for v in lines if v.expired]
    if expired:
        parts.notes.append("政策到期后，到期前已经达到条件的事项能否补办，文件没有写明，请向责任单位咨询。")
    cids = [f"{d}/final" if f"{d}/final" in ctx.kb.clauses else _first_clause(ctx, d) for d in docs]
    cids = [c for c in cids if c]
    parts.source = "依据：" + "；".join(f"{ctx.kb.documents[d].number}《{ctx.kb.documents[d].title}》" for d in docs) + "。"
    parts, cites, _ = ctx.finish(parts, cids, with_offices=False)
    parts.status = ""   # the headline is the status: said once
    ctx.about = ctx.subject(cids, quotes=[ctx.res.evidence.sentences(c)[-1] for c in cids
                                          if ctx.res.evidence.sentences(c)])
    warnings = [v.sentence() for v in expired]
    return answer(parts, ANSWERED, cites, [], None, warnings)


def _first_clause(ctx: Ctx, doc_id: str) -> str | None:
    return next((c.id for c in ctx.kb.clauses_of(doc_id) if c.kind in ("policy", "preamble")),
                None)


FIELD_ORDER = ("answers_to", "title", "number", "issuer", "date", "addressee", "validity")


def doc_meta(ctx: Ctx) -> Answer:
    # "那个营收过5亿奖10万的文件是哪个部门发的": a document described by what it says
    docs = _docs(ctx, allow_topic=len(ctx.q) >= 14, min_score=6.0)
    if not docs:
        return _which_document(ctx)
    fields = [f for f in FIELD_ORDER if f in ctx.frame.slots.meta_fields] or ["number", "issuer", "date"]
    parts = Parts()
    for doc_id in docs[:1]:
        d = ctx.kb.documents[doc_id]
        lines = []
        for f in fields:
            if f == "answers_to":
                what = ctx.res.docs.answers_to(doc_id)
                lines.append(f"答复的是：《{what}》" if what else "这份文件不是对某一提案或建议的答复")
            elif f == "title":
                lines.append(f"标题：《{d.title}》")
            elif f == "number":
                lines.append(f"文号：{d.number}" if d.number else "文号：原文没有文号")
            elif f == "issuer":
                lines.append(f"印发/答复单位：{d.issuer}")
            elif f == "date":
                lines.append(f"印发日期：{cn_date(date.fromisoformat(d.date))}" if d.date else
                             f"印发日期：原文未注明具体日期{'（' + d.notes + '）' if d.notes else ''}")
            elif f == "addressee":
                who = ctx.res.docs.addressee(doc_id)
                lines.append(f"提出/收文对象：{who}" if who else "原文没有写明收文对象")
            elif f == "validity":
                lines.append(ctx.res.docs.validity(doc_id, ctx.today).sentence())
        parts.headline = f"{d.number}《{d.title}》：" if "title" not in fields else ""
        parts.body += lines
        if not parts.headline:
            parts.headline, parts.body = parts.body[0], parts.body[1:]
    cid = _first_clause(ctx, docs[0])
    parts, cites, warnings = ctx.finish(parts, [cid] if cid else [], with_offices=False, with_source=False)
    if "validity" not in fields:
        parts.status, warnings = "", []
    ctx.about = ctx.subject([cid] if cid else [])
    return answer(parts, ANSWERED, cites, [], None, warnings)


def _which_document(ctx: Ctx) -> Answer:
    listing = [f"{d.number}《{d.title}》" for d in _live_docs(ctx)]
    return answer(Parts(headline="请问是哪一份文件？目前收录：" + "；".join(listing) + "。",
                        choices=[d.title for d in _live_docs(ctx)]), CLARIFY, asked_for=["document"])


def _live_docs(ctx: Ctx):
    return [ctx.kb.documents[d] for d in sorted(ctx.live, key=lambda i: (ctx.kb.documents[i].region, i))]


def kb_contents(ctx: Ctx) -> Answer:
    s = ctx.frame.slots
    docs = _live_docs(ctx)
    if s.region:
        docs = [d for d in docs if ctx.gaz.covers(d.region, s.region) or ctx.gaz.covers(s.region, d.region)]
    where = f"关于{s.region}（含适用于它的上级文件）" if s.region else ""
    if s.outside and not s.region:
        return not_found(ctx)
    if not docs:
        return answer(Parts(headline=f"知识库里还没有{where}的文件。目前收录晋城市、晋城市城区、忻州市、乡宁县的专业镇文件。"))
    parts = Parts(headline=f"知识库{where}共收录{len(docs)}份文件：")
    for d in docs:
        v = ctx.res.docs.validity(d.id, ctx.today)
        state = "已到期" if v.expired else ("有效期至" + cn_date(v.until) if v.until else "未写明有效期")
        when = f"，{cn_date(date.fromisoformat(d.date))}" if d.date else ""
        parts.body.append(f"· {d.number}《{d.title}》（{d.issuer}{when}，适用于{d.region}，{state}）")
    return answer(parts)

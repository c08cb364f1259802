"""Fact questions answered by a sentence of the documents: what the policy says or offers (policy), which
ones (list), how many (number), who (person), when (when), what a term means (definition)."""
from __future__ import annotations

import re

from bot.core.compose import answer
from bot.core.evidence import Evidence, focus
from bot.core.handlers.base import Ctx, strip_heading
from bot.core.types import ANSWERED, NOT_FOUND, Answer, Parts

MIN_EVIDENCE = 3.0        # below this shared-word weight no sentence answers the question
_ROLE_LINE = re.compile(r"^([\u4e00-\u9fff]{1,8}?)\s*[：:]\s*(.+)$")
_DEFINES = re.compile(r"是以|是指|指的是|是.{2,30}的(?:经济形态|基本形式|企业|体系|组织)|即")


def not_found(ctx: Ctx, reason: str = "") -> Answer:
    s = ctx.frame.slots
    if s.outside and not s.region:
        reason = reason or f"现有知识库只收录了山西省晋城市、忻州市和临汾市乡宁县的专业镇政策，没有关于{s.outside}的内容。"
    text = (reason or "抱歉，现有政策文件中没有找到能回答这个问题的内容。") + \
        "我可以解答：专业镇企业能获得的奖励金额、专业镇认定条件、各地专业镇名单和目标、责任部门、文件的文号和有效期等。"
    return answer(Parts(headline=text, suggestions=["营收首次达到5亿元能奖多少？", "城区区级专业镇的认定条件是什么？",
                                                    "你们有哪些政策文件？"]), NOT_FOUND)


def lookup(ctx: Ctx) -> tuple[list[str], str | None]:
    """The clauses to look in (retrieval order, then clauses holding the question's rarest words) and the
    region used. A question about "我们县" is looked up with the county's name in it (`ctx.lookup_query`)."""
    region = ctx.region_for_lookup()
    query = ctx.q
    if region and ctx.gaz.short(region) not in query and region not in query:
        query = f"{ctx.gaz.short(region)} {query}"
    from kb.synonyms import expand
    earlier: list[str] = []
    s = ctx.frame.slots
    if ctx.last and ctx.last.clause_ids and ((s.anaphora and len(ctx.q) <= 24) or
                                             (len(ctx.q) <= 10 and not s.region and not s.doc_numbers)):
        # "其中哪两个进了省级", "办公室主任谁兼": asked about what was just answered — looked for there first
        earlier = [c for c in ctx.last.clause_ids if c in ctx.kb.clauses]
        ctx.followup = earlier
        if s.anaphora:
            query = f"{ctx.last.question} {query}"
    ctx.lookup_query = query
    hits = [h.clause_id for h in ctx.search(query, region, k=8)]
    more = ctx.res.evidence.candidates(expand(query), ctx.res.retriever.allowed_mask(region, ctx.today))
    return list(dict.fromkeys(earlier + hits + more)), region


def handle(ctx: Ctx, kind: str) -> Answer:
    s = ctx.frame.slots
    if s.outside and not s.region:
        return not_found(ctx)
    # several questions: "…目标是多少户？绿色工厂呢" — split at question marks and at a "呢" that ends one
    several = [p.strip() for p in re.split(r"[？?]|(?<=呢)\s+|\s+(?=\S{2,10}呢$)", ctx.q) if len(p.strip()) >= 4]
    if len(several) >= 2 and kind in ("number", "when", "list", "policy"):
        return _several(ctx, kind, several)
    clause_ids, region = lookup(ctx)
    if not clause_ids:
        return not_found(ctx)
    if kind == "list":
        listed = _section_children(ctx, clause_ids)
        if listed:
            return listed
    if kind == "person":
        named = _people(ctx, clause_ids, region)
        if named:
            return named
    ev = ctx.evidence(clause_ids, "number" if kind == "number" else kind, question=ctx.lookup_query)
    if ctx.followup and ev and ev[0].clause_id not in ctx.followup:
        # a short follow-up continues the last answer: its clause answers when it answers at all well
        own = ctx.evidence(ctx.followup, "number" if kind == "number" else kind, question=ctx.lookup_query)
        if own and own[0].score >= max(MIN_EVIDENCE, 0.6 * ev[0].score):
            ev = own
    if not ev or ev[0].score < MIN_EVIDENCE:
        return not_found(ctx)
    return _from_evidence(ctx, kind, ev)


def _from_evidence(ctx: Ctx, kind: str, ev: list[Evidence]) -> Answer:
    best = ev[0]
    parts = Parts()
    whole = best.sentence if kind in ("number", "when") else ctx.res.evidence.full_sentence(best.clause_id, best.index)
    sentence = strip_heading(whole)
    quotes = [best.sentence]
    cited = [best.clause_id]
    if kind in ("number", "when", "person"):
        short = focus(sentence, ctx.q, lambda p: ctx.res.evidence.text_overlap(ctx.q, p))
        parts.headline = short + "。"
        if short.rstrip("。") != sentence.rstrip("。"):
            parts.body.append(f"原文：{sentence}")
    elif kind == "definition":
        sents = ctx.res.evidence.sentences(best.clause_id)
        before = sents[best.index - 1] if best.index > 0 and len(sentence) < 120 else ""
        if _DEFINES.search(sentence) or _DEFINES.search(before):
            parts.headline = strip_heading(before) + sentence if before and _DEFINES.search(before) else sentence
        else:
            parts.headline = "文件没有给出专门的定义。相关的表述是："
            parts.body.append(sentence)
    else:
        parts.headline = sentence
    # a second sentence when it scores close and says something else (a list continued, another clause)
    for other in ev[1:3]:
        if other.score >= 0.8 * best.score and other.sentence not in quotes and kind != "number":
            parts.body.append(strip_heading(other.sentence))
            quotes.append(other.sentence)
            cited.append(other.clause_id)
            break
    parts, cites, warnings = ctx.finish(parts, cited, with_offices=(kind == "policy"))
    ctx.about = ctx.subject(cited, quotes=quotes)
    return answer(parts, ANSWERED, cites, [], None, warnings)


def _several(ctx: Ctx, kind: str, questions: list[str]) -> Answer:
    """"产业规模要突破多少？市级专业镇要有多少个？": each part answered by its own sentence."""
    from kb.synonyms import expand
    region = ctx.region_for_lookup()
    place = ctx.gaz.short(region) if region else ""
    lines, cited, quotes = [], [], []
    for i, part in enumerate(questions):
        if i and len(part) <= 12 and kind in ("list", "number"):
            part_q = f"{questions[0]} {part}"      # "…是哪10个？制造业的有哪几个？": the second leans on the first
        else:
            part_q = part
        query = part_q if not place or place in part_q or (region and region in part_q) else f"{place} {part_q}"
        hits = [h.clause_id for h in ctx.search(query, region, k=8, reuse_vector=False)]
        ev = ctx.evidence(hits, kind, question=query, n=1)
        if ev and ev[0].score >= MIN_EVIDENCE:
            text = ev[0].sentence if kind in ("number", "when") else \
                ctx.res.evidence.full_sentence(ev[0].clause_id, ev[0].index)
            short = strip_heading(text).rstrip("。；") if kind == "list" and len(text) <= 240 else \
                focus(strip_heading(text), part, lambda p, q=part: ctx.res.evidence.text_overlap(q, p))
            lines.append(f"· {part}？{short}。")
            cited.append(ev[0].clause_id)
            quotes.append(text)
        else:
            lines.append(f"· {part}？文件中没有找到相关内容。")
    if not cited:
        return not_found(ctx)
    parts = Parts(headline=lines[0], body=lines[1:])
    parts, cites, warnings = ctx.finish(parts, cited, with_offices=False)
    ctx.about = ctx.subject(cited, quotes=quotes)
    return answer(parts, ANSWERED, cites, [], None, warnings)


def _section_children(ctx: Ctx, clause_ids: list[str]) -> Answer | None:
    """“哪几条基本原则”: when the question names a section whose sub-clauses are the items, list their
    titles rather than quote one of them."""
    best, best_score = None, 0.0
    docs = ctx.doc_ids(clause_ids[:4])
    sections: dict[tuple, list] = {}
    for c in (c for d in sorted(docs) for c in ctx.kb.clauses_of(d)):
        if len(c.heading_path) >= 2 and c.kind in ("policy", "annex"):
            sections.setdefault((c.doc_id, tuple(c.heading_path[:-1])), []).append(c)
    for (doc_id, path), children in sections.items():
        if len(children) < 2:
            continue
        title = re.sub(r"^(?:[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）|\d+[.、])", "", path[-1])
        score = ctx.res.evidence.text_overlap(ctx.q, title)
        if score > best_score and title and all(t in ctx.q for t in re.findall(r"[\u4e00-\u9fff]{2,}", title)[:1]):
            best, best_score = (doc_id, path, children), score
    if not best or best_score < MIN_EVIDENCE:
        return None
    doc_id, path, children = best
    items = [re.sub(r"[。：:]$", "", strip_heading(c.heading_path[-1])) for c in children]
    d = ctx.kb.documents[doc_id]
    parts = Parts(headline=f"《{d.title}》的“{strip_heading(path[-1])}”共{len(items)}条：{'；'.join(items)}。")
    for c in children:
        first = ctx.res.evidence.sentences(c.id)[:1]
        if first:
            parts.body.append(f"· {strip_heading(first[0])[:80]}")
    cited = [c.id for c in children]
    parts, cites, warnings = ctx.finish(parts, cited, with_offices=False)
    parts.source = ctx.source_line(cited[:1]).replace(children[0].heading, " › ".join(path))
    ctx.about = ctx.subject(cited, quotes=items)
    return answer(parts, ANSWERED, cites[:3], [], None, warnings)


def _groups(text: str) -> list[tuple[str, list[str]]]:
    """Name-list and contact lines → (role, [entries]); a line without a role continues the one above."""
    groups: list[tuple[str, list[str]]] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line or re.fullmatch(r"[一二三四五六七八九十\d]+[、.．]\s*\S{0,10}", line):
            continue
        m = _ROLE_LINE.match(line)
        if m and len(m.group(1)) <= 6:
            groups.append((m.group(1), [m.group(2).strip()]))
        elif groups:
            groups[-1][1].append(line)
    return groups


def _roles_in(question: str, roles: set[str]) -> list[str]:
    """Roles the question names; 组长 inside 副组长 is not 组长 (but “组长和副组长” names both)."""
    spans = {r: [(m.start(), m.end()) for m in re.finditer(re.escape(r), question)] for r in roles}
    named = []
    for r, found in spans.items():
        longer = [o for other, os_ in spans.items() if other != r and r in other for o in os_]
        if any(not any(a <= s0 and e0 <= b for a, b in longer) for s0, e0 in found):
            named.append(r)
    return sorted(named, key=question.find)


def _people(ctx: Ctx, clause_ids: list[str], region: str | None) -> Answer | None:
    allowed = ctx.res.retriever.allowed_docs(region, ctx.today)
    # the lists of names among the clauses found, in their order (only those among the first five answer)
    found = (ctx.kb.clauses.get(c) for c in dict.fromkeys(clause_ids[:5]))
    cands = [c for c in found if c and c.kind in ("name_list", "contact") and c.doc_id in allowed]
    for c in cands[:3]:
        groups = _groups(c.text)
        roles = _roles_in(ctx.q, {r for r, _ in groups})
        named = [(r, e) for r, es in groups for e in es if re.match(r"^[\u4e00-\u9fff]{2,3}", e)
                 and e.split()[0] in ctx.q]
        lines = []
        if named:
            lines = [f"{e.split()[0]}：{r}，{' '.join(e.split()[1:])}" for r, e in named]
        elif roles:
            for r in roles:
                entries = next(es for role, es in groups if role == r)
                lines.append(f"{r}：" + "；".join(entries))
        elif not ctx.followup or c.id in ctx.followup:
            # a post named in the entries themselves ("代县县长", "工信局局长") — in a follow-up, only in the
            # roster just shown ("办公室主任谁兼" after the office's sentence is about that sentence)
            scored = sorted(((ctx.res.evidence.text_overlap(ctx.q, e.replace(" ", "")), r, e)
                             for r, es in groups for e in es),
                            key=lambda x: -x[0])
            if scored and scored[0][0] >= MIN_EVIDENCE and (len(scored) < 2 or scored[0][0] > 1.3 * scored[1][0]):
                _, r, e = scored[0]
                lines = [f"{e}（{r}）"]
        if not lines:
            continue
        parts = Parts(headline=lines[0], body=lines[1:])
        parts, cites, warnings = ctx.finish(parts, [c.id], with_offices=False)
        ctx.about = ctx.subject([c.id], quotes=lines)
        return answer(parts, ANSWERED, cites, [], None, warnings)
    return None

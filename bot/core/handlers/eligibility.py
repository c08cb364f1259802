"""Does a town qualify as a 专业镇, and on what criteria? The quantified thresholds (rule table) checked
against the town's figures, and the sentence of the criteria clause the question is about (优先评定, 放宽,
scope, the qualitative criteria)."""
from __future__ import annotations

import re

from bot.core import calculator as calc
from bot.core.compose import answer
from bot.core.evidence import content_tokens
from bot.core.handlers.base import Ctx, strip_heading
from bot.core.types import ANSWERED, CLARIFY, Answer, Parts
from bot.nlu.amounts import format_yuan
from index.tokenize import tokenize
from kb.rules import RecognitionThreshold

QUANTITATIVE = re.compile(r"产值|规模|龙头|配套|户|够不够|够格|达标|条件|标准|要求|门槛|多少")
GENERIC = re.compile(r"(?:认定|申报|评定|创建)?(?:的)?(?:条件|标准|要求|门槛)(?:是什么|有哪些|是啥|有啥)?")


QUANT_CUES = re.compile(r"产值|规模|龙头|配套|多少|门槛|够不够|够格|够吗|达标|达到|户|家")
LIST_CUES = re.compile(r"哪些|哪几|几条|都有什么|都有啥|还看|还要|其他|别的|软条件|所有条件|全部条件|都是什么")
MARK = {calc.MET: "✅ 满足", calc.UNMET: "❌ 不满足", calc.UNKNOWN: "❓ 待确认"}


def handle(ctx: Ctx) -> Answer:
    s = ctx.frame.slots
    if s.outside and not s.region:
        from bot.core.handlers.facts import not_found
        return not_found(ctx)
    region = s.region or ctx.remembered("region") if (s.region or ctx.facts.get("region")) else None
    rows = _rows(ctx, region, s.level)
    if region and not rows:
        return _no_criteria(ctx, region, s.level)
    if not rows:
        return answer(Parts(headline="认定条件各地不同：请问是哪个地方的专业镇？（例如晋城市城区的区级专业镇，或忻州市的市级专业镇）",
                            choices=["城区区级专业镇", "忻州市级专业镇"]), CLARIFY, asked_for=["region"])
    categories = s.categories or ([ctx.facts["category"]] if ctx.facts.get("category") else [])
    criteria = _criteria_clauses(ctx, rows)
    specific, strong = _specific(ctx, criteria)
    output = ctx.fact("output_yuan")
    leading, partners = ctx.fact("leading_firms"), ctx.fact("partner_firms")
    has_figures = any(v is not None for v in (output, leading, partners))
    first = rows[0]
    place = "忻州" if first.region == "忻州市" else ctx.gaz.short(first.region)
    title = f"{place}{first.level}专业镇"
    mine = [r for r in rows if r.category in categories] or rows
    parts = Parts()
    cited: list[str] = []
    quant = bool(QUANT_CUES.search(ctx.q))
    if has_figures:
        _checks(parts, title, mine, output, leading, partners)
        cited += [mine[0].source.clause, mine[0].firms_source.clause]
    elif LIST_CUES.search(ctx.q) and (not strong or re.search(r"哪些|哪几|几条|都有什么|软条件|其他|别的", ctx.q)):
        titles = [strip_heading(ctx.kb.clauses[c].heading_path[-1]).rstrip("。") for c in criteria]
        parts.headline = f"{title}的认定条件共{len(titles)}条：{'；'.join(titles)}。"
        parts.body.append("其中量化的条件：")
        _table(parts, mine)
        cited += criteria
    elif quant or not specific:
        parts.headline = f"{title}的量化认定条件："
        _table(parts, mine)
        cited += [mine[0].source.clause, mine[0].firms_source.clause]
    for e in (strong if (has_figures or quant) else specific):
        line = strip_heading(e.sentence)
        if not parts.headline:
            parts.headline = f"{title}的认定条件中写明：{line}"
        elif line not in " ".join(parts.body):
            parts.body.append(f"文件写明：{line}")
        cited.append(e.clause_id)
    if "放宽" in ctx.q and not any(r.relaxed_min_output_yuan for r in mine):
        parts.notes.append("文件允许对具有历史发源地、地理标志等传统特色的专业镇适当放宽认定条件，但没有规定放宽后的最低产值"
                           "（未规定下限），能否放宽由主管部门评定。")
    parts, cites, warnings = ctx.finish(parts, cited)
    ctx.about = ctx.subject(cited, [r.id for r in rows], [e.sentence for e in specific], first.region)
    parts.suggestions = ["依据是哪个文件？", "这个找谁办？"]
    return answer(parts, ANSWERED, cites, [], None, warnings, rule_ids=[r.id for r in rows])


def _checks(parts: Parts, title: str, rows: list[RecognitionThreshold], output, leading, partners) -> None:
    """Each quantified condition met or not; with the category unknown, a verdict only where every
    category's threshold gives the same one."""
    per_row = [(r, calc.recognition(output, leading, partners, r)) for r in rows]
    if len(per_row) == 1:
        row, checks = per_row[0]
        label = f"{title}（{row.category}类）"
    else:
        checks = []
        for i, name in enumerate(c.name for c in per_row[0][1]):
            statuses = {rc[1][i].status for rc in per_row}
            if len(statuses) == 1:
                checks.append(per_row[0][1][i] if per_row[0][1][i].name != "年产值" or len(rows) == 1 else
                              calc.Check(name, statuses.pop(), "；".join(f"{r.category}类：{rc[i].detail}"
                                                                        for r, rc in per_row)))
            else:
                checks.append(calc.Check(name, calc.UNKNOWN, "；".join(f"{r.category}类：{rc[i].detail}"
                                                                      for r, rc in per_row)))
        label = f"{title}（各类别）"
    if any(c.status == calc.UNMET for c in checks):
        parts.headline = f"按{label}的量化条件，目前还不够："
    elif all(c.status == calc.MET for c in checks):
        parts.headline = f"按{label}的量化条件，已经满足："
        parts.notes.append("另需符合历史传承、就业带动、公共服务等定性条件，以主管部门评定为准。")
    else:
        parts.headline = f"对照{label}的量化条件："
    parts.body += [f"· {c.name}：{MARK[c.status]}（{c.detail}）" for c in checks]
    if len(rows) > 1 and any(c.status == calc.UNKNOWN for c in checks):
        parts.notes.append("请说明专业镇属于哪一类（制造业、特优农业、轻工），我再逐项对照。")


def _specific(ctx: Ctx, criteria: list[str]):
    """Criterion sentences the question is about beyond the thresholds (优先评定, 放宽, 一个县, 历史传承,
    公共服务平台 …): (those worth quoting, those it is clearly about)."""
    question = ctx.q
    counties = {n for n, *_ in ctx.gaz.mentions(ctx.q) if ctx.gaz.regions[n].level == "county"}
    if len(counties) >= 2 or re.search(r"跨(?:两|几|多|[二三四2-9])?个?(?:县|区|市)|(?:两|几|多)个(?:县|区)", question):
        question += " 限定在一个县 辖区范围"     # a cluster over several counties: the scope rule
    ctx.lookup_query = question
    every = ctx.evidence(criteria, n=80)
    counts: dict[str, int] = {}
    for e in every:
        for t in set(tokenize(e.sentence)):
            counts[t] = counts.get(t, 0) + 1
    common = {t for t, n in counts.items() if n >= max(3, len(every) // 3)} | ctx.place_tokens() | GENERIC
    in_thresholds = frozenset().union(*(tokenize(e.sentence) for e in every if _is_threshold_sentence(e.sentence)))
    from kb.synonyms import expand
    q_tokens = content_tokens(expand(question)) - common - in_thresholds
    ranked = [(e, _weight(ctx, q_tokens & frozenset(tokenize(e.sentence)))) for e in every[:4]
              if not _is_threshold_sentence(e.sentence) and e.score > 0]
    specific = [(e, w) for e, w in ranked if w >= 2.5]
    if specific:
        top = specific[0][0].score
        specific = [(e, w) for e, w in specific if e.score >= 0.6 * top][:2]
    return [e for e, _ in specific], [e for e, w in specific if w >= 5.0]


GENERIC = frozenset("专业镇 专业 区级 市级 县级 省级 市级专业镇 区级专业镇 认定 申报 评定 评 创建 标准 条件 要求 门槛 "
                    "够 够不够 达到 需要 哪些 什么".split())


def _weight(ctx: Ctx, tokens) -> float:
    idf = ctx.res.evidence.s.idf
    top = ctx.res.evidence.s.max_idf
    return sum(idf.get(t, top) * (1.0 if len(t) > 1 else 0.3) for t in tokens)


def _is_threshold_sentence(sentence: str) -> bool:
    return bool(re.search(r"年产值|产值\d|户数|至少拥有", sentence)) and not re.search(r"优先|放宽|限定", sentence)


def _rows(ctx: Ctx, region: str | None, level: str | None) -> list[RecognitionThreshold]:
    rows = ctx.rules.recognition_thresholds
    if region:
        rows = [r for r in rows if ctx.gaz.covers(r.region, region) or r.region == region]
    elif level:
        rows = [r for r in rows if r.level == level]
        if len({r.region for r in rows}) > 1:
            return []
    else:
        return [] if len({r.region for r in rows}) > 1 else rows
    if level:
        rows = [r for r in rows if r.level == level] or rows
    return rows


def _criteria_clauses(ctx: Ctx, rows: list[RecognitionThreshold]) -> list[str]:
    """The clauses of the section the thresholds come from (三、创建标准 …), in document order."""
    src = ctx.kb.clauses[rows[0].source.clause]
    parent = src.heading_path[:-1]
    return [c.id for c in ctx.kb.clauses_of(src.doc_id)
            if c.heading_path[:-1] == parent and c.kind in ("policy", "annex")]


def _table(parts: Parts, rows: list[RecognitionThreshold]) -> None:
    for r in rows:
        relaxed = (f"；主导产品具有历史发源地、地理标志等传统特色的可适当放宽，但年产值不少于"
                   f"{format_yuan(r.relaxed_min_output_yuan)}") if r.relaxed_min_output_yuan else ""
        parts.body.append(f"· {r.category}类：年产值{format_yuan(r.min_output_yuan)}以上"
                          f"（{r.min_output_yuan / 10**8:g}亿元）{relaxed}。")
    first = rows[0]
    parts.body.append(f"· 龙头企业：至少{first.min_leading_firms}家实力较强、行业知名的龙头企业，带动上下游配套企业"
                      f"（含家庭农场、专业合作社）{first.min_partner_firms}户以上。")


def _no_criteria(ctx: Ctx, region: str, level: str | None) -> Answer:
    hits = ctx.search(region=region, k=3)
    parts = Parts(headline=f"知识库中适用于{region}的文件没有规定{level or ''}专业镇的量化认定标准。")
    cids = []
    ev = ctx.evidence([h.clause_id for h in hits], n=1)
    if ev and ev[0].score >= 4.0:
        parts.body.append(f"相关文件提到：{strip_heading(ev[0].sentence)}")
        cids.append(ev[0].clause_id)
    have = sorted({f"{r.region}（{r.level}）" for r in ctx.rules.recognition_thresholds})
    named = {n for n, *_ in ctx.gaz.mentions(ctx.q)}
    for other in sorted({r.region for r in ctx.rules.recognition_thresholds if r.region in named}):
        parts.body.append(f"{other}的认定标准只适用于{other}的镇（街道），{region}不适用。")
    parts.notes.append(f"目前收录的认定标准只有：{'、'.join(have)}。具体请咨询当地工信部门。")
    parts, cites, warnings = ctx.finish(parts, cids, with_offices=False)
    ctx.about = ctx.subject(cids, region=region)
    return answer(parts, ANSWERED, cites, [], None, warnings)

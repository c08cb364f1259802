"""How much can we get? Rule rows in force for the enterprise's region, amounts computed in code."""
from __future__ import annotations

import re

from bot.core import calculator as calc
from bot.core.compose import answer
from bot.core.handlers.base import Ctx
from bot.core.types import ANSWERED, CLARIFY, NOT_FOUND, Answer, Parts, Reward
from bot.nlu.amounts import format_yuan
from bot.nlu.slots import Revenue, has_cue

DOC_CUE = re.compile(r"方案|文件|通知|答复|提案|若干政策|\d+号|文号")
SUPPORT = re.compile(r"支持|奖|补|扶持|给予|给与|贴息|资助|优惠")
REVENUE_ASKED = re.compile(r"营收|营业收入|营业额|销售额|销售收入|收入|达标奖|达标奖励|规模奖|上规模")


def handle(ctx: Ctx) -> Answer:
    s = ctx.frame.slots
    region = ctx.fact("region")
    if s.outside and not s.region:
        return outside(ctx, s.outside)
    named = ctx.named_documents(ctx.live) if DOC_CUE.search(ctx.q) else []
    ruled_docs = {r.source.doc for r in ctx.rules.revenue_tiers + ctx.rules.fixed_awards + ctx.rules.awards}
    if named and not ruled_docs & set(named):
        return no_amounts_in(ctx, named[0])
    item_text = ctx.item_text or ctx.q
    items = calc.items_in(item_text, ctx.rules, ctx.res.evidence.coverage, ctx.res.families)
    vague = calc.ambiguous_families(item_text, items, ctx.res.families)
    awards = calc.awards_named(item_text, ctx.rules.awards, ctx.res.evidence.coverage)
    revenue = Revenue.from_dict(ctx.facts.get("revenue")) if "revenue" in ctx.facts else Revenue()
    said_revenue = not Revenue.from_dict(ctx.said.get("revenue")).is_empty()
    asks_revenue = bool(REVENUE_ASKED.search(ctx.q) or REVENUE_ASKED.search(item_text))
    # a figure said beside a named award ("网上卖了两千多万") is that award's, not a revenue tier's
    wants_revenue = asks_revenue or _tier_facts(ctx.said) or \
        bool(not items and not awards and (said_revenue or revenue.current_yuan))
    places = frozenset(ctx.q[a:b] for _, a, b in ctx.gaz.mentions(ctx.q))
    if wants_revenue and said_revenue and not asks_revenue and not items and not awards and \
            not _tier_facts(ctx.said) and [t for t in _topic(ctx) if not any(t in p for p in places)]:
        # "网上卖了两千多万，有奖励吗": a figure beside a subject the documents treat on its own
        topical = about_topic(ctx, region, strict=True)
        if topical is not None:
            return topical
    if revenue.current_yuan is not None and not said_revenue and wants_revenue:
        ctx.used_memory.append("revenue")
    regional = calc.applicable(ctx.rules.revenue_tiers + ctx.rules.fixed_awards + ctx.rules.awards, region, ctx.gaz)
    if region and not ctx.res.retriever.allowed_docs(region, ctx.today):
        return Answer(NOT_FOUND, f"知识库中还没有适用于{region}的专业镇政策文件，暂时无法回答。"
                                 f"目前收录：晋城市（含各县市区）、晋城市城区、忻州市、乡宁县的文件。")
    if region and not regional:
        return no_amounts_for(ctx, region)

    if wants_revenue and revenue.current_yuan is None and not items and not awards and \
            has_cue(ctx.q, "standard_cues"):
        return standard(ctx, region)
    missing = []
    if wants_revenue and revenue.current_yuan is None:
        if not region:
            missing.append(("region", "企业在哪个县（市、区）"))
        missing.append(("revenue", "哪一年营收多少、是不是第一次达到这个规模（以前最高多少）"))
        if ctx.fact("agricultural") is None:
            missing.append(("agricultural", "是否涉农企业"))
    elif wants_revenue and not region:
        missing.append(("region", "企业在哪个县（市、区）"))
    elif wants_revenue and ctx.fact("agricultural") is None and \
            calc.pays_only_if_agricultural(revenue, region, ctx.rules, ctx.gaz):
        missing.append(("agricultural", "是否涉农企业（涉农企业和其他企业的营收档次不同，按您的营收只有涉农企业能拿到）"))
    for word, rows in vague:
        choices = "、".join(f"{r.item}（{format_yuan(r.amount_yuan) if r.amount_yuan else '未定金额'}）" for r in rows)
        missing.append(("item", f"“{word}”具体是哪一种：{choices}"))
    if not items and not awards and not wants_revenue and not vague:
        if _topic(ctx):
            return about_topic(ctx, region)
        missing = [("region", "企业在哪个县（市、区）")] if not region else []
        missing += [("revenue", "年营收多少、是否首次达到（如“营收首次达到5亿元”）"),
                    ("agricultural", "是否涉农企业")]
        text = ("为了算出您能获得的奖励，请告诉我：" + "；".join(f"{i + 1}. {m}" for i, (_, m) in enumerate(missing)) +
                "。如果是获得了认证或品牌（如中华老字号、地理标志、质量管理体系认证）或其他项目，也请直接说明。")
        return answer(Parts(headline=text, choices=_choices(missing, vague)), CLARIFY,
                      asked_for=[k for k, _ in missing])
    if missing:
        text = "为了算出您能获得的奖励，还需要知道：" + "；".join(f"{i + 1}. {m}" for i, (_, m) in enumerate(missing)) + "。"
        return answer(Parts(headline=text, choices=_choices(missing, vague)), CLARIFY,
                      asked_for=[k for k, _ in missing])

    result = calc.RewardResult()
    if wants_revenue:
        calc.revenue_reward(revenue, ctx.fact("agricultural"), region, ctx.rules, ctx.gaz, result,
                            bool(ctx.facts.get("agricultural_inferred")))
    calc.fixed_rewards(items, region, ctx.gaz, result)
    known = {k: ctx.fact(k) for k in ("investment_yuan", "people", "area_mu", "output_yuan")}
    calc.award_rewards(awards, {k: v for k, v in known.items() if v is not None}, revenue, region, ctx.gaz, result)
    if result.needs:
        needs = list(dict.fromkeys(result.needs))
        text = "为了算出金额，请告诉我：" + "；".join(f"{i + 1}. {q}" for i, (_, q) in enumerate(needs)) + "。"
        return answer(Parts(headline=text), CLARIFY, asked_for=[k for k, _ in needs])
    if result.outcomes and has_cue(ctx.q, "not_in_town"):
        # the awards are for the enterprises of a 专业镇 (its leading industry): one outside gets none of them
        for o in result.outcomes:
            result.misses.append(f"“{o.item}”是给专业镇主导产业企业的；您说企业不在专业镇内（或不属于其主导产业），"
                                 f"按文件不符合这一条件。")
        result.outcomes, result.notes = [], []
    if not result.outcomes and not result.misses and not result.other_region_rules:
        return no_amounts_for(ctx, region) if region else answer(Parts(headline="文件中没有找到与您所说情况对应的奖励条款。"),
                                                                   NOT_FOUND)
    return compose(ctx, result, region, revenue)


def standard(ctx: Ctx, region: str | None) -> Answer:
    """The revenue tiers themselves ("营收最低到多少能拿奖励", "分几档"), for the region or wherever they apply."""
    tiers = calc.applicable(ctx.rules.revenue_tiers, region, ctx.gaz) if region else list(ctx.rules.revenue_tiers)
    if not tiers:
        return no_amounts_for(ctx, region) if region else answer(
            Parts(headline="现有文件中没有营收达标奖励的规定。"), NOT_FOUND)
    parts = Parts()
    order = ("agricultural", "general") if ctx.fact("agricultural") else ("general", "agricultural")
    for sector in order:           # both: "涉农的最低多少？非涉农呢" — the sector asked about first
        mine = sorted((t for t in tiers if t.sector == sector), key=lambda t: t.threshold_yuan)
        if not mine:
            continue
        steps = "；".join(f"首次达到{format_yuan(t.threshold_yuan)}，奖励{format_yuan(t.amount_yuan)}" for t in mine)
        parts.body.append(f"· {calc._sector_label(sector)}（最低门槛{format_yuan(mine[0].threshold_yuan)}）：{steps}。")
    where = "、".join(dict.fromkeys(t.region for t in tiers))
    parts.headline = f"{where}的营收达标奖励按年营收首次达到的档次一次性发放："
    parts.notes.append("只奖励首次达到某一档的年度；以前达到过的档次不再重复奖励。")
    parts.suggestions = ["告诉我您的县区、营收和是否涉农，帮您算一算"]
    clause_ids = [tiers[0].source.clause]
    parts, cites, warnings = ctx.finish(parts, clause_ids)
    ctx.about = ctx.subject(clause_ids, [t.id for t in tiers], region=region)
    return answer(parts, ANSWERED, cites, [], None, warnings)


REWARD_CUES = frozenset("奖励 奖补 补贴 补助 奖金 奖 补 钱 多少 能拿 拿 给 获得 得到 一共 总共 合计 企业 公司 我们 咱们 俺们 "
                       "申请 享受 政策 支持 扶持 资金 有没有 能 可以 元 万元 块 标准 怎么 哪些 文件 规定 专业镇".split())


def _topic(ctx: Ctx) -> frozenset[str]:
    """What the question asks money for, once the words of asking for money are set aside."""
    from bot.core.evidence import content_tokens
    known = ctx.res.evidence.s.idf
    return frozenset(t for t in content_tokens(ctx.q) if t not in REWARD_CUES and len(t) > 1 and t in known) \
        - ctx.place_tokens()


def _tier_facts(said: dict) -> bool:
    """Facts that only a revenue tier uses: 首次, earlier years."""
    rev = Revenue.from_dict(said.get("revenue")) if said.get("revenue") else Revenue()
    return bool(rev.first_time or rev.prior_max_yuan is not None or rev.history or rev.received_yuan)


def about_topic(ctx: Ctx, region: str | None, strict: bool = False) -> Answer | None:
    """Money asked for something no trigger word names: the rule rows of the clause that answers it (asked
    which one when several fit), or its sentence quoted, with plainly no amount. `strict`: None unless a
    clause other than the revenue tiers' answers it well."""
    from bot.core.handlers.base import strip_heading
    from bot.core.handlers.facts import lookup, not_found
    clause_ids, _ = lookup(ctx)
    from kb.synonyms import expand
    asked = expand(ctx.q)
    # clauses with amounts whose rows are about what is asked (not merely the same clause)
    regional = [r for r in ctx.rules.fixed_awards if not region or ctx.gaz.covers(r.region, region)]
    fitting = {r.source.clause for r in regional if ctx.res.evidence.coverage(asked, r.item) >= 0.25}
    ruled = {r.source.clause for r in regional} | set(ctx.res.pending)
    ev = ctx.evidence([c for c in clause_ids if c in (fitting | set(ctx.res.pending))], n=3)
    margin = 1.25           # rows about what is asked are kept unless another clause answers much better
    if not ev:
        ev, margin = ctx.evidence([c for c in clause_ids if c in ruled], n=3), 1.0
    overall = [e for e in ctx.evidence(clause_ids, n=3) if SUPPORT.search(e.sentence)]
    if overall and (not ev or overall[0].score > margin * ev[0].score):
        ev = overall        # a clause without amounts offering support answers it much better than any with amounts
    tiers = {t.source.clause for t in ctx.rules.revenue_tiers}
    if strict and (not ev or ev[0].score < 6.0 or ev[0].clause_id in tiers):
        return None
    if not ev or ev[0].score < 4.0:
        return not_found(ctx, "现有政策文件中没有关于这项的奖励或补贴规定。")
    best = ev[0]
    rows = [r for r in ctx.rules.fixed_awards if r.source.clause == best.clause_id
            and (not region or ctx.gaz.covers(r.region, region))]
    fit = sorted(((ctx.res.evidence.coverage(asked, r.item), r) for r in rows), key=lambda x: -x[0])
    if fit and fit[0][0] >= 0.25 and (len(fit) == 1 or fit[0][0] > fit[1][0] + 0.1):
        result = calc.RewardResult()
        calc.fixed_rewards([fit[0][1]], region, ctx.gaz, result)
        return compose(ctx, result, region, Revenue())
    rows = [r for r in rows if ctx.res.evidence.coverage(best.sentence, r.item) >= 0.5] or \
        ([] if len(rows) >= 2 else rows)      # the sentence that answers is about none of the clause's rows
    if len(rows) >= 2:
        listing = "；".join(f"{r.item}（{format_yuan(r.amount_yuan) if r.amount_yuan else '未定金额'}）" for r in rows)
        return answer(Parts(headline=f"请问具体是哪一项？这一条里有：{listing}。", choices=[r.item for r in rows]),
                      CLARIFY, asked_for=["item"])
    waiting = ctx.res.pending.get(best.clause_id, [])
    if waiting:
        parts = Parts(headline="文件原文是这样写的（摘自文件，这一条的奖励规则尚待工作人员审核录入，以下金额未经计算，"
                               "仅供参考）：", body=[f"“{p.sentence}”" for p in waiting])
        parts, cites, warnings = ctx.finish(parts, [best.clause_id])
        ctx.about = ctx.subject([best.clause_id], quotes=[p.sentence for p in waiting], region=region)
        return answer(parts, ANSWERED, cites, [], None, warnings)
    parts = Parts(headline="文件没有为这一项规定奖励或补贴的具体金额（未规定具体金额）。相关的原文是：",
                  body=[strip_heading(best.sentence)])
    parts, cites, warnings = ctx.finish(parts, [best.clause_id])
    ctx.about = ctx.subject([best.clause_id], quotes=[best.sentence], region=region)
    return answer(parts, ANSWERED, cites, [], None, warnings)


def _choices(missing, vague) -> list[str]:
    keys = [k for k, _ in missing]
    if "item" in keys and vague:
        return [r.item for _, rows in vague for r in rows]
    if keys == ["region"]:
        return ["城区", "泽州", "高平", "阳城", "陵川", "沁水"]
    if keys == ["agricultural"]:
        return ["是涉农企业", "不是涉农企业"]
    return []


def compose(ctx: Ctx, result: calc.RewardResult, region: str | None, revenue: Revenue) -> Answer:
    parts = Parts()
    total = result.total_yuan
    fixed = [o for o in result.outcomes if o.amount_yuan]
    open_ = [o for o in result.outcomes if not o.amount_yuan]
    if fixed:
        if len(fixed) > 1:
            sums = "＋".join(format_yuan(o.amount_yuan) for o in fixed)
            parts.headline = f"可获得奖励合计{format_yuan(total)}（{sums}）。"
        else:
            parts.headline = f"可获得奖励{format_yuan(total)}。"
        parts.body += [f"· {o.item}：{o.wording}。" for o in fixed]
    elif open_ and not result.misses:
        parts.headline = ("文件规定的是一个金额范围，具体金额由主管部门核定。" if all("范围" in o.wording for o in open_)
                          else "按文件的标准计算如下：" if any("即每月" in o.wording for o in open_)
                          else "文件对此规定了支持，但没有规定具体金额。")
    elif result.misses:
        parts.headline = "按您说的情况，暂时拿不到营收达标奖励。" if not open_ else ""
    parts.body += [f"· {o.item}：{o.wording}" + ("。" if re.search(r"核定|不计入|未规定", o.wording) else
                                                  "（文件未规定具体金额，以主管部门实际审核为准）。") for o in open_]
    parts.body += result.misses
    if not result.outcomes and not result.misses and result.other_region_rules:
        parts.headline = f"{region}现有文件中没有对此规定奖励。"
    parts.body += [f"（供参考：{n}，不适用于{region}的企业。）" for n in result.other_region_rules]
    notes = list(result.notes) + [n for o in result.outcomes for n in o.notes]
    parts.notes = list(dict.fromkeys(notes))
    if result.outcomes and not region:
        parts.notes.append("以上依据为晋城市政策，适用于晋城市（含城区、泽州、高平、阳城、陵川、沁水）专业镇企业。")
    if fixed:
        nd = next((t for t in ctx.rules.policy_terms if t.kind == "no_double_reward"), None)
        if nd and any(ctx.kb.clauses[o.clause_id].doc_id == nd.source.doc for o in fixed):
            parts.notes.append(f"注意：{nd.text}。")
    clause_ids = list(dict.fromkeys([o.clause_id for o in result.outcomes] + result.clause_ids))
    parts, cites, warnings = ctx.finish(parts, clause_ids)
    if parts.status and revenue.year and any(o.valid_until and revenue.year <= o.valid_until.year
                                             for o in result.outcomes if o.rule_id.startswith("jc39-rev")):
        parts.notes.append(f"您{revenue.year}年达到的档次发生在政策有效期内，现在能否申领请向责任单位确认。")
    rewards = [Reward(o.item, o.amount_yuan, _basis(ctx, o.clause_id), o.rule_id) for o in result.outcomes]
    quotes = [s for cid in clause_ids for s in _rule_sentences(ctx, cid, result)]
    ctx.about = ctx.subject(clause_ids, [o.rule_id for o in result.outcomes], quotes, region)
    parts.suggestions = _suggestions(ctx, result)
    return answer(parts, ANSWERED, cites, rewards, total, warnings, rule_ids=[o.rule_id for o in result.outcomes])


def _basis(ctx: Ctx, clause_id: str) -> str:
    c = ctx.kb.clauses[clause_id]
    return f"{ctx.kb.documents[c.doc_id].number} {c.heading}"


def _rule_sentences(ctx: Ctx, clause_id: str, result: calc.RewardResult) -> list[str]:
    """The sentences of a clause that state the rows paid or missed (for “原文怎么说的”)."""
    words = [o.item for o in result.outcomes if o.clause_id == clause_id] + result.misses
    sents = ctx.res.evidence.sentences(clause_id)
    picked = []
    for w in words:
        best = max(sents, key=lambda s: ctx.res.evidence.text_overlap(w, s), default=None)
        if best and best not in picked:
            picked.append(best)
    return picked or sents[:2]


def _suggestions(ctx: Ctx, result: calc.RewardResult) -> list[str]:
    out = []
    if result.outcomes:
        out += ["依据是哪个文件？", "这个找谁办？", "这个政策还有效吗？"]
    return out


def outside(ctx: Ctx, place: str) -> Answer:
    return answer(Parts(headline=f"现有知识库只收录了山西省晋城市、忻州市和临汾市乡宁县的专业镇政策，没有关于{place}的内容，"
                                 f"无法回答{place}的奖励标准。"), NOT_FOUND)


def no_amounts_in(ctx: Ctx, doc_id: str) -> Answer:
    """A named document that sets no amounts: say so, with what it says about support."""
    d = ctx.kb.documents[doc_id]
    clauses = [c.id for c in ctx.kb.clauses_of(doc_id) if c.kind in ("policy", "preamble")]
    ev = ctx.evidence(clauses, question=ctx.q + " 奖励 支持 资金", n=1)
    parts = Parts(headline=f"{d.number}《{d.title}》没有规定具体的奖励金额（未规定金额）。")
    cited = [ev[0].clause_id] if ev and ev[0].score >= 3.0 else clauses[:1]
    if ev and ev[0].score >= 3.0:
        parts.body.append(f"文件中相关的表述：{ev[0].sentence}")
    others = sorted({r.region for r in ctx.rules.revenue_tiers + ctx.rules.fixed_awards if
                     ctx.gaz.covers(r.region, d.region)})
    if others:
        parts.notes.append(f"奖励金额见{'、'.join(others)}的《支持专业镇高质量发展若干政策》等文件，可以问我具体项目。")
    parts, cites, warnings = ctx.finish(parts, cited, with_offices=False)
    ctx.about = ctx.subject(cited)
    return answer(parts, ANSWERED, cites, [], None, warnings)


def no_amounts_for(ctx: Ctx, region: str) -> Answer:
    hits = ctx.search(ctx.q + " 奖励 支持 资金", region, k=3, reuse_vector=False)
    parts = Parts(headline=f"{region}适用的现有政策文件中，没有规定具体的奖励金额，因此无法为您计算奖励。")
    cids = []
    for h in hits[:1]:
        ev = ctx.evidence([h.clause_id], n=1)
        if ev:
            c = ctx.citation(h.clause_id)
            parts.body.append(f"{ctx.gaz.short(region)}相关文件提到：{ev[0].sentence}（{c.number} {c.clause}）")
            cids.append(h.clause_id)
    other = sorted({r.region for r in ctx.rules.revenue_tiers + ctx.rules.fixed_awards})
    if other:
        parts.notes.append(f"说明：{'、'.join(other)}的《支持专业镇高质量发展若干政策》设有营收达标等奖励，"
                           f"但只适用于{'、'.join(other)}的企业，不适用于{region}。具体支持请咨询当地工信部门。")
    parts, cites, warnings = ctx.finish(parts, cids, with_offices=False)
    ctx.about = ctx.subject(cids, region=region)
    return answer(parts, ANSWERED, cites, [], None, warnings)

"""Apply the rule tables to an enterprise's facts. Amounts are computed here, never taken from text.

Revenue tiers are paid for the year a tier is *first* reached: a tier already reached in an earlier year
earns nothing again; two tiers crossed in one year are flagged as not settled by the text (the higher one
is given, not the sum)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from bot.nlu.amounts import format_yuan
from bot.nlu.slots import Revenue
from kb.regions import Gazetteer
from kb.rules import Award, FixedAward, RecognitionThreshold, RevenueTier, RuleSet

MET, UNMET, UNKNOWN = "met", "unmet", "unknown"


@dataclass
class Outcome:
    rule_id: str
    item: str
    amount_yuan: int | None
    clause_id: str
    wording: str = ""
    valid_until: date | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class RewardResult:
    outcomes: list[Outcome] = field(default_factory=list)      # what this enterprise qualifies for
    misses: list[str] = field(default_factory=list)            # why a rule does not pay, with its threshold
    notes: list[str] = field(default_factory=list)             # assumptions and open cases
    other_region_rules: list[str] = field(default_factory=list)
    clause_ids: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    needs: list[tuple[str, str]] = field(default_factory=list)   # (fact, question) a row needs to be computed

    @property
    def total_yuan(self) -> int | None:
        fixed = [o.amount_yuan for o in self.outcomes if o.amount_yuan]
        return sum(fixed) if fixed else None


# ---- which award rows a question names ---------------------------------------------------------------
def items_in(text: str, rules: RuleSet, overlap=None, fams: dict | None = None) -> list[FixedAward]:
    """Rows the question names: by a trigger word (an occurrence inside another row's longer trigger —
    地理标志 inside 地理标志保护工程 — belongs to that row), or, with `overlap(question, text) -> coverage`,
    by most of the item's own wording ("技能提升培训" names 在岗职工职业技能提升培训)."""
    low = text.lower()
    spans: dict[str, list[tuple[int, int]]] = {}
    for r in rules.fixed_awards:
        if any(x in text for x in r.excludes):
            continue
        for t in r.triggers:
            for m in re.finditer(re.escape(t.lower()), low):
                spans.setdefault(r.id, []).append((m.start(), m.end()))
    found = []
    for r in rules.fixed_awards:
        mine = spans.get(r.id)
        if not mine:
            continue
        same_doc = {o.id for o in rules.fixed_awards if o.source.doc == r.source.doc}
        others = [s for rid, ss in spans.items() if rid != r.id and rid in same_doc for s in ss]
        if all(any(o[0] <= a and b <= o[1] and (o[1] - o[0]) > (b - a) for o in others) for a, b in mine):
            continue
        found.append(r)
    if overlap is not None and not found:
        # no trigger word: an item named in other words, when the question carries most of its wording
        fams = fams if fams is not None else families(rules)
        close = [r for r in rules.fixed_awards if not any(x in text for x in r.excludes) and overlap(text, r.item) >= 0.6]
        for r in close:
            rivals = [o for rows in fams.values() if r in rows for o in rows if o is not r and o in close]
            if not rivals:
                found.append(r)
    return found


def families(rules: RuleSet) -> dict[str, list[FixedAward]]:
    """Words shared by the trigger words of several rows (老字号 in 中华老字号 / 三晋老字号 / 晋城老字号): a
    question that says only the shared word has not said which row it means."""
    out: dict[str, list[FixedAward]] = {}
    rows = rules.fixed_awards
    for a in rows:
        for b in rows:
            if a.id >= b.id:
                continue
            for ta in a.triggers:
                for tb in b.triggers:
                    k = 0
                    while k < min(len(ta), len(tb)) and ta[-1 - k] == tb[-1 - k]:
                        k += 1
                    word = ta[len(ta) - k:]
                    if k >= 3 and word not in (ta, tb) and re.search(r"[\u4e00-\u9fff]{3,}", word):
                        fam = out.setdefault(word, [])
                        for r in (a, b):
                            if r not in fam:
                                fam.append(r)
    return out


def ambiguous_families(text: str, found: list[FixedAward], fams: dict[str, list[FixedAward]]) \
        -> list[tuple[str, list[FixedAward]]]:
    out = []
    for word, rows in fams.items():
        if word in text and not any(r in found for r in rows):
            if not any(word in w and w != word for w, _ in out):
                out.append((word, rows))
    return out


def applicable(rows, region: str | None, gaz: Gazetteer):
    if not region:
        return list(rows)
    return [r for r in rows if gaz.covers(r.region, region)]


# ---- revenue tiers ---------------------------------------------------------------------------------------
def _sector_label(sector: str) -> str:
    return "涉农企业" if sector == "agricultural" else "专业镇主导产业企业"


def revenue_reward(revenue: Revenue, agricultural: bool | None, region: str | None, rules: RuleSet,
                   gaz: Gazetteer, result: RewardResult, agricultural_inferred: bool = False) -> None:
    tiers = applicable(rules.revenue_tiers, region, gaz)
    if not tiers or revenue.current_yuan is None:
        return
    sector = "agricultural" if agricultural else "general"
    mine = sorted((t for t in tiers if t.sector == sector), key=lambda t: t.threshold_yuan)
    other = sorted((t for t in tiers if t.sector != sector), key=lambda t: t.threshold_yuan)
    result.clause_ids.append(mine[0].source.clause)
    label = _sector_label(sector)
    levels = "、".join(format_yuan(t.threshold_yuan) for t in mine)
    amounts = "、".join(format_yuan(t.amount_yuan) for t in mine)
    result.conditions.append(f"{label}年营收首次达到{levels}的，分别一次性奖励{amounts}；只奖励首次达到该档的年度")
    new, already, reached, cur = _tiers_crossed(revenue, mine)
    when = f"{revenue.year}年" if revenue.year else ""
    if not reached:
        below = "不到" if revenue.current_bound == "below" else ""
        result.misses.append(f"{label}年营收首次达到{format_yuan(mine[0].threshold_yuan)}才有达标奖励；您{when}的营收"
                             f"{below}{format_yuan(revenue.current_yuan)}，低于{format_yuan(mine[0].threshold_yuan)}"
                             f"（{format_yuan(revenue.current_yuan)} < {format_yuan(mine[0].threshold_yuan)}），"
                             f"暂不符合。")
    elif not new:
        top = already[-1]
        year = next((y for y, v in sorted(revenue.earlier_first.items()) if v >= top.threshold_yuan), None)
        year = year or next((y for y, v in sorted(revenue.history.items())
                             if v >= top.threshold_yuan and (revenue.year is None or y < revenue.year)), None)
        earlier = f"{year}年" if year else "以前年度"
        nxt = next((t for t in mine if t.threshold_yuan > cur), None)
        received = f"（您说已领取{format_yuan(revenue.received_yuan[0])}）" if revenue.received_yuan else ""
        text = (f"达标奖励只给“首次”达到某一档营收的年度：您{earlier}已经首次达到过{format_yuan(top.threshold_yuan)}这一档"
                f"{received}，{when or '这次'}营收{format_yuan(cur)}没有达到新的档次，不能再领一次。")
        if nxt:
            text += f"下一档是首次达到{format_yuan(nxt.threshold_yuan)}，奖励{format_yuan(nxt.amount_yuan)}。"
        result.misses.append(text)
    elif revenue.first_time is False and revenue.prior_max_yuan is None:
        result.misses.append("达标奖励只给“首次”达到该档营收的年度；您说不是第一次达到，因此不能再领。")
    else:
        tier: RevenueTier = new[-1]
        o = Outcome(tier.id, f"{label}年营收{when}首次达到{format_yuan(tier.threshold_yuan)}", tier.amount_yuan,
                    tier.source.clause, f"一次性奖励{format_yuan(tier.amount_yuan)}", tier.valid_until)
        if revenue.prior_max_yuan is None and revenue.first_time is None:
            o.notes.append("奖励只针对“首次”达到该档营收的年度；如以前年度已达到过，不再重复奖励。")
        if len(new) >= 2:
            lower = "、".join(f"{format_yuan(t.threshold_yuan)}（{format_yuan(t.amount_yuan)}）" for t in new[:-1])
            if revenue.prior_max_yuan is not None:
                o.notes.append(f"您这一年同时首次跨过了{lower}和{format_yuan(tier.threshold_yuan)}"
                               f"（{format_yuan(tier.amount_yuan)}）几档：较低档次的奖励能否一并领取，文件没有写明（未明确），"
                               f"请向责任单位咨询核实；这里只按已达到的最高一档计算"
                               f"（{format_yuan(tier.amount_yuan)}，不相加）。")
            else:
                o.notes.append(f"如果同一年内首次跨越了不止一档（例如由{format_yuan(new[-2].threshold_yuan)}以下直接达到"
                               f"{format_yuan(tier.threshold_yuan)}），是否还能领取较低档次的奖励，文件没有写明，"
                               f"请向责任单位咨询；这里只按已达到的最高一档计算。")
        if already:
            o.notes.append(f"{format_yuan(already[-1].threshold_yuan)}及以下档次您以前已经达到过，不再重复奖励；"
                           f"各档奖励分别计算，不是补足差额或累计。")
        if revenue.current_bound in ("range", "about", "at_least") and revenue.current_upper:
            hi = [t for t in mine if t.threshold_yuan <= revenue.current_upper]
            if hi and hi[-1] is not tier:
                o.notes.append(f"您给的是大约的数字：如果实际达到{format_yuan(hi[-1].threshold_yuan)}，"
                               f"对应奖励为{format_yuan(hi[-1].amount_yuan)}。")
        result.outcomes.append(o)
    if agricultural is None and other:
        alt_new, _, alt_reached, _ = _tiers_crossed(revenue, other)
        if alt_new:
            alt = f"若贵企业属于涉农企业，标准为首次达到{format_yuan(alt_new[-1].threshold_yuan)}奖励{format_yuan(alt_new[-1].amount_yuan)}"
        else:
            alt = f"若贵企业属于涉农企业，门槛为首次达到{format_yuan(other[0].threshold_yuan)}"
        levels_other = "、".join(format_yuan(t.threshold_yuan) for t in other)
        result.notes.append(f"以上按非涉农企业计算；{alt}（涉农企业档次：{levels_other}）。")
    elif agricultural_inferred:
        kind = "涉农企业" if agricultural else "非涉农企业"
        result.notes.append(f"根据您描述的行业，按{kind}计算；如不是，请告诉我，我重新计算。")


def pays_only_if_agricultural(revenue: Revenue, region: str | None, rules: RuleSet, gaz: Gazetteer) -> bool:
    """With 涉农 unknown: would the revenue earn a tier only as an agricultural firm? (Then ask, not assume.)"""
    if revenue.current_yuan is None:
        return False
    tiers = applicable(rules.revenue_tiers, region, gaz)
    by = {sec: sorted((t for t in tiers if t.sector == sec), key=lambda t: t.threshold_yuan)
          for sec in ("general", "agricultural")}
    if not by["general"] or not by["agricultural"]:
        return False
    return not _tiers_crossed(revenue, by["general"])[0] and bool(_tiers_crossed(revenue, by["agricultural"])[0])


def _tiers_crossed(revenue: Revenue, tiers: list[RevenueTier]):
    cur = revenue.current_yuan - (1 if revenue.current_bound == "below" else 0)
    reached = [t for t in tiers if t.threshold_yuan <= cur]
    prior = revenue.prior_max_yuan
    got = [t.threshold_yuan for t in tiers if t.amount_yuan in (revenue.received_yuan or [])]
    if got and (prior is None or max(got) > prior) and max(got) <= cur:
        prior = max(got)        # "10亿那档已经拿过50万": that tier was reached before
    if prior is not None:
        new = [t for t in reached if t.threshold_yuan > prior]
        already = [t for t in reached if t.threshold_yuan <= prior]
    else:
        new, already = reached, []
    return new, already, reached, cur


def fixed_rewards(items: list[FixedAward], region: str | None, gaz: Gazetteer, result: RewardResult) -> None:
    for r in items:
        if region and not gaz.covers(r.region, region):
            result.other_region_rules.append(f"{r.region}的政策对“{r.item}”{r.wording}，但只适用于{r.region}的企业")
            continue
        result.outcomes.append(Outcome(r.id, r.item, r.amount_yuan, r.source.clause, r.wording, r.valid_until))
        result.clause_ids.append(r.source.clause)


# ---- recognition -----------------------------------------------------------------------------------------
@dataclass
class Check:
    name: str
    status: str
    detail: str


def recognition(output_yuan: int | None, leading: int | None, partners: int | None,
                row: RecognitionThreshold) -> list[Check]:
    checks = []
    if output_yuan is None:
        checks.append(Check("年产值", UNKNOWN, f"需达到{format_yuan(row.min_output_yuan)}以上"))
    elif output_yuan >= row.min_output_yuan:
        checks.append(Check("年产值", MET, f"{format_yuan(output_yuan)} ≥ {format_yuan(row.min_output_yuan)}"))
    elif row.relaxed_min_output_yuan and output_yuan >= row.relaxed_min_output_yuan:
        checks.append(Check("年产值", UNKNOWN,
                            f"{format_yuan(output_yuan)}低于{format_yuan(row.min_output_yuan)}，但不少于放宽后的"
                            f"{format_yuan(row.relaxed_min_output_yuan)}：仅当主导产品具有历史发源地、地理标志等传统特色时可放宽"))
    elif row.relaxed_min_output_yuan:
        checks.append(Check("年产值", UNMET, f"{format_yuan(output_yuan)} < {format_yuan(row.min_output_yuan)}，"
                                           f"也低于放宽后的下限{format_yuan(row.relaxed_min_output_yuan)}"))
    else:
        checks.append(Check("年产值", UNMET, f"{format_yuan(output_yuan)} < {format_yuan(row.min_output_yuan)}"))
    for name, have, need, unit in (("龙头企业", leading, row.min_leading_firms, "家"),
                                   ("上下游配套企业", partners, row.min_partner_firms, "户")):
        if have is None:
            checks.append(Check(name, UNKNOWN, f"需至少{need}{unit}"))
        elif have >= need:
            checks.append(Check(name, MET, f"{have}{unit} ≥ {need}{unit}"))
        else:
            checks.append(Check(name, UNMET, f"{have}{unit} < {need}{unit}"))
    return checks


# ---- awards accepted from documents (kb/rules/awards-*.yaml): every kind of amount ----------------------
def awards_named(text: str, rows: list[Award], coverage) -> list[Award]:
    """Award rows the question names: by a trigger word, or by most of the item's wording."""
    low = text.lower()
    out = []
    for r in rows:
        if any(x in text for x in r.excludes):
            continue
        if any(t.lower() in low for t in r.triggers) or coverage(text, r.item) >= 0.5:
            out.append(r)
    return out


def _unit_count(unit: str, facts: dict) -> tuple[float | None, str]:
    """How many units the enterprise has, for a per-unit amount: people for 人, 亩 for 亩."""
    if "人" in unit:
        return facts.get("people"), "人数"
    if "亩" in unit:
        return facts.get("area_mu"), "亩数"
    return None, f"数量（{unit}）"


def range_span(r: Award) -> str:
    """A range award's span as the document gives it: 50万元至200万元, 最高200万元, 投资额的10%至20%."""
    if r.min_yuan is not None or r.max_yuan is not None:
        if r.min_yuan is not None and r.max_yuan is not None:
            return f"{format_yuan(r.min_yuan)}至{format_yuan(r.max_yuan)}"
        return f"最高{format_yuan(r.max_yuan)}" if r.max_yuan is not None else f"不低于{format_yuan(r.min_yuan)}"
    return f"{r.base or '基数'}的{r.rate_min:.0%}至{r.rate_max:.0%}"


def award_rewards(rows: list[Award], facts: dict, revenue: Revenue, region: str | None, gaz: Gazetteer,
                  result: RewardResult) -> None:
    """Each named row computed from the enterprise's facts; a row that needs a fact not yet told adds it to
    `result.needs` (the reply asks for it) instead of guessing."""
    for r in rows:
        if region and not gaz.covers(r.region, region):
            result.other_region_rules.append(f"{r.region}的政策对“{r.item}”{r.wording or '有规定'}，但只适用于{r.region}的企业")
            continue
        o = Outcome(r.id, r.item, None, r.source.clause, r.wording or r.sentence, r.valid_until)
        if r.kind == "fixed":
            o.amount_yuan = r.amount_yuan
        elif r.kind == "ratio":
            base = facts.get("investment_yuan")
            if base is None:
                result.needs.append(("investment", f"{r.base or '投资额'}是多少（按其{r.rate:.0%}计算）"))
                continue
            amount = int(round(base * r.rate))
            capped = r.cap_yuan is not None and amount > r.cap_yuan
            o.amount_yuan = min(amount, r.cap_yuan) if r.cap_yuan is not None else amount
            o.wording = (f"按{r.base or '投资额'}的{r.rate:.0%}给予奖补：{format_yuan(base)}×{r.rate:.0%}="
                         f"{format_yuan(amount)}" + (f"，超过上限，按最高{format_yuan(r.cap_yuan)}" if capped else
                                                     (f"（最高{format_yuan(r.cap_yuan)}）" if r.cap_yuan else "")))
        elif r.kind == "per_unit":
            count, what = _unit_count(r.unit or "", facts)
            if count is None:
                result.needs.append(({"人数": "people", "亩数": "area_mu"}.get(what, "count"), f"{what}是多少"))
                continue
            amount = int(round(r.amount_yuan * count))
            per = "每月" if "月" in (r.unit or "") else ""
            if per:
                o.wording = f"每{r.unit}{format_yuan(r.amount_yuan)}：{count:g}×{format_yuan(r.amount_yuan)}，即{per}" \
                            f"{format_yuan(amount)}（期限以文件为准，不计入合计）"
            else:
                o.amount_yuan = amount
                o.wording = f"每{r.unit}{format_yuan(r.amount_yuan)}：{count:g}×{format_yuan(r.amount_yuan)}={format_yuan(amount)}"
                if r.cap_yuan is not None and amount > r.cap_yuan:
                    o.amount_yuan = r.cap_yuan
                    o.wording += f"，超过上限，按最高{format_yuan(r.cap_yuan)}"
        elif r.kind == "range":
            o.wording = f"{range_span(r)}（文件给出的是范围，具体金额由主管部门核定）"
        elif r.kind == "multi_year" and r.schedule and all(y.amount_yuan is not None for y in r.schedule):
            o.amount_yuan = sum(y.amount_yuan for y in r.schedule)
            o.wording = "、".join(f"第{y.year}年{format_yuan(y.amount_yuan)}" for y in r.schedule) + \
                f"，共{format_yuan(o.amount_yuan)}"
        elif r.kind == "tiered" and r.tiers:
            value = revenue.current_yuan if revenue.current_yuan is not None else facts.get("output_yuan")
            if value is None:
                result.needs.append(("revenue", f"{r.base or '营收'}是多少"))
                continue
            reached = [t for t in r.tiers if t.threshold_yuan <= value]
            if not reached:
                result.misses.append(f"“{r.item}”的最低一档是{format_yuan(r.tiers[0].threshold_yuan)}，"
                                     f"您的{format_yuan(value)}还没有达到。")
                continue
            t = reached[-1]
            if t.amount_yuan is not None:
                o.amount_yuan = t.amount_yuan
                o.wording = f"达到{format_yuan(t.threshold_yuan)}档，奖励{format_yuan(t.amount_yuan)}"
            else:
                o.wording = f"达到{format_yuan(t.threshold_yuan)}档，按{t.rate:.0%}计算"
        result.outcomes.append(o)
        result.clause_ids.append(r.source.clause)

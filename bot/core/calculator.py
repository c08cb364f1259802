"""Apply the rule tables to an enterprise's facts. Amounts are computed here, never taken from text."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from bot.core.amounts import format_yuan
from bot.core.facts import Facts
from kb.regions import Gazetteer
from kb.rules import FixedAward, RecognitionThreshold, RevenueTier, RuleSet

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

    @property
    def total_yuan(self) -> int | None:
        fixed = [o.amount_yuan for o in self.outcomes if o.amount_yuan]
        return sum(fixed) if fixed else None


def items_in(text: str, rules: RuleSet) -> list[FixedAward]:
    found: list[FixedAward] = []
    low = text.lower()
    for r in rules.fixed_awards:
        if any(t.lower() in low for t in r.triggers) and not any(x in text for x in r.excludes):
            found.append(r)
    # a row named only by words that are part of another row's longer match (保护工程 inside
    # 地理标志保护工程 belongs to the same row; 老字号 words of different brands are distinct) yields
    matched = {r.id: [t for t in r.triggers if t.lower() in low] for r in found}
    def shadowed(r):
        others = [u for o in found if o.id != r.id for u in matched[o.id]]
        return all(any(t != u and t in u for u in others) for t in matched[r.id])
    return [r for r in found if not shadowed(r)]


def applicable(rows, region: str | None, gaz: Gazetteer):
    if not region:
        return list(rows)
    return [r for r in rows if gaz.covers(r.region, region)]


def revenue_reward(facts: Facts, rules: RuleSet, gaz: Gazetteer, result: RewardResult) -> None:
    tiers = applicable(rules.revenue_tiers, facts.region, gaz)
    if not tiers:
        return
    sector = "agricultural" if facts.agricultural else "general"
    mine = sorted((t for t in tiers if t.sector == sector), key=lambda t: t.threshold_yuan)
    other = sorted((t for t in tiers if t.sector != sector), key=lambda t: t.threshold_yuan)
    clause = mine[0].source.clause
    result.clause_ids.append(clause)
    rev = facts.revenue_yuan
    reached = [t for t in mine if rev >= t.threshold_yuan]
    label = "涉农企业" if sector == "agricultural" else "专业镇主导产业企业"
    if not reached:
        result.misses.append(f"{label}年营收首次达到{format_yuan(mine[0].threshold_yuan)}才有达标奖励，"
                             f"您的营收{format_yuan(rev)}低于{format_yuan(mine[0].threshold_yuan)}"
                             f"（{format_yuan(rev)} < {format_yuan(mine[0].threshold_yuan)}）。")
    else:
        tier: RevenueTier = reached[-1]
        o = Outcome(tier.id, f"{label}年营收首次达到{format_yuan(tier.threshold_yuan)}", tier.amount_yuan,
                    tier.source.clause, f"一次性奖励{format_yuan(tier.amount_yuan)}", tier.valid_until)
        if facts.first_time is None:
            o.notes.append("奖励只针对“首次”达到该档营收的年度；如以前年度已达到过，不再重复奖励。")
        elif facts.first_time is False:
            result.misses.append("达标奖励只给“首次”达到该档营收的企业；您描述的不是首次达到，因此不符合。")
            o = None
        if o:
            result.outcomes.append(o)
            if len(reached) >= 2:
                result.notes.append(
                    f"如果同一年内首次跨越了不止一档（例如由{format_yuan(reached[-2].threshold_yuan)}以下直接达到"
                    f"{format_yuan(tier.threshold_yuan)}），是否还能领取较低档次的奖励，文件没有写明，"
                    f"请向责任单位咨询；这里只按已达到的最高一档计算。")
    if facts.agricultural is None:
        alt = [t for t in other if rev >= t.threshold_yuan]
        alt_text = (f"若贵企业属于涉农企业，标准为首次达到{format_yuan(alt[-1].threshold_yuan)}奖励"
                    f"{format_yuan(alt[-1].amount_yuan)}" if alt else
                    f"若贵企业属于涉农企业，门槛为首次达到{format_yuan(other[0].threshold_yuan)}") if other else ""
        if alt_text:
            result.notes.append(f"以上按非涉农企业计算；{alt_text}（涉农企业档次：1亿、3亿、5亿、10亿元）。")


def fixed_rewards(items: list[FixedAward], facts: Facts, rules: RuleSet, gaz: Gazetteer,
                  result: RewardResult) -> None:
    for r in items:
        if facts.region and not gaz.covers(r.region, facts.region):
            result.other_region_rules.append(f"{r.region}的政策对“{r.item}”{r.wording}，但只适用于{r.region}的企业")
            continue
        result.outcomes.append(Outcome(r.id, r.item, r.amount_yuan, r.source.clause, r.wording, r.valid_until))
        result.clause_ids.append(r.source.clause)


@dataclass
class Check:
    name: str
    status: str
    detail: str


def recognition(facts: Facts, row: RecognitionThreshold) -> list[Check]:
    checks = []
    if facts.output_yuan is None:
        checks.append(Check("年产值", UNKNOWN, f"需达到{format_yuan(row.min_output_yuan)}以上"))
    elif facts.output_yuan >= row.min_output_yuan:
        checks.append(Check("年产值", MET, f"{format_yuan(facts.output_yuan)} ≥ {format_yuan(row.min_output_yuan)}"))
    elif row.relaxed_min_output_yuan and facts.output_yuan >= row.relaxed_min_output_yuan:
        checks.append(Check("年产值", UNKNOWN,
                            f"{format_yuan(facts.output_yuan)}低于{format_yuan(row.min_output_yuan)}，但不少于放宽后的"
                            f"{format_yuan(row.relaxed_min_output_yuan)}：仅当主导产品具有历史发源地、地理标志等传统特色时可放宽"))
    else:
        checks.append(Check("年产值", UNMET, f"{format_yuan(facts.output_yuan)} < {format_yuan(row.min_output_yuan)}"))
    for name, have, need, unit in (("龙头企业", facts.leading_firms, row.min_leading_firms, "家"),
                                   ("上下游配套企业", facts.partner_firms, row.min_partner_firms, "户")):
        if have is None:
            checks.append(Check(name, UNKNOWN, f"需至少{need}{unit}"))
        elif have >= need:
            checks.append(Check(name, MET, f"{have}{unit} ≥ {need}{unit}"))
        else:
            checks.append(Check(name, UNMET, f"{have}{unit} < {need}{unit}"))
    return checks

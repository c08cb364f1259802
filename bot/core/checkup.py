"""The policy check-up: every rule row that applies to an enterprise, judged against what is known about it.

    checkup(facts, rules, gaz, kb, today) -> Checkup

Pure: the enterprise's facts (a conversation's or a saved profile's), the rule tables, the gazetteer, the
knowledge base's documents and clauses (read only) and today in; the judged rows out. Nothing is looked up
elsewhere, so the same judgement answers a check-up in chat and decides whom a new document concerns
(bot/notify.py).

Every row whose region covers the enterprise's (a city's rules cover its counties) becomes an `Item`:
its amount (computed in code, or "文件未规定金额"), each condition met / unmet / unknown, the validity of
its document, the office and phone. A row is judged at the date of the achievement: under a policy that has
expired, an achievement of a year inside its validity counts (and the expiry is said); a later one does not;
one whose year is not known hinges on that year. Rows that hinge on an untold fact say so ("如已入选三晋老字号，
另可得10万元"), and those facts are the interview's questions, the fact deciding the most rows first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from bot.core.calculator import (MET, UNKNOWN, UNMET, _tiers_crossed, awards_named, items_in,
                                 range_span)
from bot.nlu.amounts import format_yuan
from bot.nlu.slots import Revenue, lexicon
from kb.regions import Gazetteer
from kb.rules import Award, FixedAward, RevenueTier, RuleSet

ELIGIBLE, POSSIBLE, NOT_ELIGIBLE = "eligible", "possible", "not_eligible"
# a condition that restates how the amount is paid, not who gets it
_PAYMENT_WORDS = re.compile(r"第[一二三四五六七八九十\d]+年|每人|每月|每年|每亩|期限|不超过|最高|以内|一次性|^企业$|^单位$")
_WHO_TAIL = re.compile(r"(?:企业|公司|单位|合作社|工厂|厂)$")
_GENERIC_TAIL = re.compile(r"(?:中小)?企业|认证|称号|产品|品牌|项目|资格")


@dataclass
class Condition:
    text: str
    status: str                 # met | unmet | unknown
    fact: str | None = None     # the fact that would decide it, when unknown and worth asking
    soft: bool = False          # unknown, but it changes the amount, not whether the row applies


@dataclass
class Item:
    key: str
    title: str
    rule_ids: list[str]
    doc_id: str
    clause_id: str
    region: str
    amount_yuan: int | None = None      # a sum this row pays, computed from the facts
    amount_text: str = ""               # the amount as the document gives it, or "文件未规定金额"
    stake_yuan: int = 0                 # what is at stake while it is undecided (for ranking)
    conditions: list[Condition] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    expired: bool = False               # the policy has expired by today
    validity: str = ""
    office: str = ""
    phone: str = ""
    recurring: bool = False             # paid per month/year: not summed
    label: str = ""                     # a short name for lists ("单项冠军" for a long item)

    @property
    def verdict(self) -> str:
        statuses = [c.status for c in self.conditions if not (c.soft and c.status == UNKNOWN)]
        if UNMET in statuses:
            return NOT_ELIGIBLE
        return POSSIBLE if UNKNOWN in statuses else ELIGIBLE

    @property
    def counted(self) -> bool:
        return self.verdict == ELIGIBLE and bool(self.amount_yuan) and not self.recurring

    def unknown(self, soft: bool = True) -> list[Condition]:
        return [c for c in self.conditions if c.status == UNKNOWN and (soft or not c.soft)]

    def facts_needed(self) -> list[str]:
        return list(dict.fromkeys(c.fact for c in self.unknown() if c.fact))


@dataclass
class Question:
    fact: str                   # region | agricultural | revenue | recognitions | year:<what> | investment | people | area_mu
    text: str
    choices: list[str] = field(default_factory=list)
    rows: int = 0               # rule rows it decides
    stake_yuan: int = 0
    names: list[str] = field(default_factory=list)   # recognitions asked about


@dataclass
class Checkup:
    region: str | None
    items: list[Item] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    supports: list[tuple[str, str]] = field(default_factory=list)   # (text, clause id): support with no money
    doc_ids: list[str] = field(default_factory=list)

    @property
    def total_yuan(self) -> int | None:
        paid = [i.amount_yuan for i in self.items if i.counted]
        return sum(paid) if paid else None

    def by_verdict(self, verdict: str) -> list[Item]:
        return [i for i in self.items if i.verdict == verdict]


# ---- the check-up ------------------------------------------------------------------------------------
def checkup(facts: dict, rules: RuleSet, gaz: Gazetteer, kb, today: date) -> Checkup:
    """Every money row of `rules` that applies to the region in `facts`, judged. `kb` gives documents
    (validity, 文号) and clauses (offices); `rules` are the rows in force (documents not retired or replaced)."""
    region = facts.get("region")
    out = Checkup(region)
    if not region:
        return out
    cover = lambda rows: [r for r in rows if gaz.covers(r.region, region)]  # noqa: E731
    rev = Revenue.from_dict(facts.get("revenue"))
    won, not_won = _recognitions(facts)
    ctx = _Judge(facts, rules, gaz, kb, today, rev, won, not_won)
    out.items += ctx.revenue_items(cover(rules.revenue_tiers), out.next_steps)
    out.items += [ctx.fixed_item(r) for r in cover(rules.fixed_awards)]
    out.items += [i for r in cover(rules.awards) if (i := ctx.award_item(r, out.next_steps))]
    for t in cover(rules.policy_terms):
        if t.kind in ("land_price_floor", "plot_ratio"):
            out.supports.append((t.text, t.source.clause))
    out.doc_ids = list(dict.fromkeys(i.doc_id for i in out.items))
    out.items.sort(key=lambda i: (_ORDER[i.verdict], -(i.amount_yuan or i.stake_yuan or 0)))
    out.questions = _questions(out.items, ctx)
    return out


_ORDER = {ELIGIBLE: 0, POSSIBLE: 1, NOT_ELIGIBLE: 2}


def _recognitions(facts: dict) -> tuple[dict[str, dict], dict[str, dict]]:
    said = facts.get("recognitions") or {}
    won = {k: v for k, v in said.items() if v.get("won")}
    return won, {k: v for k, v in said.items() if not v.get("won")}


def recognition_names() -> dict[str, list[str]]:
    return lexicon()["recognitions"]


class _Judge:
    def __init__(self, facts, rules, gaz, kb, today, rev, won, not_won):
        self.facts, self.rules, self.gaz, self.kb, self.today = facts, rules, gaz, kb, today
        self.rev, self.won, self.not_won = rev, won, not_won

    # -- shared pieces ----------------------------------------------------------------------------
    def base_item(self, key: str, title: str, rows: list, clause_id: str) -> Item:
        r = rows[0]
        doc = self.kb.documents.get(r.source.doc)
        item = Item(key, title, [x.id for x in rows], r.source.doc, clause_id, r.region)
        item.conditions.append(Condition(f"企业在{self.gaz.short(r.region) or r.region}（{self.facts['region']}）", MET))
        until = getattr(r, "valid_until", None) or (doc.valid_until_date() if doc else None)
        vfrom = getattr(r, "valid_from", None) or (doc.valid_from_date() if doc else None)
        item.expired = bool(until and self.today > until)
        item.validity = validity_text(until, vfrom, self.today)
        item.office, item.phone = self.office(clause_id, r.source.doc)
        return item

    def office(self, clause_id: str, doc_id: str) -> tuple[str, str]:
        c = self.kb.clauses.get(clause_id)
        offices = c.offices if c else ""
        lead = re.split(r"[、，,]", offices)[0].strip() if offices else ""
        doc = self.kb.documents.get(doc_id)
        for ct in self.rules.contacts:
            if ct.office in offices and doc and ct.region == doc.region:
                return (lead or ct.office), f"{ct.office} {ct.phone}"
        return lead, ""

    def when(self, item: Item, year: int | None, what: str, until: date | None, vfrom: date | None,
             fact: str) -> None:
        """The achievement judged at its date against the policy's validity."""
        if until and self.today > until:
            if year is None:
                item.conditions.append(Condition(f"{what}在政策有效期内（{cn(until)}前）", UNKNOWN, fact))
            elif year <= until.year and (vfrom is None or year >= vfrom.year):
                item.conditions.append(Condition(f"{what}在{year}年，在政策有效期内（有效期至{cn(until)}）", MET))
            else:
                item.conditions.append(Condition(f"{what}在{year}年，政策已于{cn(until)}到期", UNMET))
        elif vfrom and year is not None and year < vfrom.year:
            item.conditions.append(Condition(f"{what}在{year}年，早于政策施行日期{cn(vfrom)}", UNMET))

    # -- revenue tiers ----------------------------------------------------------------------------
    def revenue_items(self, tiers: list[RevenueTier], next_steps: list[str]) -> list[Item]:
        groups: dict[tuple[str, str], list[RevenueTier]] = {}
        for t in tiers:
            groups.setdefault((t.source.doc, t.region), []).append(t)
        return [self.revenue_item(rows, next_steps) for rows in groups.values()]

    def revenue_item(self, rows: list[RevenueTier], next_steps: list[str]) -> Item:
        rev, agri = self.rev, self.facts.get("agricultural")
        by = {s: sorted((t for t in rows if t.sector == s), key=lambda t: t.threshold_yuan)
              for s in ("general", "agricultural")}
        gen, farm = by["general"], by["agricultural"]
        if agri is None and rev.current_yuan is not None and gen and farm and \
                not _tiers_crossed(rev, gen)[0] and _tiers_crossed(rev, farm)[0]:
            sector = "agricultural"        # only as 涉农 would it pay: judged so, hinging on 涉农
        else:
            sector = "agricultural" if (agri or not gen) else "general"
        mine = by[sector] or gen or farm
        label = "涉农企业" if sector == "agricultural" else "专业镇主导产业企业"
        first = rows[0]
        levels = "、".join(f"{format_yuan(t.threshold_yuan)}奖{format_yuan(t.amount_yuan)}" for t in mine)
        item = self.base_item(f"revenue:{first.source.doc}:{first.region}", "营收首次达标奖励", mine,
                              first.source.clause)
        item.rule_ids = [t.id for t in rows]
        item.amount_text = f"{label}年营收首次达到{levels}（一次性）"
        if agri is None and gen and farm:
            farm_levels = "、".join(format_yuan(t.threshold_yuan) for t in farm)
            if sector == "agricultural":
                item.conditions.append(Condition(f"属于涉农企业（涉农企业档次：{farm_levels}）", UNKNOWN, "agricultural"))
            else:
                item.conditions.append(Condition(f"是否涉农企业（按非涉农企业计算；涉农企业档次：{farm_levels}）",
                                                 UNKNOWN, "agricultural", soft=True))
        elif agri is not None:
            item.conditions.append(Condition("涉农企业" if agri else "非涉农企业（按专业镇主导产业企业标准）", MET))
        exp = item.expired
        was = "原政策" if exp else ""
        if rev.current_yuan is None:
            item.conditions.append(Condition(f"年营收首次达到{format_yuan(mine[0].threshold_yuan)}及以上档次", UNKNOWN,
                                             "revenue"))
            item.stake_yuan = mine[-1].amount_yuan
            item.amount_text = f"{label}年营收首次达到{levels}"
            return item
        new, already, reached, cur = _tiers_crossed(rev, mine)
        when = f"{rev.year}年" if rev.year else ""
        nxt = next((t for t in mine if t.threshold_yuan > cur), None)
        if nxt:
            gap = nxt.threshold_yuan - cur
            step = (f"营收再增加{format_yuan(gap)}即达到{format_yuan(nxt.threshold_yuan)}档，{was}奖励"
                    f"{format_yuan(nxt.amount_yuan)}")
            if exp:
                step += f"（{item.validity}，此为原政策标准，是否延续请向责任单位咨询）"
            next_steps.append(step + "。")
        if not reached:
            item.conditions.append(Condition(f"年营收首次达到{format_yuan(mine[0].threshold_yuan)}（您{when}"
                                             f"{format_yuan(rev.current_yuan)}）", UNMET))
            item.stake_yuan = mine[0].amount_yuan
            return item
        if not new:
            item.conditions.append(Condition(f"首次达到新的档次（{format_yuan(already[-1].threshold_yuan)}档以前已达到过，"
                                             f"不重复奖励）", UNMET))
            return item
        if rev.first_time is False and rev.prior_max_yuan is None:
            item.conditions.append(Condition("首次达到该档（您说不是第一次）", UNMET))
            return item
        tier = new[-1]
        item.title = f"营收{when}首次达到{format_yuan(tier.threshold_yuan)}"
        item.rule_ids = [tier.id]
        item.amount_yuan = tier.amount_yuan
        item.amount_text = f"一次性奖励{format_yuan(tier.amount_yuan)}"
        item.conditions.append(Condition(f"{label}年营收首次达到{format_yuan(tier.threshold_yuan)}（您{when}"
                                         f"{format_yuan(rev.current_yuan)}）", MET))
        if rev.prior_max_yuan is None and rev.first_time is None:
            item.notes.append("只奖励首次达到该档的年度；以前年度已达到过的不再奖励。")
        if len(new) >= 2:
            item.notes.append("同一年跨过了不止一档：较低档次能否一并领取，文件没有写明，这里只按最高一档计算。")
        until = tier.valid_until or (self.kb.documents[tier.source.doc].valid_until_date()
                                     if tier.source.doc in self.kb.documents else None)
        doc = self.kb.documents.get(tier.source.doc)
        self.when(item, rev.year, "达到的年份", until, doc.valid_from_date() if doc else None, "year:revenue")
        if agri is None and sector == "general" and farm:
            alt = _tiers_crossed(rev, farm)[0]
            if alt and alt[-1].amount_yuan > tier.amount_yuan:
                item.notes.append(f"如属于涉农企业，按涉农标准可得{format_yuan(alt[-1].amount_yuan)}。")
        return item

    # -- awards for a recognition, certification or project ---------------------------------------------
    def name_rows(self) -> dict[str, set[str]]:
        """Recognition name → the rows it earns. By the rows' trigger words (the longest reading wins:
        地理标志 is not 地理标志保护工程), or a trigger that is the name plus a generic tail
        (专精特新 → 专精特新中小企业)."""
        if getattr(self, "_name_rows", None) is None:
            names = list(dict.fromkeys([*recognition_names(), *self.won, *self.not_won]))
            by_doc: dict[str, list[FixedAward]] = {}
            for r in self.rules.fixed_awards:
                by_doc.setdefault(r.source.doc, []).append(r)
            out: dict[str, set[str]] = {n: set() for n in names}
            for n in names:
                for rows in by_doc.values():
                    out[n].update(r.id for r in items_in(n, RuleSet(fixed_awards=rows)))
                for r in self.rules.awards:
                    if awards_named(n, [r], lambda q, t: 0.0) or any(
                            t.startswith(n) and _GENERIC_TAIL.fullmatch(t[len(n):]) for t in r.triggers):
                        out[n].add(r.id)
            self._name_rows = out
        return self._name_rows

    def _names(self, row, said: dict[str, dict]) -> list[tuple[str, dict]]:
        rows = self.name_rows()
        return [(n, info) for n, info in said.items() if row.id in rows.get(n, ())]

    def achievement(self, row) -> tuple[str, dict | None]:
        """met / unmet / unknown for the achievement a row rewards, from the recognitions said."""
        won = self._names(row, self.won)
        if won:
            return MET, won[0][1]
        if self._names(row, self.not_won):
            return UNMET, None
        return UNKNOWN, None

    def asks_recognition(self, row) -> str | None:
        """The recognition name the interview can ask about for this row (None: nothing to ask)."""
        return next((n for n, ids in self.name_rows().items() if row.id in ids and n in recognition_names()), None)

    def fixed_item(self, r: FixedAward) -> Item:
        item = self.base_item(r.id, r.item, [r], r.source.clause)
        item.label = _label(r)
        item.amount_yuan = r.amount_yuan
        item.amount_text = r.wording if r.amount_yuan else f"文件未规定金额（{r.wording}）"
        item.stake_yuan = r.amount_yuan or 0
        self._achievement(item, r)
        return item

    def _achievement(self, item: Item, r) -> None:
        status, info = self.achievement(r)
        name = self.asks_recognition(r)
        label = f"获得/做到：{_short(r.item)}"
        item.conditions.append(Condition(label, status, "recognitions" if status == UNKNOWN and name else None))
        if status == MET:
            doc = self.kb.documents.get(r.source.doc)
            until = r.valid_until or (doc.valid_until_date() if doc else None)
            vfrom = getattr(r, "valid_from", None) or (doc.valid_from_date() if doc else None)
            which = next((n for n, _ in self._names(r, self.won)), name or r.item)
            self.when(item, (info or {}).get("year"), "获得的年份", until, vfrom, f"year:{which}")

    def award_item(self, r: Award, next_steps: list[str]) -> Item | None:
        item = self.base_item(r.id, r.item, [r], r.source.clause)
        item.label = _label(r)
        facts = self.facts
        item.amount_text = r.wording or r.sentence
        if r.kind == "fixed":
            item.amount_yuan = item.stake_yuan = r.amount_yuan
        elif r.kind == "ratio":
            base = facts.get("investment_yuan")
            cap = f"，最高{format_yuan(r.cap_yuan)}" if r.cap_yuan is not None else ""
            item.amount_text = f"按{r.base or '投资额'}的{r.rate:.0%}{cap}"
            if base is None:
                item.conditions.append(Condition(f"{r.base or '投资额'}（按其{r.rate:.0%}计算）", UNKNOWN, "investment"))
                item.stake_yuan = r.cap_yuan or 0
            else:
                amount = int(round(base * r.rate))
                item.amount_yuan = min(amount, r.cap_yuan) if r.cap_yuan is not None else amount
                item.amount_text += f"：{format_yuan(base)}×{r.rate:.0%}={format_yuan(amount)}" + \
                    (f"，按上限{format_yuan(r.cap_yuan)}" if r.cap_yuan is not None and amount > r.cap_yuan else "")
        elif r.kind == "per_unit":
            fact = "people" if "人" in (r.unit or "") else "area_mu" if "亩" in (r.unit or "") else None
            count = facts.get(fact) if fact else None
            item.amount_text = f"每{r.unit}{format_yuan(r.amount_yuan)}"
            if count is None:
                item.conditions.append(Condition({"people": "人数", "area_mu": "亩数"}.get(fact, "数量"), UNKNOWN, fact))
            else:
                amount = int(round(r.amount_yuan * count))
                item.amount_yuan = amount if r.cap_yuan is None else min(amount, r.cap_yuan)
                item.recurring = "月" in (r.unit or "") or "年" in (r.unit or "")
                item.amount_text += f"：{count:g}×{format_yuan(r.amount_yuan)}={format_yuan(amount)}" + \
                    ("（按月发放，期限以文件为准，不计入合计）" if item.recurring else "")
        elif r.kind == "range":
            item.amount_text = f"{range_span(r)}（范围，具体金额由主管部门核定）"
            item.stake_yuan = r.max_yuan or r.min_yuan or 0
        elif r.kind == "multi_year" and r.schedule and all(y.amount_yuan is not None for y in r.schedule):
            item.amount_yuan = item.stake_yuan = sum(y.amount_yuan for y in r.schedule)
            item.amount_text = "、".join(f"第{y.year}年{format_yuan(y.amount_yuan)}" for y in r.schedule) + \
                f"，共{format_yuan(item.amount_yuan)}"
        elif r.kind == "tiered" and r.tiers:
            value = self.rev.current_yuan if self.rev.current_yuan is not None else facts.get("output_yuan")
            steps = "、".join(f"{format_yuan(t.threshold_yuan)}档" + (f"{format_yuan(t.amount_yuan)}" if t.amount_yuan
                                                                    else f"{t.rate:.0%}") for t in r.tiers)
            item.amount_text = f"分档：{steps}"
            if value is None:
                item.conditions.append(Condition(f"{r.base or '营收'}达到{format_yuan(r.tiers[0].threshold_yuan)}以上",
                                                 UNKNOWN, "revenue"))
                item.stake_yuan = max((t.amount_yuan or 0) for t in r.tiers)
            else:
                reached = [t for t in r.tiers if t.threshold_yuan <= value]
                nxt = next((t for t in r.tiers if t.threshold_yuan > value), None)
                if nxt and nxt.amount_yuan:
                    next_steps.append(f"{r.base or '营收'}再增加{format_yuan(nxt.threshold_yuan - value)}即达到"
                                      f"“{_short(r.item)}”的{format_yuan(nxt.threshold_yuan)}档，奖励"
                                      f"{format_yuan(nxt.amount_yuan)}。")
                if not reached:
                    item.conditions.append(Condition(f"{r.base or '营收'}达到{format_yuan(r.tiers[0].threshold_yuan)}"
                                                     f"（您{format_yuan(value)}）", UNMET))
                else:
                    t = reached[-1]
                    item.conditions.append(Condition(f"{r.base or '营收'}达到{format_yuan(t.threshold_yuan)}档"
                                                     f"（您{format_yuan(value)}）", MET))
                    if t.amount_yuan is not None:
                        item.amount_yuan = t.amount_yuan
                        item.amount_text = f"达到{format_yuan(t.threshold_yuan)}档，奖励{format_yuan(t.amount_yuan)}"
        else:
            item.amount_text = f"文件未规定金额（{r.wording or '按规定给予支持'}）"
        for th in r.thresholds:
            item.conditions.append(self._threshold(th))
        conds = [c for c in r.conditions if not _PAYMENT_WORDS.search(c)]
        achievement = [c for c in conds if any(t in c for t in r.triggers)] or conds[:1]
        for c in conds:
            if c in achievement:
                continue
            if any(th.what in c for th in r.thresholds):
                continue
            item.conditions.append(self._trade(c) or Condition(c, UNKNOWN))
        if achievement or r.triggers:
            self._achievement(item, r)
        return item

    def _threshold(self, th) -> Condition:
        what = th.what
        value = (self.facts.get("investment_yuan") if re.search(r"投资|购置|投入", what) else
                 self.rev.current_yuan if re.search(r"营收|营业收入|销售", what) else
                 self.facts.get("output_yuan") if "产值" in what else None)
        need = f"{what}{format_yuan(th.threshold_yuan)}" + ("以下" if th.upper else "及以上")
        if value is None:
            fact = "investment" if re.search(r"投资|购置|投入", what) else "revenue" if re.search(r"营收|销售", what) else None
            return Condition(need, UNKNOWN, fact)
        ok = value <= th.threshold_yuan if th.upper else value >= th.threshold_yuan
        return Condition(f"{need}（您{format_yuan(value)}）", MET if ok else UNMET)

    def _trade(self, cond: str) -> Condition | None:
        """"铸造企业": met when the owner said they do 铸造, unmet when they named another trade."""
        if not _WHO_TAIL.search(cond):
            return None
        core = _WHO_TAIL.sub("", cond)
        lex = lexicon()
        known = {w for ws in lex["categories"].values() for w in ws} | set(lex["agricultural_products"]) | \
            set(lex["non_agricultural_products"])
        if not any(w in core for w in known):
            return None
        trades = self.facts.get("trades") or []
        if any(w in core or core in w for w in trades):
            return Condition(cond, MET)
        return Condition(cond, UNMET if trades else UNKNOWN)


def _label(row) -> str:
    name = _short(row.item)
    if len(name) <= 12:
        return name
    return (row.triggers[0] + "等") if row.triggers else name[:11] + "…"


def _short(item: str) -> str:
    return re.sub(r"^(?:新|首次|对)", "", item)


def cn(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def validity_text(until: date | None, vfrom: date | None, today: date) -> str:
    if until and today > until:
        return f"政策已于{cn(until)}到期"
    if vfrom and today < vfrom:
        return f"自{cn(vfrom)}起施行"
    if until:
        return f"有效期至{cn(until)}"
    return "文件未写有效期"


# ---- the interview's questions --------------------------------------------------------------------------
PRIORITY = ("region", "revenue", "agricultural", "year", "recognitions", "investment", "people", "area_mu")


def _questions(items: list[Item], judge: _Judge) -> list[Question]:
    """Facts that decide rows still open, ranked: the most rule rows decided first (the revenue tiers before
    one recognition's row; the recognitions are asked together but each decides its own rows), then by
    PRIORITY, then the most money."""
    qs: dict[str, Question] = {}
    per_name: dict[str, int] = {}
    for it in items:
        if it.verdict == NOT_ELIGIBLE:
            continue
        for fact in it.facts_needed():
            q = qs.setdefault(fact, Question(fact, ""))
            q.stake_yuan += it.stake_yuan or it.amount_yuan or 0
            if fact == "recognitions":
                row = judge.rules.by_id(it.rule_ids[0])
                name = judge.asks_recognition(row) if row is not None else None
                if name:
                    per_name[name] = per_name.get(name, 0) + len(it.rule_ids)
                    if name not in q.names:
                        q.names.append(name)
            else:
                q.rows += len(it.rule_ids)
    if "recognitions" in qs:
        qs["recognitions"].rows = max(per_name.values(), default=1)
    rank = lambda f: PRIORITY.index(f.split(":")[0]) if f.split(":")[0] in PRIORITY else len(PRIORITY)  # noqa: E731
    ranked = sorted(qs.values(), key=lambda q: (-q.rows, rank(q.fact), -q.stake_yuan, q.fact))
    for q in ranked:
        q.text, q.choices = _wording(q, items, judge)
    return ranked


def _wording(q: Question, items: list[Item], judge: _Judge) -> tuple[str, list[str]]:
    today = judge.today
    if q.fact == "agricultural":
        return "贵企业是涉农企业吗？（涉农企业的营收奖励档次不同）", ["是涉农企业", "不是涉农企业"]
    if q.fact == "revenue":
        last = today.year - 1
        text = (f"企业{last}年的营收是多少？是不是第一次达到这个规模（以前最高多少）？"
                f"例如“{last}年营收5.2亿元，以前最高4亿元”。")
        return text, ["跳过"]
    if q.fact == "recognitions":
        worth = {}
        for it in items:
            if "recognitions" in it.facts_needed():
                row = judge.rules.by_id(it.rule_ids[0])
                name = judge.asks_recognition(row) if row is not None else None
                if name:
                    worth[name] = max(worth.get(name, 0), it.stake_yuan or 0)
        names = sorted(q.names, key=lambda n: -worth.get(n, 0))[:7]
        q.names = names
        return ("贵企业获得过下面哪些认定、称号或认证？（可以直接回复名称，多个用顿号隔开；都没有请回复“都没有”）",
                names + ["都没有"])
    if q.fact.startswith("year:"):
        what = q.fact[5:]
        until = max((_until(judge, it) for it in items if q.fact in it.facts_needed()), default=None)
        label = "营收达到这个档次" if what == "revenue" else f"获得“{what}”"
        choices = [f"{until.year}年或更早", f"{until.year + 1}年以后"] if until else []
        return f"{label}是哪一年？（原政策有效期至{cn(until)}，按达到的年份判断）" if until else f"{label}是哪一年？", choices
    if q.fact == "investment":
        return "相关的投资或设备购置额是多少？（例如“设备购置300万元”）", ["跳过"]
    if q.fact == "people":
        return "新招用（或涉及）的人数是多少？", ["跳过"]
    if q.fact == "area_mu":
        return "涉及的面积是多少亩？", ["跳过"]
    return f"{q.fact}？", []


def _until(judge: _Judge, item: Item) -> date | None:
    doc = judge.kb.documents.get(item.doc_id)
    rows = [judge.rules.by_id(r) for r in item.rule_ids]
    dates = [r.valid_until for r in rows if r is not None and getattr(r, "valid_until", None)]
    return max(dates) if dates else (doc.valid_until_date() if doc else None)

"""Dialogue state: what the conversation knows about the enterprise (facts, kept in `Session.facts`) and
what the last answer was about (its subject, kept in `Session.state["last"]`), so that "依据是哪个文件？",
"这个找谁办？", "还有效吗？" and corrections resolve against it."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bot.core.types import Session
from bot.nlu.slots import Revenue, Slots

FACT_KEYS = ("region", "agricultural", "agricultural_inferred", "category", "output_yuan", "leading_firms",
             "partner_firms", "investment_yuan", "people", "area_mu", "revenue", "recognitions", "trades")


@dataclass
class Subject:
    type: str
    question: str
    doc_ids: list[str] = field(default_factory=list)
    clause_ids: list[str] = field(default_factory=list)
    rule_ids: list[str] = field(default_factory=list)
    region: str | None = None
    quotes: list[str] = field(default_factory=list)     # the sentences the answer rested on

    @classmethod
    def from_dict(cls, d: dict | None) -> "Subject | None":
        if not d:
            return None
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def last_subject(session: Session) -> Subject | None:
    return Subject.from_dict(session.state.get("last"))


def remember_subject(session: Session, subject: Subject) -> None:
    session.state["last"] = asdict(subject)


def merge_revenue(old: dict | None, new: Revenue, replace: bool) -> dict:
    """Revenue told now over revenue told before: a correction replaces it; otherwise figures are added by
    year and the current figure is updated (a what-if keeps what was said about earlier years)."""
    if replace or not old:
        return new.as_dict()
    base = Revenue.from_dict(old)
    earlier = new.year is not None and new.current_yuan is not None and (
        (base.year is not None and new.year < base.year) or
        # "前年4.3亿" after "营收首次过了5亿" (no year said): a smaller figure of a named year is the past
        (base.year is None and base.current_yuan is not None and new.current_yuan < base.current_yuan
         and not new.first_time))
    if earlier:
        # "前年4.3亿" after "去年首次过了5亿": an earlier year's figure, not a new current one
        base.history[new.year] = new.current_yuan
        base.prior_max_yuan = max(v for y, v in base.history.items() if base.year is None or y < base.year)
        base.received_yuan = sorted(set(base.received_yuan) | set(new.received_yuan))
        return base.as_dict()
    if new.current_yuan is not None:
        base.current_yuan, base.current_bound, base.current_upper = new.current_yuan, new.current_bound, new.current_upper
        if new.year is not None:
            base.year = new.year
    if new.first_time is not None:
        base.first_time = new.first_time
    if new.prior_max_yuan is not None:
        base.prior_max_yuan = new.prior_max_yuan
    base.history.update(new.history)
    base.earlier_first.update(new.earlier_first)
    base.received_yuan = sorted(set(base.received_yuan) | set(new.received_yuan))
    if base.year is not None:
        earlier = [v for y, v in base.history.items() if y < base.year]
        if earlier:
            base.prior_max_yuan = max(earlier) if new.prior_max_yuan is None else max([new.prior_max_yuan, *earlier])
    return base.as_dict()


def merge_facts(old: dict, slots: Slots) -> dict:
    """The enterprise's facts after this message: what it says wins; a negated region ("不在代县") removes
    the remembered one; an inferred 涉农 never overrides one that was said."""
    facts = {k: v for k, v in old.items() if k in FACT_KEYS}
    new = slots.enterprise_facts()
    if slots.region:
        facts["region"] = slots.region
    elif facts.get("region") in slots.not_regions:
        facts.pop("region")
    if slots.agricultural is not None:
        said_before = "agricultural" in facts and not facts.get("agricultural_inferred")
        if not slots.agricultural_inferred or not said_before:
            facts["agricultural"] = slots.agricultural
            if slots.agricultural_inferred:
                facts["agricultural_inferred"] = True
            else:
                facts.pop("agricultural_inferred", None)
    if "revenue" in new:
        replace = slots.correction and (slots.revenue.current_yuan is not None and slots.revenue.prior_max_yuan
                                        is not None)
        facts["revenue"] = merge_revenue(facts.get("revenue"), slots.revenue, replace)
    for k in ("category", "output_yuan", "leading_firms", "partner_firms", "investment_yuan", "people", "area_mu"):
        if k in new:
            facts[k] = new[k]
    if slots.recognitions:
        # what is said now about a recognition replaces what was said before about that one only
        facts["recognitions"] = {**(facts.get("recognitions") or {}), **slots.recognitions}
    if slots.trades:
        facts["trades"] = list(dict.fromkeys([*(facts.get("trades") or []), *slots.trades]))[-8:]
    return facts

"""Rule tables (kb/rules/*.yaml): loaded and validated. A wrong field, unknown region, overlapping tiers or
a dangling clause id fails with the file, row and field named."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.errors import RuleError
from kb.regions import Gazetteer


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    doc: str
    clause: str


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    region: str
    source: Source
    valid_until: date | None = None
    notes: str | None = None


class RevenueTier(Row):
    sector: Literal["general", "agricultural"]
    threshold_yuan: int
    amount_yuan: int


class FixedAward(Row):
    item: str
    triggers: list[str]
    excludes: list[str] = []
    amount_yuan: int | None
    wording: str

    @field_validator("triggers")
    @classmethod
    def _nonempty(cls, v):
        if not v or not all(str(t).strip() for t in v):
            raise ValueError("needs at least one non-empty trigger word")
        return [str(t) for t in v]


class RecognitionThreshold(Row):
    level: str
    category: str
    min_output_yuan: int
    relaxed_min_output_yuan: int | None = None
    min_leading_firms: int
    min_partner_firms: int
    firms_source: Source


class PolicyTerm(Row):
    kind: Literal["land_price_floor", "plot_ratio", "no_double_reward", "validity"]
    value: float | date | None = None
    text: str


class Contact(Row):
    office: str
    phone: str


AWARD_KINDS = ("fixed", "tiered", "ratio", "per_unit", "range", "multi_year", "unquantified")


class Threshold(BaseModel):
    """A condition with a figure: 固定资产投资1000万元及以上 → {what: 固定资产投资, threshold_yuan: 10000000}.
    `upper`: the figure is a ceiling (500万元以下) rather than a floor."""
    model_config = ConfigDict(extra="forbid")
    what: str
    threshold_yuan: int = Field(ge=0)
    upper: bool = False


class Tier(BaseModel):
    """One step of a tiered award: from threshold_yuan up, amount_yuan (or rate of the row's base)."""
    model_config = ConfigDict(extra="forbid")
    threshold_yuan: int = Field(ge=0)
    amount_yuan: int | None = Field(default=None, ge=0)
    rate: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _one(self):
        if (self.amount_yuan is None) == (self.rate is None):
            raise ValueError("a tier needs amount_yuan or rate (one of them)")
        return self


class YearAmount(BaseModel):
    """One year of a multi-year award: its amount, or its rate of the row's base."""
    model_config = ConfigDict(extra="forbid")
    year: int = Field(ge=1, le=30)
    amount_yuan: int | None = Field(default=None, ge=0)
    rate: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _one(self):
        if (self.amount_yuan is None) == (self.rate is None):
            raise ValueError("a year needs amount_yuan or rate (one of them)")
        return self


class Award(Row):
    """A reward of any kind, usually accepted from a proposal (kb/rules/awards-<doc>.yaml). Fields by kind:
    fixed: amount_yuan · tiered: tiers (ascending) · ratio: rate, base, cap_yuan? · per_unit: amount_yuan, unit,
    cap_yuan? · range: min_yuan/max_yuan (amounts; either may stand alone: "最高200万元" has only max_yuan) or
    rate_min/rate_max with base · multi_year: schedule (and amount_yuan, the total, when written) ·
    unquantified: only wording (按规定给予奖励, 一事一议)."""
    kind: Literal["fixed", "tiered", "ratio", "per_unit", "range", "multi_year", "unquantified"]
    item: str
    sentence: str
    wording: str = ""
    valid_from: date | None = None
    conditions: list[str] = []
    thresholds: list[Threshold] = []
    triggers: list[str] = []
    excludes: list[str] = []
    amount_yuan: int | None = Field(default=None, ge=0)
    tiers: list[Tier] | None = None
    base: str | None = None
    rate: float | None = Field(default=None, gt=0, le=1)
    rate_min: float | None = Field(default=None, gt=0, le=1)
    rate_max: float | None = Field(default=None, gt=0, le=1)
    cap_yuan: int | None = Field(default=None, ge=0)
    min_yuan: int | None = Field(default=None, ge=0)
    max_yuan: int | None = Field(default=None, ge=0)
    unit: str | None = None
    schedule: list[YearAmount] | None = None

    @field_validator("item", "sentence")
    @classmethod
    def _text(cls, v):
        if not str(v).strip():
            raise ValueError("must not be empty")
        return v

    @model_validator(mode="after")
    def _by_kind(self):
        k = self.kind
        need = {"fixed": ["amount_yuan"], "tiered": ["tiers"], "ratio": ["rate"], "per_unit": ["amount_yuan", "unit"],
                "multi_year": ["schedule"]}.get(k, [])
        for f in need:
            if getattr(self, f) in (None, [], ""):
                raise ValueError(f"a {k} award needs {f}")
        if k == "tiered":
            steps = [t.threshold_yuan for t in self.tiers]
            if steps != sorted(steps) or len(set(steps)) != len(steps):
                raise ValueError("tiers must have ascending, distinct threshold_yuan")
        if k == "range":
            money = self.min_yuan is not None or self.max_yuan is not None
            rates = self.rate_min is not None and self.rate_max is not None
            if not money and not rates:
                raise ValueError("a range award needs min_yuan/max_yuan or rate_min and rate_max")
            if self.min_yuan is not None and self.max_yuan is not None and self.min_yuan > self.max_yuan:
                raise ValueError("min_yuan is above max_yuan")
            if rates and self.rate_min > self.rate_max:
                raise ValueError("rate_min is above rate_max")
        if k == "multi_year":
            years = [y.year for y in self.schedule]
            if years != sorted(years) or len(set(years)) != len(years):
                raise ValueError("schedule years must be ascending and distinct")
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


TABLES = {"revenue_tiers": RevenueTier, "fixed_awards": FixedAward,
          "recognition_thresholds": RecognitionThreshold, "policy_terms": PolicyTerm, "contacts": Contact,
          "awards": Award}


@dataclass
class RuleSet:
    revenue_tiers: list[RevenueTier] = field(default_factory=list)
    fixed_awards: list[FixedAward] = field(default_factory=list)
    recognition_thresholds: list[RecognitionThreshold] = field(default_factory=list)
    policy_terms: list[PolicyTerm] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    awards: list[Award] = field(default_factory=list)      # after versions: positional use stays as it was

    def all_rows(self) -> list[Row]:
        return [*self.revenue_tiers, *self.fixed_awards, *self.recognition_thresholds, *self.policy_terms,
                *self.contacts, *self.awards]

    def by_id(self, rule_id: str) -> Row | None:
        return next((r for r in self.all_rows() if r.id == rule_id), None)


def _fail(path: Path, i: int | None, rid: str | None, fld: str, msg: str) -> RuleError:
    where = f"{path.name}" + (f": row {i + 1}" if i is not None else "") + (f" ({rid})" if rid else "")
    return RuleError(f"{where}: field '{fld}': {msg}")


def load_rules(rules_dir: Path, clause_ids: set[str] | None = None,
               gazetteer: Gazetteer | None = None) -> RuleSet:
    """Load every table in rules_dir. clause_ids: the knowledge base's clauses, to catch dangling sources."""
    gaz = gazetteer or Gazetteer.load()
    rs = RuleSet()
    seen: dict[str, str] = {}
    files = sorted(Path(rules_dir).glob("*.yaml"))
    if not files:
        raise RuleError(f"no rule tables in {rules_dir}")
    for path in files:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise RuleError(f"{path.name}: not valid YAML: {e}") from e
        name = raw.get("table")
        if name not in TABLES:
            raise _fail(path, None, None, "table", f"unknown table {name!r}; one of {', '.join(TABLES)}")
        model = TABLES[name]
        rows = []
        for i, row in enumerate(raw.get("rows") or []):
            rid = row.get("id") if isinstance(row, dict) else None
            try:
                r = model.model_validate(row)
            except ValidationError as e:
                err = e.errors()[0]
                raise _fail(path, i, rid, ".".join(map(str, err["loc"])) or "?", err["msg"]) from None
            if r.id in seen:
                raise _fail(path, i, r.id, "id", f"duplicate id (also in {seen[r.id]})")
            seen[r.id] = path.name
            if not gaz.resolve(r.region):
                raise _fail(path, i, r.id, "region", f"unknown region {r.region!r}")
            for fld in ("source", "firms_source"):
                src = getattr(r, fld, None)
                if src is None:
                    continue
                if not src.clause.startswith(src.doc + "/"):
                    raise _fail(path, i, r.id, f"{fld}.clause", f"{src.clause!r} is not a clause of {src.doc!r}")
                if clause_ids is not None and src.clause not in clause_ids:
                    raise _fail(path, i, r.id, f"{fld}.clause", f"no clause {src.clause!r} in the knowledge base")
            rows.append(r)
        getattr(rs, name).extend(rows)
        if name not in rs.versions or name != "awards":
            rs.versions[name] = str(raw.get("version", ""))
    _check_tiers(rs, rules_dir)
    return rs


def _check_tiers(rs: RuleSet, rules_dir: Path) -> None:
    path = Path(rules_dir) / "revenue_tiers.yaml"
    groups: dict[tuple[str, str], list[RevenueTier]] = {}
    for t in rs.revenue_tiers:
        groups.setdefault((t.region, t.sector), []).append(t)
    for (region, sector), tiers in groups.items():
        tiers.sort(key=lambda t: t.threshold_yuan)
        for a, b in zip(tiers, tiers[1:]):
            if a.threshold_yuan == b.threshold_yuan:
                raise _fail(path, None, b.id, "threshold_yuan",
                            f"overlaps {a.id}: both start at {a.threshold_yuan} for {region}/{sector}")
            if b.amount_yuan < a.amount_yuan:
                raise _fail(path, None, b.id, "amount_yuan",
                            f"a higher tier pays less than {a.id} ({b.amount_yuan} < {a.amount_yuan})")

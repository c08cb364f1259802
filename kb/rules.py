"""Rule tables (kb/rules/*.yaml): loaded and validated. A wrong field, unknown region, overlapping tiers or
a dangling clause id fails with the file, row and field named."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

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


TABLES = {"revenue_tiers": RevenueTier, "fixed_awards": FixedAward,
          "recognition_thresholds": RecognitionThreshold, "policy_terms": PolicyTerm, "contacts": Contact}


@dataclass
class RuleSet:
    revenue_tiers: list[RevenueTier] = field(default_factory=list)
    fixed_awards: list[FixedAward] = field(default_factory=list)
    recognition_thresholds: list[RecognitionThreshold] = field(default_factory=list)
    policy_terms: list[PolicyTerm] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)

    def all_rows(self) -> list[Row]:
        return [*self.revenue_tiers, *self.fixed_awards, *self.recognition_thresholds, *self.policy_terms,
                *self.contacts]

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

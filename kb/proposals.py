"""Rule proposals under review, and the `awards` rows accepted from them.

State lives beside the rule tables:

- `<rules_dir>/review/<doc_id>.yaml` — every proposal for the document with its status
  (pending | accepted | rejected); rejected ones stay listed.
- `<rules_dir>/awards-<doc_id>.yaml` — the accepted reward proposals as rows of the `awards` table
  (a `not_a_reward` proposal accepted means "marked: not a reward", and becomes no row).

`load_review(rules_dir)` is what the answer side reads to know which amount sentences are still pending.
Writing is all or nothing: both files are replaced atomically and the rule tables are validated (schema,
regions, dangling clause ids) before the change is kept.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.errors import RuleError
from kb.propose import Proposal, propose, sentences, is_amount_sentence
from kb import figures as fg

log = logging.getLogger(__name__)

REVIEW_DIR = "review"
STATUSES = ("pending", "accepted", "rejected")
REWARD_KINDS = ("fixed", "tiered", "ratio", "per_unit", "range", "multi_year", "unquantified")
ROW_FIELDS = ("kind", "item", "sentence", "conditions", "thresholds", "triggers", "excludes", "amount_yuan",
              "tiers", "base", "rate", "rate_min", "rate_max", "cap_yuan", "min_yuan", "max_yuan", "unit",
              "schedule", "wording")


def review_path(rules_dir: Path, doc_id: str) -> Path:
    return Path(rules_dir) / REVIEW_DIR / f"{doc_id}.yaml"


def awards_path(rules_dir: Path, doc_id: str) -> Path:
    return Path(rules_dir) / f"awards-{doc_id}.yaml"


# ---------------------------------------------------------------- reading
def load_doc_review(rules_dir: Path, doc_id: str) -> list[Proposal]:
    path = review_path(rules_dir, doc_id)
    if not path.exists():
        return []
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise RuleError(f"{path.name}: review file cannot be read: {e}") from e
    out = []
    for i, d in enumerate(raw.get("proposals") or []):
        if not isinstance(d, dict) or d.get("status", "pending") not in STATUSES:
            raise RuleError(f"review/{path.name}: proposal {i + 1}: status must be one of {', '.join(STATUSES)}")
        out.append(Proposal.from_dict(d))
    return out


def load_review(rules_dir: Path) -> list[Proposal]:
    """Every proposal of every reviewed document (status pending, accepted or rejected), document by document.
    Each has .doc, .clause, .sentence, .kind, .item, .status and the kind's figures (amount_yuan, …)."""
    d = Path(rules_dir) / REVIEW_DIR
    out: list[Proposal] = []
    for path in sorted(d.glob("*.yaml")) if d.is_dir() else []:
        out.extend(load_doc_review(rules_dir, path.stem))
    return out


# ---------------------------------------------------------------- proposals for a document
def propose_document(doc) -> tuple[list, list[Proposal]]:
    """(clauses, proposals) of a kb.documents.SourceDocument."""
    from kb.parse import parse_document
    clauses = parse_document(doc)
    return clauses, propose(doc.meta, clauses)


def to_award_row(p: Proposal) -> dict:
    """An accepted proposal as a row of the `awards` table."""
    row: dict = {"id": p.id, "region": p.region, "source": {"doc": p.doc, "clause": p.clause}}
    if p.valid_from:
        row["valid_from"] = p.valid_from
    if p.valid_until:
        row["valid_until"] = p.valid_until
    for k in ROW_FIELDS:
        v = getattr(p, k, None)
        if v is None or v == [] and k not in ("conditions",):
            continue
        row[k] = v
    return row


def row_problem(p: Proposal) -> str | None:
    """Why an accepted proposal could not be an `awards` row (None: it can)."""
    if p.kind not in REWARD_KINDS:
        return None
    from pydantic import ValidationError
    from kb.rules import Award
    try:
        Award.model_validate(to_award_row(p))
    except ValidationError as e:
        err = e.errors()[0]
        return f"{'.'.join(map(str, err['loc'])) or 'row'}: {err['msg']}"
    return None


def accept_all(proposals: list[Proposal]) -> list[Proposal]:
    """Accept every pending proposal that makes a valid row; the others stay pending (returned)."""
    left = []
    for p in proposals:
        if p.status != "pending":
            continue
        if row_problem(p):
            left.append(p)
            continue
        p.status = "accepted"
    return left


def _dump(data) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120).encode("utf-8")


def review_bytes(doc_id: str, proposals: list[Proposal]) -> bytes:
    head = (f"# Rule proposals for {doc_id}: status pending | accepted | rejected. Change them with\n"
            f"# `python -m bot rules review {doc_id} --accept ID … --reject ID …`; accepted rewards are the rows\n"
            f"# of awards-{doc_id}.yaml.\n")
    return head.encode("utf-8") + _dump({"document": doc_id, "proposals": [p.to_dict() for p in proposals]})


def awards_bytes(doc_id: str, proposals: list[Proposal]) -> bytes | None:
    rows = [to_award_row(p) for p in proposals if p.status == "accepted" and p.kind in REWARD_KINDS]
    if not rows:
        return None
    head = (f"# Awards accepted from the proposals for {doc_id} (see review/{doc_id}.yaml).\n"
            f"# Edit a row here to correct it; `python -m bot rules check` validates the tables.\n")
    return head.encode("utf-8") + _dump({"table": "awards", "version": 1, "rows": rows})


def local_id(p: Proposal) -> str:
    """The proposal's id without its document's: `1-1-a` for `zz-2025-12-1-1-a`."""
    prefix = p.doc + "-"
    return p.id[len(prefix):] if p.id.startswith(prefix) else p.id


def decide(proposals: list[Proposal], decisions: dict[str, str]) -> list[Proposal]:
    """Apply {proposal id (full, or without the document id): status}; unknown ids fail."""
    by_id = {p.id: p for p in proposals}
    short = {local_id(p): p for p in proposals}
    for pid, status in decisions.items():
        if status not in STATUSES:
            raise RuleError(f"{pid}: status must be one of {', '.join(STATUSES)}")
        p = by_id.get(pid) or short.get(pid)
        if p is None:
            raise RuleError(f"no proposal {pid!r}; the proposals are: {', '.join(sorted(by_id)) or 'none'}")
        p.status = status
    return proposals


# ---------------------------------------------------------------- writing
@dataclass
class ReviewReport:
    doc_id: str
    proposals: list[Proposal]
    awards_file: Path | None

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for p in self.proposals if p.status == s) for s in STATUSES}


def _write_atomic(path: Path, data: bytes | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    tmp.replace(path)


def save_review(rules_dir: Path, doc_id: str, proposals: list[Proposal], clause_ids: set[str] | None) -> ReviewReport:
    """Write the review file and the document's awards table; validate every rule table (with clause_ids, the
    knowledge base's clauses) and restore both files exactly if anything fails."""
    from kb.rules import load_rules
    rpath, apath = review_path(rules_dir, doc_id), awards_path(rules_dir, doc_id)
    before = {p: (p.read_bytes() if p.exists() else None) for p in (rpath, apath)}
    try:
        _write_atomic(rpath, review_bytes(doc_id, proposals))
        _write_atomic(apath, awards_bytes(doc_id, proposals))
        load_rules(rules_dir, clause_ids)
    except BaseException:
        for p, data in before.items():
            _write_atomic(p, data)
        raise
    return ReviewReport(doc_id, proposals, apath if apath.exists() else None)


def review_files(doc_id: str, proposals: list[Proposal]) -> dict[str, bytes | None]:
    """The two files (relative to the rules dir) a review writes, for a caller that journals its writes."""
    return {f"{REVIEW_DIR}/{doc_id}.yaml": review_bytes(doc_id, proposals),
            f"awards-{doc_id}.yaml": awards_bytes(doc_id, proposals)}


def review(config, doc_id: str, decisions: dict[str, str] | None = None, accept_all: bool = False) -> ReviewReport:
    """Accept/reject proposals of a document in the knowledge base (`rules review`)."""
    from kb.build import parse_all
    from kb.documents import load_documents
    proposals = load_doc_review(config.rules_dir, doc_id)
    if not proposals:
        known = sorted(p.stem for p in (Path(config.rules_dir) / REVIEW_DIR).glob("*.yaml"))
        raise RuleError(f"no proposals for {doc_id!r}; documents with proposals: {', '.join(known) or 'none'}")
    if accept_all:
        globals()["accept_all"](proposals)
    decide(proposals, decisions or {})
    clause_ids = {c.id for c in parse_all(load_documents(config.documents_dir))}
    return save_review(config.rules_dir, doc_id, proposals, clause_ids)


def propose_existing(config, doc_id: str) -> ReviewReport:
    """Proposals for a document already in the knowledge base (one added before proposals existed, or whose
    text changed); the statuses of proposals already reviewed are kept."""
    from bot.errors import KBError
    from kb.build import parse_all
    from kb.documents import load_documents
    docs = load_documents(config.documents_dir)
    doc = next((d for d in docs if d.meta.id == doc_id), None)
    if doc is None:
        raise KBError(f"no document {doc_id!r}; the documents are: {', '.join(sorted(d.meta.id for d in docs))}")
    _, proposals = propose_document(doc)
    old = {(p.clause, p.sentence, p.item): p.status for p in load_doc_review(config.rules_dir, doc_id)}
    for p in proposals:
        p.status = old.get((p.clause, p.sentence, p.item), "pending")
    return save_review(config.rules_dir, doc_id, proposals, {c.id for c in parse_all(docs)})


# ---------------------------------------------------------------- coverage for `rules check`
@dataclass
class Uncovered:
    doc: str
    clause: str
    sentence: str
    figures_yuan: list[int]
    status: str          # "no proposal" | pending | rejected


def _row_figures(row) -> set[int]:
    vals: set[int] = set()
    d = row.model_dump() if hasattr(row, "model_dump") else dict(row)

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k.endswith("_yuan") and isinstance(v, int):
                    vals.add(v)
                else:
                    walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(d)
    return vals


def uncovered(docs, clauses, rules, review_items: list[Proposal]) -> list[Uncovered]:
    """Amount sentences of `docs` that are neither a rule row (a row citing the clause with one of the sentence's
    figures, or any row citing the clause for a sentence without figures) nor marked not_a_reward."""
    by_clause: dict[str, set[int]] = {}
    for r in rules.all_rows():
        src = getattr(r, "source", None)
        if src is not None:
            by_clause.setdefault(src.clause, set()).update(_row_figures(r))
    marked: dict[tuple[str, str], str] = {}
    for p in review_items:
        key = (p.clause, _norm(p.sentence))
        if p.kind == "not_a_reward" and p.status == "accepted":
            marked[key] = "not_a_reward"
        else:
            marked.setdefault(key, p.status)
            if p.status == "pending":
                marked[key] = "pending"
    live = {d.meta.id for d in docs}
    out: list[Uncovered] = []
    for c in clauses:
        if c.doc_id not in live or c.kind not in ("policy", "preamble", "annex"):
            continue
        for s in sentences(c.text):
            if not is_amount_sentence(s):
                continue
            figs = sorted(fg.yuan_values(s))
            rows = by_clause.get(c.id)
            if rows is not None and (not figs or set(figs) & rows):
                continue
            key = (c.id, _norm(s))
            state = next((v for (cid, sent), v in marked.items() if cid == c.id and (sent in key[1] or key[1] in sent)),
                         None)
            if state == "not_a_reward":
                continue
            out.append(Uncovered(c.doc_id, c.id, s, figs, state or "no proposal"))
    return out


def _norm(s: str) -> str:
    return re.sub(r"[\s。；;，,]", "", s)


# ---------------------------------------------------------------- showing proposals to staff
def fmt_yuan(v: int | None) -> str:
    if v is None:
        return "?"
    if v >= 100_000_000 and v % 1_000_000 == 0:
        return f"{v / 100_000_000:g}亿元"
    if v >= 10_000 and v % 100 == 0:
        return f"{v / 10_000:g}万元"
    return f"{v}元"


def _pct(r: float | None) -> str:
    return f"{r * 100:g}%" if r is not None else "?"


def describe(p: Proposal) -> str:
    """The offer in a few words: 15万元; 10% × 设备购置额 ≤ 500万元; 5亿元→10万元, 10亿元→20万元 …"""
    k = p.kind
    if k == "fixed":
        text = fmt_yuan(p.amount_yuan)
    elif k == "per_unit":
        text = f"{fmt_yuan(p.amount_yuan)}/{p.unit}"
    elif k == "tiered":
        text = ", ".join(f"{fmt_yuan(t.get('threshold_yuan'))}→"
                         + (fmt_yuan(t["amount_yuan"]) if "amount_yuan" in t else _pct(t.get("rate")))
                         for t in p.tiers or [])
    elif k == "ratio":
        text = f"{_pct(p.rate)} × {p.base or '?'}"
    elif k == "range":
        if p.rate_min is not None:
            text = f"{_pct(p.rate_min)}–{_pct(p.rate_max)} × {p.base or '?'}"
        elif p.min_yuan is not None:
            text = f"{fmt_yuan(p.min_yuan)}–{fmt_yuan(p.max_yuan)}"
        else:
            text = f"最高 {fmt_yuan(p.max_yuan)}" + (f"/{p.unit}" if p.unit else "")
    elif k == "multi_year":
        text = "; ".join(f"第{y['year']}年 " + (fmt_yuan(y["amount_yuan"]) if "amount_yuan" in y else _pct(y.get("rate")))
                         for y in p.schedule or [])
        if p.amount_yuan:
            text = f"{fmt_yuan(p.amount_yuan)} ({text})"
    elif k == "unquantified":
        text = p.wording or "no figure"
    else:
        text = f"not a reward ({p.reason or '?'}): " + ", ".join(fmt_yuan(v) for v in p.figures_yuan or [])
    if p.cap_yuan is not None and k != "not_a_reward":
        text += f", ≤ {fmt_yuan(p.cap_yuan)}"
    if p.thresholds:
        text += "; if " + ", ".join(f"{t['what']} {'<' if t.get('upper') else '≥'} {fmt_yuan(t['threshold_yuan'])}"
                                   for t in p.thresholds)
    return text


def table(proposals: list[Proposal], title: str = "", statuses: bool = False):
    """A rich Table of proposals."""
    from rich.table import Table
    t = Table(title=title or None, title_justify="left")
    t.add_column("#", no_wrap=True)
    t.add_column("clause", overflow="fold")
    t.add_column("kind", no_wrap=True)
    t.add_column("item", overflow="fold", max_width=36)
    t.add_column("offer", overflow="fold", max_width=48)
    if statuses:
        t.add_column("status", no_wrap=True)
    for p in proposals:
        row = [local_id(p), p.clause.split("/", 1)[-1], p.kind, p.item, describe(p)]
        if statuses:
            row.append(p.status)
        t.add_row(*row)
    return t

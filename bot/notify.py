"""New-policy notices: which saved profiles a newly accepted rule row concerns, the outbox, and sending.

    new = new_rows(rules_in_force, store.seen())          # rows not known when profiles were last matched
    notices = match(profiles, new, rules, gaz, kb, today) # pure: one notice per owner and document
    report = scan(config, store, today, dry_run=False)    # both, queued, the rows marked known
    await deliver(store, senders, dry_run=False)          # pending notices through each channel's sender

A row concerns a profile when its region covers the enterprise's and nothing the owner said rules it out —
the same judgement as the check-up (bot/core/checkup.py): met conditions, or unknown ones ("如已获评…"), but
never an unmet one. A profile without a region, with notices turned off, or of another region is never
told. Each owner gets one message per document with the new amounts and their clauses.

Rows are known by id and content digest: a row whose amount staff change counts as new again. The rows in
force when a profile is saved are marked known then (`Runtime` does it), so an owner hears only of rows
added after their check-up. Senders are the adapters' (`bot/commands/notify.py` wires them); web notices are
not sent: the page shows them on the owner's next visit (`ProfileStore.take_web`).
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Awaitable, Callable

from bot.core import checkup as ck
from bot.nlu.amounts import format_yuan
from bot.profiles import Notice, Profile, ProfileStore
from kb.rules import RuleSet

log = logging.getLogger(__name__)
TABLES = ("revenue_tiers", "fixed_awards", "awards")      # the rows that pay money
FOOTER = "发送“政策体检”查看完整清单；发送“退订”不再接收提醒；发送“删除我的信息”删除保存的企业信息。"


def digest(row) -> str:
    data = json.dumps(row.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]


def money_rows(rules: RuleSet) -> list:
    return [r for t in TABLES for r in getattr(rules, t)]


def digests(rules: RuleSet) -> dict[str, str]:
    return {r.id: digest(r) for r in money_rows(rules)}


def new_rows(rules: RuleSet, seen: dict[str, str]) -> RuleSet:
    """The money rows not known yet (or changed since), with the rest of the tables for context."""
    fresh = lambda rows: [r for r in rows if seen.get(r.id) != digest(r)]  # noqa: E731
    return RuleSet(fresh(rules.revenue_tiers), fresh(rules.fixed_awards), [], [], list(rules.contacts),
                   dict(rules.versions), awards=fresh(rules.awards))


def in_force(rules: RuleSet, live: set[str]) -> RuleSet:
    keep = lambda rows: [r for r in rows if r.source.doc in live]  # noqa: E731
    return RuleSet(keep(rules.revenue_tiers), keep(rules.fixed_awards), keep(rules.recognition_thresholds),
                   keep(rules.policy_terms), keep(rules.contacts), dict(rules.versions), awards=keep(rules.awards))


# ---- the matcher (pure) ---------------------------------------------------------------------------------
def match(profiles: list[Profile], new: RuleSet, gaz, kb, today: date) -> list[Notice]:
    """One notice per profile and document whose new rows concern it (see the module docstring)."""
    out = []
    for p in profiles:
        if not p.notify or not p.facts.get("region"):
            continue
        result = ck.checkup(p.facts, new, gaz, kb, today)
        by_doc: dict[str, list[ck.Item]] = {}
        for item in result.items:
            if item.verdict != ck.NOT_ELIGIBLE:
                by_doc.setdefault(item.doc_id, []).append(item)
        for doc_id, items in by_doc.items():
            rule_ids = sorted(rid for i in items for rid in i.rule_ids)
            dg = hashlib.sha256(json.dumps([(rid, digest(new.by_id(rid))) for rid in rule_ids]).encode()).hexdigest()[:16]
            out.append(Notice(p.key, p.channel, p.address, doc_id, rule_ids, dg, notice_text(kb, doc_id, items, p),
                              reasons(items, p)))
    return out


def reasons(items: list[ck.Item], p: Profile) -> list[str]:
    out = []
    for i in items:
        conds = "；".join(f"{ck_mark(c.status)}{c.text}" for c in i.conditions)
        out.append(f"{i.title}（{i.verdict}）：{conds}")
    return out


def ck_mark(status: str) -> str:
    return {ck.MET: "✓", ck.UNMET: "✗", ck.UNKNOWN: "?"}[status]


def notice_text(kb, doc_id: str, items: list[ck.Item], p: Profile) -> str:
    d = kb.documents.get(doc_id)
    name = f"{d.number}《{d.title}》" if d is not None and d.number else f"《{d.title}》" if d is not None else doc_id
    lines = [f"📢 新政策提醒：{name}有可能适用于贵企业的规定（{items[0].validity}）："]
    for i in items:
        c = kb.clauses.get(i.clause_id)
        where = c.heading_path[-1] if c is not None and c.heading_path else i.clause_id
        amount = (f"{format_yuan(i.amount_yuan)}" if i.amount_yuan and not i.recurring else i.amount_text)
        if i.verdict == ck.ELIGIBLE:
            lines.append(f"· {i.title}：{amount}（{where}）。按您保存的情况符合条件。")
        else:
            need = "、".join(c.text for c in i.unknown(soft=False)) or "文件中的条件"
            lines.append(f"· {i.title}：{amount}（{where}）。还要看：{need}。")
    office = next((i.office + (f"，电话{i.phone.split(' ')[-1]}" if i.phone else "") for i in items if i.office), "")
    if office:
        lines.append(f"责任单位：{office}。")
    lines.append(FOOTER)
    return "\n".join(lines)


# ---- scanning and sending ---------------------------------------------------------------------------------
@dataclass
class ScanReport:
    new_rule_ids: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)     # queued (or, in a dry run, that would be)
    already: int = 0                                        # matched but told before


def load_rules_in_force(config, today: date):
    """(rules in force, gazetteer, knowledge base) of the build in service, without the models."""
    from kb.regions import Gazetteer
    from kb.rules import load_rules
    from kb.store import KnowledgeBase
    kb = KnowledgeBase.load(config.kb_db)
    gaz = Gazetteer.load()
    rules = load_rules(config.rules_dir, kb.clauses, gaz)
    return in_force(rules, kb.live_documents(today)), gaz, kb


def scan(config, store: ProfileStore, today: date, dry_run: bool = False, loaded=None) -> ScanReport:
    """Match the rows added since the last scan against the saved profiles and queue the notices."""
    rules, gaz, kb = loaded or load_rules_in_force(config, today)
    seen = store.seen()
    new = new_rows(rules, seen)
    report = ScanReport([r.id for r in money_rows(new)])
    if not report.new_rule_ids:
        return report
    notices = match(store.list(notify_only=True), new, gaz, kb, today)
    if dry_run:
        report.notices = notices
        return report
    for n in notices:
        nid = store.add_notice(n)
        if nid is None:
            report.already += 1
        else:
            n.id = nid
            report.notices.append(n)
    store.mark_seen(digests(rules))
    log.info("%d new rule row(s), %d notice(s) queued", len(report.new_rule_ids), len(report.notices))
    return report


Sender = Callable[[str, str], Awaitable[None]]     # (address, text) -> sent, or raises


@dataclass
class DeliveryReport:
    sent: list[Notice] = field(default_factory=list)
    failed: list[tuple[Notice, str]] = field(default_factory=list)
    skipped: list[tuple[Notice, str]] = field(default_factory=list)
    waiting: list[Notice] = field(default_factory=list)     # web notices: shown on the next visit


async def deliver(store: ProfileStore, senders: dict[str, Sender], dry_run: bool = False) -> DeliveryReport:
    """Send every pending notice through its channel's sender. Opt-outs and deleted profiles are honoured
    at the moment of sending too; a channel without a sender keeps its notices pending."""
    rep = DeliveryReport()
    for n in store.pending():
        profile = store.get(n.profile_key)
        if profile is None or not profile.notify:
            why = "profile deleted" if profile is None else "opted out"
            rep.skipped.append((n, why))
            if not dry_run:
                store.mark_skipped(n.id, why)
            continue
        if n.channel == "web":
            rep.waiting.append(n)
            continue
        send = senders.get(n.channel)
        if send is None or not n.address:
            rep.failed.append((n, f"no sender for {n.channel}" if send is None else "no address"))
            continue
        if dry_run:
            rep.sent.append(n)
            continue
        try:
            await send(n.address, n.text)
        except Exception as e:      # one owner's failure must not stop the others
            log.warning("notice %s to %s failed: %s", n.id, n.channel, e)
            store.mark_failed(n.id, f"{type(e).__name__}: {e}")
            rep.failed.append((n, str(e)))
            continue
        store.mark_sent(n.id)
        rep.sent.append(n)
    return rep

"""`python -m bot rules …`: the rule tables staff keep — check them, propose rows from a document's amount
sentences, and review (accept / reject) the proposals."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from bot.cli import load, plain_errors


@click.group("rules")
def rules_group():
    """Rule tables: validate them, propose rows from a document, review proposals."""


def _console(stderr: bool = False):
    from rich.console import Console
    return Console(stderr=stderr, soft_wrap=True)


@rules_group.command("check")
@click.option("--strict", is_flag=True, help="Exit 1 when an amount sentence is neither a rule row nor marked "
                                             "not a reward.")
@click.pass_context
@plain_errors
def rules_check(ctx, strict):
    """Validate every rule table against the schema, the gazetteer and the knowledge base's clauses, and list
    the amount sentences of live documents that are neither a rule row nor marked as not a reward."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from kb.admin import recover
    from kb.build import parse_all
    from kb.documents import load_documents
    from kb.proposals import load_review, uncovered
    from kb.rules import load_rules
    from kb.store import KnowledgeBase
    cfg = load(ctx)
    recover(cfg, rebuild=False)
    docs = load_documents(cfg.documents_dir)
    clauses = parse_all(docs)
    rs = load_rules(cfg.rules_dir, {c.id for c in clauses})
    for name, version in sorted(rs.versions.items()):
        click.echo(f"{name} (version {version}): {len(getattr(rs, name))} rows OK")
    today = datetime.now(ZoneInfo(cfg.timezone)).date()
    kb = KnowledgeBase({d.meta.id: d.meta for d in docs}, {})
    live = kb.live_documents(today)
    missing = uncovered([d for d in docs if d.meta.id in live], clauses, rs, load_review(cfg.rules_dir))
    if not missing:
        click.echo("every amount sentence of the live documents is a rule row or marked not a reward")
        return
    click.echo(f"{len(missing)} amount sentence(s) in live documents are neither a rule row nor marked "
               f"not a reward:")
    for m in missing:
        figs = ", ".join(str(v) for v in m.figures_yuan) or "no figure"
        click.echo(f"  {m.clause} [{m.status}] ({figs}): {m.sentence[:100]}")
    if strict:
        ctx.exit(1)


@rules_group.command("propose")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object: {"document": {…}, "clauses": N, "proposals": [...]}; money in *_yuan keys.')
@click.option("--region", help="Region the document governs, when the text does not say (e.g. 泽州县).")
@click.option("--valid-from", help="Date it takes effect (YYYY-MM-DD).")
@click.option("--valid-until", help="Date it expires (YYYY-MM-DD).")
@click.pass_context
@plain_errors
def rules_propose(ctx, file, as_json, region, valid_from, valid_until):
    """Read FILE (.txt, .docx, .pdf), split it into clauses and propose rule rows for every amount sentence.
    Nothing is written: `kb add` does the same as a step staff confirm."""
    import logging
    from kb import admin
    from kb.parse import INDEXED_KINDS
    from kb.proposals import table
    ov = {k: v for k, v in dict(region=region, valid_from=valid_from, valid_until=valid_until).items() if v}
    draft = admin.inspect_file(file, file.name).with_overrides(ov)
    same = None
    try:       # the id it has if it is already in the knowledge base; a file outside it needs none
        cfg = load(ctx)
        same = admin._same_text(cfg, draft.sha256) if cfg.documents_dir.is_dir() else None
    except Exception as e:  # noqa: BLE001 - proposing for a file must not depend on the knowledge base
        logging.getLogger(__name__).info("knowledge base not consulted: %s", e)
    doc_id = same.id if same is not None else admin.base_id(draft)
    doc = admin._source(draft, doc_id)
    from kb.proposals import propose_document
    clauses, proposals = propose_document(doc)
    n = sum(1 for c in clauses if c.kind in INDEXED_KINDS)
    if as_json:
        meta = {k: v for k, v in doc.meta.to_dict().items() if v is not None}
        click.echo(json.dumps({"document": meta, "clauses": n,
                               "proposals": [p.to_dict() for p in proposals]}, ensure_ascii=False))
        return
    con = _console()
    con.print(f"{doc_id}: {draft.title or '(no title)'} — {n} clauses, {len(proposals)} proposal(s)")
    if proposals:
        con.print(table(proposals))
    problem = admin.split_problem(clauses)
    if problem:
        _console(stderr=True).print(f"[bold red]WARNING: {file.name}: {problem}[/bold red]")


@rules_group.command("review")
@click.argument("doc", required=False)
@click.option("--accept", "accept", multiple=True, metavar="ID", help="Accept proposal ID (repeatable).")
@click.option("--reject", "reject", multiple=True, metavar="ID", help="Reject proposal ID (repeatable).")
@click.option("--pending", "pending", multiple=True, metavar="ID", help="Put proposal ID back to pending.")
@click.option("--yes", "-y", is_flag=True, help="Accept every pending proposal of DOC.")
@click.option("--status", type=click.Choice(["pending", "accepted", "rejected"]), help="List only these.")
@click.option("--propose", "propose_", is_flag=True,
              help="(Re)propose rows for DOC, a document already in the knowledge base; decisions made stay.")
@click.pass_context
@plain_errors
def rules_review(ctx, doc, accept, reject, pending, yes, status, propose_):
    """List rule proposals with their status (all documents, or DOC); with --accept/--reject/--yes, decide
    them: accepted rewards become rows of kb/rules/awards-DOC.yaml, validated like every rule table."""
    from kb.admin import recover
    from kb.proposals import load_doc_review, load_review, propose_existing, review, table
    cfg = load(ctx)
    if propose_:
        if not doc:
            raise click.UsageError("name the document to propose rows for: rules review DOC --propose")
        recover(cfg, rebuild=False)
        rep = propose_existing(cfg, doc)
        click.echo(f"{doc}: {len(rep.proposals)} proposal(s); " + ", ".join(f"{v} {k}" for k, v in rep.counts().items()),
                   err=True)
    decisions = {**{i: "accepted" for i in accept}, **{i: "rejected" for i in reject},
                 **{i: "pending" for i in pending}}
    if (decisions or yes) and not doc:
        raise click.UsageError("name the document whose proposals you decide: rules review DOC --accept ID")
    if decisions or yes:
        recover(cfg, rebuild=False)
        rep = review(cfg, doc, decisions, accept_all=yes)
        c = rep.counts()
        click.echo(f"{doc}: {c['accepted']} accepted, {c['rejected']} rejected, {c['pending']} pending"
                   + (f"; awards in {rep.awards_file.name}" if rep.awards_file else ""))
        return
    if propose_:
        return
    items = load_doc_review(cfg.rules_dir, doc) if doc else load_review(cfg.rules_dir)
    if status:
        items = [p for p in items if p.status == status]
    if not items:
        click.echo("no rule proposals" + (f" for {doc}" if doc else ""), err=True)
        return
    _console().print(table(items, statuses=True))
    sys.stdout.flush()

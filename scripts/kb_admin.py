"""`python -m bot kb …`: staff manage the policy documents (add, list, show, retire, replace, verify).

Results go to stdout, progress and logs to stderr; every error is one plain sentence, never a traceback.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.cli import load, plain_errors

log = logging.getLogger(__name__)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _overrides(region, valid_from, valid_until, title, number, issuer=None, date=None, kind=None) -> dict:
    return {k: v for k, v in dict(region=region, valid_from=valid_from, valid_until=valid_until, title=title,
                                  number=number, issuer=issuer, date=date, kind=kind).items() if v is not None}


def meta_options(fn):
    for opt in reversed([
        click.option("--region", help="Region the document governs, e.g. 晋城市 or 泽州县."),
        click.option("--valid-from", help="Date it takes effect (YYYY-MM-DD)."),
        click.option("--valid-until", help="Date it expires (YYYY-MM-DD)."),
        click.option("--title", help="Document title."),
        click.option("--number", help="文号, e.g. 晋市政办〔2023〕39号."),
        click.option("--issuer", help="Issuing office."),
        click.option("--date", "date_", help="Issue date (YYYY-MM-DD)."),
        click.option("--kind", type=click.Choice(["support_policy", "implementation_plan", "status_report",
                                                  "notice", "other"]), help="Kind of document."),
        click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation; accept every rule proposal."),
        click.option("--force", is_flag=True,
                     help="Add even if the metadata contradicts itself or the document does not split into clauses."),
        click.option("--verify", "verify_", is_flag=True,
                     help="First run the golden questions on the changed knowledge base and list what changed."),
        click.option("--questions", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Golden questions for --verify (default tests/gold/answers.jsonl)."),
    ]):
        fn = opt(fn)
    return fn


@click.group()
def group():
    """Staff: add, list, show, retire and replace policy documents; check answers before a change."""


def _show_draft(draft, header: str) -> None:
    table = Table(title=header, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for line in draft.describe():
        k, _, v = line.partition(": ")
        table.add_row(k, v)
    err.print(table)


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not click.confirm(question, default=False, err=True):
        raise click.ClickException("cancelled; nothing was changed")


def _print_changes(changes) -> None:
    if not changes:
        out.print("[green]No golden answer changes.[/green]")
        return
    t = Table(title=f"{len(changes)} change(s) in the golden answers")
    for col in ("question", "what", "live", "after the change"):
        t.add_column(col, overflow="fold")
    for c in changes:
        t.add_row(c.question, c.field, str(c.live), str(c.candidate))
    out.print(t)


def _verify(cfg, change, questions) -> list:
    from kb import admin
    cases = admin.golden_questions(questions)
    from tqdm import tqdm
    with admin.candidate(cfg, change) as cand:
        with tqdm(total=2 * len(cases), desc="golden questions", file=sys.stderr, leave=False) as bar:
            changes = admin.verify(cfg, cand, questions, tick=lambda: bar.update(1))
    return changes


def _report_add(rep) -> None:
    if rep.unchanged:
        out.print(f"Unchanged: this text is already in the knowledge base as [bold]{rep.doc_id}[/bold]"
                  f"{' (' + rep.note + ')' if rep.note else ''}. Nothing was changed.")
        return
    n = f", {rep.clauses} clauses" if rep.clauses is not None else ""
    out.print(f"Added [bold]{rep.doc_id}[/bold] ({rep.title}{n}){'; ' + rep.note if rep.note else ''}. "
              f"It answers from now on.")
    if rep.proposals:
        counts = {s: sum(1 for p in rep.proposals if p.status == s) for s in ("accepted", "rejected", "pending")}
        out.print(f"Rule proposals: {counts['accepted']} accepted, {counts['rejected']} rejected, "
                  f"{counts['pending']} pending (see `python -m bot rules review {rep.doc_id}`).")
        if counts["accepted"]:
            out.print("Owners with saved profiles it concerns: `python -m bot notify --dry-run` lists them and why; "
                      "`python -m bot notify` tells them.")


def _show_preview(pre) -> None:
    """The clause outline (heading path and first characters of each) and what is wrong, loudly."""
    t = Table(title=f"{len(pre.clauses)} clauses", title_justify="left")
    for col in ("id", "heading", "starts"):
        t.add_column(col, overflow="fold")
    for cid, heading, start in pre.outline():
        t.add_row(cid.split("/", 1)[-1], heading, start)
    err.print(t)
    for problem in pre.problems:
        err.print(f"[bold red]WARNING: {problem}[/bold red]", markup=True, highlight=False)


def _ask_proposals(proposals, yes: bool) -> dict[str, str]:
    """Staff accept or reject each rule proposal (a accept, r reject, s skip = leave pending; A/R the rest)."""
    from kb.proposals import local_id, table
    if not proposals:
        return {}
    err.print(table(proposals, f"{len(proposals)} rule proposal(s) from the amount sentences"))
    if yes:
        return {local_id(p): "accepted" for p in proposals}
    decisions, rest = {}, None
    for p in proposals:
        choice = rest or click.prompt(f"{local_id(p)} {p.kind} {p.item[:30]} — accept? (a/r/s, A/R for all)",
                                      type=click.Choice(["a", "r", "s", "A", "R"]), default="s", err=True,
                                      show_choices=False)
        if choice in ("A", "R"):
            rest = choice.lower()
            choice = rest
        decisions[local_id(p)] = {"a": "accepted", "r": "rejected", "s": "pending"}[choice]
    return decisions


def _force(pre, yes: bool, force: bool) -> bool:
    if not pre.problems or force:
        return force
    if yes:
        return False              # refused with the reasons; --force adds it anyway
    return click.confirm("The document has the problems above. Add it anyway?", default=False, err=True)


@group.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@meta_options
@click.pass_context
@plain_errors
def add_cmd(ctx, file, region, valid_from, valid_until, title, number, issuer, date_, kind, yes, force, verify_,
            questions):
    """Add FILE (.txt in UTF-8/GBK/GB18030, .docx, .pdf with text) to the knowledge base: shows the detected
    metadata and the clause outline, then the rule proposals from its amount sentences to accept or reject."""
    from kb import admin
    cfg = load(ctx)
    ov = _overrides(region, valid_from, valid_until, title, number, issuer, date_, kind)
    draft = admin.inspect_file(file, file.name).with_overrides(ov)
    _show_draft(draft, f"Detected in {file.name}")
    pre = admin.preview(cfg, draft)
    _show_preview(pre)
    force = _force(pre, yes, force)
    if verify_:
        changes = _verify(cfg, lambda c: admin.add_document(c, file, file.name, ov, progress=False, force=force),
                          questions)
        _print_changes(changes)
        if changes:
            _confirm(yes, f"{len(changes)} golden answer(s) change. Make the change live?")
    _confirm(yes, "Add this document?")
    decisions = _ask_proposals(pre.proposals, yes)
    _report_add(admin.add_document(cfg, file, file.name, ov, decisions=decisions, force=force))


@group.command("replace")
@click.argument("old")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@meta_options
@click.pass_context
@plain_errors
def replace_cmd(ctx, old, file, region, valid_from, valid_until, title, number, issuer, date_, kind, yes,
                force, verify_, questions):
    """Replace document OLD by FILE; the new version supersedes OLD from its valid-from date."""
    from kb import admin
    cfg = load(ctx)
    ov = _overrides(region, valid_from, valid_until, title, number, issuer, date_, kind)
    draft = admin.inspect_file(file, file.name).with_overrides(ov)
    old_info = admin.show(cfg, old)
    _show_draft(draft, f"Detected in {file.name} (replaces {old}: {old_info.meta.title})")
    pre = admin.preview(cfg, draft, replacing=old)
    _show_preview(pre)
    force = _force(pre, yes, force)
    if verify_:
        changes = _verify(cfg, lambda c: admin.replace(c, old, file, file.name, ov, progress=False, force=force),
                          questions)
        _print_changes(changes)
        if changes:
            _confirm(yes, f"{len(changes)} golden answer(s) change. Make the change live?")
    _confirm(yes, f"Replace {old} with this document?")
    decisions = _ask_proposals(pre.proposals, yes)
    _report_add(admin.replace(cfg, old, file, file.name, ov, decisions=decisions, force=force))


@group.command("retire")
@click.argument("doc")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--verify", "verify_", is_flag=True, help="First list the golden answers that would change.")
@click.option("--questions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
@plain_errors
def retire_cmd(ctx, doc, yes, verify_, questions):
    """Retire DOC: kept for history, no longer used in answers."""
    from kb import admin
    cfg = load(ctx)
    info = admin.show(cfg, doc)
    err.print(f"{doc}: {info.meta.title} ({info.meta.number}), {info.state}")
    if verify_:
        changes = _verify(cfg, lambda c: admin.retire(c, doc, progress=False), questions)
        _print_changes(changes)
    _confirm(yes, f"Retire {doc}?")
    rep = admin.retire(cfg, doc)
    out.print(f"{doc} was already retired." if rep.action == "unchanged" else
              f"Retired {doc}; it no longer answers.")


@group.command("list")
@click.pass_context
@plain_errors
def list_cmd(ctx):
    """List the documents with their state."""
    from kb import admin
    t = Table()
    t.add_column("id", no_wrap=True)
    for col in ("title", "文号", "region", "valid", "state", "clauses"):
        t.add_column(col, overflow="fold")
    for i in admin.list_documents(load(ctx)):
        m = i.meta
        t.add_row(m.id, m.title, m.number, m.region, f"{m.valid_from or '?'} – {m.valid_until or ''}", i.state,
                  "" if i.clauses is None else str(i.clauses))
    out.print(t)


@group.command("show")
@click.argument("doc")
@click.pass_context
@plain_errors
def show_cmd(ctx, doc):
    """Show one document's metadata and state."""
    from kb import admin
    for line in admin.show(load(ctx), doc).describe():
        out.print(line, markup=False)


@group.command("verify")
@click.option("--documents", "documents", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Candidate documents folder (default: the configured one, e.g. after editing a .yaml).")
@click.option("--rules", "rules", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Candidate rules folder (default: the configured one).")
@click.option("--questions", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Golden questions (default tests/gold/answers.jsonl).")
@click.pass_context
@plain_errors
def verify_cmd(ctx, documents, rules, questions):
    """Answer the golden questions with the live knowledge base and with the candidate documents/rules,
    and list every answer that changed (status, total, amounts, first citation). Exit code 1 if any did."""
    import shutil
    from kb import admin
    cfg = load(ctx)

    def use_candidate(c):
        if documents:
            shutil.rmtree(c.documents_dir)
            shutil.copytree(documents, c.documents_dir, ignore=shutil.ignore_patterns(admin.TXN_DIR))

    src_cfg = cfg.with_(rules_dir=rules) if rules else cfg
    cases = admin.golden_questions(questions)
    from tqdm import tqdm
    from bot.curated import verify_listing
    with admin.candidate(src_cfg, use_candidate) as cand:
        with tqdm(total=2 * len(cases), desc="golden questions", file=sys.stderr, leave=False) as bar:
            changes = admin.verify(cfg, cand, questions, tick=lambda: bar.update(1))
        curated = verify_listing(cfg, cand)
    _print_changes(changes)
    lapsing = _print_curated(curated)
    if changes or lapsing:
        ctx.exit(1)


def _print_curated(listing) -> int:
    """Curated answers (`python -m bot answers`) and their state live and after the change; returns how
    many the change would make lapse."""
    if not listing:
        return 0
    t = Table(title=f"{len(listing)} curated answer(s)")
    for col in ("id", "question", "cites", "live", "after the change"):
        t.add_column(col, overflow="fold")
    for e, live, after in listing:
        t.add_row(str(e.id), Text(e.question), ", ".join(e.clause_ids) or "—", live, after)
    out.print(t)
    return sum(1 for _, live, after in listing if after != live and after != "active")

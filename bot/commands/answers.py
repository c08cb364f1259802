"""`python -m bot answers …`: curated answers — staff write the right reply once for a question the assistant
answered wrongly or weakly; later questions close in meaning get it, marked as reviewed by staff.

    answers curate QUESTION_ID [--reply TEXT] [--cite CLAUSE_ID …] [--also WORDING …] [--by NAME] [--yes]
    answers list [--all] [--json]
    answers show ID
    answers retire ID [--by NAME]

QUESTION_ID is the id in the question log (`logs report` lists them beside unanswered questions and 👎,
with the command to run). A curated answer lapses by itself when a document it cites is retired or
replaced, or the clause changes (`answers list` and `kb verify` say so); a running server picks up new
and retired answers at once.
"""
from __future__ import annotations

import getpass
import json
import os

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.cli import load, plain_errors



class _Out:
    """stdout, sized for the terminal; wide when piped (staff grep it) so table cells are not cut."""

    def print(self, *args, **kw):
        import sys
        Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200).print(*args, **kw)


out = _Out()
err = Console(stderr=True)


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return os.environ.get("PZ_STAFF_NAME") or getpass.getuser()
    except Exception:
        return "staff"


def _log(cfg):
    from bot.qlog import QuestionLog
    from bot.storage import exists, location
    if not exists(cfg, "question_log"):
        raise click.ClickException(f"no question log yet at {cfg.log_db}")
    return QuestionLog(location(cfg, "question_log"), cfg.log_key or None, key_file=cfg.log_key_path)


def _describe_clause(kb, cid: str) -> str:
    c = kb.clauses.get(cid) if kb else None
    if c is None:
        return f"{cid} (not in the knowledge base)"
    d = kb.documents[c.doc_id]
    return f"{cid}  {d.number or d.title} {c.heading}"


@click.group()
def group():
    """Staff: curated answers (write the right reply once; list, show, retire)."""


@group.command("curate")
@click.argument("question_id", type=int)
@click.option("--reply", help="The reply owners should get (asked for when not given).")
@click.option("--cite", "cites", multiple=True, metavar="CLAUSE_ID",
              help="A clause the reply rests on (repeat for several; default: what the logged answer cited).")
@click.option("--no-cite", is_flag=True, help="The reply cites no clause (e.g. a procedure the documents do not cover).")
@click.option("--also", "also", multiple=True, metavar="WORDING",
              help="Another way owners ask the same question (repeat for several).")
@click.option("--by", help="Who wrote it (default: $PZ_STAFF_NAME, else the login name).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
@plain_errors
def curate_cmd(ctx, question_id, reply, cites, no_cite, also, by, yes):
    """Write the right reply for logged question QUESTION_ID; later questions close in meaning get it."""
    from bot.core.service import Assistant
    from bot.curated import load_kb, open_store
    cfg = load(ctx)
    qlog = _log(cfg)
    try:
        row = qlog.get(question_id)
    finally:
        qlog.close()
    if row is None:
        raise click.ClickException(f"no question {question_id} in the question log")
    question = (row["question"] or "").strip()
    if not question or question.startswith("［"):
        raise click.ClickException(f"question {question_id} is not a question owners asked (a message for staff?)")
    out.print(Text(f"Question {question_id} ({row['channel']}, {row['status']}, {row.get('qtype') or '?'}):"))
    out.print(Text(f"  {question}", style="bold"))
    if row.get("answer"):
        out.print(Text("The answer it got:\n  " + row["answer"].replace("\n", "\n  ")))
    if row.get("feedback_reason"):
        out.print(Text(f"👎 reason: {row['feedback_reason']}"))
    kb = load_kb(cfg)
    logged = [c for c in json.loads(row.get("citations") or "[]") if c]
    interactive = not yes
    if reply is None:
        reply = click.prompt("The reply owners should get", type=str, err=True)
    reply = reply.strip()
    if not reply:
        raise click.UsageError("the reply is empty")
    if no_cite:
        clause_ids: list[str] = []
    elif cites:
        clause_ids = [c.strip() for c in cites if c.strip()]
    elif interactive:
        text = click.prompt("Clause ids it rests on (comma-separated; '-' for none)", default=",".join(logged) or "-",
                            err=True)
        clause_ids = [] if text.strip() == "-" else [c.strip() for c in text.split(",") if c.strip()]
    else:
        clause_ids = logged
    if not clause_ids and not no_cite:
        raise click.UsageError("a curated answer needs its citation: --cite CLAUSE_ID (or --no-cite)")
    if kb is not None:
        unknown = [c for c in clause_ids if c not in kb.clauses]
        if unknown:
            raise click.ClickException("not in the knowledge base: " + ", ".join(unknown)
                                       + " (see `python -m bot search QUERY` for clause ids)")
    for c in clause_ids:
        out.print(Text("  cites " + _describe_clause(kb, c)))
    if interactive and not click.confirm("Save this curated answer?", default=True, err=True):
        raise click.Abort()
    with err.status("loading the question model…"):
        assistant = Assistant.load(cfg, build=False)
    hashes = {c: kb.clauses[c].hash for c in clause_ids} if kb is not None else {}
    store = open_store(cfg, kb)
    try:
        cid = store.add(question, assistant.analyse(question).qvec, reply, clause_ids, _who(by),
                        clause_hashes=hashes, source_question_id=question_id)
        for wording in also:
            if wording.strip():
                store.add_wording(cid, wording, assistant.analyse(wording.strip()).qvec)
    finally:
        store.close()
    out.print(f"Curated answer {cid} saved: questions close in meaning to it now get this reply "
              "(marked as reviewed by staff).")


def _state_text(state: str) -> Text:
    style = "green" if state == "active" else "yellow" if state.startswith("lapsed") else "dim"
    return Text(state, style=style)


@group.command("list")
@click.option("--all", "everything", is_flag=True, help="Also the retired ones.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per answer.")
@click.pass_context
@plain_errors
def list_cmd(ctx, everything, as_json):
    """Every curated answer with its state: active, lapsed (and why) or retired."""
    from bot.curated import open_store
    cfg = load(ctx)
    store = open_store(cfg)
    try:
        entries = store.list(include_retired=everything)
        states = {e.id: store.state(e) for e in entries}
    finally:
        store.close()
    if as_json:
        for e in entries:
            click.echo(json.dumps({"id": e.id, "question": e.question, "reply": e.reply, "clause_ids": e.clause_ids,
                                   "wordings": e.wordings, "created": e.created, "created_by": e.created_by,
                                   "hits": e.hits, "state": states[e.id]}, ensure_ascii=False))
        return
    if not entries:
        out.print("No curated answers yet: `python -m bot answers curate QUESTION_ID`.")
        return
    t = Table(title=f"Curated answers: {len(entries)}")
    for col in ("id", "question", "reply", "cites", "by", "given", "state"):
        t.add_column(col, overflow="fold")
    for e in entries:
        t.add_row(str(e.id), Text(e.question + (f" (+{len(e.wordings) - 1})" if len(e.wordings) > 1 else "")),
                  Text(e.reply[:60] + ("…" if len(e.reply) > 60 else "")), Text(", ".join(e.clause_ids) or "—"),
                  Text(e.created_by), str(e.hits), _state_text(states[e.id]))
    out.print(t)


@group.command("show")
@click.argument("curated_id", type=int)
@click.pass_context
@plain_errors
def show_cmd(ctx, curated_id):
    """One curated answer: its wordings, reply, citations and state."""
    from bot.curated import load_kb, open_store
    cfg = load(ctx)
    kb = load_kb(cfg)
    store = open_store(cfg, kb)
    try:
        e = store.get(curated_id)
        if e is None:
            raise click.ClickException(f"no curated answer {curated_id}")
        state = store.state(e)
    finally:
        store.close()
    out.print(Text(f"Curated answer {e.id} — {state}", style="bold"))
    out.print(Text("Wordings:\n" + "\n".join(f"  · {w}" for w in e.wordings)))
    out.print(Text("Reply:\n  " + e.reply.replace("\n", "\n  ")))
    for c in e.clause_ids:
        out.print(Text("Cites " + _describe_clause(kb, c)))
    from datetime import datetime
    out.print(Text(f"By {e.created_by}, {datetime.fromtimestamp(e.created):%Y-%m-%d %H:%M}; from question "
                   f"{e.source_question_id}; given {e.hits} time(s)."))


@group.command("retire")
@click.argument("curated_id", type=int)
@click.option("--by", help="Who retires it (default: $PZ_STAFF_NAME, else the login name).")
@click.pass_context
@plain_errors
def retire_cmd(ctx, curated_id, by):
    """Stop giving a curated answer (it stays listed with --all)."""
    from bot.curated import open_store
    cfg = load(ctx)
    store = open_store(cfg)
    try:
        if store.get(curated_id) is None:
            raise click.ClickException(f"no curated answer {curated_id}")
        done = store.retire(curated_id, _who(by))
    finally:
        store.close()
    out.print(f"Curated answer {curated_id} retired." if done else f"Curated answer {curated_id} was already retired.")

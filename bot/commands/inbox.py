"""`python -m bot inbox …`: messages owners left for a person ("转人工" / "留言").

    inbox [list] [--status open|answered|closed|all]
    inbox show REF
    inbox answer REF [--reply TEXT] [--by NAME]     # the owner sees the reply the next time they write
    inbox close REF [--by NAME]                     # done without a reply in the chat (e.g. phoned back)
    inbox purge [--older-than DAYS]                 # answered/closed messages and their contacts

REF is the 留言编号 the owner was told (000042, or 42). Telegram staff (telegram.staff_ids) get a notice
when a message lands while the bot runs.
"""
from __future__ import annotations

from datetime import datetime

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.cli import load, plain_errors
from bot.commands.answers import _who



class _Out:
    """stdout, sized for the terminal; wide when piped (staff grep it) so table cells are not cut."""

    def print(self, *args, **kw):
        import sys
        Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200).print(*args, **kw)


out = _Out()


def _inbox(cfg):
    from bot.inbox import Inbox
    from bot.storage import location
    return Inbox(location(cfg, "inbox"))        # the shared database with PZ_DATABASE_URL


def _id(ref: str) -> int:
    from bot.inbox import parse_reference
    n = parse_reference(ref)
    if n is None:
        raise click.BadParameter(f"{ref!r} is not a message number (e.g. 000042)", param_hint="REF")
    return n


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else ""


@click.group(invoke_without_command=True)
@click.pass_context
def group(ctx):
    """Staff: messages owners left for a person (list, show, answer, close, purge)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_cmd)


@group.command("list")
@click.option("--status", type=click.Choice(["open", "answered", "closed", "all"]), default="open", show_default=True)
@click.pass_context
@plain_errors
def list_cmd(ctx, status="open"):
    """The messages (newest first)."""
    cfg = load(ctx)
    box = _inbox(cfg)
    try:
        messages, counts = box.list(status), box.counts()
    finally:
        box.close()
    summary = "，".join(f"{k} {v}" for k, v in sorted(counts.items())) or "empty"
    if not messages:
        out.print(f"No {status if status != 'all' else ''} messages ({summary}).".replace("  ", " "))
        return
    t = Table(title=f"Inbox ({summary})")
    for col in ("ref", "time", "channel", "region", "office", "contact", "message", "status"):
        t.add_column(col, overflow="fold")
    for m in messages:
        t.add_row(m.ref, _when(m.ts), m.channel, Text(m.region or ""), Text(m.office or ""), Text(m.contact or "—"),
                  Text(m.message[:80] + ("…" if len(m.message) > 80 else "")), m.status)
    out.print(t)


@group.command("show")
@click.argument("ref")
@click.pass_context
@plain_errors
def show_cmd(ctx, ref):
    """One message with the questions asked before it."""
    cfg = load(ctx)
    box = _inbox(cfg)
    try:
        m = box.get(_id(ref))
    finally:
        box.close()
    if m is None:
        raise click.ClickException(f"no message {ref}")
    lines = [f"留言 {m.ref} — {m.status}", f"Time: {_when(m.ts)}   Channel: {m.channel}",
             f"Region: {m.region or '—'}   Office told: {m.office or '—'}", f"Contact: {m.contact or '(none left)'}",
             "", "Message:", f"  {m.message}"]
    if m.context:
        lines += ["", "Asked before:"] + [f"  · {q}" for q in m.context]
    if m.reply:
        lines += ["", f"Reply ({m.answered_by}, {_when(m.answered_ts)}; "
                      f"{'seen by the owner ' + _when(m.delivered_ts) if m.delivered_ts else 'not yet seen'}):",
                  f"  {m.reply}"]
    out.print(Text("\n".join(lines)))


@group.command("answer")
@click.argument("ref")
@click.option("--reply", help="The reply (asked for when not given).")
@click.option("--by", help="Who answers (default: $PZ_STAFF_NAME, else the login name).")
@click.pass_context
@plain_errors
def answer_cmd(ctx, ref, reply, by):
    """Answer a message: the owner gets the reply in the same chat the next time they write."""
    cfg = load(ctx)
    box = _inbox(cfg)
    try:
        m = box.get(_id(ref))
        if m is None:
            raise click.ClickException(f"no message {ref}")
        if reply is None:
            out.print(Text(f"留言 {m.ref}: {m.message}"))
            reply = click.prompt("Reply", type=str, err=True)
        if not reply.strip():
            raise click.UsageError("the reply is empty")
        box.answer(m.id, reply, _who(by))
    finally:
        box.close()
    contact = f" You can also reach them at {m.contact}." if m.contact else ""
    out.print(f"Message {m.ref} answered: the owner sees the reply the next time they write.{contact}")


@group.command("close")
@click.argument("ref")
@click.option("--by", help="Who closes it (default: $PZ_STAFF_NAME, else the login name).")
@click.pass_context
@plain_errors
def close_cmd(ctx, ref, by):
    """Mark a message answered without a reply in the chat (e.g. you phoned the owner)."""
    cfg = load(ctx)
    box = _inbox(cfg)
    try:
        if not box.mark_closed(_id(ref), _who(by)):
            raise click.ClickException(f"no message {ref}")
    finally:
        box.close()
    out.print(f"Message {ref} closed.")


@group.command("purge")
@click.option("--older-than", "days", type=click.FloatRange(min=0), default=90, show_default=True,
              help="Delete answered and closed messages older than this many days (open ones are kept).")
@click.pass_context
@plain_errors
def purge_cmd(ctx, days):
    """Delete old answered/closed messages and the contacts in them."""
    cfg = load(ctx)
    box = _inbox(cfg)
    try:
        n = box.purge(days)
    finally:
        box.close()
    out.print(f"Deleted {n} message(s) older than {days:g} days.")

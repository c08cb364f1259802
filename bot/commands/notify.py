"""`python -m bot notify …`: tell owners with saved profiles about new policies that concern them.

    python -m bot notify               match rows accepted since the last run, queue and send the notices
    python -m bot notify --dry-run     who would be told, about which rows, and why; nothing sent or stored
    python -m bot notify profiles      the saved profiles (consented), addresses masked
    python -m bot notify outbox        the notices and their state
    python -m bot notify purge         delete profiles past profiles.retention_days

Telegram notices go through the Bot API (TELEGRAM_BOT_TOKEN, TELEGRAM_API_BASE_URL), WeChat ones through the
customer-service message API (WECHAT_APP_ID / WECHAT_APP_SECRET, WECHAT_API_BASE_URL); web notices wait for
the owner's next visit. Results on stdout, logs on stderr.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import date

import click

from bot.cli import load, plain_errors


def _store(cfg):
    from bot.profiles import ProfileStore
    from bot.storage import location
    return ProfileStore(location(cfg, "profiles"))     # the shared database when PZ_DATABASE_URL is set


@contextlib.contextmanager
def _opened(ctx):
    """(config, profile store) for one command; the store is closed after."""
    cfg = load(ctx)
    store = _store(cfg)
    try:
        yield cfg, store
    finally:
        store.close()


def _today(cfg, given: str | None) -> date:
    if given:
        try:
            return date.fromisoformat(given)
        except ValueError:
            raise click.BadParameter(f"{given!r} is not a date; write it like 2026-11-22", param_hint="--today")
    from bot.core.service import today_in
    return today_in(cfg.timezone)()


def _mask(address: str | None) -> str:
    if not address:
        return "-"
    return address[:2] + "…" + address[-2:] if len(address) > 5 else "…" + address[-2:]


def _who(n) -> str:
    return f"{n.channel}:{_mask(n.address)} ({n.profile_key[:8]})"


@contextlib.asynccontextmanager
async def _senders(cfg):
    """The channels' senders that are configured, open for the run."""
    senders = {}
    async with contextlib.AsyncExitStack() as stack:
        if cfg.telegram_token:
            from bot.adapters.telegram import notice_sender
            senders["telegram"] = await stack.enter_async_context(notice_sender(cfg))
        if cfg.wechat_app_id and cfg.wechat_app_secret:
            from bot.adapters.wechat import notice_sender as wechat_sender
            senders["wechat"] = wechat_sender(cfg)
        yield senders


@click.group(invoke_without_command=True)
@click.option("--dry-run", is_flag=True, help="Show who would be told and why; send and store nothing.")
@click.option("--today", help="Judge validity as of this date (YYYY-MM-DD; default: today).")
@click.pass_context
@plain_errors
def group(ctx, dry_run, today):
    """Notify owners whose saved profile a newly added or replaced document's accepted rules concern
    (one message per owner and document, in their channel); with a subcommand, manage profiles and the outbox."""
    if ctx.invoked_subcommand is not None:
        return
    from bot import notify
    with _opened(ctx) as (cfg, store):
        day = _today(cfg, today)
        report = notify.scan(cfg, store, day, dry_run=dry_run)
        click.echo(f"{len(report.new_rule_ids)} new rule row(s) since the last run"
                   + (f": {', '.join(report.new_rule_ids[:12])}{' …' if len(report.new_rule_ids) > 12 else ''}"
                      if report.new_rule_ids else "") + ".")
        verb = "would tell" if dry_run else "queued for"
        for n in report.notices:
            click.echo(f"{verb} {_who(n)} about {n.doc_id}: {', '.join(n.rule_ids)}")
            for r in n.reasons:
                click.echo(f"    because {r}")
        if report.already:
            click.echo(f"{report.already} matching owner(s) were told about these rows before.")

        async def run():
            async with _senders(cfg) as senders:
                return await notify.deliver(store, senders, dry_run=dry_run)
        rep = asyncio.run(run())
        if dry_run:
            for n in rep.sent:
                click.echo(f"would send pending notice {n.id} to {_who(n)} ({n.doc_id})")
        else:
            click.echo(f"sent {len(rep.sent)} notice(s)" + "".join(f"\n  sent {n.id} to {_who(n)}" for n in rep.sent))
        for n in rep.waiting:
            click.echo(f"notice {n.id} for {_who(n)} waits for the owner's next visit to the web page")
        for n, why in rep.skipped:
            click.echo(f"{'would skip' if dry_run else 'skipped'} notice {n.id} for {_who(n)}: {why}")
        for n, why in rep.failed:
            click.echo(f"not sent: notice {n.id} for {_who(n)}: {why}", err=True)


@group.command("profiles")
@click.pass_context
@plain_errors
def profiles_cmd(ctx):
    """List the saved profiles (addresses masked)."""
    with _opened(ctx) as (_, store):
        rows = store.list()
        if not rows:
            click.echo("No saved profiles.")
        for p in rows:
            updated = time.strftime("%Y-%m-%d", time.localtime(p.updated))
            click.echo(f"{p.key[:8]}  {p.channel}:{_mask(p.address)}  {p.facts.get('region') or '-'}  "
                       f"notices {'on' if p.notify else 'off'}  updated {updated}")


@group.command("outbox")
@click.option("--status", type=click.Choice(["pending", "sent", "failed", "skipped", "delivered"]),
              help="Only notices in this state.")
@click.pass_context
@plain_errors
def outbox_cmd(ctx, status):
    """List the notices (newest last) and their state."""
    with _opened(ctx) as (_, store):
        rows = store.notices(status)
        if not rows:
            click.echo("No notices.")
        for n in rows:
            click.echo(f"{n.id}  {n.status}  {_who(n)}  {n.doc_id}  {', '.join(n.rule_ids)}"
                       + (f"  ({n.error})" if n.error else ""))


@group.command("purge")
@click.option("--days", type=click.IntRange(1), help="Retention in days (default: profiles.retention_days).")
@click.pass_context
@plain_errors
def purge_cmd(ctx, days):
    """Delete saved profiles (and their notices) not updated within the retention period."""
    with _opened(ctx) as (cfg, store):
        n = store.purge(days or cfg.profile_retention_days)
        click.echo(f"Deleted {n} profile(s) not updated for {days or cfg.profile_retention_days} days.")

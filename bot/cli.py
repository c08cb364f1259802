"""`python -m bot <command>`: the one command-line entry. Logs go to stderr, results to stdout."""
from __future__ import annotations

import functools
import importlib
import logging
import sys

import click

# Commands whose implementation (and heavy imports) load only when they run.
LAZY = {
    "build": ("bot.commands.core", "build"),
    "search": ("bot.commands.core", "search"),
    "ask": ("bot.commands.core", "ask"),
    "chat": ("bot.commands.core", "chat"),
    "eval": ("bot.commands.evaluation", "eval_group"),
    "rules": ("bot.commands.rules", "rules_group"),
    "run": ("bot.adapters.server", "run_command"),
    "telegram": ("bot.adapters.telegram", "command"),
    "serve": ("bot.adapters.server", "command"),
    "kb": ("scripts.kb_admin", "group"),
    "logs": ("scripts.logs_admin", "group"),
    "answers": ("bot.commands.answers", "group"),
    "inbox": ("bot.commands.inbox", "group"),
    "notify": ("bot.commands.notify", "group"),
}
HELP = {
    "build": "Build the knowledge base and search index (incremental).",
    "search": "Show the clauses that best match a query.",
    "ask": "Answer a question (the contract of ../shared/eval/README.md).",
    "chat": "Talk to the assistant in the terminal.",
    "eval": "Measure retrieval, question types and answers on the gold sets.",
    "rules": "Rule tables: check them; propose rows from a document's amount sentences; review.",
    "run": "Build what is missing and start the assistant (web, Telegram, WeChat as configured).",
    "telegram": "Run the Telegram bot.",
    "serve": "Serve the web chat, its JSON API and the WeChat endpoint.",
    "kb": "Staff: add, list, retire and replace documents.",
    "logs": "Staff: question log reports, purge and export.",
    "answers": "Staff: curated answers (write the right reply once; list, retire).",
    "inbox": "Staff: messages owners left for a person (list, show, answer).",
    "notify": "Staff: tell owners with saved profiles about new policies that concern them.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(LAZY)

    def get_command(self, ctx, name):
        if name not in LAZY:
            return None
        module, attr = LAZY[name]
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            if ctx.resilient_parsing or "--help" in sys.argv:
                return click.Command(name, help=f"{HELP[name]} (unavailable: {e})")
            raise

    def format_commands(self, ctx, formatter):
        formatter.write_paragraph()
        with formatter.section("Commands"):
            formatter.write_dl([(n, HELP[n]) for n in sorted(LAZY)])


@click.group(cls=LazyGroup)
@click.option("--config", "config_path", envvar="PZ_CONFIG", type=click.Path(dir_okay=False),
              help="config.yaml to use (default: the one in the checkout).")
@click.option("-v", "--verbose", count=True, help="More log output on stderr.")
@click.pass_context
def main(ctx, config_path, verbose):
    """专业镇 policy assistant: answers enterprise owners' questions about Shanxi's
    specialized-town support policies, with amounts, clauses and 文号."""
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if verbose > 1 else
                        logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = {"config_path": config_path}


def load(ctx):
    """The Config for this invocation; a ConfigError becomes a clean usage error."""
    from bot.config import load_config
    from bot.errors import ConfigError
    try:
        return load_config(ctx.obj.get("config_path") if ctx.obj else None)
    except ConfigError as e:
        raise click.ClickException(str(e))


def plain_errors(fn):
    """A command decorator: BotError (KBError, RuleError…) and OSError become a clean `Error: …` and
    exit code 1, never a traceback."""
    from bot.errors import BotError

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except BotError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:
            raise click.ClickException(f"{getattr(e, 'filename', '') or ''} {e.strerror or e}".strip()) from None
    return wrapper

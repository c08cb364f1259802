"""`python -m bot rules …`: the rule tables staff keep."""
from __future__ import annotations

import click

from bot.cli import load, plain_errors


@click.group("rules")
def rules_group():
    """Rule tables: validate them."""


@rules_group.command("check")
@click.pass_context
@plain_errors
def rules_check(ctx):
    """Validate every rule table against the schema, the gazetteer and the knowledge base's clauses."""
    from kb.build import parse_all
    from kb.documents import load_documents
    from kb.rules import load_rules
    cfg = load(ctx)
    clauses = parse_all(load_documents(cfg.documents_dir))
    rs = load_rules(cfg.rules_dir, {c.id for c in clauses})
    for name, version in sorted(rs.versions.items()):
        click.echo(f"{name} (version {version}): {len(getattr(rs, name))} rows OK")

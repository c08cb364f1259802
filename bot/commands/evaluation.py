"""`python -m bot eval …`: measure retrieval and question understanding on the gold sets."""
from __future__ import annotations

import click

from bot.cli import load, plain_errors


def _assistant(cfg, build=True):
    from bot.core.service import Assistant
    return Assistant.load(cfg, build=build)


@click.group("eval")
def eval_group():
    """Measure retrieval and answers on the gold sets."""


@eval_group.command("retrieval")
@click.option("--gold", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Gold set (default tests/gold/retrieval.yaml).")
@click.option("--show-misses", is_flag=True, help="List the questions whose clause is not ranked first.")
@click.pass_context
@plain_errors
def eval_retrieval(ctx, gold, show_misses):
    """Recall@1/3/5 and MRR of the hybrid retriever on the gold set."""
    from bot.evaluation import load_gold, retrieval_metrics
    cfg = load(ctx)
    a = _assistant(cfg)
    cases = load_gold(gold)
    m, misses = retrieval_metrics(a, cases)
    click.echo(f"questions {m['n']}  recall@1 {m['r1']:.3f}  recall@3 {m['r3']:.3f}  recall@5 {m['r5']:.3f}  "
               f"MRR {m['mrr']:.3f}")
    if show_misses:
        for q, want, got in misses:
            click.echo(f"  {q}  want {want}  got {got}")


@eval_group.command("intents")
@click.option("--holdout", default=0.2, show_default=True, type=click.FloatRange(0.05, 0.5),
              help="Share of every type's examples held out for measuring.")
@click.option("--show-errors", is_flag=True, help="List the held-out questions typed wrongly.")
@click.pass_context
@plain_errors
def eval_intents(ctx, holdout, show_errors):
    """Accuracy of the question-type model on a held-out part of the example bank (kb/nlu)."""
    from index.embedder import make_embedder
    from bot.nlu.model import evaluate
    cfg = load(ctx)
    emb = make_embedder(cfg.embedder_backend, cfg.embedder_model, cfg.embed_batch_size, cfg.cache_dir)
    r = evaluate(cfg.cache_dir or cfg.data_dir / "cache", emb, holdout=holdout)
    click.echo(f"trained on {r['train']}, held out {r['test']}: accuracy {r['accuracy']:.3f}")
    for t, (ok, n) in sorted(r["per_type"].items()):
        click.echo(f"  {t:14s} {ok}/{n}")
    if r["confusions"]:
        click.echo("most confused (true → predicted): " +
                   ", ".join(f"{a}→{b} ×{n}" for (a, b), n in r["confusions"][:8]))
    if show_errors:
        for text, want, got, conf in r["wrong"]:
            click.echo(f"  [{want} → {got} {conf:.2f}] {text}")

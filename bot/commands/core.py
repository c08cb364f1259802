"""Core commands: build, search, ask, chat, run."""
from __future__ import annotations

import json
import sys
import time

import click

from bot.cli import load, plain_errors
from bot.errors import BotError


def _assistant(cfg, build=True):
    from bot.core.service import Assistant
    return Assistant.load(cfg, build=build)


@click.command()
@click.option("--force", is_flag=True, help="Re-embed everything even if nothing changed.")
@click.pass_context
@plain_errors
def build(ctx, force):
    """Build the knowledge base, index and question-type model (only changed clauses are re-embedded)."""
    from bot.build import build_all
    cfg = load(ctx)
    rep = build_all(cfg, progress=True, force=force)
    state = "unchanged" if rep.unchanged else f"{rep.embedded} passages embedded"
    click.echo(f"{rep.documents} documents, {rep.clauses} clauses ({state}) → {rep.index_dir}", err=True)


def _validate_query(q: str) -> str | None:
    q = "".join(ch for ch in q if ch.isprintable()).strip()
    if not q:
        return "empty query: type a question in Chinese, e.g. 营收首次达到5亿元奖励多少"
    if len(q) > 500:
        return f"query too long ({len(q)} characters): keep it under 500"
    import re
    if not re.search(r"[\u4e00-\u9fffA-Za-z0-9]", q):
        return "the query has no words to search for"
    return None


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per query on stdout.")
@click.option("-k", default=5, show_default=True, type=click.IntRange(1, 50), help="How many clauses.")
@click.option("--region", help="Only this region's clauses and its parents' (e.g. 泽州, 城区, 忻州).")
@click.argument("query")
@click.pass_context
@plain_errors
def search(ctx, as_json, k, region, query):
    """Show the clauses that best match QUERY ('-' reads one query per stdin line)."""
    cfg = load(ctx)
    a = _assistant(cfg)
    reg = None
    if region:
        r = a.gaz.resolve(region)
        if not r:
            raise click.BadParameter(f"unknown region {region!r}", param_hint="--region")
        reg = r.name
    queries = (line.rstrip("\n") for line in sys.stdin) if query == "-" else [query]
    for q in queries:
        problem = _validate_query(q)
        results = []
        if not problem:
            found = a.gaz.find_in(q)
            rq = reg or (found.name if found else None)
            for h in a.search(q, k, rq):
                c = a.kb.clauses[h.clause_id]
                d = a.kb.documents[c.doc_id]
                results.append({"clause_id": c.id, "doc": d.title, "number": d.number, "clause": c.heading,
                                "text": c.text, "score": round(h.score, 6)})
        if as_json:
            out = {"query": q, "results": results}
            if problem:
                out["error"] = problem
            click.echo(json.dumps(out, ensure_ascii=False))
            continue
        if problem:
            click.echo(f"✗ {problem}", err=True)
            continue
        click.echo(f"Q: {q}")
        for i, r in enumerate(results, 1):
            click.echo(f"{i}. [{r['score']:.4f}] {r['number']} {r['doc']} › {r['clause']}  ({r['clause_id']})")
            click.echo("   " + r["text"][:200].replace("\n", " "))
    if query != "-" and as_json is False and not results and not problem:
        click.echo("no matching clause", err=True)


FAILED = "抱歉，系统暂时无法回答这个问题，请换个说法再问。"
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def _lines(stream):
    """One question per line of a byte stream: split on "\\n" only (a stray "\\r" or U+2028 inside a
    line does not make two), CRLF tolerated, bytes that are not UTF-8 replaced, never an exception."""
    for raw in stream:
        yield raw.rstrip(b"\n").removesuffix(b"\r").decode("utf-8", "replace")


def _answer_safely(a, question: str, session):
    """The answer, whatever happens inside the core: BotError → its plain message; anything else →
    a plain apology (traceback on stderr). Returns (Answer, error or None)."""
    import logging

    from bot.core.types import Answer
    try:
        return a.answer(question, session), None
    except BotError as e:
        return Answer("not_found", e.user_message), str(e)
    except Exception as e:   # one bad question must not end the run
        logging.getLogger("bot.commands").exception("unexpected error answering %r", question[:200])
        return Answer("not_found", FAILED), f"unexpected error ({type(e).__name__}); see stderr"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The answer contract as JSON (../shared/eval/README.md).")
@click.argument("question")
@click.pass_context
@plain_errors
def ask(ctx, as_json, question):
    """Answer QUESTION ('-' reads one question per stdin line; one conversation per line).

    With --json, every input line gets exactly one JSON object on stdout, in order, even when a
    question cannot be answered (then with an "error" field)."""
    from bot.core.types import Session
    cfg = load(ctx)
    a = _assistant(cfg)
    questions = _lines(sys.stdin.buffer) if question == "-" else [question]
    for q in questions:
        ans, error = _answer_safely(a, q, Session(id="cli"))
        if as_json:
            out = ans.to_dict()
            if error:
                out["error"] = error
            line = json.dumps(out, ensure_ascii=False)
            try:
                line.encode("utf-8")
            except UnicodeEncodeError:       # a lone surrogate echoed back: escape it
                line = json.dumps(out, ensure_ascii=True)
            # characters some line splitters treat as line ends (str.splitlines): escaped, one line stays one
            line = line.translate(_LINE_BREAKS)
            click.echo(line)
            sys.stdout.flush()
        else:
            click.echo(ans.answer.encode("utf-8", "replace").decode("utf-8"))
            for c in ans.citations:
                click.echo(f"  〔{c.number} {c.clause}〕", err=False)


@click.command()
@click.pass_context
@plain_errors
def chat(ctx):
    """Talk to the assistant in the terminal (the facts you give are remembered; 重新开始 clears them)."""
    from bot.core.types import Session
    cfg = load(ctx)
    a = _assistant(cfg)
    session = Session(id="terminal")
    click.echo("专业镇政策助手。输入问题，回车发送；“重新开始”清除记录；Ctrl-D 退出。")
    while True:
        try:
            q = input("\n您：")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        except UnicodeDecodeError:
            click.echo("\n助手：这句话里有无法识别的字符，请重新输入。")
            continue
        t0 = time.perf_counter()
        ans, _ = _answer_safely(a, q, session)
        click.echo(f"\n助手：{ans.answer}".encode("utf-8", "replace").decode("utf-8"))
        for c in ans.citations[:3]:
            click.echo(f"  〔{c.number} {c.clause}〕")
        click.echo(f"  ({ans.status}, {(time.perf_counter() - t0) * 1000:.0f} ms)", err=True)


@click.command()
@click.pass_context
@plain_errors
def run(ctx):
    """Build what is missing, then start the assistant: the web chat on 127.0.0.1:8080 (and Telegram when
    TELEGRAM_BOT_TOKEN is set, WeChat when WECHAT_TOKEN is set)."""
    cfg = load(ctx)
    from bot.adapters.server import run_all
    run_all(cfg)

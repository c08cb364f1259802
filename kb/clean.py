"""Cleaning published policy text: rejoin lines broken by page breaks, drop markdown and bold marks,
normalise full/half-width forms and spaces inside numbers. Works paragraph by paragraph and keeps each
paragraph's original lines so citations can show the text as published."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

CJK = r"\u3400-\u9fff\u3000-\u303f\uff01-\uff60\u2014\u2018-\u201d\u2026"
TERMINAL = set("。！？；：…”’」』）〕】》!?;:")
# a line that starts one of the documents' own headings
HEADING_START = re.compile(r"^(?:[一二三四五六七八九十]+[、．.]|[（(][一二三四五六七八九十\d]{1,3}[）)]|\d{1,2}[、．.](?!\d)|——|"
                           r"第\s*[一二三四五六七八九十百零〇\d][一二三四五六七八九十百零〇\d\s]{0,6}(?:[章节条](?![件款])|部分)|专栏\s*\d|"
                           r"[①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳]|\d{1,2}[)）](?=\D))")
# a page number the PDF text layer keeps between pages: "— 2 —", "- 12 -", "第 3 页"
PAGE_MARK = re.compile(r"^(?:[—–\-－]{1,2}\s*\d{1,4}\s*[—–\-－]{1,2}|第\s*\d{1,4}\s*页(?:\s*[/／共]\s*\d{1,4}\s*页?)?)$")
DATE_LINE = re.compile(r"^\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日(?:\s*印发)?$")
MD_HEADING = re.compile(r"^#{1,6}\s*")
TITLE_END = re.compile(r"(方案|政策|通知|办法|意见|答复|名单|规定|细则|措施|计划|决定)$")
SEPARATOR = re.compile(r"^[-—_*=]{3,}$")
# a title, signature or list line ends here: a short line with no sentence punctuation
SHORT = 32
_FW = str.maketrans({chr(c): chr(c - 0xFEE0) for c in range(0xFF10, 0xFF1A)} |
                    {chr(c): chr(c - 0xFEE0) for c in range(0xFF21, 0xFF3B)} |
                    {chr(c): chr(c - 0xFEE0) for c in range(0xFF41, 0xFF5B)} |
                    {"％": "%", "．": ".", "﹒": ".", "＋": "+", "－": "-", "＆": "&", "\u3000": " ", "\xa0": " "})
_SEP = "\x1f"


@dataclass
class Paragraph:
    text: str            # cleaned
    raw: str             # the original lines, as published
    md_heading: bool = False


def _line_parts(raw_line: str) -> tuple[str, bool]:
    line = raw_line.translate(_FW).rstrip()
    md = bool(MD_HEADING.match(line.lstrip()))
    line = MD_HEADING.sub("", line.lstrip()).replace("**", "").replace("__", "")
    return line.strip(), md


def _width(line: str) -> int:
    """Display width: a Chinese character is two columns, a Latin letter or digit one."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


def wrap_width(lines: list[str]) -> int | None:
    """The column a PDF's text layer hard-wrapped the document at, if it did: many lines of (almost) the
    same width, at least 20 Chinese characters wide. None for text whose lines are paragraphs."""
    widths = [_width(ln) for ln in lines if ln]
    if len(widths) < 12:
        return None
    best, count = None, 0
    for w in sorted(set(widths)):
        if w < 40:
            continue
        n = sum(1 for x in widths if w - 6 <= x <= w)
        if n > count:
            best, count = w, n
    if best is None or count < 8 or count < 0.3 * len(widths):
        return None
    return best


def _joins(prev: Paragraph, line: str, md: bool, full_line: bool = False) -> bool:
    if prev.md_heading or md or not prev.text:
        return False
    last = prev.text[-1]
    if last in TERMINAL:
        return False
    if HEADING_START.match(line) or DATE_LINE.match(line) or line.startswith(("抄送", "附件")):
        return False
    if full_line:
        return True  # the line before ran to the right margin: the sentence goes on
    if prev.text[-1] in "及和与的、，,":
        return True  # a title or sentence cannot end on a conjunction or comma
    if HEADING_START.match(prev.text) and len(prev.text) <= SHORT and "。" not in prev.text:
        return False  # a heading on its own line: its body follows
    if TITLE_END.search(prev.text) and "。" not in prev.text and len(prev.text) <= SHORT * 2:
        return False  # a document title: 实施方案, 若干政策, 通知 …
    if len(prev.text) <= SHORT and "，" not in prev.text and "。" not in prev.text and len(line) <= SHORT * 2:
        return False  # titles, signatures, name-list lines
    return True


def normalize_inline(text: str) -> str:
    """Normalise one paragraph: half-width digits and letters, Chinese punctuation next to Chinese text,
    no spaces inside numbers or between Chinese characters."""
    t = unicodedata.normalize("NFC", text.translate(_FW))
    t = re.sub(r"\t+| {2,}", _SEP, t)
    t = re.sub(r"副\s*组\s*长", "副组长", t)
    t = re.sub(r"(?<!副)组\s+长", "组长", t)
    t = re.sub(r"成\s+员(?=[：:])", "成员", t)
    t = re.sub(rf"\((?=[{CJK}\d])", "（", t)
    t = re.sub(rf"(?<=[{CJK}])\)", "）", t)
    t = re.sub(r"（([一二三四五六七八九十\d]{1,3})\)", r"（\1）", t)
    for half, full in ((",", "，"), (":", "："), (";", "；"), ("?", "？"), ("!", "！")):
        t = re.sub(rf"(?<=[{CJK}]){re.escape(half)}|{re.escape(half)}(?=[{CJK}])", full, t)
    t = re.sub(rf"(?<=[{CJK}]) +| +(?=[{CJK}])", "", t)
    t = re.sub(rf"(?<=[{CJK}])\s*{_SEP}\s*(?=[{CJK}])", _SEP, t)
    # "第 1 0 条", "1 000万元": digits a PDF spaced out, between Chinese characters
    t = re.sub(rf"(?<=[{CJK}])\d(?: \d)+(?=[{CJK}%])", lambda m: m.group().replace(" ", ""), t)
    t = re.sub(rf"^-{{2}}(?=[{CJK}])", "——", t)
    # 曹 谦, 组 长: a gap between two single characters is inside a name or a role
    t = re.sub(rf"(?<![\u4e00-\u9fff])([\u4e00-\u9fff]){_SEP}([\u4e00-\u9fff])(?![\u4e00-\u9fff])", r"\1\2", t)
    t = re.sub(rf"{_SEP}+", " ", t)
    return t.strip()


def paragraphs(raw: str) -> list[Paragraph]:
    raw = raw.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    out: list[Paragraph] = []
    parts = [(raw_line, *_line_parts(raw_line)) for raw_line in raw.split("\n")]
    parts = [(r, ln, md) for r, ln, md in parts if ln and not SEPARATOR.match(ln) and not PAGE_MARK.match(ln)]
    wrap = wrap_width([ln for _, ln, _ in parts])
    full = False          # the previous line reached the wrap column
    for raw_line, line, md in parts:
        if out and _joins(out[-1], normalize_inline(line), md, full):
            prev = out[-1]
            prev.text = normalize_inline(prev.text + line)
            prev.raw += "\n" + raw_line.strip()
        else:
            out.append(Paragraph(normalize_inline(line), raw_line.strip(), md))
        full = wrap is not None and _width(line) >= wrap - 6
    return out


def clean_text(raw: str) -> str:
    """The whole document, cleaned: one paragraph a line."""
    return "\n".join(p.text for p in paragraphs(raw))

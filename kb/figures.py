"""Money figures and percentages as policy text writes them: 15万元, 1.5亿元, 3000元, 十万元, 50—200万元,
"5、10、20万元" (one unit for a list), 10%, 5%—20%, 百分之三十. Values are whole yuan (int) and fractions.

Only figures written with a money unit (元/万元/亿元/千元) are money: "1千万" without 元 is not read."""
from __future__ import annotations

import re
from dataclasses import dataclass


def cn2an(text: str, mode: str):
    """cn2an.cn2an, imported on first use: importing it takes a fifth of a second of every start."""
    import cn2an as lib
    return lib.cn2an(text, mode)


UNITS = {"元": 1, "万元": 10_000, "亿元": 100_000_000}
NUM = r"\d+(?:\.\d+)?"
# Chinese numerals for money are read only in their small, unambiguous forms (十五万元, 两万元); amounts
# like 一百五十万元 are written in digits in policy text, and a partial reading would invent a figure
CNUM = r"[零〇一二两三四五六七八九十]+"
CNUM_RATE = r"[零〇一二两三四五六七八九十百]+"
DASH = r"[-—–~～至到]"
_FW = str.maketrans("０１２３４５６７８９．％－～，", "0123456789.%-~，")
_MONEY = re.compile(
    rf"(?P<a>{NUM})\s*(?P<ua>亿元|万元|元)?\s*(?:(?P<dash>{DASH}{{1,2}})\s*(?P<b>{NUM})\s*)?"
    rf"(?P<unit>亿元|万元|元)")
_LIST = re.compile(rf"(?P<head>(?:{NUM}\s*[、，,和及]\s*)+)(?P<last>{NUM})\s*(?P<unit>亿元|万元)")
_CN_MONEY = re.compile(rf"(?<![\d.零〇一二两三四五六七八九十百千])(?P<n>{CNUM})\s*(?P<unit>亿元|万元)")
_PCT_RANGE = re.compile(rf"(?P<a>{NUM})\s*%?\s*{DASH}{{1,2}}\s*(?P<b>{NUM})\s*%")
_PCT = re.compile(rf"(?P<a>{NUM})\s*%|百分之(?P<cn>{CNUM_RATE})")


@dataclass(frozen=True)
class Figure:
    value: int            # yuan
    start: int
    end: int
    text: str
    role: str = "single"  # single | low | high (a range) | listed (one of a list sharing a unit)


@dataclass(frozen=True)
class Rate:
    value: float          # a fraction: 10% → 0.1
    start: int
    end: int
    text: str
    role: str = "single"  # single | low | high


def normalize(text: str) -> str:
    """Full-width digits, spaces inside numbers and before units removed; same length is not kept."""
    t = text.translate(_FW)
    t = re.sub(r"(?<=[\d.])\s+(?=[\d.])", "", t)
    t = re.sub(r"(?<=[\d.])\s+(?=[千万亿元%])", "", t)
    t = re.sub(r"(?<=[千万亿])\s+(?=元)", "", t)
    return t


def _cn(s: str) -> float | None:
    try:
        return float(cn2an(s.replace("〇", "零"), "smart"))
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def money(text: str) -> list[Figure]:
    """Every money figure in (normalized) text, in order of appearance."""
    out: list[Figure] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for m in _MONEY.finditer(text):
        unit = UNITS[m.group("unit")]
        if m.group("b"):
            ua = UNITS[m.group("ua")] if m.group("ua") else unit
            out.append(Figure(round(float(m.group("a")) * ua), m.start(), m.start("b"), m.group(), "low"))
            out.append(Figure(round(float(m.group("b")) * unit), m.start("b"), m.end(), m.group(), "high"))
        else:
            out.append(Figure(round(float(m.group("a")) * unit), m.start(), m.end(), m.group()))
        taken.append((m.start(), m.end()))
    for m in _LIST.finditer(text):
        unit = UNITS[m.group("unit")]
        for n in re.finditer(NUM, m.group("head")):
            a, b = m.start("head") + n.start(), m.start("head") + n.end()
            if free(a, b):
                out.append(Figure(round(float(n.group()) * unit), a, b, n.group(), "listed"))
                taken.append((a, b))
    for m in _CN_MONEY.finditer(text):
        v = _cn(m.group("n"))
        if v and free(m.start(), m.end()):
            out.append(Figure(round(v * UNITS[m.group("unit")]), m.start(), m.end(), m.group()))
            taken.append((m.start(), m.end()))
    return sorted(out, key=lambda f: f.start)


def rates(text: str) -> list[Rate]:
    """Every percentage in (normalized) text, as fractions, in order of appearance."""
    out: list[Rate] = []
    taken: list[tuple[int, int]] = []
    for m in _PCT_RANGE.finditer(text):
        out.append(Rate(float(m.group("a")) / 100, m.start(), m.start("b"), m.group(), "low"))
        out.append(Rate(float(m.group("b")) / 100, m.start("b"), m.end(), m.group(), "high"))
        taken.append((m.start(), m.end()))
    for m in _PCT.finditer(text):
        if any(not (m.end() <= s or m.start() >= e) for s, e in taken):
            continue
        v = float(m.group("a")) if m.group("a") else _cn(m.group("cn"))
        if v is not None:
            out.append(Rate(v / 100, m.start(), m.end(), m.group()))
    return sorted(out, key=lambda r: r.start)


def yuan_values(text: str) -> set[int]:
    return {f.value for f in money(normalize(text))}

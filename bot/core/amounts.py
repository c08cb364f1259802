"""Money amounts in the forms owners write them: 12亿, 1.2亿元, 120000万元, 二十个亿, 十亿, 5千万, 1亿2000万."""
from __future__ import annotations

import re
from dataclasses import dataclass

import cn2an

_CN = "零〇一二两三四五六七八九十百千点"
NUM = rf"(?:\d+(?:,\d{{3}})*(?:\.\d+)?|[{_CN}]+)"
MAX_YUAN = 10**16
UNIT = {"亿": 10**8, "千万": 10**7, "百万": 10**6, "十万": 10**5, "万": 10**4, "千": 10**3, "元": 1, "块": 1}
# 1亿2000万 / 5亿 / 3000万元 / 二十个亿 / 500000元
AMOUNT = re.compile(
    rf"(?P<a>{NUM})\s*个?\s*(?P<ua>亿|千万|百万|万|元|块)(?:\s*(?P<b>{NUM})\s*(?P<ub>千万|百万|万))?(?:元|块钱|块)?")


@dataclass(frozen=True)
class Amount:
    yuan: int
    start: int
    end: int
    text: str


def _number(s: str) -> float:
    s = s.replace(",", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        return float(s)
    s = s.replace("两", "二").replace("〇", "零")
    return float(cn2an.cn2an(s, "smart"))


def find_amounts(text: str) -> list[Amount]:
    out = []
    for m in AMOUNT.finditer(text):
        a = m.group("a")
        if re.fullmatch(rf"[{_CN}]+", a) and a in ("点",):
            continue
        try:
            value = _number(a) * UNIT[m.group("ua")]
            if m.group("b"):
                value += _number(m.group("b")) * UNIT[m.group("ub")]
        except (ValueError, KeyError, OverflowError):
            continue
        if not 0 <= value < MAX_YUAN:
            continue  # no enterprise or award is this large: a typo or hostile input, not a fact
        if m.group("ua") in ("元", "块") and value < 1000 and not m.group("b"):
            continue  # "1元" is not an enterprise's revenue
        out.append(Amount(int(round(value)), m.start(), m.end(), m.group()))
    return out


def parse_amount(text: str) -> int | None:
    """The first amount in the text, in yuan."""
    found = find_amounts(text)
    return found[0].yuan if found else None


def format_yuan(yuan: int | float) -> str:
    """100000 -> 10万元, 50000000 -> 5000万元, 500000000 -> 5亿元, 120000000 -> 1.2亿元."""
    y = float(yuan)
    if y >= 10**8:
        v, unit = y / 10**8, "亿元"
    elif y >= 10**4:
        v, unit = y / 10**4, "万元"
    else:
        v, unit = y, "元"
    s = f"{v:.4f}".rstrip("0").rstrip(".")
    return f"{s}{unit}"

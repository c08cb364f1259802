"""Money in the forms owners write it: 12亿, 1.2亿元, 120000万元, 二十个亿, 七亿八千万, 1亿2000万, 六亿零五百万,
and the approximate forms: 八九个亿 / 5-6亿 (a range), 两亿多 / 一个多亿 / 刚过一百亿 / 10亿以上 (at least),
不到5亿 / 近5亿 (below), 5亿左右 (about)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from kb.figures import cn2an

_CN_DIGITS = "零〇一二两三四五六七八九"
_CN = _CN_DIGITS + "十百千"
_NUM = rf"(?:\d+(?:,\d{{3}})*(?:\.\d+)?|[{_CN}]+(?:点[{_CN_DIGITS}]+)?)"
UNIT = {"亿": 10**8, "千万": 10**7, "百万": 10**6, "十万": 10**5, "万": 10**4, "千": 10**3, "元": 1, "块": 1}
_UNIT = r"(?:亿|千万|百万|十万|万|千|元|块)"
MAX_YUAN = 10**16   # no enterprise or award is this large: a typo or hostile input, not a fact
# one money expression: NUM [个][多] UNIT (NUM UNIT)* [多] [元|块钱]; a range NUM-NUM UNIT …
AMOUNT = re.compile(
    rf"(?P<lo>{_NUM})\s*(?:(?P<sep>[-~～—–至到])\s*(?P<hi>{_NUM}))?\s*(?:个\s*(?P<more0>多)?|(?P<more1>多)\s*个?)?\s*"
    rf"(?P<u1>{_UNIT})"
    rf"(?P<rest>(?:(?:零)?{_NUM}\s*(?:亿|千万|百万|十万|万|千))*)\s*(?P<more2>多)?(?:元|块钱|块)?")
_REST = re.compile(rf"(?:零)?(?P<n>{_NUM})\s*(?P<u>亿|千万|百万|十万|万|千)")
_BEFORE_AT_LEAST = re.compile(r"(刚过|刚刚过|超过|超出|逾|突破了?|过了)$")
_BEFORE_BELOW = re.compile(r"(不到|不足|未到|没到|没有到|没过|不满|差一点到?|差点到?|快到|将近|接近|近)$")
_AFTER_AT_LEAST = re.compile(r"^(以上|出头|有余|还多)")
_AFTER_BELOW = re.compile(r"^(以下|以内|不到)")
_AFTER_ABOUT = re.compile(r"^(左右|上下|前后)")


@dataclass(frozen=True)
class Amount:
    yuan: int                 # the value (the lower end of a range or an "at least")
    start: int
    end: int
    text: str
    high: int | None = None   # the upper end of a range
    bound: str = "exact"      # exact | range | at_least | below | about

    @property
    def upper(self) -> int:
        return self.high if self.high is not None else self.yuan


def number(s: str) -> float:
    """An Arabic or Chinese numeral (no unit): '1,200' → 1200, '二十' → 20, '两' → 2, '零五百' → 500."""
    s = s.replace(",", "").strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        return float(s)
    s = s.replace("两", "二").replace("〇", "零").lstrip("零") or "零"
    return float(cn2an(s, "smart"))


def _cn_range(s: str) -> tuple[float, float] | None:
    """八九 → (8, 9); 三四千 → (3000, 4000); 十七八 → (17, 18)."""
    digits = "一二三四五六七八九"
    m = re.fullmatch(rf"(十?)([{digits}])([{digits}])([十百千]?)", s)
    if not m or digits.index(m.group(3)) != digits.index(m.group(2)) + 1:
        return None
    mult = {"": 1, "十": 10, "百": 100, "千": 1000}[m.group(4)]
    base = 10 if m.group(1) else 0
    return (base + digits.index(m.group(2)) + 1) * mult, (base + digits.index(m.group(3)) + 1) * mult


def _compound_end(m: re.Match) -> int | None:
    """Where a compound figure really ends when its parts don't step down (1亿2000万 is one figure;
    "12亿5亿" or "1亿3亿" are two): the position to cut at, or None when the whole match is one figure."""
    last = UNIT[m.group("u1")]
    base = m.start("rest")
    for r in _REST.finditer(m.group("rest") or ""):
        u = UNIT[r.group("u")]
        if u >= last:
            return base + r.start()
        last = u
    return None


def find_amounts(text: str) -> list[Amount]:
    out: list[Amount] = []
    pos = 0
    while True:
        m = AMOUNT.search(text, pos)
        if m is None:
            break
        cut = _compound_end(m)
        if cut is not None:
            m = AMOUNT.match(text[:cut], m.start())
        pos = max(m.end(), m.start() + 1)
        unit = UNIT[m.group("u1")]
        lo_s, hi_s = m.group("lo"), m.group("hi")
        if lo_s in ("点",) or (not hi_s and re.fullmatch(r"[十百千]", lo_s) and m.group("u1") in "元块"):
            continue
        try:
            rng = None if hi_s else _cn_range(lo_s)
            if rng:
                lo, hi = rng[0] * unit, rng[1] * unit
            else:
                lo = number(lo_s) * unit
                hi = number(hi_s) * unit if hi_s else None
            for r in _REST.finditer(m.group("rest") or ""):
                add = number(r.group("n")) * UNIT[r.group("u")]
                lo += add
                hi = hi + add if hi is not None else None
        except (ValueError, KeyError, OverflowError, TypeError):
            continue
        if not 0 <= lo < MAX_YUAN or (hi is not None and not lo <= hi < MAX_YUAN):
            continue
        if m.group("u1") in ("元", "块") and lo < 1000 and hi is None and not m.group("rest"):
            continue  # "1元" is not an enterprise's revenue or an award
        before, after = text[max(0, m.start() - 5):m.start()], text[m.end():m.end() + 3]
        bound = "range" if hi is not None else "exact"
        if bound == "exact":
            if m.group("more0") or m.group("more1") or m.group("more2") or _BEFORE_AT_LEAST.search(before) or _AFTER_AT_LEAST.match(after):
                bound = "at_least"
            elif _BEFORE_BELOW.search(before) or _AFTER_BELOW.match(after):
                bound = "below"
            elif _AFTER_ABOUT.match(after) or before.endswith(("大概", "大约", "约", "差不多")):
                bound = "about"
        out.append(Amount(int(round(lo)), m.start(), m.end(), m.group(),
                          int(round(hi)) if hi is not None else None, bound))
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

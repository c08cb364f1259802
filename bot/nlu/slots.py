"""Slots: the facts a message states about the enterprise and what it asks about.

Read with negation ("不算涉农", "不在代县"), corrections ("说错了，是泽州"), years and history (前年 / 去年 /
2023年 figures, "之前最高…", "已经领过10万"), 营收 vs 产值 vs money received, and approximate figures
("八九个亿", "两亿多"). The cue words live in kb/nlu/lexicon/slots.yaml.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml

from bot.nlu.amounts import Amount, find_amounts, number
from kb.regions import Gazetteer

LEXICON_FILE = Path(__file__).resolve().parents[2] / "kb" / "nlu" / "lexicon" / "slots.yaml"
# clauses of a message: punctuation, spaces (voice input has none other), and before a new time or an
# earlier-year marker ("去年营收1.05亿 以前最多八千万" is two statements)
_SEGMENT = re.compile(r"[，,；;。！？!?\n（）()【】、\s]+|但是?|而且|并且|同时|另外|"
                      r"(?=以前|之前|此前|往年|前年|去年|今年|(?:19|20)\d\d\s*年)")
_NEGATION = re.compile(r"(?:不|非|没|并非|并不|不算|不是|不属于|算不上|也不是|而不是)(?:算|是|属于)?(?:一家|个)?$")
_YEAR = re.compile(r"((?:19|20)\d\d)\s*年(?!度?(?:以来|前|后))|(今年|去年|前年|大前年|明年|上一年|上年|当年|本年)")
_REL_YEAR = {"今年": 0, "本年": 0, "去年": -1, "上一年": -1, "上年": -1, "前年": -2, "大前年": -3, "明年": 1}
_COUNT = r"(\d+|[一二两三四五六七八九十]+)"
_ASKING = re.compile(r"多少|几|吗|么|能不能|可不可以|是否|怎么|如何|哪|什么|？|\?|呢")


@lru_cache(maxsize=1)
def lexicon() -> dict:
    raw = yaml.safe_load(LEXICON_FILE.read_text(encoding="utf-8"))
    for k, v in list(raw.items()):
        if isinstance(v, list):
            raw[k] = tuple(sorted(v, key=len, reverse=True))
    return raw


def has_cue(text: str, key: str) -> bool:
    return any(w in text for w in lexicon()[key])


def _count(s: str) -> int:
    return int(number(s))


@dataclass
class Revenue:
    """What the message says about the enterprise's revenue, by year where it says so."""
    current_yuan: int | None = None       # the revenue of the year the question is about
    current_upper: int | None = None      # the upper end when the figure was a range
    current_bound: str = "exact"
    year: int | None = None               # that year, when said
    first_time: bool | None = None
    prior_max_yuan: int | None = None     # the highest revenue of any earlier year
    history: dict[int, int] = field(default_factory=dict)
    received_yuan: list[int] = field(default_factory=list)   # awards already received
    earlier_first: dict[int, int] = field(default_factory=dict)   # year -> a level first reached then

    def is_empty(self) -> bool:
        return self.current_yuan is None and not self.history and self.prior_max_yuan is None

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if v not in (None, [], {}, "exact")}
        for k in ("history", "earlier_first"):
            if k in d:
                d[k] = {str(y): v for y, v in d[k].items()}
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> "Revenue":
        if not d:
            return cls()
        d = dict(d)
        for k in ("history", "earlier_first"):
            if k in d:
                d[k] = {int(y): v for y, v in d[k].items()}
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class Slots:
    region: str | None = None
    not_regions: list[str] = field(default_factory=list)
    outside: str | None = None
    agricultural: bool | None = None
    agricultural_inferred: bool = False
    category: str | None = None
    categories: list[str] = field(default_factory=list)
    level: str | None = None
    revenue: Revenue = field(default_factory=Revenue)
    output_yuan: int | None = None
    leading_firms: int | None = None
    partner_firms: int | None = None
    investment_yuan: int | None = None
    people: int | None = None
    area_mu: float | None = None
    years: list[int] = field(default_factory=list)
    doc_numbers: list[str] = field(default_factory=list)
    meta_fields: list[str] = field(default_factory=list)
    hypothetical: bool = False
    correction: bool = False
    anaphora: bool = False
    own_area: bool = False
    amounts: list[Amount] = field(default_factory=list)
    # recognitions, certifications and titles the message says the enterprise has (won: True) or has not
    # (won: False), with the year when said: {"三晋老字号": {"won": True, "year": 2025}}
    recognitions: dict[str, dict] = field(default_factory=dict)
    trades: list[str] = field(default_factory=list)     # what the enterprise makes or does (铸造, 蜂蜜…)

    def enterprise_facts(self) -> dict:
        """The facts worth remembering across a conversation."""
        out = {}
        for k in ("region", "agricultural", "category", "output_yuan", "leading_firms", "partner_firms",
                  "investment_yuan", "people", "area_mu"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        if self.agricultural is not None and self.agricultural_inferred:
            out["agricultural_inferred"] = True
        if not self.revenue.is_empty() or self.revenue.first_time is not None:
            out["revenue"] = self.revenue.as_dict()
        return out


def _year_of(m: re.Match, today: date) -> int:
    if m.group(1):
        return int(m.group(1))
    return today.year + _REL_YEAR.get(m.group(2), 0)


def _segments(text: str) -> list[tuple[int, str]]:
    out, start = [], 0
    for m in _SEGMENT.finditer(text):
        if m.start() > start:
            out.append((start, text[start:m.start()]))
        start = m.end()
    if start < len(text):
        out.append((start, text[start:]))
    return out


def _regions(text: str, gaz: Gazetteer, s: Slots) -> None:
    positive, negative = [], []
    for m in gaz.mentions(text):
        r = gaz.regions[m[0]]
        before = text[max(0, m[1] - 5):m[1]]
        (negative if re.search(r"(不在|不是|并非|不属于|而不是|不)$", before) else positive).append(r)
    if positive:
        s.region = max(positive, key=lambda r: len(gaz.ancestors(r.name))).name
    s.not_regions = [r.name for r in negative if r.name != s.region]
    s.outside = gaz.outside_place(text)


def _agricultural(text: str, s: Slots) -> None:
    lex = lexicon()
    for w in lex["agricultural_said"]:
        for m in re.finditer(re.escape(w), text):
            if _NEGATION.search(text[max(0, m.start() - 6):m.start()]):
                s.agricultural = False
                return
            s.agricultural = True
    if s.agricultural is not None:
        return
    if has_cue(text, "agricultural_products"):
        s.agricultural, s.agricultural_inferred = True, True
    elif has_cue(text, "non_agricultural_products"):
        s.agricultural, s.agricultural_inferred = False, True


def _role(seg: str, a: Amount, seg_start: int) -> str:
    """revenue | output | award | investment | tier | other, from the words around the amount."""
    lex = lexicon()
    i, j = a.start - seg_start, a.end - seg_start
    before, after = seg[:i], seg[j:j + 6]
    near = before[-4:]
    if any(after.startswith(w) for w in lex["tier_words"]) or re.match(r"^(?:和|、)[^，。]{0,8}档", after):
        return "tier"
    if re.match(r"^(?:元)?的?(?:奖励|奖补|补贴|补助|奖金|资金)", after) or any(near.endswith(w) for w in lex["award_verbs"]):
        return "award"
    if any(w in before for w in lex["investment_words"]) and not any(w in before[-8:] for w in lex["revenue_words"]):
        return "investment"
    out_at = max((before.rfind(w) for w in lex["output_words"]), default=-1)
    rev_at = max((before.rfind(w) for w in lex["revenue_words"]), default=-1)
    if out_at > rev_at:
        return "output"
    return "revenue"


def _revenue(text: str, today: date, s: Slots) -> None:
    lex = lexicon()
    rev = s.revenue
    year: int | None = None
    ask_year: int | None = None
    entries: list[tuple[int | None, Amount, bool, bool]] = []     # (year, amount, prior?, first?)
    for start, seg in _segments(text):
        ym = list(_YEAR.finditer(seg))
        if ym:
            year = _year_of(ym[-1], today)
            s.years.append(year)
        # "跨过去了" crosses a tier; it does not say "in the past"
        prior = any(w in re.sub(r"[跨越迈翻冲闯]过去", "", seg) for w in lex["prior_markers"])
        first = any(w in seg for w in lex["first_time"])
        not_first = any(w in seg for w in lex["not_first_time"])
        if not_first:
            rev.first_time = False if rev.first_time is None else rev.first_time
        amounts = [a for a in s.amounts if start <= a.start < start + len(seg)]
        if _ASKING.search(seg) and ym and not any(_role(seg, a, start) == "revenue" for a in amounts):
            ask_year = year
        explicit_year = bool(ym)
        for a in amounts:
            role = _role(seg, a, start)
            if role == "award":
                if re.search(r"(领|拿|奖|获得|得到|兑现|补)(了|过|到)|已经|已", seg[:a.start - start]):
                    rev.received_yuan.append(a.yuan)
                continue
            if role == "output":
                s.output_yuan = a.yuan
                continue
            if role == "investment":
                s.investment_yuan = a.yuan
                continue
            if role == "tier":
                continue
            at = year
            if not explicit_year and year is not None and a.bound != "below" and any(
                    y == year and b.bound == "exact" and b.yuan != a.yuan and b.yuan < a.yuan for y, b, *_ in entries):
                # "2024年17.5亿，第一次迈过20亿": a larger figure than that year's is not that year's
                at = None
            entries.append((at, a, prior, first and not not_first))
    if not entries:
        return
    years_said = [y for y, *_ in entries if y is not None]
    target = ask_year if ask_year is not None else (max(years_said) if years_said else None)
    current: list[Amount] = []
    for y, a, prior, first in entries:
        value = a.yuan - 1 if a.bound == "below" else (a.upper if prior else a.yuan)
        if prior or (target is not None and y is not None and y < target):
            rev.prior_max_yuan = max(rev.prior_max_yuan or 0, value)
            if y is not None and not prior:
                rev.history[y] = max(rev.history.get(y, 0), a.yuan)
                if first:
                    rev.earlier_first[y] = a.yuan
            continue
        if target is not None and y is not None and y > target:
            continue
        current.append(a)
        if y is not None:
            rev.history[y] = max(rev.history.get(y, 0), a.yuan)
        if first and rev.first_time is None:
            rev.first_time = True
    if current:
        best = max(current, key=lambda a: (a.bound != "below", a.yuan))
        rev.current_yuan, rev.current_bound = best.yuan, best.bound
        rev.current_upper = best.high
        rev.year = target
    if rev.first_time is None and any(w in text for w in lex["first_time"]) and current:
        rev.first_time = True


def _counts(text: str, s: Slots) -> None:
    m = (re.search(rf"{_COUNT}\s*[家户个]\s*(?:实力较强的?|行业知名的?|大的?)?龙头", text)
         or re.search(rf"龙头(?:企业)?\s*(?:有|只有|就)?\s*{_COUNT}\s*[家户个]", text))
    if m:
        s.leading_firms = _count(m.group(1))
    partners = [_count(m.group(1)) for m in re.finditer(
        rf"{_COUNT}\s*[家户个]\s*(?:上下游)?(?:配套(?:企业)?|家庭农场|(?:农民)?(?:专业)?合作社)", text)]
    if not partners:
        m = (re.search(rf"配套(?:企业)?\s*(?:有|只有)?\s*{_COUNT}\s*[家户个]", text)
             or re.search(rf"带(?:动|着)了?\s*{_COUNT}\s*[家户个]", text))
        partners = [_count(m.group(1))] if m else []
    if partners:
        s.partner_firms = sum(partners)
    m = re.search(rf"{_COUNT}\s*(?:个|名|位)?\s*(?:人|员工|职工|工人|(?:高校)?毕业生|大学生|博士|硕士|人才|技工|学徒)",
                  text)
    if m and not re.search(r"龙头|配套", text[m.end():m.end() + 3]):
        s.people = _count(m.group(1))
    m = re.search(r"(\d+(?:\.\d+)?|[一二两三四五六七八九十百千万]+)\s*亩", text)
    if m:
        s.area_mu = number(m.group(1))


def _category_level(text: str, s: Slots) -> None:
    lex = lexicon()
    explicit = [({"农业": "特优农业", "特色轻工": "轻工"}.get(m.group(1), m.group(1)), m.start())
                for m in re.finditer(r"(制造业|特优农业|特色轻工|轻工|农业)(?:（[^）]*）)?类", text)]
    hits = sorted(explicit + [(name, min(text.find(w) for w in words if w in text))
                              for name, words in lex["categories"].items() if any(w in text for w in words)],
                  key=lambda x: x[1])
    # "不是制造业" names a category only to rule it out
    s.categories = [c for c in dict.fromkeys(c for c, _ in hits)
                    if not any(_NEGATION.search(text[max(0, at - 6):at]) for name, at in hits if name == c)]
    s.category = s.categories[0] if s.categories else None
    m = re.search("|".join(lex["levels"]), text)
    s.level = m.group() if m else None


def _asks(text: str, s: Slots) -> None:
    lex = lexicon()
    s.meta_fields = [f for f, words in lex["meta_fields"].items() if any(w in text for w in words)]
    s.doc_numbers = [m.group() for m in re.finditer(
        r"[\u4e00-\u9fff]{1,8}\s*[〔\[［【（(]\s*(?:19|20)\d\d\s*[〕\]］】）)]\s*\d{1,4}\s*号|(?:TA|ta)\d{3,5}|\d{1,4}号文", text)]
    s.hypothetical = has_cue(text, "hypothetical")
    s.correction = has_cue(text, "correction")
    s.anaphora = has_cue(text, "anaphora")
    s.own_area = has_cue(text, "own_area")


_CLAUSE = re.compile(r"[，,；;。！？!?\n]+")
_NOT_WON = re.compile(r"(?:没有|没|未|尚未|还没有?|还不是|不是|不算|并非|没能|还未|不属于)[^，,；;。]{0,6}$")
_PLANNED = re.compile(r"(?:正在|准备|打算|计划|想要?|争取|申报中|在申报|在申请|正申报|正申请)[^，,；;。]{0,6}$")


def _recognitions(text: str, today: date, s: Slots) -> None:
    """"去年入选了三晋老字号" → won, 2025; "还没评上专精特新" / "正在申报…" → not won. A clause that asks
    about one ("评上中华老字号奖多少") says nothing about having it."""
    lex = lexicon()
    cues = sorted(((w, name) for name, words in lex["recognitions"].items() for w in words),
                  key=lambda x: -len(x[0]))
    for clause in _CLAUSE.split(text):
        if not clause or _ASKING.search(clause):
            continue
        taken: list[tuple[int, int]] = []
        ym = list(_YEAR.finditer(clause))
        year = _year_of(ym[-1], today) if ym else None
        for w, name in cues:
            for m in re.finditer(re.escape(w), clause, re.I):
                if any(a < m.end() and m.start() < b for a, b in taken):
                    continue
                taken.append((m.start(), m.end()))
                before = clause[:m.start()]
                won = not (_NOT_WON.search(before) or _PLANNED.search(before))
                entry = {"won": won}
                if year is not None and won:
                    entry["year"] = year
                s.recognitions[name] = entry


def _trades(text: str, s: Slots) -> None:
    lex = lexicon()
    words = {w for ws in lex["categories"].values() for w in ws} | set(lex["agricultural_products"]) | \
        set(lex["non_agricultural_products"])
    found = []
    for w in sorted(words, key=len, reverse=True):
        at = text.find(w)
        if at >= 0 and not _NEGATION.search(text[max(0, at - 6):at]) and not any(w in f for f in found):
            found.append(w)
    s.trades = found


def read_slots(text: str, gaz: Gazetteer, today: date) -> Slots:
    s = Slots()
    s.amounts = find_amounts(text)
    _regions(text, gaz, s)
    _agricultural(text, s)
    _revenue(text, today, s)
    _counts(text, s)
    _category_level(text, s)
    _asks(text, s)
    _recognitions(text, today, s)
    _trades(text, s)
    s.years = sorted(set(s.years))
    return s

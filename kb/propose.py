"""Rule proposals from a document's amount sentences.

An amount sentence names money (a figure in 元/万元/亿元, or a percentage offered as support) or support
without a figure (一事一议, 按规定给予奖励). Each becomes at least one `Proposal`: the clause it is in, the
sentence, the item that earns it, its conditions as written (figures in them read as thresholds) and what it
offers, by kind:

- fixed (一次性奖励15万元), tiered (首次达到5亿元、10亿元…的，分别奖励10万元、20万元…), ratio (按设备购置额的10%
  给予奖补，最高500万元), per_unit (每人每月3000元, 100元/亩), range (5%—20%, 50—200万元; "最高200万元" is a range
  with only its top), multi_year (第一年5万元，第二年3万元), unquantified (按规定给予奖励, 一事一议);
- not_a_reward: a fund size, a target or a statistic; its figures are still read (`figures_yuan`).

A sentence that offers several things (分别给予国家级、省级80万元、30万元; 五星级的给予10万元，四星级的给予5万元)
yields one proposal for each. Money is whole yuan in keys ending in `_yuan`; rates are fractions. Only figures
the sentence writes are reported: nothing is computed from them."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from kb import figures as fg
from kb.figures import Figure, Rate

log = logging.getLogger(__name__)
KINDS = ("fixed", "tiered", "ratio", "per_unit", "range", "multi_year", "unquantified", "not_a_reward")
SENTENCE_END = re.compile(r"[。；;！？!?\n]")
OFFER_VERB = re.compile(r"给予|予以|奖励|奖补|补助|补贴|资助|扶持|贴息|发放|奖金|配套|支持|兑现|补差|给(?=企业|个人|单位|项目)|"
                        r"增加(?=[^，。；\d]{0,8}\d)")
# nouns that contain an offer verb but offer nothing themselves
VERB_NOUNS = re.compile(r"(?:补助|奖励|奖补|专项|引导|发展|扶持|运营|活动|建设)资金|资助对象|补贴期限|补贴期间|贴息期|"
                        r"奖励额度|补贴额度|奖励金额|补贴金额|奖励政策|扶持政策|支持政策|补贴政策|奖励支持政策|"
                        r"资金支持方式|支持方式")
CAP_BEFORE = re.compile(r"(?:最高|最多|上限为?|不超过|不高于|封顶|限额|累计不超过|最高不超过|最高为)[^，。；\d]{0,8}$")
THRESH_AFTER = re.compile(r"^\s*(?:[（(]含税?[）)])?\s*(?:及以上|以上|及以下|以下|以内|之间|[（(]含[）)]|左右)")
THRESH_BEFORE = re.compile(r"(?:达到|超过|突破|不低于|不少于|低于|高于|满|在|增长|投资|收入|销售额|纳税额|产值|"
                           r"规模|总额|贡献额?|税收|强度)\s*$")
UPPER_AFTER = re.compile(r"^\s*(?:[（(]含税?[）)])?\s*(?:及以下|以下|以内)")
FUND_AFTER = re.compile(r"^[^，。；、\d]{0,12}?(?:资金|基金|经费|预算)")
FUND_BEFORE = re.compile(r"(?:资金|基金|经费|预算)[^，。；\d]{0,8}$")
FUND_WORDS = re.compile(r"设立|安排|列支|统筹|筹集|总规模|出资|资金池")
FUND_RIGHT_BEFORE = re.compile(r"(?:设立|安排|列支|统筹|筹集|出资|投入)[^，。；\d]{0,6}$")
UNQUANT = re.compile(r"一事一议|一企一策|一项一策|一园一策|按(?:照)?(?:有关|相关|国家|省|市)?(?:规定|政策|标准|程序)"
                     r"[^，。；]{0,10}(?:给予|予以)[^，。；]{0,12}(?:奖励|奖补|补助|补贴|资助|扶持|支持)|"
                     r"给予[^，。；\d]{0,6}(?:适当|一定)(?:的)?(?:奖励|奖补|补助|补贴|资助|扶持)")
TARGET = re.compile(r"到20\d\d年|力争|目标|突破|培育.{0,6}个|打造.{0,6}个|累计.{0,6}达到")
PAYOUT = re.compile(r"应奖励额|应补助额|应奖补额|应补贴额|应兑现")
YEAR_STEP = re.compile(r"(?:第([一二三四五六七八九十\d]+)年|前([一二三四五六七八九十两\d]+)年|后([一二三四五六七八九十两\d]+)年)")
PER_UNIT_BEFORE = re.compile(r"每(?:个|名|位)?(人次|人|名|户|亩|平方米|吨|台|套)(?:每(月|年|天|次))?"
                             r"[^，。；\d]{0,10}$")
PER_HEAD = re.compile(r"每(?:个|名|位)?(?:人次|人|名|户|亩|平方米|吨|台|套)")
PER_COUNT = re.compile(r"每[^，。；]{0,12}?(?:1|一)(个|家|名|人|项|户|件)")
PER_UNIT_AFTER = re.compile(r"^\s*/\s*(亩|人|平方米|吨|台|套|月|年|人次|次|户)")
LEAD = re.compile(r"^(?:[（(][一二三四五六七八九十\d]{1,3}[）)]|\d{1,2}[.、]|第[一二三四五六七八九十百零\d]+条|"
                  r"[一二三四五六七八九十]+、|——)\s*")
STRIP_LEAD = re.compile(r"^(?:对于|对在|对|凡|经认定(?:的)?|其中|另外|同时|此外|在享受[^，]*基础上|鼓励|支持|按以下标准)+")
LEVEL = re.compile(r"^(?:国家级|省级|市级|县级|区级|国家|省|市|县|区)(?=.{2})")
ACHIEVE = re.compile(r"^(?:首次|初次|新增|新建|新设立|新开发和引进|新发展|新|年度新|当年|被|获评|获得|获批|获准|认定为|评定为|评为|入选|通过|列入|纳入|新认定|"
                     r"新获批|新获得|新获|新列入|新入选|认定|评定|成功|实现)+")
GENERIC = {"企业", "单位", "项目", "机构", "个人", "对象", "组织", "平台", "其", "的"}
WHO_TAIL = re.compile(r"(?:企业|单位|机构|个人|主体)$")


@dataclass
class Proposal:
    """One proposed rule row (kind-specific fields are None when they do not apply)."""
    id: str
    doc: str
    clause: str
    sentence: str
    kind: str
    item: str
    heading: str = ""
    conditions: list[str] = field(default_factory=list)
    thresholds: list[dict] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    region: str | None = None
    valid_from: str | None = None
    valid_until: str | None = None
    amount_yuan: int | None = None
    tiers: list[dict] | None = None
    base: str | None = None
    rate: float | None = None
    rate_min: float | None = None
    rate_max: float | None = None
    cap_yuan: int | None = None
    min_yuan: int | None = None
    max_yuan: int | None = None
    unit: str | None = None
    schedule: list[dict] | None = None
    wording: str = ""
    figures_yuan: list[int] | None = None
    reason: str | None = None
    status: str = "pending"

    def to_dict(self) -> dict:
        out = {}
        for k, v in self.__dict__.items():
            if v is None or (isinstance(v, list) and not v and k not in ("conditions",)):
                continue
            out[k] = v
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "Proposal":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


# ---------------------------------------------------------------- sentences and segments
def sentences(text: str) -> list[str]:
    """Sentences of a clause: text between 。；; and line ends (the terminal mark kept)."""
    out, start = [], 0
    for m in SENTENCE_END.finditer(text):
        piece = text[start:m.end()].strip()
        if piece.strip("。；;！？!?"):
            out.append(piece.rstrip("\n"))
        start = m.end()
    if text[start:].strip():
        out.append(text[start:].strip())
    return out


def _segments(s: str) -> list[tuple[int, int]]:
    """Spans of s between commas and colons, outside brackets."""
    spans, depth, start = [], 0, 0
    for i, ch in enumerate(s):
        if ch in "（(〔【[":
            depth += 1
        elif ch in "）)〕】]":
            depth = max(0, depth - 1)
        elif ch in "，,：:" and depth == 0:
            spans.append((start, i))
            start = i + 1
    spans.append((start, len(s)))
    return [(a, b) for a, b in spans if s[a:b].strip()]


def _has_verb(text: str) -> bool:
    return bool(OFFER_VERB.search(VERB_NOUNS.sub("", text)))


def is_amount_sentence(sentence: str) -> bool:
    s = fg.normalize(sentence)
    if fg.money(s):
        return True
    if fg.rates(s) and (_has_verb(s) or re.search(r"奖励|奖补|补助|补贴|资助|贴息", s)):
        return True
    return bool(UNQUANT.search(s))


# ---------------------------------------------------------------- roles of figures
@dataclass
class _Fig:
    f: Figure
    role: str            # amount | cap | threshold | fund
    seg: int
    group: int           # figures listed together (、和及) share a group
    label: str = ""      # words right before it in its list (特等奖150万元)
    upper: bool = False  # a threshold that is an upper bound (500万元以下)


def _groups(s: str, figs: list[Figure]) -> list[int]:
    out, g = [], 0
    for i, f in enumerate(figs):
        if i and not (f.role == "high" and figs[i - 1].role == "low"):
            gap = s[figs[i - 1].end:f.start]
            if not re.fullmatch(r"\s*(?:[、，,和及与或]|以上至|及以上至|至)?\s*(?:[^\d，。；、]{0,6}?)", gap) or "，" in gap:
                g += 1
            elif re.search(r"[^\s、，,和及与或至以上]", gap) and not re.fullmatch(r"\s*[、和及与或]\s*[^\d，。；、]{1,8}", gap):
                g += 1
        out.append(g)
    return out


def _roles(s: str, spans: list[tuple[int, int]]) -> list[_Fig]:
    figs = fg.money(s)
    groups = _groups(s, figs)
    out: list[_Fig] = []
    group_role: dict[int, str] = {}
    for f, g in zip(figs, groups):
        seg = next((i for i, (a, b) in enumerate(spans) if a <= f.start < b), len(spans) - 1)
        a, b = spans[seg]
        pre, post = s[a:f.start], s[f.end:b]
        members = [x for x, gg in zip(figs, groups) if gg == g]
        first, last = members[0], members[-1]
        gpre, gpost = s[a:first.start] if first.start >= a else pre, s[last.end:b] if last.start < b else post
        if g in group_role:
            role = group_role[g]
        else:
            verb_before = _has_verb(gpre)
            role = "amount"
            if ((FUND_AFTER.match(gpost) or FUND_BEFORE.search(gpre)) and (not verb_before or FUND_WORDS.search(gpre))) \
                    or (FUND_RIGHT_BEFORE.search(gpre) and not verb_before):
                role = "fund"
            elif PER_HEAD.search(gpre[-12:]) or re.search(r"(?:特等|[一二三]等)奖?$|标准$", gpre):
                role = "amount"
            elif first.role in ("low", "high") and not verb_before and (re.match(r"^\s*之间", gpost)
                                                                          or not _has_verb(s[a:b])):
                role = "threshold"
            elif CAP_BEFORE.search(gpre) and not THRESH_AFTER.match(gpost):
                role = "cap" if len(members) == 1 else "amount"     # 分别给予最高60万元、40万元: each up to
            elif not verb_before and (THRESH_AFTER.match(gpost) or gpost.startswith("的") or THRESH_BEFORE.search(gpre)
                                      or (THRESH_AFTER.match(post) and f.role != "high")):
                role = "threshold"
            elif not verb_before and re.match(r"^\s*(?:及以上)?(?:至|到)", post):
                role = "threshold"
            if role != "threshold":
                group_role[g] = role
        label = ""
        m = re.search(r"(?:^|[、，,和及与或]|给予|奖励|分别)\s*([^\d、，,和及与或（）()]{1,10})$", pre)
        if m:
            lab = re.sub(r"^(?:按照?|给予|分别|每(?:个|名|位)?|建设单位)+", "", m.group(1).strip())
            lab = re.sub(r"^(?:每(?:个|名|位|人))", "", lab)
            if lab and not OFFER_VERB.fullmatch(lab) and not re.search(r"[最不的为]|每", lab) and len(lab) <= 8:
                label = lab
        upper = bool(UPPER_AFTER.match(post) or re.search(r"不超过|(?<!不)低于|以内|不高于", pre[-4:]))
        out.append(_Fig(f, role, seg, g, label, upper=upper))
    # a range's top (1亿元到10亿元之间) is the upper bound of a threshold
    for x in out:
        if x.role == "threshold" and x.f.role == "high":
            x.upper = True
    return out


# ---------------------------------------------------------------- words
ACTOR_TAIL = re.compile(r"(?:(?:省|市|县|区)级|一次性|分别|可|均|每年|每家|可领取|在职期间|当年|再)+$")


def _before_verb(t: str) -> str:
    """A condition written with its offer (对…平台省级给予奖补): the words before the offer."""
    v = OFFER_VERB.search(VERB_NOUNS.sub(lambda m: "＿" * len(m.group()), t))
    if v and v.start() >= 2 and not re.match(r"^(?:支持|鼓励)", t[v.start():]):
        t = t[:v.start()]
    m = re.search(r"(?:(?:省|市|县|区)级)?(?:按照?|参照|依据|根据)", t)
    if m:
        t = t[:m.start()]
    return ACTOR_TAIL.sub("", t)


def _clean_cond(t: str) -> str:
    t = _before_verb(LEAD.sub("", t.strip().lstrip("（(〔")))
    t = STRIP_LEAD.sub("", t).strip()
    t = ACTOR_TAIL.sub("", t)
    t = re.sub(r"[，,：:；;。]+$", "", t)
    t = re.sub(r"(?:的|者|之一)$", "", t).strip()
    return t


def _split_conditions(text: str) -> list[str]:
    parts = [p for p in re.split(r"并且|(?<![而])且|同时", text) if p.strip()]
    out = []
    for p in parts:
        bits = re.split(r"(?<![以及上下内])的(?=[\u4e00-\u9fff“\"])", p)
        bits = [b.strip() for b in bits if b.strip()]
        if len(bits) > 1 and all(len(b) >= 2 for b in bits) and len(bits) <= 3:
            out.extend(bits)
        else:
            out.append(p.strip())
    return [_clean_cond(o) for o in out if _clean_cond(o)]


def _what(s: str, a: int, f: Figure) -> str:
    """What a threshold measures: the words before its figure (固定资产投资1000万元 → 固定资产投资)."""
    pre = s[a:f.start]
    pre = re.split(r"[，,、；：）)〔【（(]|且|或|的(?=[^的]{2,})", pre)[-1] if pre else ""
    pre = re.sub(r"(?:在|达到|超过|突破|不低于|不少于|低于|高于|为|满|同比增长|增长|增加|以上至|及以上至|至|到)+\s*$", "", pre)
    pre = re.sub(r"^其", "", STRIP_LEAD.sub("", LEAD.sub("", pre)).strip())
    return pre[-16:] or "金额"


def triggers_for(item: str) -> list[str]:
    """Words that name the item in a question: quoted names, and what is achieved without level words
    (首次获评省级专精特新中小企业的铸造企业 → 专精特新中小企业)."""
    out: list[str] = []
    for q in re.findall(r"[“\"]([^”\"]{2,14})[”\"]", item):
        if q not in out:
            out.append(q)
    core = re.sub(r"（[^（）]*）$", "", item)
    cat = re.search(r"（([^（）]{1,12})）$", item)
    chunks = [c for c in re.split(r"的|，", re.sub(r"[“”\"]", "", core)) if c]
    if len(chunks) > 1 and WHO_TAIL.search(chunks[-1]) and len(chunks[-1]) <= 6:
        chunks = chunks[:-1]      # 铸造企业: who gets it, not what earns it
    for c in chunks:
        c = c.split("、")[-1] if len(c) > 16 else c
        c = LEVEL.sub("", ACHIEVE.sub("", c))
        c = ACHIEVE.sub("", c)
        if 2 <= len(c) <= 16 and c not in GENERIC and c not in out:
            out.append(c)
    if cat and len(cat.group(1)) >= 2 and cat.group(1) not in out:
        out.append(cat.group(1))
    return out[:4]


def _item(conds: list[str], fallback: str) -> str:
    """What earns it: the condition that names the recipient (对…的企业), else the first substantial one."""
    raw = [c.strip() for c in conds if c and c.strip()]
    named = [c for c in raw if re.match(r"^(?:对于?|凡)(?!其)", LEAD.sub("", c))]
    pick = named[-1] if named else next((c for c in raw if len(_clean_cond(c)) >= 4), raw[0] if raw else "")
    item = _clean_cond(pick) if pick else ""
    return (item or fallback)[:48]


# ---------------------------------------------------------------- one sentence
def _year(n: str) -> int | None:
    if n.isdigit():
        return int(n)
    from kb.figures import _cn
    v = _cn(n)
    return int(v) if v else None


def _base(s: str, r: Rate, a: int) -> str | None:
    pre = s[a:r.start]
    m = re.search(r"(?:按照?|参照|依据|对其|给予|从)(?:其)?([^，。；]*?)$", pre)
    text = (m.group(1) if m else pre)
    text = re.sub(r"(?:的|不超过|不高于|不低于|最高)$", "", text.strip())
    text = re.sub(r"^(?:不超过|不高于|其)", "", text)
    text = re.sub(r"^[^，。；]*?(?:企业|个人|单位)(?=.)", "", text) if re.search(r"企业|个人|单位", text[:6]) else text
    text = re.sub(r"\d+年$", "", text)
    if "的" in text:
        text = text.rsplit("的", 1)[-1]
    text = re.sub(r"^(?:年度|当年)?(?:地方)?", lambda m0: m0.group(0), text)
    if not text:
        post = s[r.end:r.end + 12]
        m2 = re.match(r"^(?:的)?([^，。；的]{1,8}?)(?:补贴|奖励|奖补|补助|的资金支持|资金支持)", post)
        text = m2.group(1) if m2 else ""
    return text[-20:] or None


def _unit(s: str, a: int, f: Figure) -> str | None:
    pre, post = s[a:f.start], s[f.end:f.end + 6]
    m = PER_UNIT_AFTER.match(post)
    if m:
        return m.group(1)
    m = PER_UNIT_BEFORE.search(pre)
    if m:
        return m.group(1) + ("·" + m.group(2) if m.group(2) else "")
    m = PER_COUNT.search(pre)
    if m:
        return m.group(1)
    return None


LEVEL_WORD = re.compile(r"^(?:国家级|省级|市级|县级|区级|国家|省|市|县|区|[\dA-Z]{1,3}级?|[一二三四五]星级?|特等|[一二三]等)")
CAT_CUT = re.compile(r".*(?:对于?|为|在|被|的|获批|获得|认定|评定|入选|通过|新引进|引进|建设|获评|达到|实现|列入|纳入)")


def _categories(text: str, n: int) -> list[str] | None:
    """N things listed in the conditions (国家级、省级、市级…载体; 优秀、良好、合格等级; “小升规”“规改股”“股上市”),
    in the order the amounts follow them. A level word list shares the noun after its last entry."""
    quoted = re.findall(r"[“\"]([^”\"]{1,14})[”\"]", text)
    if len(quoted) == n:
        return quoted
    best = None
    for run in re.split(r"[，,；;：:。]", text):
        tokens = re.split(r"[、]|(?<=[级家省市区])[和及与或](?=[\u4e00-\u9fff])|(?<=..)[和及与或](?=[^，]{0,3}[级])", run)
        if len(tokens) < n:
            continue
        for k in range(len(tokens) - n + 1):
            toks = tokens[k:k + n]
            first = CAT_CUT.sub("", toks[0]) or toks[0]
            last = re.split(r"的", toks[-1])[0] or toks[-1]
            items = [first] + toks[1:-1] + [last]
            if any(not t or len(t) > 16 for t in items):
                continue
            lv = LEVEL_WORD.match(last)
            if lv and len(last) > len(lv.group()) and all(LEVEL_WORD.fullmatch(t) or len(t) <= 3 for t in items[:-1]):
                tail = last[len(lv.group()):]
                tail = re.sub(r"^(?:等级|等)", "", tail) if tail.startswith("等") else tail
                items = [t + tail for t in items[:-1]] + [lv.group() + tail]
            items = [re.sub(r"(?:等级|等)$", "", t) or t for t in items]
            score = sum(1 for t in items if LEVEL_WORD.match(t)) - k * 0.01
            if best is None or score > best[0]:
                best = (score, items)
    return best[1] if best else None


def propose_sentence(sentence: str, ctx: dict) -> list[Proposal]:
    from kb.clean import normalize_inline
    s = fg.normalize(normalize_inline(sentence))
    s = LEAD.sub("", s)
    spans = _segments(s)
    figs = _roles(s, spans)
    rates_ = fg.rates(s)
    base = dict(ctx, sentence=LEAD.sub("", sentence.strip()))
    money_vals = [x.f.value for x in figs]

    def make(kind: str, conds: list[str], wording: str, **kw) -> Proposal:
        item = kw.pop("item", None)
        if item is None:
            item = _item(conds, ctx.get("fallback_item", ""))
        item = item or ctx.get("fallback_item", "") or "?"
        conditions = []
        for c in conds:
            for part in _split_conditions(c):
                if part not in conditions:
                    conditions.append(part)
        p = Proposal(id="", doc=ctx["doc"], clause=ctx["clause"], sentence=base["sentence"], kind=kind,
                     item=item, heading=ctx.get("heading", ""), conditions=conditions,
                     region=ctx.get("region"), valid_from=ctx.get("valid_from"), valid_until=ctx.get("valid_until"),
                     wording=wording.strip("，,。；; "), **kw)
        if kind != "not_a_reward":
            p.triggers = triggers_for(item)
        return p

    verbs = _has_verb(s)
    amounts = [x for x in figs if x.role == "amount"]
    caps = [x for x in figs if x.role == "cap"]
    funds = [x for x in figs if x.role == "fund"]
    # ---- not an offer: a fund, a target, a statistic
    if figs and not amounts and not caps and not rates_ and not UNQUANT.search(s):
        reason = "fund" if funds else "target" if TARGET.search(s) else "statistic" if not verbs else "condition only"
        return [make("not_a_reward", [_clean_cond(s[a:b]) for a, b in spans[:1]], s, figures_yuan=money_vals,
                     reason=reason, thresholds=_thresholds(s, spans, figs))]
    if not verbs and not UNQUANT.search(s) and (figs or rates_):
        if not any(x.role in ("amount", "cap") for x in figs) or TARGET.search(s):
            return [make("not_a_reward", [], s, figures_yuan=money_vals, reason="target" if TARGET.search(s)
                         else "statistic")]
    if rates_ and PAYOUT.search(s) and not amounts and not caps:
        return [make("not_a_reward", [_clean_cond(s[a:b]) for a, b in spans[:1]], s, figures_yuan=money_vals or None,
                     reason="payment schedule")]

    # ---- offers: condition segments, then the segment(s) that offer
    offers: list[dict] = []
    conds: list[str] = []
    for i, (a, b) in enumerate(spans):
        seg = s[a:b]
        seg_figs = [x for x in figs if x.seg == i]
        seg_rates = [r for r in rates_ if a <= r.start < b]
        offering = [x for x in seg_figs if x.role in ("amount", "cap")]
        year_step = YEAR_STEP.search(seg)
        is_offer = bool(offering) or (bool(seg_rates) and verbs) or bool(UNQUANT.search(seg))
        if not is_offer:
            if offers and not offers[-1]["closed"] and (not seg_figs or all(x.role != "threshold" for x in seg_figs)) \
                    and not seg.lstrip().startswith("对"):
                offers[-1]["notes"].append(seg)      # 补贴期限不超过6个月: a limit on the offer before
            else:
                if offers:
                    offers[-1]["closed"] = True
                conds.append(seg)
            continue
        cont = bool(offers) and not offers[-1]["closed"] and bool(
            (year_step and (offers[-1]["years"] or offers[-1]["amounts"] or offers[-1]["rates"]))
            or (not [x for x in offering if x.role == "amount"] and not seg_rates      # a cap on the offer before
                and (offers[-1]["amounts"] or offers[-1]["rates"]))
            or (seg_rates and not offering and offers[-1]["rates"] and not conds))
        if cont:
            o = offers[-1]
        else:
            o = {"conds": conds, "segs": [], "amounts": [], "caps": [], "rates": [], "years": [], "notes": [],
                 "closed": False, "start": a}
            offers.append(o)
            conds = []
        # words before the verb in the offer segment are conditions too (五星级的给予10万元)
        v = OFFER_VERB.search(VERB_NOUNS.sub(lambda m: "＿" * len(m.group()), seg))
        if not cont and v and v.start() > 1:
            lead = seg[:v.start()]
            if not fg.money(lead) or all(x.role == "threshold" for x in seg_figs if x.f.start < a + v.start()):
                o["conds"] = o["conds"] + [lead]
        o["segs"].append((a, b))
        o["amounts"] += [x for x in offering if x.role == "amount"]
        o["caps"] += [x for x in offering if x.role == "cap"]
        o["rates"] += seg_rates
        steps = list(YEAR_STEP.finditer(seg))
        for k, m in enumerate(steps):      # 第一年奖励5万元，第二年奖励3万元 (also inside one bracket)
            lo_, hi_ = a + m.end(), a + (steps[k + 1].start() if k + 1 < len(steps) else len(seg))
            o["years"].append((m, [x for x in offering if x.role == "amount" and lo_ <= x.f.start < hi_],
                               [r for r in seg_rates if lo_ <= r.start < hi_]))
    if offers and conds:
        offers[-1]["notes"] += conds     # trailing conditions belong to the last offer

    out: list[Proposal] = []
    for o in offers:
        out.extend(_offer(s, spans, figs, o, make))
    if not out:       # every amount sentence yields a proposal
        kind = "unquantified" if verbs or UNQUANT.search(s) else "not_a_reward"
        extra = {} if kind == "unquantified" else {"figures_yuan": money_vals or None, "reason": "statistic"}
        out.append(make(kind, [c for c in conds if c], s, thresholds=_thresholds(s, spans, figs), **extra))
    return out


def _thresholds(s: str, spans, figs: list[_Fig]) -> list[dict]:
    out = []
    for x in figs:
        if x.role != "threshold":
            continue
        t = {"what": _what(s, spans[x.seg][0], x.f), "threshold_yuan": x.f.value}
        if x.upper:
            t["upper"] = True
        if t not in out:
            out.append(t)
    return out


def _offer(s: str, spans, figs: list[_Fig], o: dict, make) -> list[Proposal]:
    a0 = o["segs"][0][0]
    wording = s[a0:o["segs"][-1][1]]
    for c in reversed(o["conds"]):
        v = OFFER_VERB.search(VERB_NOUNS.sub(lambda m: "＿" * len(m.group()), c))
        if v and c in s and s.index(c) + len(c) <= a0:
            wording = _from_verb(c, v.start()) + s[s.index(c) + len(c):o["segs"][-1][1]]
            break
    else:
        v = OFFER_VERB.search(VERB_NOUNS.sub(lambda m: "＿" * len(m.group()), wording))
        if v and not fg.money(wording[:v.start()]) and v.start() > 0:
            wording = _from_verb(wording, v.start())
    conds = [c for c in o["conds"] if c.strip()]
    notes = [n for n in o["notes"] if n.strip()]
    seg_ids = {i for i, sp in enumerate(spans) if sp in o["segs"]}
    cond_ids = {i for i, (a, b) in enumerate(spans) if any(s[a:b] == c for c in conds)}
    thresholds = _thresholds(s, spans, [x for x in figs if x.seg in seg_ids | cond_ids
                                        or any(s[spans[x.seg][0]:spans[x.seg][1]] in n for n in notes)])
    amounts, caps, rates_ = o["amounts"], o["caps"], o["rates"]
    cap = max((x.f.value for x in caps), default=None)
    common = dict(thresholds=thresholds)
    all_conds = conds + [n for n in notes if not fg.money(n) and not fg.rates(n)]
    lead = s[a0:min([x.f.start for x in amounts + caps] + [r.start for r in rates_] + [o["segs"][0][1]])]
    lead = re.sub(r"(?:每(?:个|名|位)?(?:人次|人|名|户|亩|平方米)(?:每(?:月|年|天))?|每年|每个|每家)+$", "", lead)
    lead = re.sub(r"(?:单个|每个|每家|同一)?(?:企业|项目|单位|机构)?(?:每年)?(?:累计)?(?:补贴|奖励|奖补|补助|资助)?"
                  r"(?:金额|额度)?(?:每年)?(?:最高|最多|不超过|上限为?|不高于)+(?:奖励|补贴|补助)?$", "", lead)
    item0 = _item(conds, "") or _item([lead], "")
    make = _with_item(make, item0 if len(item0) >= 2 else "")

    # ---- spread over years
    if o["years"] and (len(o["years"]) >= 2 or any(y[0].group(2) or y[0].group(3) for y in o["years"])):
        schedule, year = [], 0
        for m, amts, rts in o["years"]:
            if m.group(1):
                span_years = [_year(m.group(1))]
            elif m.group(2):
                span_years = list(range(1, (_year(m.group(2)) or 1) + 1))
            else:
                n = _year(m.group(3)) or 1
                span_years = list(range(year + 1, year + n + 1))
            for y in span_years:
                if y is None:
                    continue
                entry = {"year": y}
                if amts:
                    entry["amount_yuan"] = amts[0].f.value
                elif rts:
                    entry["rate"] = rts[0].value
                schedule.append(entry)
            year = max([year] + [y for y in span_years if y])
        scheduled = {id(x) for _, amts, _ in o["years"] for x in amts}
        total = next((x.f.value for x in amounts if id(x) not in scheduled), None)
        base_ = next((_base(s, r, a0) for _, _, rts in o["years"] for r in rts), None)
        return [make("multi_year", all_conds, wording, schedule=schedule, amount_yuan=total, cap_yuan=cap,
                     base=base_, **common)]

    # ---- rates
    if rates_:
        low = next((r for r in rates_ if r.role == "low"), None)
        high = next((r for r in rates_ if r.role == "high"), None)
        base_ = _base(s, rates_[0], a0) or _base(s, rates_[0], spans[0][0])
        tier_figs = [x for x in figs if x.role == "threshold"]
        lows = _tier_floors(s, tier_figs)
        singles = [r for r in rates_ if r.role == "single"]
        if len(singles) >= 2 and len(lows) == len(singles) and len(set(lows)) == len(lows):
            tiers = [{"threshold_yuan": t, "rate": r.value} for t, r in zip(lows, singles)]
            return [make("tiered", all_conds, wording, tiers=tiers, base=base_, cap_yuan=cap,
                         thresholds=_not_tiers(thresholds, tier_figs))]
        if low and high:
            return [make("range", all_conds, wording, rate_min=low.value, rate_max=high.value, base=base_,
                         cap_yuan=cap, min_yuan=None, **common)]
        if len(singles) >= 2:
            cats = _categories("，".join(_clean_cond(c) for c in conds), len(singles))
            if cats:
                return [make("ratio", all_conds, wording, item=c, rate=r.value, base=base_, cap_yuan=cap, **common)
                        for c, r in zip(cats, singles)]
        return [make("ratio", all_conds, wording, rate=rates_[0].value, base=base_, cap_yuan=cap, **common)]

    # ---- money
    if amounts:
        lo = next((x for x in amounts if x.f.role == "low"), None)
        hi = next((x for x in amounts if x.f.role == "high"), None)
        if lo and hi:
            return [make("range", all_conds, wording, min_yuan=lo.f.value, max_yuan=hi.f.value, cap_yuan=cap,
                         **common)]
        groups: dict[int, list[_Fig]] = {}
        for x in amounts:
            groups.setdefault(x.group, []).append(x)
        listed = max(groups.values(), key=len)
        if len(listed) >= 2:
            tier_figs = [x for x in figs if x.role == "threshold"]
            lows = _tier_floors(s, tier_figs)
            if len(lows) == len(listed) and lows == sorted(lows) and len(set(lows)) == len(lows):
                tiers = [{"threshold_yuan": t, "amount_yuan": x.f.value} for t, x in zip(lows, listed)]
                return [make("tiered", all_conds, wording, tiers=tiers, cap_yuan=cap,
                             thresholds=_not_tiers(thresholds, tier_figs))]
            labels = [x.label for x in listed]
            cats = labels if all(labels) and len(set(labels)) == len(labels) else \
                _categories("，".join(_clean_cond(c) for c in conds) + "，" + s[a0:listed[0].f.start], len(listed))
            unit = _unit(s, a0, listed[0].f)
            kind = "per_unit" if unit else "fixed"
            if cats:
                ctx_item = item0
                return [make(kind, all_conds, wording,
                             item=f"{ctx_item}（{c}）" if ctx_item and (labels == cats or len(c) <= 4) else c,
                             amount_yuan=x.f.value, unit=unit, cap_yuan=cap, **common)
                        for c, x in zip(cats, listed)]
            return [make(kind, all_conds, wording, item=f"{item0}（第{i}档）", amount_yuan=x.f.value,
                         unit=unit, cap_yuan=cap, **common) for i, x in enumerate(listed, 1)]
        x = amounts[0]
        unit = _unit(s, a0, x.f) or _unit(s, spans[x.seg][0], x.f)
        if CAP_BEFORE.search(s[spans[x.seg][0]:x.f.start]):
            return [make("range", all_conds, wording, max_yuan=x.f.value, unit=unit, **common)]
        extra = [y for y in amounts[1:]]
        out = [make("per_unit" if unit else "fixed", all_conds, wording, amount_yuan=x.f.value, unit=unit,
                    cap_yuan=cap, **common)]
        for y in extra:     # a second amount for the same item (再增加一次性补贴5万元)
            out.append(make("per_unit" if _unit(s, a0, y.f) else "fixed", all_conds, wording,
                            amount_yuan=y.f.value, unit=_unit(s, a0, y.f), **common))
        return out
    if caps:
        unit = _unit(s, a0, caps[0].f)
        return [make("range", all_conds, wording, max_yuan=cap, unit=unit, **common)]
    return [make("unquantified", all_conds, wording, **common)]


def _from_verb(text: str, at: int) -> str:
    """The offer as worded, from its verb and the adverbs before it (一次性奖励15万元)."""
    m = re.search(r"(?:一次性|分别|再|另|每年|均|可|按规定|连续\d+年)+$", text[:at])
    return text[m.start() if m else at:]


def _with_item(make, item: str | None):
    def mk(kind, conds, wording, **kw):
        if not kw.get("item"):
            kw["item"] = item     # "": the clause's heading names it
        return make(kind, conds, wording, **kw)
    return mk


def _not_tiers(thresholds: list[dict], tier_figs: list[_Fig]) -> list[dict]:
    """Thresholds other than the tiers' own bounds."""
    bounds = {x.f.value for x in tier_figs}
    return [t for t in thresholds if t["threshold_yuan"] not in bounds]


def _tier_floors(s: str, tfigs: list[_Fig]) -> list[int]:
    """The lower bound of each tier: 1000万元及以上至5000万元、5000万元以上至1亿元、1亿元以上 → 1000万, 5000万, 1亿."""
    floors: list[int] = []
    for x in tfigs:
        if x.upper or x.f.role == "high":
            continue
        if x.f.value not in floors:
            floors.append(x.f.value)
    return floors


# ---------------------------------------------------------------- a document
def propose(doc_meta, clauses) -> list[Proposal]:
    """Proposals for every amount sentence of a document's clauses (policy, preamble and annex text)."""
    out: list[Proposal] = []
    for c in clauses:
        if c.kind not in ("policy", "preamble", "annex"):
            continue
        letters = iter("abcdefghijklmnopqrstuvwxyz")
        ctx = {"doc": doc_meta.id, "clause": c.id, "heading": c.heading, "region": doc_meta.region or None,
               "valid_from": doc_meta.valid_from, "valid_until": doc_meta.valid_until,
               "fallback_item": LEAD.sub("", (c.heading_path or [""])[-1]).strip(" …")
               or (c.heading_path or [""])[-1]}
        for sent in sentences(c.text):
            if not is_amount_sentence(sent):
                continue
            try:
                found = propose_sentence(sent, ctx)
            except Exception:        # a sentence no rule reads must not cost the document its proposals
                log.warning("could not read the amount sentence %r of %s", sent[:40], c.id, exc_info=True)
                found = [Proposal(id="", doc=ctx["doc"], clause=c.id, sentence=sent, kind="not_a_reward",
                                  item=ctx["fallback_item"] or "?", heading=c.heading, reason="not read",
                                  figures_yuan=sorted(fg.yuan_values(sent)) or None)]
            for p in found:
                _only_written(p, sent)
                n = next(letters, None)
                p.id = f"{c.id.replace('/', '-')}-{n or len(out)}"
                out.append(p)
    return out


def _only_written(p: Proposal, sentence: str) -> None:
    """Drop any money value the sentence does not write (a guard: proposals report figures, never compute)."""
    written = fg.yuan_values(sentence)
    for k in ("amount_yuan", "cap_yuan", "min_yuan", "max_yuan"):
        if getattr(p, k) is not None and getattr(p, k) not in written:
            log.warning("%s: %s %s is not a figure of the sentence; dropped", p.clause, k, getattr(p, k))
            setattr(p, k, None)
    for lst in (p.tiers or [], p.schedule or [], p.thresholds or []):
        for d in lst:
            for k in [k for k in d if k.endswith("_yuan") and d[k] not in written]:
                d.pop(k)
    if p.tiers is not None:
        p.tiers = [t for t in p.tiers if "threshold_yuan" in t]
    if p.thresholds:
        p.thresholds = [t for t in p.thresholds if "threshold_yuan" in t]
    if p.figures_yuan:
        p.figures_yuan = [v for v in p.figures_yuan if v in written]

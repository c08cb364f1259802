"""Detect a policy document's metadata from its text: title, 文号, issuer, date, validity, region, kind.

Everything detected is a suggestion shown to staff, who can override each field; nothing here raises.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, timedelta

CJK = "\u4e00-\u9fff"
_OPEN, _CLOSE = "〔［\\[【（(", "〕］\\]】）)"
NUMBER_RE = re.compile(
    rf"(?P<prefix>[{CJK}]{{1,12}}?)\s*[{_OPEN}]\s*(?P<year>(?:19|20)\d\d)\s*[{_CLOSE}]\s*"
    rf"(?:第\s*)?(?P<n>\d{{1,4}})\s*号")
DATE_RE = re.compile(r"((?:19|20)\d\d)\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
# a date on a line of its own (the signature date), or one followed by 印发/发布/签发
DATE_LINE_RE = re.compile(rf"^\s*{DATE_RE.pattern}\s*(印发|发布|签发|制发)?\s*$")
ISSUER_SUFFIX = (r"(?:人民政府办公室|人民政府办公厅|人民政府|办公室|办公厅|委员会|管理委员会|管委会|"
                 r"[局厅委办署院会])")
ISSUER_RE = re.compile(rf"^(?P<issuer>[{CJK}（）()]{{2,40}}?{ISSUER_SUFFIX})(?:文件|函)?$")
TITLE_END = ("通知", "答复", "意见", "办法", "决定", "批复", "函", "方案", "报告", "规定", "政策", "措施",
             "细则", "计划", "公告", "通告", "名单")
VALID_UNTIL_RES = [
    re.compile(rf"有效期\s*(?:至|到|截至|截止至?)\s*{DATE_RE.pattern}"),
    re.compile(rf"(?:执行|施行|实施)\s*(?:至|到)\s*{DATE_RE.pattern}"),
    re.compile(rf"{DATE_RE.pattern}\s*(?:前|止)\s*有效"),
]
VALID_YEARS_RE = re.compile(r"(?:有效期|试行期)\s*(?:为|暂定)?\s*([一二三四五六七八九十两\d]+)\s*年|"
                            r"([一二三四五六七八九十两\d]+)\s*年\s*(?:有效期|试行期)")
# a line that starts a heading of the body (一、 （一） 1. 第一条 第一章) is never the title
HEADING_LINE_RE = re.compile(r"^(?:[一二三四五六七八九十]+\s*[、．.]|[（(][一二三四五六七八九十\d]{1,3}[）)]|\d{1,2}[、．.]|"
                             r"第\s*[一二三四五六七八九十百零\d]+\s*[章节条])")
PAREN_DATE_RE = re.compile(rf"^\s*[（(]\s*{DATE_RE.pattern}\s*[）)]\s*$")
FROM_DATE_RE = re.compile(rf"自\s*{DATE_RE.pattern}\s*起\s*(?:施行|执行|实施|生效)")
FROM_ISSUE_RE = re.compile(r"自\s*(?:发布|印发|公布|发文)\s*之\s*日\s*起\s*(?:施行|执行|实施|生效)")
CN_NUM = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}


@dataclass
class Detected:
    title: str | None = None
    number: str | None = None
    issuer: str | None = None
    date: str | None = None
    valid_from: str | None = None
    valid_until: str | None = None
    region: str | None = None
    kind: str = "other"

    def to_dict(self) -> dict:
        return asdict(self)


def _lines(text: str) -> list[str]:
    """Lines without markdown heading and bold marks, full-width spaces or gaps between Chinese characters."""
    out = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = re.sub(r"^\s*#{1,6}\s*", "", raw).replace("**", "").replace("__", "")
        line = line.replace("\u3000", " ").replace("\xa0", " ").strip()
        line = re.sub(rf"(?<=[{CJK}《》“”、（）])\s+(?=[{CJK}《》“”（）])", "", line)
        out.append(line)
    return out


def _iso(y: str, m: str, d: str) -> str | None:
    try:
        return date(int(y), int(m), int(d)).isoformat()
    except ValueError:
        return None


def _cited(text: str, start: int) -> bool:
    """A 文号 quoted after the name of another document: 《…》（青发〔2023〕9号）."""
    before = text[max(0, text.rfind("\n", 0, start) + 1):start]
    return bool(re.search(r"》\s*[（(]?\s*$", before)) or bool(re.search(r"(?:根据|按照|依据|参照)[^。\n]*$", before))


def detect_number(text: str) -> str | None:
    head = "\n".join(_lines(text)[:60])
    for m in NUMBER_RE.finditer(head):
        prefix = m.group("prefix")
        if prefix.endswith(("年", "第")) or len(prefix) < 2 or _cited(head, m.start()):
            continue
        # 文号 prefixes are short: the last run of characters before the bracket
        return f"{prefix}〔{m.group('year')}〕{int(m.group('n'))}号"
    whole = "\n".join(_lines(text))
    for m in NUMBER_RE.finditer(whole):
        if (not m.group("prefix").endswith(("年", "第")) and len(m.group("prefix")) >= 2
                and not _cited(whole, m.start())):
            return f"{m.group('prefix')}〔{m.group('year')}〕{int(m.group('n'))}号"
    return None


def detect_issuer(text: str) -> str | None:
    lines = [ln for ln in _lines(text)[:40] if ln]
    for line in lines:
        m = ISSUER_RE.match(line.replace(" ", ""))
        if m and "关于" not in line and not NUMBER_RE.search(line):
            return m.group("issuer")
    # "X人民政府办公室 关于印发…": the issuer opens the title line
    for line in lines:
        m = re.match(rf"^([{CJK}]{{2,30}}?{ISSUER_SUFFIX})\s*关于", line.replace(" ", ""))
        if m:
            return m.group(1)
    # the signature above the date at the end of the notice
    all_lines = [ln for ln in _lines(text) if ln]
    for i, line in enumerate(all_lines[1:], 1):
        if DATE_LINE_RE.match(line):
            m = ISSUER_RE.match(all_lines[i - 1].replace(" ", ""))
            if m:
                return m.group("issuer")
    return None


def _title_block(text: str) -> str | None:
    """The 关于…的通知 block, its lines joined."""
    lines = _lines(text)[:60]
    for i, line in enumerate(lines):
        if "关于" not in line or len(line) > 80 or line.endswith(("。", "：", ":")):
            continue
        block = line
        for nxt in lines[i + 1:i + 5]:
            if block.endswith(TITLE_END) or not nxt:
                break
            block += nxt
        if block.endswith(TITLE_END):
            return block
    return None


def detect_title(text: str, issuer: str | None = None) -> str | None:
    block = _title_block(text)
    if block:
        block = block[block.index("关于"):] if "关于" in block else block
        # a notice that issues a policy: the policy's own name is the title
        m = re.match(r"^关于(?:印发|转发|发布|公布)《?(.+?)》?的(?:通知|公告|通告)$", block)
        if m:
            return m.group(1)
        return block
    # no 关于 line: the first line (or short lines set one under another) that reads like a title
    lines = _lines(text)[:40]
    for i, line in enumerate(lines):
        if (not line or HEADING_LINE_RE.match(line) or NUMBER_RE.search(line) or line == issuer
                or ISSUER_RE.match(line.replace(" ", ""))):
            continue
        block = line
        for nxt in [""] + lines[i + 1:i + 4]:
            if nxt and (NUMBER_RE.search(nxt) or ISSUER_RE.match(nxt.replace(" ", ""))):
                break
            block += nxt
            bare = re.sub(r"[（(][^（）()]{1,20}[）)]$", "", block)
            if re.search(r"[。，；：]", block) or len(block) > 60 or (nxt and HEADING_LINE_RE.match(nxt)):
                break
            if 4 <= len(bare) and bare.endswith(TITLE_END):
                return block
            if len(line) > 30:
                break
    return None


def detect_date(text: str) -> str | None:
    lines = _lines(text)
    for line in lines:
        m = DATE_LINE_RE.match(line)
        if m:
            return _iso(*m.group(1, 2, 3))
    for line in lines[:10]:            # (2023年2月8日) under the title
        m = PAREN_DATE_RE.match(line)
        if m:
            return _iso(*m.group(1, 2, 3))
    return None


def detect_validity(text: str, issued: str | None) -> tuple[str | None, str | None]:
    flat = "".join(_lines(text))
    valid_from = None
    m = FROM_DATE_RE.search(flat)
    if m:
        valid_from = _iso(*m.group(1, 2, 3))
    elif FROM_ISSUE_RE.search(flat) or issued:
        valid_from = issued
    valid_until = None
    for rx in VALID_UNTIL_RES:
        m = rx.search(flat)
        if m:
            valid_until = _iso(*m.group(1, 2, 3))
            break
    if valid_until is None and valid_from:
        m = VALID_YEARS_RE.search(flat)
        if m:
            n = m.group(1) or m.group(2)
            years = int(n) if n.isdigit() else CN_NUM.get(n, 0)
            if years:
                start = date.fromisoformat(valid_from)
                try:
                    end = start.replace(year=start.year + years)
                except ValueError:  # 29 February
                    end = start.replace(year=start.year + years, day=28)
                valid_until = (end - timedelta(days=1)).isoformat()
    return valid_from, valid_until


def detect_number_fallback(title: str | None) -> str | None:
    """A reply to a proposal has no 文号; its proposal number identifies it."""
    if title:
        m = re.search(r"关于(.+?第\s*[A-Za-z]*\d+\s*号(?:提案|建议|议案))的答复", title)
        if m:
            return m.group(1) + "答复"
    return None


def detect_kind(title: str | None, text: str) -> str:
    t = title or ""
    if "答复" in t or "提案" in t:
        return "status_report"
    if "方案" in t or "计划" in t:
        return "implementation_plan"
    if re.search(r"政策|办法|措施|规定|细则|意见", t):
        return "support_policy"
    if "通知" in t or "公告" in t or "通告" in t:
        return "notice"
    return "other"


def detect_region(issuer: str | None, title: str | None, text: str, gazetteer=None) -> str | None:
    if gazetteer is None:
        try:
            from kb.regions import Gazetteer
            gazetteer = Gazetteer.load()
        except Exception:  # the gazetteer is optional for detection
            return None
    for source in (issuer, title):
        if not source:
            continue
        r = gazetteer.find_in(source)   # the most specific place it names: 晋城市城区 over 晋城市
        if r:
            return r.name
    head = "\n".join(_lines(text)[:15])
    r = gazetteer.find_in(head)
    return r.name if r else None


def detect(text: str, gazetteer=None) -> Detected:
    issuer = detect_issuer(text)
    title = detect_title(text, issuer)
    number = detect_number(text) or detect_number_fallback(title)
    issued = detect_date(text)
    valid_from, valid_until = detect_validity(text, issued)
    return Detected(title=title, number=number, issuer=issuer, date=issued, valid_from=valid_from,
                    valid_until=valid_until, region=detect_region(issuer, title, text, gazetteer),
                    kind=detect_kind(title, text))

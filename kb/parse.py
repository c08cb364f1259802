"""Split a cleaned document into clauses along its own heading hierarchy.

Headings: 第X章 / 第X节 / 第X条 / 一、 / （一） / (八) / 1. 1、 / （1） / —— bullets / 专栏N boxes, nested in
the order the document first uses them. Each clause carries its heading path and a stable id built from the
heading numbers (`jc-2023-39/1-2` is 一、 › （二）; `gz/c3-a26` is 第三章 › 第二十六条), so unchanged text
keeps its id across rebuilds. Unnumbered paragraphs that each end with their own （责任单位：…） are items of
their own (`…/1-u2`). A second document bound into the same file (若干政策 followed by its 行动计划) starts a
new part (`…/part2-1-1`). Cover notices, titles, name lists, contacts and 抄送 lines get their own kinds."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from kb.clean import Paragraph, paragraphs
from kb.documents import SourceDocument
from kb.figures import cn2an

SEP = " › "
CN_DIGITS = "一二三四五六七八九十百零〇两"
MARKERS = [
    ("chap", re.compile(rf"^第\s*([{CN_DIGITS}\d]{{1,5}})\s*章\s*")),
    ("sect", re.compile(rf"^第\s*([{CN_DIGITS}\d]{{1,5}})\s*节\s*")),
    ("part", re.compile(rf"^第\s*([{CN_DIGITS}\d]{{1,3}})\s*部分\s*")),
    ("art", re.compile(rf"^第\s*([{CN_DIGITS}\d]{{1,5}})\s*条(?![件款])\s*")),
    ("box", re.compile(r"^专栏\s*(\d{1,3})\s*")),
    ("cn", re.compile(r"^([一二三四五六七八九十]+)[、．.]\s*")),
    ("pcn", re.compile(r"^（([一二三四五六七八九十]+)）\s*")),
    ("num", re.compile(r"^(\d{1,2})[、．.](?!\d)\s*")),
    ("pnum", re.compile(r"^（(\d{1,2})）\s*")),
    ("dash", re.compile(r"^——\s*")),
    ("circ", re.compile(r"^([①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳])\s*")),
    ("rnum", re.compile(r"^(\d{1,2})[)）]\s*(?=\D)")),
]
KEY_PREFIX = {"part": "b", "chap": "c", "sect": "s", "art": "a", "box": "box"}
LIST_KINDS = ("num", "pnum", "dash", "circ", "rnum")
CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
# a title line: short, no sentence punctuation, ends like a document's name (…若干政策, …行动计划（2021-2023年）)
TITLE_LINE = re.compile(r"^[^。，；：！？]{4,64}?(?:方案|政策|通知|办法|意见|规定|细则|措施|计划|决定|规划|指南|"
                        r"条例|规则)(?:[（(][^（）()]{1,20}[）)])?$")
SIGNED = re.compile(r"^(?:19|20)\d\d\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日(?:\s*印发)?$")
ISSUES = re.compile(r"印发|遵照执行|贯彻执行|贯彻落实|抓好落实|认真执行|现予公布|发布实施")
FOOTER = re.compile(r"^(?:抄送|公开方式|信息公开选项)")
# an item's closing note naming the offices in charge: （责任单位：…） 〔牵头单位：…〕
OFFICE_TAIL = re.compile(r"[（〔(][^（）〔〕()]*(?:责任单位|牵头单位|责任部门|牵头部门)[^（）〔〕()]*"
                         r"(?:[（(][^（）()]*[）)][^（）〔〕()]*)*[）〕)]\s*$")
COVER_END = re.compile(r"^（此件(?:公开发布|不予公开|依申请公开)）$")
CLOSING = re.compile(r"^(?:以上|本)(?:政策|方案|办法|措施|意见).{0,20}(?:施行|有效期)")
CONTACT = re.compile(r"^(?:负责人|承办人|联系人|联系电话|联系方式)[：:]")
OFFICES = [re.compile(p) for p in (r"〔责任单位[：:](.+?)〕", r"（责任(?:单位|部门)[：:](.+?)）\s*$",
                                    r"^责任单位[：:](.+)$", r"（([^（）]*?牵头[^（）]*?分工负责)）")]
MARKERS_BY_KIND = dict(MARKERS)
INDEXED_KINDS = {"policy", "preamble", "annex", "name_list", "contact", "cover"}   # a reply's cover names its proposer


@dataclass
class Clause:
    id: str
    doc_id: str
    seq: int
    kind: str
    heading_path: list[str]
    text: str
    raw_text: str
    offices: str = ""

    @property
    def heading(self) -> str:
        return SEP.join(self.heading_path)

    @property
    def hash(self) -> str:
        return hashlib.sha256(f"{self.heading}\n{self.text}".encode()).hexdigest()[:16]


@dataclass
class _Open:
    kind: str
    path: list[str]
    key: str
    paras: list[Paragraph] = field(default_factory=list)


def _heading(text: str) -> tuple[str, str, str, str] | None:
    """(marker type, number key, display marker, title) when the paragraph starts a heading."""
    for kind, rx in MARKERS:
        m = rx.match(text)
        if not m:
            continue
        rest = text[m.end():]
        if kind in KEY_PREFIX:
            g = re.sub(r"\s+", "", m.group(1))
            num = KEY_PREFIX[kind] + (g if g.isdigit() else str(cn2an(g.replace("〇", "零"), "smart")))
            label = "专栏" + g if kind == "box" else f"第{g}{ {'part': '部分', 'chap': '章', 'sect': '节', 'art': '条'}[kind] }"
            return kind, num, label, _inline_title(kind, rest)
        if kind == "dash":
            num, shown = "", "——"
        else:
            g = m.group(1)
            if kind == "circ":
                num = f"o{CIRCLED.index(g) + 1}"
            elif kind == "rnum":
                num = f"r{g}"
            else:
                num = str(cn2an(g, "strict")) if not g.isdigit() else g
            shown = {"cn": f"{g}、", "pcn": f"（{g}）", "num": f"{g}.", "pnum": f"（{g}）", "circ": g,
                     "rnum": f"{g}）"}[kind]
        title = rest.split("。")[0] if "。" in rest[:40] else rest[:24] + ("…" if len(rest) > 24 else "")
        return kind, num, shown, title.rstrip("：:，,")
    return None


def _title_of(text: str) -> str:
    h = _heading(text)
    return MARKERS_BY_KIND[h[0]].sub("", text, count=1) if h and h[0] in MARKERS_BY_KIND else ""


def _leaf_item(text: str) -> bool:
    """A list entry (1.分散供养特困人员) rather than a section heading: with no heading under it, it is text."""
    h = _heading(text)
    return h is not None and h[0] in LIST_KINDS + ("pcn",)


def _inline_title(kind: str, rest: str) -> str:
    """The words after 第X章/第X条/专栏N that name it: all of a chapter's line; an article's short lead
    (第三条 载体建设。被香港…) when it has one."""
    rest = rest.strip()
    if kind in ("part", "chap", "sect", "box"):
        return re.sub(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])", "", rest)[:40]
    m = re.match(r"^([^。，；：！？\s]{2,15})(?:。|\s+(?=\S))", rest)
    if m and not re.search(r"[的了是]$", m.group(1)) and len(rest) > len(m.group(1)) + 1:
        return m.group(1)
    return ""


def _shown(h) -> str:
    kind, _, shown, title = h
    if kind in KEY_PREFIX:
        return f"{shown} {title}".strip()
    return f"{shown}{title}" if kind != "dash" else title


def _heading_only(text: str, h) -> bool:
    if h is not None and h[0] in KEY_PREFIX:
        rest = MARKERS_BY_KIND[h[0]].sub("", text, count=1)
        return len(rest) <= 40 and not re.search(r"[。，；：！？、]", rest)
    return h is not None and "。" not in text and len(text) <= 40 and not re.search(r"[，；;]", text)


def _offices(text: str) -> str:
    for rx in OFFICES:
        m = rx.search(text) if rx.pattern.startswith("〔") or rx.pattern.startswith("（(") else None
        for line in text.split("\n"):
            m = m or rx.search(line)
        if m:
            return m.group(1).strip()
    return ""


def _cover_end(paras: list[Paragraph]) -> int:
    """Index of the last paragraph of the cover notice (-1: none). The notice runs to （此件公开发布）; or to
    the signature date of a 印发 notice; or, in a letter, over the short lines at the top, up to the first
    heading. A single title line alone is the title, not a cover."""
    end = next((i for i, p in enumerate(paras[:20]) if COVER_END.match(p.text)), None)
    if end is not None:
        return end
    for i, p in enumerate(paras[:25]):
        if _heading(p.text):
            break
        if SIGNED.match(p.text) and any(ISSUES.search(q.text) for q in paras[:i]):
            return i
    end = -1
    for i, p in enumerate(paras[:12]):
        if len(p.text) > 60 or _heading(p.text):
            break
        end = i
    if end == 0 and TITLE_LINE.match(paras[0].text):
        return -1
    return end


def _titleish(text: str) -> bool:
    return bool(TITLE_LINE.match(text)) and not _heading(text) and not SIGNED.match(text)


def _split_items(o: "_Open") -> list["_Open"]:
    """Unnumbered items in one section, each closed by its own （责任单位：…）, become clauses of their own."""
    if o.kind not in ("policy", "annex"):
        return [o]
    head = o.paras[0] if _heading_only(o.paras[0].text, _heading(o.paras[0].text)) else None
    body = o.paras[1:] if head else o.paras
    if sum(1 for p in body if OFFICE_TAIL.search(p.text)) < 2:
        return [o]
    items, cur = [], []
    for p in body:
        cur.append(p)
        if OFFICE_TAIL.search(p.text):
            items.append(cur)
            cur = []
    if cur:
        items.append(cur)
    out = []
    for n, paras in enumerate(items, 1):
        first = paras[0].text
        lead = first.split("。")[0]
        title = lead if "。" in first and len(lead) <= 24 else first[:24] + ("…" if len(first) > 24 else "")
        out.append(_Open(o.kind, o.path + [title], f"{o.key}-u{n}", paras))
    return out


def parse_document(doc: SourceDocument) -> list[Clause]:
    paras = paragraphs(doc.text)
    doc_id = doc.meta.id
    cover_end = _cover_end(paras)
    opened: list[_Open] = []
    stack: list[tuple[str, str, str]] = []       # (marker type, number key, "（二）title")
    section = ""                                  # "" for the body, "annex" after 附件
    annex_title = ""
    part, part_title = 1, ""                      # a second document bound into the same file
    counters: dict[str, int] = {}
    in_footer = False
    body_seen = False

    def start(kind: str, path: list[str], key: str) -> _Open:
        o = _Open(kind, path, key)
        opened.append(o)
        return o

    def next_key(prefix: str) -> str:
        counters[prefix] = counters.get(prefix, 0) + 1
        return f"{prefix}{counters[prefix]}"

    cover = start("cover", ["封面"], "cover")
    title_seen = False
    for i, p in enumerate(paras):
        t = p.text
        if i <= cover_end:
            cover.paras.append(p)
            continue
        if in_footer or FOOTER.match(t):
            in_footer = True
            (opened[-1] if opened[-1].kind == "cc" else start("cc", ["抄送"], "cc")).paras.append(p)
            continue
        if CONTACT.match(t):
            (opened[-1] if opened[-1].kind == "contact" else start("contact", ["联系方式"], "contact")).paras.append(p)
            continue
        if not title_seen and not _heading(t) and len(t) <= 64 and "。" not in t and "，" not in t:
            title_seen = True
            start("title", ["标题"], "title").paras.append(p)
            continue
        if (opened[-1].kind == "title" and not body_seen and len(t) <= 40 and not _heading(t)
                and not re.search(r"[。，；：！？]", t) and not SIGNED.match(t)):
            opened[-1].paras.append(p)         # a title set over several lines
            continue
        title_seen = True
        if t.startswith("附件：") or t.startswith("附件:"):
            start("annex_ref", ["附件"], next_key("annexref")).paras.append(p)
            continue
        if t == "附件" or (("组成人员名单" in t or t.startswith("附件")) and len(t) <= 64 and "。" not in t):
            if t != "附件":
                section, annex_title, stack = "annex", t, []
            else:
                section, stack = "annex", []
            continue
        if section == "annex" and not annex_title:
            annex_title = t
            continue
        if body_seen and section != "annex" and _titleish(t):
            part, part_title, stack, body_seen = part + 1, t, [], False
            start("title", ["标题"], f"title{part}").paras.append(p)
            continue
        body_seen = True
        if CLOSING.match(t) and not any(s_[0] == "art" for s_ in stack):
            start("policy", ["施行日期与有效期"], "final").paras.append(p)
            stack = [("final", "final", "施行日期与有效期")]
            continue
        if t.startswith("感谢") and len(t) < 80:
            start("closing", ["结束语"], "closing").paras.append(p)
            continue
        h = _heading(t)
        if h:
            kind, num, shown, title = h
            if stack and stack[0][0] == "final":
                stack = []
            while stack and stack[-1][0] == "box" and kind != "box":
                stack.pop()                    # a box (专栏) closes at the next heading
            if kind == "box":
                while stack and stack[-1][0] in LIST_KINDS + ("box",):
                    stack.pop()
            types = [s[0] for s in stack]
            if kind in types:
                stack = stack[: types.index(kind)]
            root = [annex_title] if section == "annex" and annex_title else [part_title] if part_title else []
            if kind == "dash":
                here = root + [s[2] for s in stack]
                num = str(sum(1 for o in opened if o.path[:len(here)] == here and len(o.path) == len(here) + 1
                              and o.key.split("-")[-1].startswith("d")) + 1)
                num = f"d{num}"
            stack.append((kind, num, _shown(h)))
            path = root + [s[2] for s in stack]
            key = (("annex-" if section == "annex" else "") + (f"part{part}-" if part > 1 else "")
                   + "-".join(s[1] for s in stack))
            o = start("annex" if section == "annex" else "policy", path, key)
            o.paras.append(p)
            continue
        # a body paragraph: continues the open clause, or is a preamble paragraph of its own
        cur = opened[-1]
        if cur.kind in ("policy", "annex"):
            cur.paras.append(p)
        else:
            root = ([annex_title] if section == "annex" and annex_title else [part_title] if part_title
                    else [doc.meta.title])
            start("preamble", root + ["正文"], next_key("p")).paras.append(p)

    clauses: list[Clause] = []
    used: dict[str, int] = {}
    items = [item for o in opened if o.paras for item in _split_items(o)]
    for n, o in enumerate(items):
        body_paras = o.paras
        # a section heading alone (一、支持产业集聚) is a path element, not a clause; a list item alone is one
        nxt = items[n + 1].key if n + 1 < len(items) else ""
        if (len(body_paras) == 1 and o.kind in ("policy", "annex")
                and _heading_only(body_paras[0].text, _heading(body_paras[0].text))
                and (nxt.startswith(o.key + "-") or not _leaf_item(body_paras[0].text))):
            continue
        if (len(body_paras) == 1 and o.kind in ("policy", "annex") and nxt.startswith(o.key + "-")
                and re.fullmatch(r"[^。，；：！？]{2,24}。", _title_of(body_paras[0].text))):
            continue      # （一）网络体系强基行动。 — a heading with a full stop, its items below it
        kind = o.kind
        text = "\n".join(p.text for p in body_paras)
        if kind == "annex" and any(w in o.path[-1] for w in ("组成人员", "成员名单")):
            kind = "name_list"
        cid = f"{doc_id}/{o.key}"
        if cid in used:
            used[cid] += 1
            cid = f"{cid}~{used[cid]}"
        else:
            used[cid] = 1
        clauses.append(Clause(cid, doc_id, len(clauses), kind, o.path, text,
                              "\n".join(p.raw for p in body_paras), _offices(text)))
    return clauses

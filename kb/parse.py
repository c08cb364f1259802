"""Split a cleaned document into clauses along its own heading hierarchy.

Headings: 一、 / （一） / (八) / 1. 1、 / （1） / —— bullets. Each clause carries its heading path and a
stable id built from the heading numbers (`jc-2023-39/1-2` is 一、 › （二）), so unchanged text keeps its
id across rebuilds. Cover notices, titles, name lists, contacts and 抄送 lines get their own kinds."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import cn2an

from kb.clean import Paragraph, paragraphs
from kb.documents import SourceDocument

SEP = " › "
MARKERS = [
    ("cn", re.compile(r"^([一二三四五六七八九十]+)[、．.]\s*")),
    ("pcn", re.compile(r"^（([一二三四五六七八九十]+)）\s*")),
    ("num", re.compile(r"^(\d{1,2})[、．.](?!\d)\s*")),
    ("pnum", re.compile(r"^（(\d{1,2})）\s*")),
    ("dash", re.compile(r"^——\s*")),
]
COVER_END = re.compile(r"^（此件(?:公开发布|不予公开|依申请公开)）$")
CLOSING = re.compile(r"^(?:以上|本)(?:政策|方案|办法|措施|意见).{0,20}(?:施行|有效期)")
CONTACT = re.compile(r"^(?:负责人|承办人|联系人|联系电话|联系方式)[：:]")
OFFICES = [re.compile(p) for p in (r"〔责任单位[：:](.+?)〕", r"（责任(?:单位|部门)[：:](.+?)）\s*$",
                                    r"^责任单位[：:](.+)$", r"（([^（）]*?牵头[^（）]*?分工负责)）")]
INDEXED_KINDS = {"policy", "preamble", "annex", "name_list", "contact"}


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
        if kind == "dash":
            num, shown = "", "——"
        else:
            g = m.group(1)
            num = str(cn2an.cn2an(g, "strict")) if not g.isdigit() else g
            shown = {"cn": f"{g}、", "pcn": f"（{g}）", "num": f"{g}.", "pnum": f"（{g}）"}[kind]
        title = rest.split("。")[0] if "。" in rest[:40] else rest[:24] + ("…" if len(rest) > 24 else "")
        return kind, num, shown, title.rstrip("：:，,")
    return None


def _heading_only(text: str, h) -> bool:
    return h is not None and "。" not in text and len(text) <= 40


def _offices(text: str) -> str:
    for rx in OFFICES:
        m = rx.search(text) if rx.pattern.startswith("〔") or rx.pattern.startswith("（(") else None
        for line in text.split("\n"):
            m = m or rx.search(line)
        if m:
            return m.group(1).strip()
    return ""


def parse_document(doc: SourceDocument) -> list[Clause]:
    paras = paragraphs(doc.text)
    doc_id = doc.meta.id
    # the cover notice runs to （此件公开发布）, or, in a letter, over the short lines at the top
    cover_end = next((i for i, p in enumerate(paras[:20]) if COVER_END.match(p.text)), None)
    if cover_end is None:
        cover_end = -1
        for i, p in enumerate(paras[:12]):
            if len(p.text) > 60:
                break
            cover_end = i
    opened: list[_Open] = []
    stack: list[tuple[str, str, str]] = []       # (marker type, number key, "（二）title")
    section = ""                                  # "" for the body, "annex" after 附件
    annex_title = ""
    counters: dict[str, int] = {}
    in_footer = False

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
        if in_footer or t.startswith("抄送"):
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
        if CLOSING.match(t):
            start("policy", ["施行日期与有效期"], "final").paras.append(p)
            stack = [("final", "final", "施行日期与有效期")]
            continue
        if t.startswith("感谢") and len(t) < 80:
            start("closing", ["结束语"], "closing").paras.append(p)
            continue
        h = _heading(t)
        if h:
            kind, num, shown, title = h
            types = [s[0] for s in stack]
            if kind in types:
                stack = stack[: types.index(kind)]
            if kind == "dash":
                num = str(sum(1 for o in opened if o.path[:len(stack)] == [s[2] for s in stack]
                              and o.key.split("-")[-1].startswith("d")) + 1)
                num = f"d{num}"
            stack.append((kind, num, f"{shown}{title}" if kind != "dash" else title))
            root = [annex_title] if section == "annex" and annex_title else []
            path = root + [s[2] for s in stack]
            key = ("annex-" if section == "annex" else "") + "-".join(s[1] for s in stack)
            o = start("annex" if section == "annex" else "policy", path, key)
            o.paras.append(p)
            continue
        # a body paragraph: continues the open clause, or is a preamble paragraph of its own
        cur = opened[-1]
        if cur.kind in ("policy", "annex"):
            cur.paras.append(p)
        else:
            root = [annex_title] if section == "annex" and annex_title else [doc.meta.title]
            start("preamble", root + ["正文"], next_key("p")).paras.append(p)

    clauses: list[Clause] = []
    used: dict[str, int] = {}
    for o in opened:
        if not o.paras:
            continue
        body_paras = o.paras
        # a section heading alone (一、支持产业集聚) is a path element, not a clause
        if len(body_paras) == 1 and o.kind in ("policy", "annex") and _heading_only(body_paras[0].text,
                                                                                   _heading(body_paras[0].text)):
            continue
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

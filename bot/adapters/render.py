"""An answer's parts laid out for chats that show text (Telegram HTML, WeChat plain text).

- `telegram_html(answer) -> str`: valid Telegram HTML — the status line first, the direct answer in bold,
  the paid amounts in bold wherever they appear, details as a list, conditions listed, assumptions in
  italics, 依据 and 责任单位 in an expandable quote. Everything from the answer is escaped.
- `wechat_text(answer, clause_url=None) -> str`: compact plain text for WeChat, with a link to each cited
  clause on the web page when `clause_url(clause_id)` gives one, the choices to reply with, and how to
  rate the answer.
- `extra_lines(answer)`: lines the core added to the composed text after its parts (e.g. "回复“留言”…").

Answers without parts (errors, test doubles) are shown as their text.
"""
from __future__ import annotations

import re
from typing import Callable

from bot.adapters.text import escape
from bot.core.compose import text_of
from bot.core.types import Answer

AMOUNT = re.compile(r"(\d[\d,，]*(?:\.\d+)?)\s*(万元|亿元|万|亿|元)")
LIST_MARK = re.compile(r"^\s*[·•\-]\s*")
FEEDBACK_HINT = "觉得有用回复“有用”，不对回复“没用”（可加原因，如“没用 金额不对”）。"


def extra_lines(answer: Answer) -> list[str]:
    """What the core appended to the text after composing it from the parts."""
    if answer.parts is None:
        return []
    base = text_of(answer.parts)
    if not answer.answer.startswith(base):
        return []
    return [x for x in answer.answer[len(base):].split("\n") if x.strip()]


def paid_amounts(answer: Answer) -> set[int]:
    found = {r.amount_yuan for r in answer.rewards if isinstance(r.amount_yuan, int)}
    if isinstance(answer.total_yuan, int):
        found.add(answer.total_yuan)
    return found


def _yuan(number: str, unit: str) -> int:
    n = float(number.replace(",", "").replace("，", ""))
    return round(n * (1e4 if unit.startswith("万") else 1e8 if unit.startswith("亿") else 1))


def bold_amounts(text: str, amounts: set[int]) -> str:
    """Escaped `text` with the amounts the answer pays in <b> (thresholds like 5亿元 stay plain)."""
    out, last = [], 0
    for m in AMOUNT.finditer(text):
        try:
            paid = _yuan(m.group(1), m.group(2)) in amounts
        except ValueError:
            paid = False
        if paid:
            out += [escape(text[last:m.start()]), "<b>", escape(m.group(0)), "</b>"]
            last = m.end()
    out.append(escape(text[last:]))
    return "".join(out)


def _strip_warning(text: str) -> str:
    return re.sub(r"^\s*⚠️?\s*", "", text)


def telegram_html(answer: Answer) -> str:
    p = answer.parts
    if p is None:
        return escape(answer.answer)
    amounts = paid_amounts(answer)
    lines: list[str] = []
    if p.status:
        lines.append("⚠️ <i>" + escape(_strip_warning(p.status)) + "</i>")
    if p.headline:
        lines.append("<b>" + escape(p.headline) + "</b>")
    for line in p.body:
        if LIST_MARK.match(line):
            lines.append("• " + bold_amounts(LIST_MARK.sub("", line), amounts))
        elif line.strip():
            lines.append(bold_amounts(line, amounts))
    if p.conditions:
        lines.append("<b>条件</b>")
        lines += ["• " + escape(c) for c in p.conditions]
    lines += [escape(n) for n in p.notes if n.strip()]
    lines += ["<i>" + escape(a if a.endswith("。") else a + "。") + "</i>" for a in p.assumptions if a.strip()]
    lines += [escape(x) for x in extra_lines(answer)]
    fold = []
    if p.source:
        fold.append("<b>依据</b>：" + escape(re.sub(r"^依据[：:]", "", p.source)))
    if p.offices:
        fold.append("<b>责任单位</b>：" + escape(re.sub(r"^责任单位[：:]", "", p.offices)))
    text = "\n".join(lines)
    if fold:
        text += "\n<blockquote expandable>" + "\n".join(fold) + "</blockquote>"
    return text


def wechat_text(answer: Answer, clause_url: Callable[[str], str | None] | None = None,
                feedback_hint: bool = True) -> str:
    """Plain text for WeChat: direct answer first, details, the clause links, what to reply."""
    p = answer.parts
    if p is None:
        text = answer.answer
    else:
        lines: list[str] = []
        if p.status:
            lines.append("⚠️ " + _strip_warning(p.status))
        if p.headline:
            lines.append(p.headline)
        lines += ["· " + LIST_MARK.sub("", x) if LIST_MARK.match(x) else x for x in p.body if x.strip()]
        if p.conditions:
            lines.append("条件：" + "；".join(p.conditions) + "。")
        lines += [x for x in p.notes if x.strip()]
        lines += [a if a.endswith("。") else a + "。" for a in p.assumptions if a.strip()]
        if p.source:
            lines.append(p.source)
        if p.offices:
            lines.append(p.offices)
        lines += extra_lines(answer)
        text = "\n".join(lines)
    links = []
    if clause_url is not None:
        seen: list[str] = []
        for c in answer.citations:
            if c.clause_id and c.clause_id not in seen:
                seen.append(c.clause_id)
        for cid in seen[:2]:
            url = clause_url(cid)
            if url:
                c = next(x for x in answer.citations if x.clause_id == cid)
                links.append(f"原文（{c.number or c.doc} {c.clause}）：{url}".replace("（ ", "（"))
    if links:
        text += "\n" + "\n".join(links)
    if p is not None and p.choices:
        text += "\n可以直接回复：" + " / ".join(p.choices[:8])
    if feedback_hint and answer.status in ("answered", "not_found") and answer.qtype not in ("handoff", "greeting",
                                                                                                 "thanks", "chitchat"):
        text += "\n" + FEEDBACK_HINT
    return text

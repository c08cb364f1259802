"""Reply composition: the parts of an answer → the text a chat shows (status first, said once)."""
from __future__ import annotations

from bot.core.types import ANSWERED, Answer, Citation, Parts, Reward


def text_of(parts: Parts) -> str:
    lines: list[str] = []
    if parts.status:
        lines.append("⚠️ " + parts.status)
    if parts.headline:
        lines.append(parts.headline)
    lines.extend(parts.body)
    lines.extend(parts.notes)
    if parts.conditions:
        lines.append("条件：" + "；".join(parts.conditions) + "。")
    lines.extend(a if a.endswith("。") else a + "。" for a in parts.assumptions)
    if parts.source:
        lines.append(parts.source)
    if parts.offices:
        lines.append(parts.offices)
    return "\n".join(line for line in lines if line)


def answer(parts: Parts, status: str = ANSWERED, citations: list[Citation] | None = None,
           rewards: list[Reward] | None = None, total_yuan: int | None = None, warnings: list[str] | None = None,
           asked_for: list[str] | None = None, rule_ids: list[str] | None = None) -> Answer:
    return Answer(status, text_of(parts), citations or [], rewards or [], total_yuan, warnings or [],
                  asked_for=asked_for or [], rule_ids=rule_ids or [], parts=parts)


def plain(text: str, status: str = ANSWERED, **kw) -> Answer:
    return answer(Parts(headline=text), status, **kw)

"""What gets embedded: each clause, in passages of about `max_chars`, behind a short context prefix
(issuer｜title｜heading path｜) — measured, the prefix lifts dense retrieval markedly."""
from __future__ import annotations

import re

from kb.documents import DocumentMeta
from kb.parse import Clause

_SENT = re.compile(r"(?<=[。；！？\n])")


def prefix(doc: DocumentMeta, clause: Clause) -> str:
    return f"{doc.issuer}｜{doc.title}｜{clause.heading}｜"


def passages(doc: DocumentMeta, clause: Clause, max_chars: int = 260) -> list[str]:
    head = prefix(doc, clause)
    parts, cur = [], ""
    for sent in (s for s in _SENT.split(clause.text) if s.strip()):
        if cur and len(cur) + len(sent) > max_chars:
            parts.append(cur)
            cur = ""
        cur += sent
    if cur:
        parts.append(cur)
    return [head + p.strip() for p in parts] or [head]

"""What the core asks of the world around it without knowing storage or channels: staff-curated replies to
match a question against, and an inbox for messages to a person. The runtime supplies both."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np


@dataclass
class CuratedReply:
    id: int
    text: str                          # the reply staff wrote
    clause_ids: list[str] = field(default_factory=list)   # what it cites
    similarity: float = 0.0


@dataclass
class HandoffMessage:
    session: str                       # the conversation's key (a pseudonym, never a raw user id)
    message: str                       # what the owner wants a person to answer
    context: list[str]                 # the questions asked before, most recent last
    contact: str | None                # a phone or other contact, only with consent
    region: str | None
    office: str | None                 # who will answer, as told to the owner


class CuratedSource(Protocol):
    def match(self, question: str, qvec: np.ndarray) -> CuratedReply | None: ...


@dataclass
class Hooks:
    curated: CuratedSource | None = None
    inbox: Callable[[HandoffMessage], str] | None = None     # stores a message, returns its reference

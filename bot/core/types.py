"""What the query handler returns and remembers. Channel-agnostic."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

ANSWERED, CLARIFY, NOT_FOUND = "answered", "clarify", "not_found"


@dataclass
class Citation:
    doc: str            # document title
    number: str         # 文号
    clause: str         # clause heading path
    text: str           # cleaned clause text
    clause_id: str = ""


@dataclass
class Reward:
    item: str
    amount_yuan: int | None
    basis: str          # 文号 + clause heading
    rule_id: str = ""


@dataclass
class Parts:
    """The reply in pieces, for front ends that lay it out (the `answer` text is composed from them)."""
    headline: str = ""                  # the amount or the direct answer
    status: str = ""                    # one status line (an expired policy): it leads the reply
    body: list[str] = field(default_factory=list)         # details: items, quoted sentences, checks
    notes: list[str] = field(default_factory=list)        # caveats (first time only, two tiers in a year…)
    conditions: list[str] = field(default_factory=list)   # the rule as the document states it
    assumptions: list[str] = field(default_factory=list)  # facts used that the owner said earlier or we assumed
    source: str = ""                    # 依据：文号《标题》clause
    offices: str = ""                   # 责任单位 and phone
    suggestions: list[str] = field(default_factory=list)  # next questions worth asking
    choices: list[str] = field(default_factory=list)      # answers to a clarify question, for buttons


@dataclass
class Answer:
    status: str
    answer: str
    citations: list[Citation] = field(default_factory=list)
    rewards: list[Reward] = field(default_factory=list)
    total_yuan: int | None = None
    warnings: list[str] = field(default_factory=list)
    # not part of the JSON contract: for logs and adapters
    asked_for: list[str] = field(default_factory=list)   # facts a clarify asks for
    rule_ids: list[str] = field(default_factory=list)
    parts: Parts | None = None
    qtype: str = ""                                      # the question type it was answered as
    # what the runtime is asked to do with the owner's consent ("profile.save", "profile.delete",
    # "profile.notify_off", "profile.notify_on"): the core keeps no store
    effects: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The contract of ../shared/eval/README.md."""
        return {
            "status": self.status,
            "answer": self.answer,
            "citations": [asdict(c) for c in self.citations],
            "rewards": [asdict(r) for r in self.rewards],
            "total_yuan": self.total_yuan,
            "warnings": list(self.warnings),
        }


@dataclass
class Session:
    """Facts learnt about one enterprise in one conversation (per chat, openid or web session)."""
    id: str
    facts: dict[str, Any] = field(default_factory=dict)
    pending: dict[str, Any] | None = None   # the question waiting for a clarify answer
    turns: int = 0
    state: dict[str, Any] = field(default_factory=dict)   # dialogue state: the subject of the last answer
    updated_at: float = field(default_factory=time.time)

    def reset(self) -> None:
        self.facts.clear()
        self.pending = None
        self.turns = 0
        self.state.clear()

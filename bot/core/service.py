"""The channel-agnostic query handler: `Assistant.answer(question, session) -> Answer`.

Loads the knowledge base, index and rule tables once (at start-up, never at import).
"""
from __future__ import annotations

import logging
from datetime import date
from typing import Callable

from bot.config import Config
from bot.core.types import Answer, Citation, Session

log = logging.getLogger(__name__)


class Assistant:
    def __init__(self, config: Config, kb, retriever, rules, today: Callable[[], date] | None = None):
        self.config = config
        self.kb = kb
        self.retriever = retriever
        self.rules = rules
        self.today = today or _today_in(config.timezone)

    @classmethod
    def load(cls, config: Config, today: Callable[[], date] | None = None, build: bool = True) -> "Assistant":
        raise NotImplementedError  # filled in by the answers work

    def answer(self, question: str, session: Session) -> Answer:
        raise NotImplementedError

    def citation(self, clause_id: str) -> Citation | None:
        raise NotImplementedError

    def describe_facts(self, facts: dict) -> list[str]:
        raise NotImplementedError

    def reloaded(self) -> tuple["Assistant", dict]:
        """A new Assistant over the current documents and rules (index rebuilt incrementally)."""
        raise NotImplementedError


def _today_in(tz: str) -> Callable[[], date]:
    from datetime import datetime
    from zoneinfo import ZoneInfo
    zone = ZoneInfo(tz)
    return lambda: datetime.now(zone).date()

"""What every front end shares: the loaded assistant, sessions, the question log.

Adapters call `await runtime.ask(channel, user_id, text)`; the slow part runs off the event loop.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from bot.config import Config
from bot.core.service import Assistant
from bot.core.types import Answer, Citation
from bot.errors import BotError
from bot.qlog import QuestionLog, pseudonym
from bot.sessions import SessionStore

log = logging.getLogger(__name__)


@dataclass
class Turn:
    answer: Answer
    question_id: int | None
    latency_ms: float


class Runtime:
    def __init__(self, config: Config, assistant: Assistant, sessions: SessionStore, qlog: QuestionLog):
        self.config = config
        self.assistant = assistant
        self.sessions = sessions
        self.qlog = qlog
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._reload_lock = threading.Lock()
        self._refreshing = threading.Event()

    @classmethod
    def start(cls, config: Config, assistant: Assistant | None = None) -> "Runtime":
        assistant = assistant or Assistant.load(config)
        sessions = SessionStore(config.sessions_db, idle_seconds=config.session_idle_minutes * 60)
        return cls(config, assistant, sessions, QuestionLog(config.log_db, config.log_salt))

    def session_key(self, channel: str, user_id: object) -> str:
        # sessions are keyed by a pseudonym too: no raw user id is written to any database
        return pseudonym(f"{channel}:{user_id}", self.qlog.salt)

    def _maybe_refresh(self) -> None:
        """Another process (kb add, build) swapped in a new build: load it in the background and
        keep answering with the current one until it is ready."""
        is_current = getattr(self.assistant, "is_current", None)
        if self._refreshing.is_set() or is_current is None or is_current():
            return
        self._refreshing.set()

        def work():
            try:
                with self._reload_lock:
                    if not self.assistant.is_current():
                        old = self.assistant
                        self.assistant = Assistant.load(old.config, old.today, build=False,
                                                        embedder=old.retriever.embedder)
                        log.info("picked up a new knowledge base build: %s", self.assistant.build_id)
            except Exception:
                log.exception("could not load the new build; still serving the previous one")
            finally:
                self._refreshing.clear()
        threading.Thread(target=work, name="kb-refresh", daemon=True).start()

    def ask_sync(self, channel: str, user_id: object, question: str) -> Turn:
        self._maybe_refresh()
        key = self.session_key(channel, user_id)
        t0 = time.perf_counter()
        with self._locks[key]:
            session = self.sessions.get(key)
            try:
                answer = self.assistant.answer(question, session)
            except BotError as e:
                log.warning("answer failed: %s", e)
                answer = Answer(status="error", answer=e.user_message)
            self.sessions.save(session)
        latency = (time.perf_counter() - t0) * 1000
        qid = self.qlog.record(channel, user_id, question, answer, latency)
        return Turn(answer, qid, latency)

    async def ask(self, channel: str, user_id: object, question: str) -> Turn:
        return await asyncio.to_thread(self.ask_sync, channel, user_id, question)

    def reset(self, channel: str, user_id: object) -> None:
        key = self.session_key(channel, user_id)
        with self._locks[key]:
            self.sessions.delete(key)

    def profile(self, channel: str, user_id: object) -> list[str]:
        """The facts learnt about this user's enterprise, as plain-language lines."""
        session = self.sessions.get(self.session_key(channel, user_id))
        return self.assistant.describe_facts(session.facts)

    def feedback(self, question_id: int, value: int, reason: str | None = None) -> bool:
        return self.qlog.feedback(question_id, value, reason)

    def citation(self, clause_id: str) -> Citation | None:
        return self.assistant.citation(clause_id)

    def reload_sync(self) -> dict:
        """Re-read documents and rule tables, rebuild the index incrementally, swap in atomically.
        Questions keep being answered by the old assistant until the new one is ready."""
        with self._reload_lock:
            new, report = self.assistant.reloaded()
            self.assistant = new
            return report

    async def reload(self) -> dict:
        return await asyncio.to_thread(self.reload_sync)

    def close(self) -> None:
        self.sessions.close()
        self.qlog.close()

"""What every front end shares: the loaded assistant, sessions, the question log.

Adapters call `await runtime.ask(channel, user_id, text)`; the slow part runs off the event loop.
`ask` never raises: a failure in the core becomes a plain-language reply (status "error"), with the
traceback in the log on stderr. Feedback is accepted only from the conversation that asked:
`runtime.feedback(channel, user_id, question_id, value, reason=None)`.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
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

ERROR = "error"
FAILED = "抱歉，系统暂时无法回答这个问题。请换个说法再问，或稍后再试；如果一直这样，请发送“重新开始”。"
_SURROGATE = re.compile(r"[\ud800-\udfff]")


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
        self._housekeeping: threading.Thread | None = None
        self._stop_housekeeping = threading.Event()
        self.housekept = threading.Event()      # set after each scheduled purge (tests wait on it)

    @classmethod
    def start(cls, config: Config, assistant: Assistant | None = None) -> "Runtime":
        assistant = assistant or Assistant.load(config)
        sessions = SessionStore(config.sessions_db, idle_seconds=config.session_idle_minutes * 60)
        qlog = QuestionLog(config.log_db, config.log_key or None, key_file=config.log_key_path)
        return cls(config, assistant, sessions, qlog)

    def session_key(self, channel: str, user_id: object) -> str:
        # sessions are keyed by a pseudonym too: no raw user id is written to any database
        return pseudonym(f"{channel}:{user_id}", self.qlog.key)

    def mac(self, purpose: str, value: str) -> str:
        """A keyed MAC of `value` for `purpose` (hex), e.g. to recognise web session ids this server
        issued. Derived from the pseudonym key, so rotating that key invalidates them too."""
        return hmac.new(self.qlog.key if isinstance(self.qlog.key, bytes) else self.qlog.key.encode(),
                        f"{purpose}\x00{value}".encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

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
        """Answer `question` in the conversation of (channel, user_id), log it, keep the session.
        Never raises: an unexpected error becomes a plain reply with status "error"."""
        t0 = time.perf_counter()
        key = self.session_key(channel, user_id)
        if not isinstance(question, str):
            question = "" if question is None else str(question)
        # lone surrogates (JSON "\ud800") cannot be stored, logged or sent as UTF-8: make them visible
        question = _SURROGATE.sub("\ufffd", question)
        try:
            self._maybe_refresh()
        except Exception:
            log.exception("could not check for a new knowledge base build")
        with self._locks[key]:
            try:
                session = self.sessions.get(key)
                try:
                    answer = self.assistant.answer(question, session)
                except BotError as e:
                    log.warning("answer failed: %s", e)
                    answer = Answer(status=ERROR, answer=e.user_message)
                if not isinstance(answer, Answer):
                    raise TypeError(f"the assistant returned {type(answer).__name__}, not an Answer")
                self.sessions.save(session)
            except Exception:
                # the session as it was before this question is kept (not the half-updated one)
                log.exception("unexpected error answering a %s question (%d characters)", channel, len(question))
                answer = Answer(status=ERROR, answer=FAILED)
        latency = (time.perf_counter() - t0) * 1000
        qid = self.qlog.record(channel, user_id, question, answer, latency, session=key)
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

    def feedback(self, channel: str, user_id: object, question_id: int, value: int,
                 reason: str | None = None) -> bool | None:
        """👍 (+1) / 👎 (-1) on a question, accepted only from the conversation (channel + user) that
        asked it. True: recorded; False: refused (unknown, or asked in another conversation);
        None: the log could not be written."""
        return self.qlog.feedback(question_id, value, reason, session=self.session_key(channel, user_id))

    def citation(self, clause_id: str) -> Citation | None:
        return self.assistant.citation(clause_id)

    # -- housekeeping ----------------------------------------------------------------------------
    def purge_expired(self) -> int:
        """Delete sessions idle for longer than `sessions.idle_minutes`; returns how many."""
        n = self.sessions.purge_idle()
        if n:
            log.info("deleted %d expired session(s)", n)
        return n

    def start_housekeeping(self, every_seconds: float | None = None) -> None:
        """Purge expired sessions now and then every `every_seconds` (default `sessions.purge_minutes`)
        in a background thread, until `close()`. Calling it again does nothing."""
        if self._housekeeping is not None:
            return
        every = every_seconds if every_seconds is not None else self.config.session_purge_minutes * 60
        if every <= 0:
            return

        def loop():
            while True:
                try:
                    self.purge_expired()
                except Exception:
                    log.exception("could not purge expired sessions")
                self.housekept.set()
                if self._stop_housekeeping.wait(every):
                    return
        self._housekeeping = threading.Thread(target=loop, name="session-purge", daemon=True)
        self._housekeeping.start()

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
        self._stop_housekeeping.set()
        if self._housekeeping is not None:
            self._housekeeping.join(timeout=10)
        self.sessions.close()
        self.qlog.close()

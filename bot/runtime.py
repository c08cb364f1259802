"""What every front end shares: the loaded assistant, sessions, the question log, curated answers and
the staff inbox.

Adapters call `await runtime.ask(channel, user_id, text)`; the slow part runs off the event loop.
`ask` never raises: a failure in the core becomes a plain-language reply (status "error"), with the
traceback in the log on stderr. Feedback is accepted only from the conversation that asked:
`runtime.feedback(channel, user_id, question_id, value, reason=None)`.

The runtime supplies the core's hooks (bot/core/hooks.py): `curated` (bot/curated.py, replies staff wrote,
checked against the documents in service) and `inbox` (bot/inbox.py, messages for a person; every
callable in `runtime.inbox_listeners` is told, e.g. the Telegram bot notifies staff). They are kept when a
reloaded assistant is swapped in. A staff reply to a message is handed to the owner with their next turn
(`Turn.staff_replies`). Web conversations keep their turns (`runtime.history`) so a reload shows them.

Saved profiles (bot/profiles.py): the core asks for them through `Answer.effects` when the owner agrees
("profile.save" after a check-up) or asks ("profile.delete", "profile.notify_off"/"on"); the runtime keeps
them, tells the core what is saved (`Session.state["profile"]`), keeps a saved profile's facts current,
brings them back into a new conversation, shows web notices on the next visit (`take_notices`) and deletes
profiles past `profiles.retention_days` with the sessions' housekeeping.

Storage (bot/storage): with `database_url` (PZ_DATABASE_URL) every store lives in that one database, so
several workers behave as one (`runtime.database`); otherwise each keeps its SQLite file in the data dir.
`runtime.wechat_state` (WeChat dedupe) and `runtime.rate_limiter(...)` are shared the same way.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from bot.adapters.render import extra_lines
from bot.config import Config
from bot.core.hooks import HandoffMessage, Hooks
from bot.core.service import Assistant
from bot.core.types import Answer, Citation
from bot.curated import THRESHOLD, CuratedStore, lapse_reason
from bot.errors import BotError, InputError
from bot.inbox import Inbox, Message
from bot.profiles import ProfileStore
from bot.qlog import QuestionLog, pseudonym
from bot.sessions import SessionStore
from bot.storage import Database, connect, location
from bot.storage.state import RateLimits, SharedRateLimiter, WeChatState

log = logging.getLogger(__name__)

ERROR = "error"
FAILED = "抱歉，系统暂时无法回答这个问题。请换个说法再问，或稍后再试；如果一直这样，请发送“重新开始”。"
_SURROGATE = re.compile(r"[\ud800-\udfff]")
HISTORY_CHANNELS = frozenset({"web"})      # channels whose turns are kept for the page to show again
NOTICE_CHANNELS = frozenset({"telegram", "wechat"})   # reached at their address; web notices wait for a visit
HANDOFF_LOGGED = "［给工作人员的留言］"       # what the question log keeps of a message or contact for staff
# facts the owner may change or remove in the web page's panel (the others can only be removed)
EDITABLE = ("region", "agricultural", "revenue")
_channel: contextvars.ContextVar[str] = contextvars.ContextVar("channel", default="")


@dataclass
class Turn:
    answer: Answer
    question_id: int | None
    latency_ms: float
    staff_replies: list[Message] = field(default_factory=list)   # replies to the owner's 留言, shown now


def answer_payload(answer: Answer) -> dict[str, Any]:
    """The answer as front ends lay it out: the JSON contract plus its parts, question type and the facts a
    follow-up question asks for."""
    body = answer.to_dict()
    body["parts"] = asdict(answer.parts) if answer.parts is not None else None
    body["qtype"] = answer.qtype or None
    body["asked_for"] = list(answer.asked_for)
    body["extra"] = extra_lines(answer)        # lines the core added after the parts (e.g. 回复“留言”…)
    return body


class Runtime:
    def __init__(self, config: Config, assistant: Assistant, sessions: SessionStore, qlog: QuestionLog,
                 curated: CuratedStore | None = None, inbox: Inbox | None = None, *,
                 database: Database | None = None, profiles: ProfileStore | None = None):
        self.config = config
        self.database = database       # the shared database (PostgreSQL), when there is one
        self.sessions = sessions
        self.qlog = qlog
        where = lambda store: database or location(config, store)  # noqa: E731
        self.curated = curated or CuratedStore(where("curated_answers"),
                                               threshold=getattr(config, "curated_threshold", None) or THRESHOLD,
                                               lapsed=self._lapsed, keys=self._question_keys)
        self.inbox = inbox or Inbox(where("inbox"))
        self.profiles = profiles or ProfileStore(where("profiles"))
        # WeChat dedupe and rate limits: one SQLite file for both, or the shared database
        self._state_db = database or connect(location(config, "worker_state"))
        self.wechat_state = WeChatState(self._state_db)
        self.rate_limits = RateLimits(self._state_db)
        self.inbox_listeners: list[Callable[[Message], None]] = []
        self.hooks = Hooks(curated=self.curated, inbox=self._file_message)
        self.assistant = assistant
        self._install_hooks(assistant)
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._reload_lock = threading.Lock()
        self._refreshing = threading.Event()
        self._housekeeping: threading.Thread | None = None
        self._stop_housekeeping = threading.Event()
        self.housekept = threading.Event()      # set after each scheduled purge (tests wait on it)

    @classmethod
    def start(cls, config: Config, assistant: Assistant | None = None) -> "Runtime":
        assistant = assistant or Assistant.load(config)
        database = connect(config.database_url) if config.database_url else None
        try:
            sessions = SessionStore(database or config.sessions_db, idle_seconds=config.session_idle_minutes * 60)
            qlog = QuestionLog(database or config.log_db, config.log_key or None, key_file=config.log_key_path)
        except BaseException:
            if database is not None:
                database.close()
            raise
        return cls(config, assistant, sessions, qlog, database=database)

    # -- the core's hooks ---------------------------------------------------------------------------
    def _install_hooks(self, assistant) -> None:
        try:
            assistant.hooks = self.hooks
        except AttributeError:      # a test double without hooks
            log.debug("the assistant takes no hooks")

    def _lapsed(self, clause_ids: list[str], clause_hashes: dict[str, str]) -> str | None:
        """Why a curated answer no longer holds in the knowledge base being answered from (or None)."""
        kb = getattr(self.assistant, "kb", None)
        if kb is None:
            return None
        return lapse_reason(clause_ids, clause_hashes, kb)

    def _question_keys(self, text: str) -> tuple:
        """What two questions must share for one curated answer to fit both: figures and places."""
        from bot.curated import default_keys
        gaz = getattr(self.assistant, "gaz", None)
        places = tuple(sorted({r.name for r in gaz.find_all(text)})) if gaz is not None else ()
        return default_keys(text) + places

    def _file_message(self, msg: HandoffMessage) -> str:
        """The core's inbox hook: store the message, tell the listeners (staff), return its reference."""
        stored = self.inbox.add(msg, _channel.get())
        log.info("a message for staff landed in the inbox: %s", stored.ref)
        for listener in list(self.inbox_listeners):
            try:
                listener(stored)
            except Exception:
                log.exception("could not notify staff of inbox message %s", stored.ref)
        return stored.ref

    @contextlib.contextmanager
    def _hold(self, key: str):
        """One turn at a time per conversation: among this process's threads, and across workers (the
        session store's lock: a PostgreSQL advisory lock, or a file lock beside the SQLite file)."""
        with self._locks[key]:
            lock = getattr(self.sessions, "lock", None)
            with lock(key) if lock else contextlib.nullcontext():
                yield

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
                        new = Assistant.load(old.config, old.today, build=False, embedder=old.retriever.embedder)
                        new.hooks = old.hooks
                        self.assistant = new
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
        _channel.set(channel)
        conversation, logged, region = None, question, None
        with self._hold(key):
            try:
                session = self.sessions.get(key)
                fresh = not session.state and not session.turns      # not after 重新开始: that keeps a state
                # a new conversation after an expired session or 重新开始: the log tells them apart
                conversation = session.state.setdefault("conversation", secrets.token_hex(8))
                if session.state.get("handoff"):
                    logged = HANDOFF_LOGGED     # a message or phone number for staff: kept in the inbox only
                self._profile_into(key, session, fresh)
                try:
                    answer = self.assistant.answer(question, session)
                except BotError as e:
                    log.warning("answer failed: %s", e)
                    answer = Answer(status=ERROR, answer=e.user_message)
                if not isinstance(answer, Answer):
                    raise TypeError(f"the assistant returned {type(answer).__name__}, not an Answer")
                self._profile_from(channel, user_id, key, session, answer)
                region = self._region_of("" if logged == HANDOFF_LOGGED else question, session.facts)
                session.state.setdefault("conversation", secrets.token_hex(8))
                self.sessions.save(session)
            except Exception:
                # the session as it was before this question is kept (not the half-updated one)
                log.exception("unexpected error answering a %s question (%d characters)", channel, len(question))
                answer = Answer(status=ERROR, answer=FAILED)
        latency = (time.perf_counter() - t0) * 1000
        qid = self.qlog.record(channel, user_id, logged, answer, latency, session=key, conversation=conversation,
                               region=region)
        replies = self._staff_replies(key)
        turn = Turn(answer, qid, latency, replies)
        if channel in HISTORY_CHANNELS:
            try:
                self.sessions.add_turn(key, question, self.turn_payload(turn))
            except Exception:
                log.exception("could not keep the conversation's history")
        return turn

    @staticmethod
    def turn_payload(turn: Turn) -> dict[str, Any]:
        body = answer_payload(turn.answer)
        body["question_id"] = turn.question_id
        body["staff_replies"] = [{"ref": m.ref, "reply": m.reply, "office": m.office, "message": m.message}
                                 for m in turn.staff_replies]
        return body

    def _region_of(self, question: str, facts: dict) -> str | None:
        gaz = getattr(self.assistant, "gaz", None)
        found = gaz.find_in(question) if gaz is not None and question else None
        return found.name if found else (facts.get("region") or None)

    def _staff_replies(self, key: str) -> list[Message]:
        try:
            return self.inbox.take_replies(key)      # taken once, even by two workers at the same time
        except Exception:
            log.exception("could not read staff replies")
            return []

    async def ask(self, channel: str, user_id: object, question: str) -> Turn:
        return await asyncio.to_thread(self.ask_sync, channel, user_id, question)

    def reset(self, channel: str, user_id: object) -> None:
        key = self.session_key(channel, user_id)
        with self._hold(key):
            self.sessions.delete(key)
            if self.profiles.get(key) is not None:
                # a saved profile stays saved, but 重新开始 starts without its facts (only a new visit brings
                # them back): the new conversation is marked begun
                from bot.core.types import Session
                fresh = Session(id=key)
                fresh.state["conversation"] = secrets.token_hex(8)
                self.sessions.save(fresh)

    # -- saved profiles (with the owner's consent) ----------------------------------------------------
    def _profile_into(self, key: str, session, fresh: bool) -> None:
        """Tell the core what is saved; a new conversation starts from the saved facts."""
        try:
            p = self.profiles.get(key)
        except Exception:
            log.exception("could not read the saved profile")
            return
        if p is None:
            session.state.pop("profile", None)
            return
        session.state["profile"] = {"saved": True, "notify": p.notify}
        if fresh and not session.facts and p.facts:
            session.facts.update(p.facts)

    def _profile_from(self, channel: str, user_id: object, key: str, session, answer: Answer) -> None:
        """Carry out what the owner agreed to or asked for; keep a saved profile's facts current."""
        effects = list(getattr(answer, "effects", None) or [])
        if "profile.delete" in effects:
            self.profiles.delete(key)
            session.state.pop("profile", None)
            return
        if "profile.save" in effects:
            address = str(user_id) if channel in NOTICE_CHANNELS else None
            self.profiles.save(key, channel, address, dict(session.facts))
            self._mark_rules_seen()
            session.state["profile"] = {"saved": True, "notify": True}
            return
        if "profile.notify_off" in effects or "profile.notify_on" in effects:
            self.profiles.set_notify(key, "profile.notify_on" in effects)
        if (session.state.get("profile") or {}).get("saved") and session.facts:
            p = self.profiles.get(key)
            if p is not None and p.facts != session.facts:
                self.profiles.update_facts(key, dict(session.facts))

    def _mark_rules_seen(self) -> None:
        """The rule rows in force when a profile is saved: its owner hears only of rows added later."""
        from bot.notify import digests
        rules_in_force = getattr(self.assistant, "rules_in_force", None)
        if rules_in_force is None:
            return
        try:
            rules, _ = rules_in_force()
            seen = self.profiles.seen()
            self.profiles.mark_seen({k: v for k, v in digests(rules).items() if k not in seen})
        except Exception:
            log.exception("could not record the rule rows known when the profile was saved")

    def profile_status(self, channel: str, user_id: object) -> dict[str, Any] | None:
        """{saved, notify, updated} of this owner's saved profile, or None when nothing is saved."""
        p = self.profiles.get(self.session_key(channel, user_id))
        return None if p is None else {"saved": True, "notify": p.notify, "updated": p.updated}

    def save_profile(self, channel: str, user_id: object) -> bool:
        """Save what is known about the enterprise (the owner pressed "保存" in the web panel). False when
        nothing is known yet."""
        key = self.session_key(channel, user_id)
        with self._hold(key):
            session = self.sessions.get(key)
            if not session.facts:
                return False
            self.profiles.save(key, channel, str(user_id) if channel in NOTICE_CHANNELS else None, dict(session.facts))
            self._mark_rules_seen()
            session.state["profile"] = {"saved": True, "notify": True}
            self.sessions.save(session)
        return True

    def delete_profile(self, channel: str, user_id: object) -> bool:
        """Delete the saved profile, its notices and what this conversation knows about the enterprise."""
        key = self.session_key(channel, user_id)
        with self._hold(key):
            deleted = self.profiles.delete(key)
            session = self.sessions.get(key)
            session.facts.clear()
            session.state.pop("profile", None)
            self.sessions.save(session)
        return deleted

    def set_notify(self, channel: str, user_id: object, on: bool) -> bool:
        """Turn new-policy notices on or off; False when no profile is saved."""
        return self.profiles.set_notify(self.session_key(channel, user_id), on)

    def take_notices(self, channel: str, user_id: object) -> list[dict[str, Any]]:
        """Notices waiting for this owner on the web page (shown once): [{id, doc_id, text}]."""
        try:
            notices = self.profiles.take_web(self.session_key(channel, user_id))
        except Exception:
            log.exception("could not read the owner's notices")
            return []
        return [{"id": n.id, "doc_id": n.doc_id, "text": n.text} for n in notices]

    def purge_profiles(self) -> int:
        n = self.profiles.purge(self.config.profile_retention_days)
        if n:
            log.info("deleted %d saved profile(s) past the retention period", n)
        return n

    def profile(self, channel: str, user_id: object) -> list[str]:
        """The facts learnt about this user's enterprise, as plain-language lines."""
        session = self.sessions.get(self.session_key(channel, user_id))
        return self.assistant.describe_facts(session.facts)

    def facts(self, channel: str, user_id: object) -> list[dict[str, Any]]:
        """What is known about this user's enterprise, one item per fact: {key, label, value, editable}."""
        session = self.sessions.get(self.session_key(channel, user_id))
        items = []
        order = {k: i for i, k in enumerate(EDITABLE)}
        for k, v in sorted(session.facts.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])):
            if k == "agricultural_inferred" or v in (None, "", {}, []):
                continue
            lines = self.assistant.describe_facts({k: v})
            if not lines:
                continue
            label, _, value = lines[0].partition("：")
            value = "；".join([value or label] + [x for x in lines[1:]])
            items.append({"key": k, "label": label if value else k, "value": value, "editable": k in EDITABLE})
        return items

    def edit_fact(self, channel: str, user_id: object, fact: str, text: str | None) -> list[dict[str, Any]]:
        """Change one fact from what the owner typed ("泽州", "是", "5.2亿，首次"), or remove it (text None).
        Raises InputError with a plain message when the text cannot be read as that fact."""
        key = self.session_key(channel, user_id)
        with self._hold(key):
            session = self.sessions.get(key)
            if text is None:
                session.facts.pop(fact, None)
                if fact == "agricultural":
                    session.facts.pop("agricultural_inferred", None)
            elif fact not in EDITABLE:
                raise InputError("这一项只能删除，不能修改；可以在对话里直接告诉我新的情况。")
            else:
                session.facts.update(self._read_fact(fact, text.strip()[:100]))
                if fact == "agricultural":
                    session.facts.pop("agricultural_inferred", None)
            self.sessions.save(session)
            if session.facts:
                self.profiles.update_facts(key, dict(session.facts))     # a saved profile follows the panel
        return self.facts(channel, user_id)

    def clear_facts(self, channel: str, user_id: object) -> None:
        """Forget what is known about the enterprise; the conversation's history stays."""
        key = self.session_key(channel, user_id)
        with self._hold(key):
            session = self.sessions.get(key)
            session.facts.clear()
            self.sessions.save(session)

    def _read_fact(self, fact: str, text: str) -> dict[str, Any]:
        gaz = getattr(self.assistant, "gaz", None)
        if fact == "agricultural":
            if re.fullmatch(r"(是|是的|涉农|是涉农企业|对|yes|true|1)", text, re.I):
                return {"agricultural": True}
            if re.fullmatch(r"(否|不是|非涉农|不涉农|不是涉农企业|no|false|0)", text, re.I):
                return {"agricultural": False}
            raise InputError("请选择“是”或“否”。")
        if fact == "region":
            if gaz is None:
                return {"region": text} if text else {}
            found = gaz.resolve(text) or gaz.find_in(text)
            if found is None:
                raise InputError(f"没有找到“{text}”这个地区，请写县（市、区）的名称，例如“泽州县”或“高平”。")
            return {"region": found.name}
        # revenue: read as the core reads it in a message ("5.2亿，首次达到")
        from bot.nlu.slots import read_slots
        today = self.assistant.today() if callable(getattr(self.assistant, "today", None)) else None
        if gaz is None or today is None:
            raise InputError("暂时不能修改营收，请在对话里直接告诉我。")
        slots = read_slots("营收" + text, gaz, today)
        if slots.revenue.current_yuan is None:
            raise InputError("没看懂这个营收金额，请写成“5.2亿元”或“52000万元”，首次达到的请加上“首次”。")
        return {"revenue": slots.revenue.as_dict()}

    def history(self, channel: str, user_id: object) -> list[dict[str, Any]]:
        """The turns of this conversation kept for the page (oldest first), while the session lives."""
        return self.sessions.history(self.session_key(channel, user_id))

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
                try:
                    self.purge_profiles()
                except Exception:
                    log.exception("could not purge saved profiles past the retention period")
                self.housekept.set()
                if self._stop_housekeeping.wait(every):
                    return
        self._housekeeping = threading.Thread(target=loop, name="session-purge", daemon=True)
        self._housekeeping.start()

    def reload_sync(self) -> dict:
        """Re-read documents and rule tables, rebuild the index incrementally, swap in atomically.
        Questions keep being answered by the old assistant until the new one is ready."""
        with self._reload_lock:
            old = self.assistant
            new, report = old.reloaded()
            self._install_hooks(new)
            self.assistant = new
            return report

    async def reload(self) -> dict:
        return await asyncio.to_thread(self.reload_sync)

    def rate_limiter(self, limit: int, period: float, scope: str) -> SharedRateLimiter:
        """At most `limit` messages per sender in each `period` seconds, counted for all workers alike
        (`check(sender)` -> "ok" / "warn" / "drop"); `scope` keeps channels apart."""
        return SharedRateLimiter(self.rate_limits, limit, period, scope=scope)

    def last_question(self, channel: str, user_id: object, within_seconds: float | None = None) -> int | None:
        """The latest rateable question of this conversation (for feedback by reply keyword)."""
        return self.qlog.last_question(self.session_key(channel, user_id), within_seconds)

    def close(self) -> None:
        self._stop_housekeeping.set()
        if self._housekeeping is not None:
            self._housekeeping.join(timeout=10)
        self.sessions.close()
        self.qlog.close()
        self.curated.close()
        self.inbox.close()
        self.profiles.close()
        self.wechat_state.close()
        self.rate_limits.close()
        if self._state_db is not self.database:
            self._state_db.close()
        if self.database is not None:
            self.database.close()

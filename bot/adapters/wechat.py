"""WeChat Official Account (公众号) endpoint: a thin adapter over `Runtime.ask`.

Served at /wechat by `bot.adapters.server.create_app` when WECHAT_TOKEN is set.

- GET: server verification (signature check, echo `echostr`).
- POST: messages in plain or safe (AES, `encrypt_type=aes`) mode. A bad signature gets 403 and is
  not processed.
- Replays: plain mode signs only token + timestamp + nonce, not the body. A request whose timestamp is
  more than `replay_window` seconds (300) from now is refused (403), and so is a nonce already used
  within the window with a different body. The same body again under the same nonce (WeChat's own
  retry) is answered from the MsgId cache, never processed twice. The same holds in safe mode.
- A message that is signed but malformed (nested XML in a field, a non-numeric MsgId, …) gets 400.
- WeChat waits 5 s for a reply and then retries the same message (same MsgId) up to three times.
  Every message is processed once (deduplicated by MsgId). If the answer is ready within
  `passive_timeout` seconds it is the passive reply; otherwise a short "正在查询" reply goes back at
  once and the answer is delivered later through the customer-service message API
  (`CustomerService`), or, when no such API is configured or it fails, kept until the user sends
  “结果”.
- The openid is the user id (channel "wechat"), so follow-up questions keep their facts.
- Text replies respect WeChat's length limit (2048 bytes): a passive reply is shortened with a pointer
  to the web page, customer-service replies are split into a few messages.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

log = logging.getLogger(__name__)

CHANNEL = "wechat"
REPLY_LIMIT_BYTES = 2048          # WeChat's limit for a text message's Content
MAX_BODY_BYTES = 64 * 1024        # a WeChat push is a few hundred bytes
MAX_QUESTION_CHARS = 500
DEDUPE_TTL_SECONDS = 600          # WeChat retries within ~15 s; keep MsgIds well beyond that
DEDUPE_MAX = 10_000
CS_MAX_PARTS = 4                  # customer-service messages per answer at most
REPLAY_WINDOW_SECONDS = 300       # a timestamp further than this from now is refused
NONCES_MAX = 100_000              # nonces remembered (only signed requests add one)
MAX_NONCE_CHARS = 128
OPENID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

GREETING = (
    "您好！我是专业镇政策助手，可以回答山西专业镇支持政策的问题：能拿多少奖励、够不够申报条件、找哪个部门。\n"
    "直接发文字提问即可，例如：\n"
    "· 我们是涉农企业，营收首次过了5亿，能拿多少奖励？\n"
    "· 新入选中华老字号奖励多少？\n"
    "· 阳城有哪些市级专业镇？\n"
    "回复“重新开始”可清除已告诉我的企业信息。"
)
NOT_TEXT = "抱歉，我目前只能看懂文字消息，请用文字描述您的问题，例如“我们是涉农企业，营收首次过了5亿，能拿多少奖励？”"
WORKING_CS = "正在查询，请稍候，答案稍后发给您。"
WORKING_PULL = "正在查询，问题有点复杂。请半分钟后回复“结果”查看答案。"
NO_PENDING = "目前没有等待中的答案，请直接发送您的问题。"
RESET_DONE = "好的，已清除您之前提供的企业信息，请重新提问。"
TOO_LONG = f"问题太长了，请精简到{MAX_QUESTION_CHARS}字以内再发送。"
EMPTY = "请用文字发送您的问题。"
FAILED = "抱歉，系统暂时无法回答，请稍后再试。"
RESET_WORDS = {"重新开始", "重置", "清除", "/reset", "/start"}
RESULT_WORDS = {"结果", "查看结果", "答案"}


class CustomerService(Protocol):
    """Sends a text to a user outside the passive-reply window (客服消息接口)."""

    async def send_text(self, openid: str, content: str) -> None: ...


class WeChatAPICustomerService:
    """`CustomerService` over wechatpy's WeChatClient (blocking `requests`, so it runs in a thread).

    `api_base_url` points it elsewhere than https://api.weixin.qq.com/cgi-bin/ (tests, a proxy).
    """

    def __init__(self, app_id: str, app_secret: str, api_base_url: str | None = None, timeout: float = 10):
        from wechatpy import WeChatClient

        base = (api_base_url or WeChatClient.API_BASE_URL).rstrip("/") + "/"

        class _Client(WeChatClient):
            API_BASE_URL = base

            def fetch_access_token(self):
                return self._fetch_access_token(
                    url=base + "token",
                    params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret})

        self.client = _Client(app_id, app_secret, timeout=timeout)

    async def send_text(self, openid: str, content: str) -> None:
        await asyncio.to_thread(self.client.message.send_text, openid, content)


# ---------------------------------------------------------------------------------------------
# Length limit

def _utf8_len(s: str) -> int:
    return len(s.encode("utf-8"))


def _cut_bytes(text: str, limit: int) -> str:
    """The longest prefix of text within limit UTF-8 bytes, never cutting a character."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """Text that fits in the reply's CDATA section: characters XML 1.0 does not allow (control
    characters, lone surrogates) dropped, and "]]>", which would end the section, broken up."""
    return _NOT_XML.sub("", text).replace("]]>", "]] >")


def split_text(text: str, limit: int = REPLY_LIMIT_BYTES) -> list[str]:
    """Split text into parts of at most `limit` UTF-8 bytes, at line breaks where possible."""
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while _utf8_len(line) > limit:            # a single overlong line: cut it hard
            if current:
                parts.append(current)
                current = ""
            head = _cut_bytes(line, limit)
            parts.append(head)
            line = line[len(head):]
        if _utf8_len(current) + _utf8_len(line) > limit:
            parts.append(current)
            current = line
        else:
            current += line
    if current:
        parts.append(current)
    return [p.strip("\n") for p in parts if p.strip()]


def shorten(text: str, limit: int = REPLY_LIMIT_BYTES, web_url: str | None = None) -> str:
    """One message of at most `limit` bytes; a cut answer ends with a pointer to the full one."""
    if _utf8_len(text) <= limit:
        return text
    tail = (f"\n……（内容较长，完整答案请在网页版查看：{web_url}）" if web_url
            else "\n……（内容较长，已截断。可以问得更具体些，例如只问一项奖励。）")
    head = split_text(text, limit - _utf8_len(tail))[0]
    return head + tail


def cs_parts(text: str, limit: int = REPLY_LIMIT_BYTES, web_url: str | None = None) -> list[str]:
    parts = split_text(text, limit)
    if len(parts) > CS_MAX_PARTS:
        parts = parts[:CS_MAX_PARTS - 1] + [shorten("\n".join(parts[CS_MAX_PARTS - 1:]), limit, web_url)]
    return parts


# ---------------------------------------------------------------------------------------------
# The endpoint

@dataclass
class _Message:
    """One message WeChat may deliver several times."""
    task: asyncio.Task
    openid: str
    reply: str | None = None      # the passive reply sent (a retry gets the same)
    deferred: bool = False        # the answer goes out later (customer-service API or "结果")
    at: float = field(default_factory=time.monotonic)


class _BadMessage(Exception):
    """A signed request whose message cannot be used: answered with 400."""


class WeChatEndpoint:
    def __init__(self, runtime, token: str, *, aes_key: str | None = None, app_id: str | None = None,
                 customer_service: CustomerService | None = None, passive_timeout: float = 4.0,
                 web_url: str | None = None, replay_window: float = REPLAY_WINDOW_SECONDS,
                 clock=time.time):
        self.runtime = runtime
        self.token = token
        self.replay_window = replay_window
        self.clock = clock
        self._nonces: OrderedDict[str, tuple[float, str]] = OrderedDict()   # nonce -> (seen at, body digest)
        self.crypto = WeChatCrypto(token, aes_key, app_id or "") if aes_key else None
        self.customer_service = customer_service
        self.passive_timeout = passive_timeout
        self.web_url = web_url
        self._messages: OrderedDict[str, _Message] = OrderedDict()
        self._pending: dict[str, str] = {}          # openid -> an answer waiting for "结果"
        self._background: set[asyncio.Task] = set()

    def add_routes(self, app: web.Application, path: str = "/wechat") -> None:
        app.router.add_get(path, self.verify)
        app.router.add_post(path, self.receive)
        app.on_shutdown.append(self._shutdown)

    # -- signature and freshness ---------------------------------------------------------------
    def _signed(self, request: web.Request) -> bool:
        q = request.query
        try:
            check_signature(self.token, q.get("signature", ""), q.get("timestamp", ""), q.get("nonce", ""))
            return True
        except InvalidSignatureException:
            return False

    def _fresh(self, request: web.Request) -> bool:
        """The timestamp is within the replay window of now (either way)."""
        try:
            ts = int(request.query.get("timestamp", ""))
        except ValueError:
            return False
        return abs(self.clock() - ts) <= self.replay_window

    def _first_use(self, nonce: str, body: bytes) -> bool:
        """False when `nonce` was used within the window for a different body (a replayed query
        string); True for a new nonce or WeChat's retry of the same request (same body)."""
        if not nonce or len(nonce) > MAX_NONCE_CHARS:
            return False
        now = time.monotonic()
        while self._nonces:            # forget nonces older than twice the window (timestamps ± window)
            at, _ = next(iter(self._nonces.values()))
            if now - at > 2 * self.replay_window or len(self._nonces) > NONCES_MAX:
                self._nonces.popitem(last=False)
            else:
                break
        digest = hashlib.sha256(body).hexdigest()
        seen = self._nonces.get(nonce)
        if seen is None:
            self._nonces[nonce] = (now, digest)
            return True
        return seen[1] == digest

    async def verify(self, request: web.Request) -> web.Response:
        if not self._signed(request) or not self._fresh(request):
            log.warning("wechat: verification with a bad signature or an old timestamp from %s", request.remote)
            return web.Response(status=403, text="invalid signature")
        return web.Response(text=request.query.get("echostr", ""))

    # -- messages ------------------------------------------------------------------------------
    async def receive(self, request: web.Request) -> web.Response:
        if not self._signed(request):
            log.warning("wechat: message with a bad signature from %s", request.remote)
            return web.Response(status=403, text="invalid signature")
        if not self._fresh(request):
            log.warning("wechat: signed message with a timestamp outside ±%gs (a replay?) from %s",
                        self.replay_window, request.remote)
            return web.Response(status=403, text="stale timestamp")
        if request.content_length and request.content_length > MAX_BODY_BYTES:
            return web.Response(status=413, text="too large")
        try:
            async with asyncio.timeout(20):
                body = await request.read()
        except TimeoutError:
            return web.Response(status=408, text="timeout")
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="too large")
        if len(body) > MAX_BODY_BYTES:
            return web.Response(status=413, text="too large")
        q = request.query
        raw = body
        encrypted = q.get("encrypt_type", "raw").lower() == "aes"
        if encrypted:
            if self.crypto is None:
                log.error("wechat: an encrypted message arrived but WECHAT_AES_KEY is not set")
                return web.Response(status=400, text="safe mode not configured")
            try:
                body = self.crypto.decrypt_message(body, q.get("msg_signature", ""),
                                                   q.get("timestamp", ""), q.get("nonce", ""))
            except (InvalidSignatureException, InvalidAppIdException):
                log.warning("wechat: encrypted message with a bad signature or app id from %s", request.remote)
                return web.Response(status=403, text="invalid signature")
            except Exception:
                log.warning("wechat: could not decrypt a message", exc_info=True)
                return web.Response(status=400, text="bad message")
        # after decryption: in safe mode only an authentic envelope may use up a nonce
        if not self._first_use(q.get("nonce", ""), raw):
            log.warning("wechat: nonce reused with another body (a replay?) from %s", request.remote)
            return web.Response(status=403, text="nonce already used")
        try:
            msg = parse_message(body)
            if msg is None:
                raise _BadMessage("empty")
            self._check(msg)
            text = await self._reply_text(msg)
            if not text:
                return web.Response(text="success")
            reply = TextReply(message=msg, content=xml_text(text)).render()
        except asyncio.CancelledError:
            raise
        except _BadMessage as e:
            log.warning("wechat: unusable message (%s) from %s", e, request.remote)
            return web.Response(status=400, text="bad message")
        except Exception as e:
            # wechatpy raises whatever the XML makes it raise (AttributeError, TypeError, ValueError …)
            log.warning("wechat: could not handle a message (%s: %s)", type(e).__name__, e)
            return web.Response(status=400, text="bad message")
        if encrypted:
            reply = self.crypto.encrypt_message(reply, q.get("nonce", ""), q.get("timestamp") or None)
        return web.Response(text=reply, content_type="application/xml")

    @staticmethod
    def _check(msg) -> None:
        """Every field we use has the shape WeChat gives it (a signed body is not a well-formed one)."""
        for name in ("source", "target"):
            value = getattr(msg, name, None)
            if not isinstance(value, str) or not OPENID.match(value):
                raise _BadMessage(f"{name} is not an id")
        if not isinstance(msg.type, str):
            raise _BadMessage("MsgType")
        for name in ("content", "recognition", "event"):
            value = getattr(msg, name, None)
            if value is not None and not isinstance(value, str):
                raise _BadMessage(f"{name} is not text")
        _ = msg.create_time      # raises on a non-numeric CreateTime
        _ = msg.id               # raises on a non-numeric MsgId

    async def _reply_text(self, msg) -> str | None:
        """The passive reply's text, or None for an empty reply ("success")."""
        if msg.type == "event":
            if msg.event in ("subscribe", "subscribe_scan"):
                return shorten(GREETING, web_url=self.web_url)
            return None
        if msg.type == "voice" and (getattr(msg, "recognition", None) or "").strip():
            question = msg.recognition.strip()            # speech recognition is on: treat as text
        elif msg.type == "text":
            question = (msg.content or "").strip()
        else:
            return NOT_TEXT
        openid = msg.source
        if not question:
            return EMPTY
        if len(question) > MAX_QUESTION_CHARS:
            return TOO_LONG
        # every text message, even "重新开始" and "结果", is handled once per MsgId: a retry (or a
        # replay of the same request) gets the same reply and changes nothing
        if question in RESET_WORDS:
            work = self._reset(openid)
        elif question in RESULT_WORDS:
            work = self._result(openid)
        else:
            work = self._ask(openid, question)
        return await self._answer_once(self._key(msg), openid, work)

    async def _reset(self, openid: str) -> str:
        self._pending.pop(openid, None)
        try:
            await asyncio.to_thread(self.runtime.reset, CHANNEL, openid)
        except Exception:
            log.exception("wechat: could not clear a session")
            return FAILED
        return RESET_DONE

    async def _result(self, openid: str) -> str:
        pending = self._pending.pop(openid, None)
        return pending if pending else NO_PENDING

    @staticmethod
    def _key(msg) -> str:
        msg_id = getattr(msg, "id", None)
        return f"id:{msg_id}" if msg_id else f"t:{msg.source}:{msg.create_time}"

    async def _answer_once(self, key: str, openid: str, work) -> str | None:
        self._forget_old()
        entry = self._messages.get(key)
        if entry is None:
            entry = _Message(task=asyncio.create_task(work), openid=openid)
            self._messages[key] = entry
        else:
            work.close()                                  # never started: nothing to clean up
            if entry.reply is not None:
                log.info("wechat: retried message %s: same reply again", key)
                return entry.reply
            if entry.deferred:
                log.info("wechat: retried message %s: answer is on its way", key)
                return None
        # first delivery, or a retry while the first is still waiting: wait on the same task
        try:
            await asyncio.wait_for(asyncio.shield(entry.task), self.passive_timeout)
        except asyncio.TimeoutError:
            pass
        if entry.reply is not None:
            return entry.reply
        if entry.deferred:
            return None
        if entry.task.done():
            entry.reply = shorten(entry.task.result(), web_url=self.web_url)
            return entry.reply
        entry.deferred = True
        entry.task.add_done_callback(lambda t: self._spawn(self._deliver(openid, t)))
        return WORKING_CS if self.customer_service else WORKING_PULL

    async def _ask(self, openid: str, question: str) -> str:
        try:
            turn = await self.runtime.ask(CHANNEL, openid, question)
            return turn.answer.answer or FAILED
        except Exception:
            log.exception("wechat: answering failed")
            return FAILED

    async def _deliver(self, openid: str, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        text = task.result()
        if self.customer_service is not None:
            try:
                for part in cs_parts(text, web_url=self.web_url):
                    await self.customer_service.send_text(openid, part)
                return
            except Exception:
                log.exception("wechat: customer-service delivery failed; keeping the answer for “结果”")
        self._pending[openid] = text

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _forget_old(self) -> None:
        now = time.monotonic()
        while self._messages:
            key, entry = next(iter(self._messages.items()))
            if len(self._messages) > DEDUPE_MAX or (now - entry.at > DEDUPE_TTL_SECONDS and entry.task.done()):
                self._messages.popitem(last=False)
            else:
                break

    async def drain(self) -> None:
        """Wait until every answer in progress is computed and delivered (tests, graceful shutdown)."""
        await asyncio.gather(*[e.task for e in list(self._messages.values())], return_exceptions=True)
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def _shutdown(self, app) -> None:
        for entry in self._messages.values():
            entry.task.cancel()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*[e.task for e in self._messages.values()], *self._background,
                             return_exceptions=True)


def from_config(runtime, config, *, customer_service: CustomerService | None = None,
                passive_timeout: float = 4.0, web_url: str | None = None) -> WeChatEndpoint:
    """The endpoint configured from Config (WECHAT_* environment variables)."""
    if customer_service is None and config.wechat_app_id and config.wechat_app_secret:
        customer_service = WeChatAPICustomerService(config.wechat_app_id, config.wechat_app_secret)
    return WeChatEndpoint(runtime, config.wechat_token, aes_key=config.wechat_aes_key,
                          app_id=config.wechat_app_id, customer_service=customer_service,
                          passive_timeout=passive_timeout, web_url=web_url,
                          replay_window=getattr(config, "wechat_replay_window", REPLAY_WINDOW_SECONDS))

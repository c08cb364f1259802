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
- Several workers: MsgIds, nonces and answers waiting for “结果” live in the runtime's shared store
  (`runtime.wechat_state`, bot/storage/state.py; PostgreSQL with PZ_DATABASE_URL). One worker claims a
  message; a retry that reaches another worker gets the reply the first one gave (it waits up to
  `passive_timeout` for it), or an empty reply while the answer is on its way: never a second answer.
- The openid is the user id (channel "wechat"), so follow-up questions keep their facts.
- Replies are laid out from the answer's parts by `render.wechat_text`: the direct answer first, then the
  details, a link to each cited clause on the web page (`/clause/<id>`, under PZ_PUBLIC_URL), the choices
  to reply with, and how to rate the answer.
- Text replies respect WeChat's length limit (2048 bytes of UTF-8): a passive reply is cut at a line or
  sentence end and ends with a link to the full answer (`/wechat/answer/<id>.<MAC>`, a read-only page only
  the asker has the link to); customer-service replies are split into a few messages.
- Feedback by reply keyword: "有用" / "没用" (optionally with a reason: "没用 金额不对") rates the asker's
  latest answer through `Runtime.feedback`; it is not logged as a question.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

from aiohttp import web
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.adapters.render import wechat_text
from bot.storage import connect
from bot.storage.state import DEFERRED, REPLIED, WeChatState

log = logging.getLogger(__name__)

CHANNEL = "wechat"
REPLY_LIMIT_BYTES = 2048          # WeChat's limit for a text message's Content
MAX_BODY_BYTES = 64 * 1024        # a WeChat push is a few hundred bytes
MAX_QUESTION_CHARS = 500
DEDUPE_TTL_SECONDS = 600          # WeChat retries within ~15 s; keep MsgIds well beyond that
DEDUPE_MAX = 10_000
CS_MAX_PARTS = 4                  # customer-service messages per answer at most
REPLAY_WINDOW_SECONDS = 300       # a timestamp further than this from now is refused
ELSEWHERE_POLL_SECONDS = 0.05     # how often a retry looks for the reply another worker gave
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

# Feedback by reply keyword on the asker's latest answer: "有用", "没用", "没用 金额不对", "没用：电话打不通".
# A keyword must stand alone or be followed by a separator, so "有用吗" or "没用过的额度" are questions.
FEEDBACK = re.compile(r"^(有用|有帮助|👍|没用|没有用|无用|没帮助|👎)(?:$|[\s,，:：;；。.!！、]+(.*)$)", re.S)
HELPFUL = {"有用", "有帮助", "👍"}
FEEDBACK_WINDOW_SECONDS = 86400    # a keyword rates an answer given within the last day
MAX_REASON_CHARS = 500
THANKS_UP = "谢谢您的反馈！还有问题可以直接发给我。"
THANKS_DOWN = "已记录您的意见：{reason}。工作人员会核对这条回答；需要人工帮助请回复“留言”。"
THANKS_DOWN_NO_REASON = ("已记录。可以再回复“没用 原因”告诉我们哪里不对，例如“没用 金额不对”；"
                         "需要人工帮助请回复“留言”。")
NOTHING_TO_RATE = "没有找到可以评价的回答：请先提问，收到回答后再回复“有用”或“没用”。"
FEEDBACK_FAILED = "抱歉，评价暂时无法记录，请稍后再试。"
ANSWER_MAC_CHARS = 32
LOGGED_ANSWER_CHARS = 4000         # the question log keeps this much of an answer's text (bot/qlog.py)


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


SENTENCE_END = re.compile(r"[。；！？!?;]")


def _clean_head(text: str, room: int) -> str:
    """The start of `text` within `room` bytes, ending at a line or, failing that, a sentence end."""
    head = ""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        candidate = f"{head}\n{line}" if head else line
        if _utf8_len(candidate) <= room:
            head = candidate
            continue
        # the next line does not fit: keep its first sentences if there is room for some
        left = room - _utf8_len(head) - (1 if head else 0)
        part = _cut_bytes(line, max(left, 0))
        ends = [m.end() for m in SENTENCE_END.finditer(part)]
        if ends and (not head or left >= 200):
            head = f"{head}\n{part[:ends[-1]]}" if head else part[:ends[-1]]
        elif not head:
            head = part                      # one sentence longer than the message: cut it
        break
    return head.rstrip()


def shorten(text: str, limit: int = REPLY_LIMIT_BYTES, web_url: str | None = None) -> str:
    """One message of at most `limit` bytes; a cut answer ends, after a whole line or sentence, with a
    link to the full one (`web_url`)."""
    if _utf8_len(text) <= limit:
        return text
    tail = (f"\n……（内容较长，完整答案请打开：{web_url}）" if web_url
            else "\n……（内容较长，已截断。可以问得更具体些，例如只问一项奖励。）")
    return _clean_head(text, limit - _utf8_len(tail)) + tail


def cs_parts(text: str, limit: int = REPLY_LIMIT_BYTES, web_url: str | None = None) -> list[str]:
    parts = split_text(text, limit)
    if len(parts) > CS_MAX_PARTS:
        parts = parts[:CS_MAX_PARTS - 1] + [shorten("\n".join(parts[CS_MAX_PARTS - 1:]), limit, web_url)]
    return parts


# ---------------------------------------------------------------------------------------------
# The full answer as a page (a reply that had to be cut links to it)

PAGE_CSP = ("default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
ANSWER_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>{title}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/static/chat.css"></head>
<body class="clause-page"><main class="clause-doc answer-doc">
<h1>{title}</h1><div class="clause-body">{body}</div>
<p class="back"><a href="/">在网页上继续提问</a></p>
</main></body></html>
"""


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


@dataclass(frozen=True)
class _Reply:
    """An answer to send: its text, and where the full answer is on the web page if it must be cut."""
    text: str
    more_url: str | None = None


class _BadMessage(Exception):
    """A signed request whose message cannot be used: answered with 400."""


class WeChatEndpoint:
    def __init__(self, runtime, token: str, *, aes_key: str | None = None, app_id: str | None = None,
                 customer_service: CustomerService | None = None, passive_timeout: float = 4.0,
                 web_url: str | None = None, replay_window: float = REPLAY_WINDOW_SECONDS,
                 clock=time.time, state: WeChatState | None = None):
        self.runtime = runtime
        self.token = token
        self.replay_window = replay_window
        self.clock = clock
        # nonces, MsgIds and answers waiting for "结果", shared by the workers (else this process only)
        self.state = state or getattr(runtime, "wechat_state", None) or WeChatState(connect(":memory:"))
        self.crypto = WeChatCrypto(token, aes_key, app_id or "") if aes_key else None
        self.customer_service = customer_service
        self.passive_timeout = passive_timeout
        self.web_url = web_url                      # the web chat's public address (PZ_PUBLIC_URL)
        self.path = "/wechat"
        self._messages: OrderedDict[str, _Message] = OrderedDict()    # the messages this worker answers
        self._background: set[asyncio.Task] = set()

    def add_routes(self, app: web.Application, path: str = "/wechat") -> None:
        self.path = path
        app.router.add_get(path, self.verify)
        app.router.add_post(path, self.receive)
        app.router.add_get(path + "/answer/{token}", self.answer_page)
        app.on_shutdown.append(self._shutdown)

    # -- links to the web page -----------------------------------------------------------------
    def _base(self) -> str | None:
        return self.web_url.rstrip("/") if self.web_url else None

    def clause_url(self, clause_id: str) -> str | None:
        """The cited clause on the web page (the server's /clause/<id>), when PZ_PUBLIC_URL is set."""
        base = self._base()
        return f"{base}/clause/{quote(clause_id, safe='/')}" if base and clause_id else None

    def _answer_token(self, question_id: int) -> str:
        return f"{question_id}.{self.runtime.mac('wechat-answer', str(question_id))[:ANSWER_MAC_CHARS]}"

    def answer_url(self, question_id: int | None) -> str | None:
        """The full answer to a logged question, for a reply that had to be cut. The link carries a MAC
        under the pseudonym key: only the person it was sent to can open it."""
        base = self._base()
        if not base or not question_id:
            return None
        return f"{base}{self.path}/answer/{self._answer_token(question_id)}"

    async def answer_page(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        qid_text, _, mac = token.partition(".")
        row = None
        if qid_text.isdigit() and len(qid_text) <= 19 and len(mac) == ANSWER_MAC_CHARS \
                and hmac.compare_digest(self._answer_token(int(qid_text)), token):
            row = await asyncio.to_thread(self.runtime.qlog.get, int(qid_text))
        if row is None or row.get("channel") != CHANNEL or not row.get("answer"):
            return self._page("找不到这条回答", "<p>链接已失效，或回答已按保存期限删除。请回到公众号重新提问。</p>",
                              status=404)
        e = html.escape
        body = "".join(f"<p>{e(line)}</p>" for line in row["answer"].splitlines() if line.strip())
        if len(row["answer"]) >= LOGGED_ANSWER_CHARS:
            body += "<p>……（回答太长，只保存了这些。可以在网页上问得更具体些。）</p>"
        links = []
        for cid in json.loads(row.get("citations") or "[]"):
            c = await asyncio.to_thread(self.runtime.citation, cid) if isinstance(cid, str) else None
            if c is not None:
                links.append(f'<li><a href="/clause/{e(quote(cid, safe="/"))}">'
                             f'{e((c.number + " " + c.clause).strip())}</a></li>')
        if links:
            body += "<h2>依据原文</h2><ul class=\"clause-links\">" + "".join(links) + "</ul>"
        return self._page("完整答案", body)

    @staticmethod
    def _page(title: str, body: str, status: int = 200) -> web.Response:
        page = ANSWER_PAGE.format(title=html.escape(title), body=body)
        return web.Response(text=page, content_type="text/html", status=status, headers={
            "Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store", "X-Robots-Tag": "noindex"})

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

    async def _first_use(self, nonce: str, body: bytes) -> bool:
        """False when `nonce` was used within the window for a different body (a replayed query
        string); True for a new nonce or WeChat's retry of the same request (same body)."""
        if not nonce or len(nonce) > MAX_NONCE_CHARS:
            return False
        digest = hashlib.sha256(body).hexdigest()
        return await asyncio.to_thread(self.state.first_use, nonce, digest, self.replay_window)

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
        if not await self._first_use(q.get("nonce", ""), raw):
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
        rated = FEEDBACK.match(question)
        if rated:
            work = self._feedback(openid, rated.group(1) in HELPFUL, rated.group(2))
        elif question in RESET_WORDS:
            work = self._reset(openid)
        elif question in RESULT_WORDS:
            work = self._result(openid)
        else:
            work = self._ask(openid, question)
        return await self._answer_once(self._key(msg), openid, work)

    async def _reset(self, openid: str) -> str:
        await asyncio.to_thread(self.state.take_pending, openid)
        try:
            await asyncio.to_thread(self.runtime.reset, CHANNEL, openid)
        except Exception:
            log.exception("wechat: could not clear a session")
            return FAILED
        return RESET_DONE

    async def _result(self, openid: str) -> str | _Reply:
        pending = await asyncio.to_thread(self.state.take_pending, openid)
        if not pending:
            return NO_PENDING
        kept = json.loads(pending)
        return _Reply(kept["text"], kept.get("more_url"))

    async def _feedback(self, openid: str, helpful: bool, reason: str | None) -> str:
        """"有用" / "没用 原因" on the latest answer this user was given."""
        reason = (reason or "").strip()[:MAX_REASON_CHARS] or None
        try:
            qid = await asyncio.to_thread(self.runtime.last_question, CHANNEL, openid, FEEDBACK_WINDOW_SECONDS)
            if qid is None:
                return NOTHING_TO_RATE
            stored = await asyncio.to_thread(self.runtime.feedback, CHANNEL, openid, qid,
                                             1 if helpful else -1, None if helpful else reason)
        except Exception:
            log.exception("wechat: could not record feedback")
            return FEEDBACK_FAILED
        if stored is None:
            return FEEDBACK_FAILED
        if not stored:
            return NOTHING_TO_RATE
        if helpful:
            return THANKS_UP
        return THANKS_DOWN.format(reason=reason.rstrip("。")) if reason else THANKS_DOWN_NO_REASON

    @staticmethod
    def _key(msg) -> str:
        msg_id = getattr(msg, "id", None)
        return f"id:{msg_id}" if msg_id else f"t:{msg.source}:{msg.create_time}"

    async def _answer_once(self, key: str, openid: str, work) -> str | None:
        self._forget_old()
        entry = self._messages.get(key)
        if entry is None:
            if not await self._claim(key, openid):
                work.close()                              # another worker answers it
                return await self._answered_elsewhere(key)
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
            entry.reply = self._passive(entry.task.result())
            await self._settle(key, entry.reply)
            return entry.reply
        entry.deferred = True
        await self._settle(key, None)
        entry.task.add_done_callback(lambda t: self._spawn(self._deliver(openid, t)))
        return WORKING_CS if self.customer_service else WORKING_PULL

    async def _claim(self, key: str, openid: str) -> bool:
        try:
            return await asyncio.to_thread(self.state.claim, key, openid)
        except Exception:       # the shared store is down: answer rather than drop the message
            log.exception("wechat: could not record message %s as taken; answering it here", key)
            return True

    async def _settle(self, key: str, reply: str | None) -> None:
        try:
            await asyncio.to_thread(self.state.settle, key, reply, deferred=reply is None)
        except Exception:
            log.exception("wechat: could not record the reply to message %s", key)

    async def _answered_elsewhere(self, key: str) -> str | None:
        """A retry of a message another worker took: the reply it gave, once it has given one (waiting
        up to `passive_timeout`); an empty reply when the answer comes later or is not ready by then."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.passive_timeout
        while True:
            outcome = await asyncio.to_thread(self.state.outcome, key)
            if outcome is None or outcome.state == DEFERRED:
                log.info("wechat: retried message %s: answer is on its way from another worker", key)
                return None
            if outcome.state == REPLIED:
                log.info("wechat: retried message %s: the reply another worker gave", key)
                return outcome.reply
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(ELSEWHERE_POLL_SECONDS)

    def _passive(self, result: str | _Reply) -> str:
        """A passive reply within WeChat's limit: cut, a long answer points to its full text."""
        if isinstance(result, _Reply):
            return shorten(result.text, web_url=result.more_url or self.web_url)
        return shorten(result, web_url=self.web_url)

    async def _ask(self, openid: str, question: str) -> str | _Reply:
        try:
            turn = await self.runtime.ask(CHANNEL, openid, question)
            if not (turn.answer.answer or "").strip():
                return FAILED
            text = xml_text(wechat_text(turn.answer, self.clause_url))
            return _Reply(text, self.answer_url(turn.question_id))
        except Exception:
            log.exception("wechat: answering failed")
            return FAILED

    async def _deliver(self, openid: str, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        result = task.result()
        reply = result if isinstance(result, _Reply) else _Reply(result)
        if self.customer_service is not None:
            try:
                for part in cs_parts(reply.text, web_url=reply.more_url or self.web_url):
                    await self.customer_service.send_text(openid, part)
                return
            except Exception:
                log.exception("wechat: customer-service delivery failed; keeping the answer for “结果”")
        try:
            await asyncio.to_thread(self.state.put_pending, openid,
                                    json.dumps({"text": reply.text, "more_url": reply.more_url}, ensure_ascii=False))
        except Exception:
            log.exception("wechat: could not keep an answer for “结果”")

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
        customer_service = WeChatAPICustomerService(config.wechat_app_id, config.wechat_app_secret,
                                                    api_base_url=getattr(config, "wechat_api_base_url", None))
    return WeChatEndpoint(runtime, config.wechat_token, aes_key=config.wechat_aes_key,
                          app_id=config.wechat_app_id, customer_service=customer_service,
                          passive_timeout=passive_timeout, web_url=web_url or config.public_url,
                          replay_window=getattr(config, "wechat_replay_window", REPLAY_WINDOW_SECONDS))


def notice_sender(config, customer_service: CustomerService | None = None):
    """A sender for new-policy notices (bot/notify.py): `await send(openid, text)` through the
    customer-service message API, in as many messages as the text needs (at most CS_MAX_PARTS)."""
    cs = customer_service or WeChatAPICustomerService(config.wechat_app_id, config.wechat_app_secret,
                                                      api_base_url=getattr(config, "wechat_api_base_url", None))

    async def send(openid: str, text: str) -> None:
        for part in cs_parts(xml_text(text), web_url=getattr(config, "public_url", None)):
            await cs.send_text(openid, part)
    return send

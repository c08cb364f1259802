"""A fake Telegram Bot API server on 127.0.0.1 (aiohttp), for running the real PTB Application offline.

Point PTB at it with `base_url=api.base_url`, `base_file_url=api.base_file_url`. It implements the
methods the bot uses, faithfully enough to catch real mistakes:

- getUpdates: long poll (`timeout`), `offset` confirms updates (they stay until confirmed, as on
  Telegram), 409 while a webhook is set. Pending long polls are woken on `close()`.
- setWebhook / deleteWebhook / getWebhookInfo: with a webhook set, injected updates are POSTed to it,
  in order, with the `X-Telegram-Bot-Api-Secret-Token` header, retried while it cannot be reached,
  like Telegram does. A non-200 answer is recorded in `webhook_errors`.
- sendMessage / editMessageText: `parse_mode=HTML` is parsed like Telegram does (only Telegram's tags,
  only the named entities `&lt; &gt; &amp; &quot;` and numeric ones; anything else is a 400), and the
  4096 limit is checked on the visible text in UTF-16 code units.
- editMessageReplyMarkup, answerCallbackQuery, sendChatAction, setMyCommands, getMyCommands,
  getFile + GET /file/bot<token>/<path>, close, logOut.

Tests inject updates (`send_text`, `click`, `send_document`) and await what the bot sent
(`next_message(chat_id)`, `wait_for(predicate)`), with timeouts, never sleeps.
"""
from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import aiohttp
from aiohttp import web

BOT_USER = {"id": 7000001, "is_bot": True, "first_name": "专业镇助手", "username": "pz_policy_test_bot",
            "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}

# values PTB sends as plain strings (everything else is JSON-encoded by PTB)
_STRING_FIELDS = {"text", "parse_mode", "callback_query_id", "action", "file_id", "url", "secret_token",
                  "ip_address", "inline_message_id", "language_code", "business_connection_id"}
_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code",
         "pre", "blockquote", "tg-emoji", "tg-time"}
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*)?)\s*>")
_ENTITY_RE = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


class ApiError(Exception):
    def __init__(self, code: int, description: str):
        super().__init__(description)
        self.code, self.description = code, description


def parse_html(text: str) -> str:
    """The visible text of a Telegram HTML message, or ApiError(400) where Telegram would refuse it."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            m = _TAG_RE.match(text, i)
            if not m or m.group(2).lower() not in _TAGS:
                name = m.group(2) if m else text[i + 1:i + 12]
                raise ApiError(400, f"Bad Request: can't parse entities: Unsupported start tag \"{name}\" "
                                    f"at byte offset {len(text[:i].encode())}")
            closing, name = m.group(1) == "/", m.group(2).lower()
            if closing:
                if not stack or stack[-1] != name:
                    raise ApiError(400, f"Bad Request: can't parse entities: Unmatched end tag \"{name}\"")
                stack.pop()
            else:
                stack.append(name)
            i = m.end()
        elif ch == "&":
            m = _ENTITY_RE.match(text, i)
            if not m:
                raise ApiError(400, "Bad Request: can't parse entities: Character '&' is reserved and must be "
                                    f"escaped with the preceding '\\' at byte offset {len(text[:i].encode())}")
            out.append(html.unescape(m.group(0)))
            i = m.end()
        elif ch == ">":
            raise ApiError(400, "Bad Request: can't parse entities: Character '>' is reserved")
        else:
            out.append(ch)
            i += 1
    if stack:
        raise ApiError(400, f"Bad Request: can't parse entities: Can't find end tag corresponding to start "
                            f"tag \"{stack[-1]}\"")
    return "".join(out)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Sent:
    """One thing the bot did that a user would see (or a call the test wants to check)."""
    method: str
    chat_id: int | None
    params: dict[str, Any]
    message: dict[str, Any] | None = None
    seq: int = 0

    @property
    def text(self) -> str:
        """Visible text (HTML parsed) for messages; '' otherwise."""
        return (self.message or {}).get("text", "")

    @property
    def html(self) -> str:
        return self.params.get("text", "")

    @property
    def buttons(self) -> list[dict]:
        markup = self.params.get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]

    def button(self, label: str) -> dict:
        for b in self.buttons:
            if label in b.get("text", ""):
                return b
        raise AssertionError(f"no button {label!r} in {[b.get('text') for b in self.buttons]}")


@dataclass
class _File:
    content: bytes
    path: str
    unique_id: str


@dataclass
class FakeBotAPI:
    token: str = "123456:TEST-token"
    host: str = "127.0.0.1"
    default_wait: float = 10.0
    # everything the bot called, in order, with decoded parameters
    calls: list[tuple[str, dict]] = field(default_factory=list)
    # what the bot sent or changed (sendMessage, editMessage*, answerCallbackQuery, sendChatAction)
    sent: list[Sent] = field(default_factory=list)
    commands: list[dict] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=lambda: {"url": "", "secret_token": None})
    webhook_errors: list[str] = field(default_factory=list)
    webhook_retries: int = 0

    def __post_init__(self):
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count] = {}
        self._user_message_ids = itertools.count(100000)
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._files: dict[str, _File] = {}
        self._messages: dict[tuple[int, int], dict] = {}
        self._cursors: dict[int, int] = {}
        self._changed: asyncio.Condition | None = None
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._delivery: asyncio.Queue | None = None
        self._delivery_task: asyncio.Task | None = None
        self._client: aiohttp.ClientSession | None = None
        self._seq = itertools.count(1)
        self.port = 0

    # ------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://{self.host}:{self.port}/file/bot"

    async def start(self) -> "FakeBotAPI":
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._delivery = asyncio.Queue()
        self._client = aiohttp.ClientSession()
        self._delivery_task = asyncio.create_task(self._deliver_webhooks())
        return self

    async def close(self) -> None:
        self._closing = True
        await self._notify()            # wake pending long polls and waiters
        if self._delivery_task:
            self._delivery_task.cancel()
            try:
                await self._delivery_task
            except asyncio.CancelledError:
                pass
        if self._client:
            await self._client.close()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.close()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ injecting updates
    def user(self, user_id: int, name: str = "用户") -> dict:
        return {"id": user_id, "is_bot": False, "first_name": name, "language_code": "zh-hans"}

    def _user_message(self, user_id: int, chat_id: int | None, **content) -> dict:
        chat_id = chat_id if chat_id is not None else user_id
        return {"message_id": next(self._user_message_ids), "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "用户"},
                "from": self.user(user_id), **content}

    async def inject(self, update: dict) -> int:
        """Queue an update (as Telegram would): polled by getUpdates, or POSTed to the webhook."""
        update = {"update_id": next(self._update_ids), **update}
        if self.webhook["url"]:
            await self._delivery.put(update)
        else:
            self._updates.append(update)
            await self._notify()
        return update["update_id"]

    async def send_text(self, user_id: int, text: str, chat_id: int | None = None) -> int:
        content: dict[str, Any] = {"text": text}
        m = re.match(r"/[A-Za-z0-9_]+(@\w+)?", text)
        if m:
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": m.end()}]
        return await self.inject({"message": self._user_message(user_id, chat_id, **content)})

    def add_file(self, content: bytes, name: str) -> dict:
        """Store a file the user 'uploads'; returns the Document object for an update."""
        n = next(self._file_ids)
        file_id = f"FILE{n:06d}"
        self._files[file_id] = _File(content, f"documents/file_{n}{_suffix(name)}", f"U{n:06d}")
        return {"file_id": file_id, "file_unique_id": f"U{n:06d}", "file_name": name,
                "mime_type": _mime(name), "file_size": len(content)}

    async def send_document(self, user_id: int, content: bytes, name: str, caption: str | None = None) -> int:
        doc = self.add_file(content, name)
        extra = {"caption": caption} if caption else {}
        return await self.inject({"message": self._user_message(user_id, None, document=doc, **extra)})

    async def click(self, user_id: int, sent: Sent, label: str) -> int:
        """Press the inline button whose text contains `label` under a message the bot sent."""
        return await self.callback(user_id, sent, sent.button(label)["callback_data"])

    async def callback(self, user_id: int, sent: Sent, data: str) -> int:
        """A callback query with any `data` on a message the bot sent, as a modified client can send
        (Telegram does not check that the data belongs to a button of that message)."""
        message = self._messages.get((sent.chat_id, sent.message["message_id"]), sent.message)
        return await self.inject({"callback_query": {
            "id": str(next(self._callback_ids)), "from": self.user(user_id), "chat_instance": "ci-1",
            "message": message, "data": data}})

    # ------------------------------------------------------------------ waiting for the bot
    async def wait_for(self, predicate: Callable[[Sent], bool], timeout: float | None = None,
                       after: int = 0) -> Sent:
        """The first recorded action (with seq > after) matching `predicate`; waits for it."""
        async def scan() -> Sent:
            async with self._changed:
                while True:
                    for s in self.sent:
                        if s.seq > after and predicate(s):
                            return s
                    if self._closing:
                        raise AssertionError("fake Bot API closed while waiting")
                    await self._changed.wait()
        return await asyncio.wait_for(scan(), timeout or self.default_wait)

    async def wait_call(self, method: str, timeout: float | None = None) -> dict:
        """The parameters of the first call of Bot API `method` the bot made (handled); waits for it."""
        async def scan() -> dict:
            async with self._changed:
                while True:
                    for m, params in self.calls:
                        if m == method:
                            return params
                    if self._closing:
                        raise AssertionError("fake Bot API closed while waiting")
                    await self._changed.wait()
        return await asyncio.wait_for(scan(), timeout or self.default_wait)

    async def next_message(self, chat_id: int, timeout: float | None = None) -> Sent:
        """The next message sent to `chat_id` that this test has not yet taken (sendMessage only)."""
        cursor = self._cursors.get(chat_id, 0)
        s = await self.wait_for(lambda s: s.method == "sendMessage" and s.chat_id == chat_id,
                                timeout, after=cursor)
        self._cursors[chat_id] = s.seq
        return s

    def messages_to(self, chat_id: int) -> list[Sent]:
        return [s for s in self.sent if s.method == "sendMessage" and s.chat_id == chat_id]

    def actions(self, method: str, chat_id: int | None = None) -> list[Sent]:
        return [s for s in self.sent if s.method == method and (chat_id is None or s.chat_id == chat_id)]

    def message(self, chat_id: int, message_id: int) -> dict:
        """The message as it stands now (after edits)."""
        return self._messages[(chat_id, message_id)]

    def pending_updates(self) -> int:
        return len(self._updates)

    # ------------------------------------------------------------------ HTTP
    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        for f in self._files.values():
            if f.path == request.match_info["path"]:
                return web.Response(body=f.content)
        return web.Response(status=404)

    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await _params(request)
        self.calls.append((method, params))
        handler = getattr(self, "_m_" + method.lower(), None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        try:
            result = await handler(params)
        except ApiError as e:
            return _error(e.code, e.description)
        finally:
            await self._notify()          # wakes wait_call: the method has been handled
        return web.json_response({"ok": True, "result": result})

    async def _record(self, method: str, chat_id: int | None, params: dict, message: dict | None = None) -> Sent:
        s = Sent(method, chat_id, params, message, next(self._seq))
        async with self._changed:
            self.sent.append(s)
            self._changed.notify_all()
        return s

    # ------------------------------------------------------------------ methods
    async def _m_getme(self, p):
        return BOT_USER

    async def _m_getupdates(self, p):
        if self.webhook["url"]:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(p.get("offset") or 0)
        limit = int(p.get("limit") or 100)
        timeout = float(p.get("timeout") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]

        def ready():
            return self._closing or any(u["update_id"] >= offset for u in self._updates)

        if timeout > 0 and not ready():
            async with self._changed:
                try:
                    await asyncio.wait_for(self._changed.wait_for(ready), timeout)
                except asyncio.TimeoutError:
                    pass
        return [u for u in self._updates if u["update_id"] >= offset][:limit]

    async def _m_deletewebhook(self, p):
        self.webhook = {"url": "", "secret_token": None}
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_setwebhook(self, p):
        url = p.get("url") or ""
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {"url": url, "secret_token": secret}
        if p.get("drop_pending_updates"):
            self._updates.clear()
        # updates queued while polling are now delivered to the webhook
        pending, self._updates = self._updates, []
        for u in pending:
            await self._delivery.put(u)
        return True

    async def _m_getwebhookinfo(self, p):
        return {"url": self.webhook["url"], "has_custom_certificate": False,
                "pending_update_count": len(self._updates) + (self._delivery.qsize() if self._delivery else 0)}

    async def _deliver_webhooks(self) -> None:
        while True:
            update = await self._delivery.get()
            url, secret = self.webhook["url"], self.webhook["secret_token"]
            if not url:      # webhook removed meanwhile: back to getUpdates
                self._updates.append(update)
                await self._notify()
                continue
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
            # Like Telegram, retry while the webhook server cannot be reached (PTB sets the webhook
            # just before its server listens); this backoff imitates Telegram's, it syncs no test.
            for attempt in range(40):
                try:
                    async with self._client.post(url, json=update, headers=headers) as r:
                        if r.status != 200:
                            self.webhook_errors.append(f"{r.status} for update {update['update_id']}")
                    break
                except aiohttp.ClientConnectionError as e:
                    self.webhook_retries += 1
                    if attempt == 39 or self._closing:
                        self.webhook_errors.append(f"{type(e).__name__}: {e}")
                        break
                    await asyncio.sleep(min(0.02 * 2 ** attempt, 0.5))
            await self._notify()

    def _check_text(self, p: dict, key: str = "text") -> str:
        text = p.get(key)
        if text is None or text == "":
            raise ApiError(400, "Bad Request: message text is empty")
        visible = parse_html(text) if (p.get("parse_mode") or "").upper() == "HTML" else text
        if not visible.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(visible) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return visible

    def _check_markup(self, p: dict) -> None:
        for row in (p.get("reply_markup") or {}).get("inline_keyboard", []):
            for b in row:
                data = b.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    async def _m_sendmessage(self, p):
        chat_id = int(p["chat_id"])
        visible = self._check_text(p)
        self._check_markup(p)
        ids = self._message_ids.setdefault(chat_id, itertools.count(1))
        message = {"message_id": next(ids), "date": int(time.time()), "from": BOT_USER,
                   "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"}, "text": visible}
        if (p.get("reply_markup") or {}).get("inline_keyboard"):   # Message.reply_markup is inline only
            message["reply_markup"] = p["reply_markup"]
        self._messages[(chat_id, message["message_id"])] = message
        await self._record("sendMessage", chat_id, p, message)
        return message

    def _existing(self, p) -> dict:
        key = (int(p["chat_id"]), int(p["message_id"]))
        if key not in self._messages:
            raise ApiError(400, "Bad Request: message to edit not found")
        return self._messages[key]

    async def _m_editmessagetext(self, p):
        message = self._existing(p)
        visible = self._check_text(p)
        self._check_markup(p)
        if visible == message["text"] and p.get("reply_markup") == message.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified")
        message["text"] = visible
        if p.get("reply_markup"):
            message["reply_markup"] = p["reply_markup"]
        else:
            message.pop("reply_markup", None)
        await self._record("editMessageText", message["chat"]["id"], p, dict(message))
        return message

    async def _m_editmessagereplymarkup(self, p):
        message = self._existing(p)
        self._check_markup(p)
        if p.get("reply_markup"):
            message["reply_markup"] = p["reply_markup"]
        else:
            message.pop("reply_markup", None)
        await self._record("editMessageReplyMarkup", message["chat"]["id"], p, dict(message))
        return message

    async def _m_answercallbackquery(self, p):
        await self._record("answerCallbackQuery", None, p)
        return True

    async def _m_sendchataction(self, p):
        await self._record("sendChatAction", int(p["chat_id"]), p)
        return True

    async def _m_setmycommands(self, p):
        self.commands = p.get("commands") or []
        return True

    async def _m_getmycommands(self, p):
        return self.commands

    async def _m_deletemycommands(self, p):
        self.commands = []
        return True

    async def _m_getfile(self, p):
        f = self._files.get(p.get("file_id"))
        if f is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {"file_id": p["file_id"], "file_unique_id": f.unique_id, "file_size": len(f.content),
                "file_path": f.path}

    async def _m_close(self, p):
        return True

    async def _m_logout(self, p):
        return True


async def _params(request: web.Request) -> dict:
    raw: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            raw.update(await request.json())
            return raw
        form = await request.post()
        for k, v in form.items():
            raw[k] = v if isinstance(v, str) else v.file.read()
    out = {}
    for k, v in raw.items():
        if k in _STRING_FIELDS or not isinstance(v, str):
            out[k] = v
        else:
            try:
                out[k] = json.loads(v)
            except ValueError:
                out[k] = v
    return out


def _error(code: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": code, "description": description}, status=code)


def _suffix(name: str) -> str:
    m = re.search(r"\.[A-Za-z0-9]{1,5}$", name)
    return m.group(0).lower() if m else ""


def _mime(name: str) -> str:
    return {".txt": "text/plain", ".pdf": "application/pdf",
            ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }.get(_suffix(name), "application/octet-stream")

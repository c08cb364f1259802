"""One aiohttp application: the web chat page, its JSON API and (when WECHAT_TOKEN is set) /wechat.

    create_app(runtime, config, *, wechat_client=None) -> web.Application
    run_all(config)        # `python -m bot run`: web (+ WeChat) and, with a token, Telegram
    command                # `python -m bot serve [--host] [--port]`

Routes:
    GET  /               the chat page (bot/adapters/web/index.html), static files under /static/
    GET  /clause/{id}    one clause of a policy document as a page (WeChat replies link to it)
    POST /api/ask        {session_id?, question} -> the answer contract + parts, qtype, asked_for,
                         staff_replies, question_id, session_id
    POST /api/feedback   {session_id, question_id, value: 1|-1, reason?} -> {ok: true}; 403 unless the
                         question was asked in that session
    POST /api/history    {session_id} -> {turns: [{question, reply}], facts, profile, notices} (kept server-side
                         per session; `notices`: new-policy notices waiting for this owner, shown once)
    POST /api/facts      {session_id, key?, value?, remove?, clear?} -> {facts: [{key, label, value, editable}]}
    POST /api/reset      {session_id} -> {ok: true}: forget the conversation (facts and history)
    POST /api/profile    {session_id, action?: save|delete|notify_on|notify_off} -> {profile: {saved, notify} | null,
                         facts}: the enterprise profile kept with the owner's consent (new-policy notices)
    GET  /healthz        {ok: true}
    GET/POST /wechat     the WeChat Official Account endpoint (bot/adapters/wechat.py)

Session ids are issued by the server: a request without one, or with one this server did not issue,
is answered in a new session whose id comes back in `session_id` (the page keeps it from then on).
The API takes `application/json` only. Hostile input gets a 4xx with a plain message, never a 500
or a traceback; responses carry no `Server` version banner; a connection that has not sent a complete
request within `web.header_timeout` seconds is closed.
"""
from __future__ import annotations

import asyncio
import html
import hmac
import json
import logging
import re
import secrets
import sys
from pathlib import Path

import click
from aiohttp import web, web_response

from bot.adapters.signals import stop_on_signals

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
CHANNEL = "web"
MAX_QUESTION_CHARS = 500
MAX_REASON_CHARS = 500
MAX_BODY_BYTES = 16 * 1024
BODY_TIMEOUT_SECONDS = 20         # to receive a request body once its headers are in
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
SERVER_NAME = "pz-assistant"      # instead of aiohttp's "Python/3.x aiohttp/3.x"
MAX_QUESTION_ID = 2**63 - 1

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

RUNTIME_KEY = web.AppKey("runtime", object)
WECHAT_KEY = web.AppKey("wechat", object)

BAD_REQUEST = "请求格式不正确，请刷新页面后重试。"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, dumps=_dumps)


def _dumps(obj) -> str:
    """JSON with readable Chinese; a lone surrogate (not encodable as UTF-8) falls back to \\u escapes."""
    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj, ensure_ascii=True)
    return text


async def _json_body(request: web.Request) -> dict:
    """The request's JSON object, or an _HTTPError (4xx) with a plain-language message."""
    if request.content_type != "application/json":
        raise _HTTPError(415, BAD_REQUEST)
    if request.content_length and request.content_length > MAX_BODY_BYTES:
        raise _HTTPError(413, "请求内容太长。")
    try:
        async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
            raw = await request.read()
    except TimeoutError:
        raise _HTTPError(408, "请求超时，请重试。")
    if len(raw) > MAX_BODY_BYTES:
        raise _HTTPError(413, "请求内容太长。")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: '[' * 5000 nests deeper than the parser goes
        raise _HTTPError(400, BAD_REQUEST)
    if not isinstance(data, dict):
        raise _HTTPError(400, BAD_REQUEST)
    return data


class _HTTPError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@web.middleware
async def _errors_and_headers(request: web.Request, handler):
    try:
        response = await handler(request)
    except _HTTPError as e:
        response = _error(e.status, e.message)
    except web.HTTPException as e:
        if request.path.startswith("/api/"):
            response = _error(e.status, "找不到该接口。" if e.status == 404 else "请求不被接受。")
        else:
            raise
    except Exception:
        log.exception("web: unexpected error on %s", request.path)
        if not request.path.startswith("/api/"):
            raise
        response = _error(500, "抱歉，系统暂时无法回答，请稍后再试。")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path == "/" or request.path.startswith(("/static/", "/clause/")):
        response.headers.setdefault("Content-Security-Policy", CSP)
        # revalidate (Last-Modified): an updated chat.js — e.g. one that keeps the server's session id —
        # reaches browsers at once instead of after a heuristic cache lifetime
        response.headers.setdefault("Cache-Control", "no-cache")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


async def _no_version_banner(request: web.Request, response: web.StreamResponse) -> None:
    # aiohttp only fills in "Server: Python/… aiohttp/…" when the header is not set
    response.headers["Server"] = SERVER_NAME


# The 400 that aiohttp's protocol layer sends for a malformed request never reaches the application
# (no on_response_prepare), and aiohttp has no option for its banner: replace the default it uses.
# Process-wide, and only the `Server` value of server responses (the client's User-Agent is separate).
web_response.SERVER_SOFTWARE = SERVER_NAME


# ---------------------------------------------------------------------------------------------
# Session ids issued by this server: <random>.<MAC>, so an id a client made up is never accepted.

_ID_RANDOM = 24     # characters of token_urlsafe(18)
_ID_MAC = 24        # hex characters of the MAC


def issue_session_id(runtime) -> str:
    r = secrets.token_urlsafe(18)
    return r + runtime.mac("web-session", r)[:_ID_MAC]


def issued_session_id(runtime, session_id: object) -> bool:
    if not isinstance(session_id, str) or len(session_id) != _ID_RANDOM + _ID_MAC \
            or not SESSION_ID.match(session_id):
        return False
    r, mac = session_id[:_ID_RANDOM], session_id[_ID_RANDOM:]
    return hmac.compare_digest(mac, runtime.mac("web-session", r)[:_ID_MAC])


# ---------------------------------------------------------------------------------------------
# Handlers

async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def ask(request: web.Request) -> web.Response:
    data = await _json_body(request)
    question = data.get("question")
    if not isinstance(question, str) or not question.strip():
        return _error(400, "请输入您的问题。")
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        return _error(400, f"问题太长了，请精简到{MAX_QUESTION_CHARS}字以内。")
    runtime = request.app[RUNTIME_KEY]
    session_id = data.get("session_id")
    if not issued_session_id(runtime, session_id):
        session_id = issue_session_id(runtime)      # a new conversation; the client keeps this id
    turn = await runtime.ask(CHANNEL, session_id, question)
    body = runtime.turn_payload(turn)
    body["session_id"] = session_id
    return web.json_response(body, dumps=_dumps)


async def history(request: web.Request) -> web.Response:
    """The conversation so far (the page shows it again after a reload) and the facts known."""
    data = await _json_body(request)
    runtime = request.app[RUNTIME_KEY]
    session_id = data.get("session_id")
    if not issued_session_id(runtime, session_id):
        return web.json_response({"turns": [], "facts": []})
    turns = await asyncio.to_thread(runtime.history, CHANNEL, session_id)
    facts = await asyncio.to_thread(runtime.facts, CHANNEL, session_id)
    profile = await asyncio.to_thread(runtime.profile_status, CHANNEL, session_id)
    notices = await asyncio.to_thread(runtime.take_notices, CHANNEL, session_id)
    return web.json_response({"turns": turns, "facts": facts, "profile": profile, "notices": notices}, dumps=_dumps)


PROFILE_ACTIONS = ("save", "delete", "notify_on", "notify_off")


async def profile_api(request: web.Request) -> web.Response:
    """The saved profile in the facts panel: view, save (the owner's consent), delete, notices on / off."""
    data = await _json_body(request)
    runtime = request.app[RUNTIME_KEY]
    session_id, action = data.get("session_id"), data.get("action")
    if action is not None and action not in PROFILE_ACTIONS:
        return _error(400, BAD_REQUEST)
    if not issued_session_id(runtime, session_id):
        return web.json_response({"profile": None, "facts": []})
    if action == "save" and not await asyncio.to_thread(runtime.save_profile, CHANNEL, session_id):
        return _error(400, "还没有可保存的企业信息：先在对话里告诉我企业情况，或做一次政策体检。")
    if action == "delete":
        await asyncio.to_thread(runtime.delete_profile, CHANNEL, session_id)
    elif action in ("notify_on", "notify_off"):
        await asyncio.to_thread(runtime.set_notify, CHANNEL, session_id, action == "notify_on")
    profile = await asyncio.to_thread(runtime.profile_status, CHANNEL, session_id)
    facts = await asyncio.to_thread(runtime.facts, CHANNEL, session_id)
    return web.json_response({"profile": profile, "facts": facts}, dumps=_dumps)


async def facts(request: web.Request) -> web.Response:
    """The "what I know about your enterprise" panel: view (no other field), change one fact
    (`key` + `value`), remove one (`key` + `remove: true`) or clear them all (`clear: true`)."""
    from bot.errors import InputError
    data = await _json_body(request)
    runtime = request.app[RUNTIME_KEY]
    session_id = data.get("session_id")
    if not issued_session_id(runtime, session_id):
        return web.json_response({"facts": []})
    key, value = data.get("key"), data.get("value")
    if data.get("clear") is True:
        await asyncio.to_thread(runtime.clear_facts, CHANNEL, session_id)
    elif key is not None:
        if not isinstance(key, str) or not re.fullmatch(r"[a-z_]{1,40}", key):
            return _error(400, BAD_REQUEST)
        if data.get("remove") is True:
            value = None
        elif not isinstance(value, str) or not value.strip() or len(value) > 100:
            return _error(400, "请填写新的内容（100字以内）。")
        try:
            await asyncio.to_thread(runtime.edit_fact, CHANNEL, session_id, key, value)
        except InputError as e:
            return _error(400, e.user_message)
    items = await asyncio.to_thread(runtime.facts, CHANNEL, session_id)
    return web.json_response({"facts": items}, dumps=_dumps)


async def reset(request: web.Request) -> web.Response:
    data = await _json_body(request)
    runtime = request.app[RUNTIME_KEY]
    session_id = data.get("session_id")
    if issued_session_id(runtime, session_id):
        await asyncio.to_thread(runtime.reset, CHANNEL, session_id)
    return web.json_response({"ok": True})


CLAUSE_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/static/chat.css"></head>
<body class="clause-page"><main class="clause-doc">
<p class="doc-title">{doc}</p><p class="doc-number">{number}</p>
<h1>{heading}</h1><div class="clause-body">{text}</div>
<p class="back"><a href="/">向政策助手提问</a></p>
</main></body></html>
"""


async def clause_page(request: web.Request) -> web.Response:
    """One clause by id, for links from chats that cannot show it (WeChat)."""
    clause_id = request.match_info["clause_id"]
    runtime = request.app[RUNTIME_KEY]
    c = None
    if len(clause_id) <= 120:
        c = await asyncio.to_thread(runtime.citation, clause_id)
    if c is None:
        page = CLAUSE_PAGE.format(title="找不到这条条款", doc="", number="", heading="找不到这条条款",
                                  text="可能文件已经更新。请回到对话重新提问。")
        return web.Response(text=page, content_type="text/html", status=404)
    e = lambda x: html.escape(x or "")  # noqa: E731
    page = CLAUSE_PAGE.format(title=e(f"{c.number} {c.clause}"), doc=e(f"《{c.doc.strip('《》')}》" if c.doc else ""),
                              number=e(c.number), heading=e(c.clause),
                              text="".join(f"<p>{e(p)}</p>" for p in c.text.splitlines() if p.strip()))
    return web.Response(text=page, content_type="text/html")


async def feedback(request: web.Request) -> web.Response:
    data = await _json_body(request)
    session_id, qid = data.get("session_id"), data.get("question_id")
    value, reason = data.get("value"), data.get("reason")
    if isinstance(qid, bool) or not isinstance(qid, int) or not 0 < qid <= MAX_QUESTION_ID:
        return _error(400, "缺少要评价的问题编号。")
    if isinstance(value, bool) or value not in (1, -1):
        return _error(400, "评价只能是 1（有用）或 -1（没用）。")
    if reason is not None and not isinstance(reason, str):
        return _error(400, "评价理由必须是文字。")
    if reason is not None:
        reason = reason.strip()[:MAX_REASON_CHARS] or None
    runtime = request.app[RUNTIME_KEY]
    if not issued_session_id(runtime, session_id):
        return _error(403, "只能评价本次对话中的回答。")
    stored = await asyncio.to_thread(runtime.feedback, CHANNEL, session_id, qid, value, reason)
    if stored is None:
        return _error(503, "抱歉，评价暂时无法记录，请稍后再试。")
    if not stored:
        return _error(403, "只能评价本次对话中的回答。")
    return web.json_response({"ok": True})


def create_app(runtime, config, *, wechat_client=None, wechat_passive_timeout: float = 4.0,
               public_url: str | None = None) -> web.Application:
    """The web application. /wechat is served when config.wechat_token is set; `wechat_client` is
    the customer-service API (`bot.adapters.wechat.CustomerService`), built from WECHAT_APP_ID and
    WECHAT_APP_SECRET when not given. `public_url` is where users can open the web chat (WeChat
    replies that are cut point there)."""
    app = web.Application(middlewares=[_errors_and_headers], client_max_size=MAX_BODY_BYTES * 4)
    app.on_response_prepare.append(_no_version_banner)
    app[RUNTIME_KEY] = runtime
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/ask", ask)
    app.router.add_post("/api/feedback", feedback)
    app.router.add_post("/api/history", history)
    app.router.add_post("/api/facts", facts)
    app.router.add_post("/api/reset", reset)
    app.router.add_post("/api/profile", profile_api)
    app.router.add_get("/clause/{clause_id:.+}", clause_page)
    app.router.add_static("/static/", WEB_DIR, show_index=False, follow_symlinks=False)
    if config.wechat_token:
        from bot.adapters import wechat
        endpoint = wechat.from_config(runtime, config, customer_service=wechat_client,
                                      passive_timeout=wechat_passive_timeout, web_url=public_url)
        endpoint.add_routes(app, "/wechat")
        app[WECHAT_KEY] = endpoint
    return app


# ---------------------------------------------------------------------------------------------
# Running it

def _public_url(config) -> str | None:
    # Where people reach the web chat from outside (for WeChat replies that are cut short): PZ_PUBLIC_URL.
    return getattr(config, "public_url", None) or None


class _QuietBadRequests(logging.Filter):
    """aiohttp logs every malformed request (bad request line, bad header) with a full traceback at
    ERROR: anyone could fill the log with them. One warning line without the traceback instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            reason = str(getattr(exc, "message", "") or exc).splitlines()[0][:120]
            record.msg, record.args = f"{record.getMessage()}: {exc.code} {reason}", ()
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_QUIET = _QuietBadRequests()


def make_runner(app: web.Application, config) -> web.AppRunner:
    """The runner `serve` uses. `keepalive_timeout` also bounds how long a new connection may take
    to send a complete request line and headers (aiohttp arms it when the connection opens and closes
    the connection if no request has arrived by then), so half-open and slow-header connections are
    dropped; request bodies have their own timeout (BODY_TIMEOUT_SECONDS)."""
    server_log = logging.getLogger("aiohttp.server")
    if _QUIET not in server_log.filters:
        server_log.addFilter(_QUIET)
    return web.AppRunner(app, access_log=None, keepalive_timeout=config.web_header_timeout,
                         shutdown_timeout=5)


def _shown_url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


async def serve(config, runtime, *, telegram: bool = True, stop: asyncio.Event | None = None,
                wechat_client=None, out=None, sock=None, worker: int | None = None) -> None:
    """Serve until `stop` is set (or SIGINT/SIGTERM): the web app (+ /wechat) and, when
    config.telegram_token is set and `telegram` is true, the Telegram bot in the same loop. `sock`: a
    listening socket to accept on instead of binding config's address (the workers of `serve --workers`
    share one); `worker`: this worker's number, sent back in an `X-PZ-Worker` header."""
    stop = stop or asyncio.Event()
    with stop_on_signals(stop):
        await _serve_until(stop, config, runtime, telegram, wechat_client, out or sys.stdout, sock, worker)


async def _serve_until(stop: asyncio.Event, config, runtime, telegram: bool, wechat_client, out, sock,
                       worker: int | None) -> None:
    app = create_app(runtime, config, wechat_client=wechat_client, public_url=_public_url(config))
    if worker is not None:
        async def _worker_header(request, response, number=str(worker)):
            response.headers["X-PZ-Worker"] = number
        app.on_response_prepare.append(_worker_header)
    runner = make_runner(app, config)
    await runner.setup()
    runtime.start_housekeeping()      # expired sessions are purged on a schedule
    tg, tg_app = None, None
    try:
        site = (web.SockSite(runner, sock) if sock is not None
                else web.TCPSite(runner, config.web_host, config.web_port))
        await site.start()
        port = site._server.sockets[0].getsockname()[1] if site._server and site._server.sockets \
            else config.web_port
        url = _shown_url(config.web_host, port)
        print(f"Web chat: {url}", file=out, flush=True)
        if config.wechat_token:
            print(f"WeChat endpoint: {url}wechat", file=out, flush=True)
        if telegram and config.telegram_token:
            import importlib
            tg = importlib.import_module("bot.adapters.telegram")   # the module as registered (tests swap it)
            tg_app = tg.build_application(config, runtime)
            await tg.start_application(tg_app)   # also sets the command menu and the updates fetched
            describe = getattr(tg, "describe_running", None)
            print(describe(tg_app) if describe else "Telegram bot: polling", file=out, flush=True)
        await stop.wait()
    finally:
        if tg_app is not None:
            try:
                await tg.stop_application(tg_app)
            except Exception:
                log.exception("telegram: error while stopping")
        await runner.cleanup()


def run_all(config, runtime=None, *, telegram: bool = True) -> None:
    """`python -m bot run`: load the assistant once, then serve until Ctrl-C. Problems a person can
    fix (knowledge base, configuration, the port in use) end it with a plain message."""
    from bot.errors import BotError
    if runtime is None:
        from bot.runtime import Runtime
        try:
            runtime = Runtime.start(config)
        except BotError as e:
            raise click.ClickException(f"{e.user_message} ({e})") from e
    try:
        asyncio.run(serve(config, runtime, telegram=telegram))
    except KeyboardInterrupt:
        pass
    except _invalid_token() as e:
        raise click.ClickException("Telegram refused the bot token (TELEGRAM_BOT_TOKEN): check it with "
                                   "@BotFather") from e
    except OSError as e:
        raise click.ClickException(
            f"cannot listen on {config.web_host}:{config.web_port}: {e.strerror or e} "
            "(another server running? use --port)") from e
    finally:
        runtime.close()


def _invalid_token() -> type[BaseException]:
    try:
        from telegram.error import InvalidToken
        return InvalidToken
    except ImportError:   # python-telegram-bot not installed: nothing can raise it
        return type("_NoSuchError", (Exception,), {})


def _with_address(config, host, port):
    changes = {k: v for k, v in (("web_host", host), ("web_port", port)) if v is not None}
    return config.with_(**changes) if changes else config


@click.command(name="run")
@click.option("--host", default=None, help="Address to listen on (default: web.host in config.yaml, 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(0, 65535),
              help="Port to listen on (default: web.port in config.yaml, 8080).")
@click.pass_context
def run_command(ctx, host, port):
    """Build what is missing, then start the assistant: the web chat (and Telegram when TELEGRAM_BOT_TOKEN
    is set, WeChat at /wechat when WECHAT_TOKEN is set). Prints where each one is listening."""
    from bot.cli import load
    run_all(_with_address(load(ctx), host, port))


@click.command(name="serve")
@click.option("--host", default=None, help="Address to listen on (default: web.host in config.yaml, 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(0, 65535),
              help="Port to listen on (default: web.port in config.yaml, 8080).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Processes answering on the one port, each with its own copy of the assistant. They share "
                   "state through the database: PostgreSQL (PZ_DATABASE_URL), or the SQLite files on one machine.")
@click.pass_context
def command(ctx, host, port, workers):
    """Serve the web chat, its JSON API and the WeChat endpoint (when WECHAT_TOKEN is set)."""
    from bot.cli import load
    config = _with_address(load(ctx), host, port)
    if workers > 1:
        from bot.adapters.workers import run_workers
        run_workers(config, workers)
    else:
        run_all(config, telegram=False)

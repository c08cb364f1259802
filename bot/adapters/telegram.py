"""Telegram front end: a thin python-telegram-bot (22.x) adapter over `Runtime.ask()`.

Nothing about retrieval or rules lives here. `build_application(config, runtime)` returns a PTB
`Application` with every handler registered; `python -m bot telegram` runs it (long polling, or
`--webhook URL`). Any Bot-API-compatible server works through `TELEGRAM_API_BASE_URL`.

Owners: /start (greeting + common questions), /help, /reset, /profile (what is known, what is saved with
consent: delete it, notices on/off), /checkup (the policy check-up and its interview), any text → the answer, laid out
from its parts (`bot.adapters.render.telegram_html`: status first, the direct answer and the amounts in
bold, details as a list, 依据 / 责任单位 in an expandable quote), with buttons for the answers to a
follow-up question (county, 涉农 yes/no) and for suggested next questions, "查看原文" and 👍 / 👎 (👎 asks
for an optional reason: the next text message; after a vote the two buttons become the vote cast).
Staff (`Config.staff_ids`): /reload, /stats, /inbox and /reply REF TEXT (messages owners left for a
person; staff get a notice when one lands), and sending a .txt/.docx/.pdf adds it to the knowledge base
after a confirmation.

Messages use HTML parse mode and every piece of text from the answer or the user is escaped
(`bot.adapters.text`); the only markup is the layout's own tags.

👍 / 👎 (callback data `f:<1|0>:<question id>`) count only from the user who asked that question (the
Telegram conversation the question was logged under); a vote on anyone else's question — a forged
callback, or another member of a group pressing the button — is refused. The bot token is masked in
every log line (httpx logs request URLs, which contain it, at -v).
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import math
import re
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable
from urllib.parse import urlparse

import click
from telegram import (BotCommand, ForceReply, InlineKeyboardButton, InlineKeyboardMarkup,
                      LinkPreviewOptions, Update)
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError
from telegram.ext import (AIORateLimiter, Application, BaseRateLimiter, BaseUpdateProcessor,
                          CallbackQueryHandler, CommandHandler, ContextTypes, Defaults,
                          MessageHandler, filters)

from bot.adapters.render import telegram_html
from bot.adapters.text import escape, split_message, utf16_len
from bot.config import Config
from bot.core.types import CLARIFY, Answer, Citation
from bot.errors import BotError, ConfigError, KBError

if TYPE_CHECKING:
    from bot.runtime import Runtime, Turn

log = logging.getLogger(__name__)

CHANNEL = "telegram"
BOT_DATA_KEY = "policy_bot"
CALLBACK_DATA_MAX = 64          # bytes, Telegram's limit for callback_data
TELEGRAM_LIMIT = 4096           # visible characters (UTF-16 code units) of one message
ASKS_KEPT = 10_000              # questions behind buttons whose text does not fit the callback data
UPLOAD_SUFFIXES = (".txt", ".docx", ".pdf")
UPLOAD_MAX_BYTES = 20 * 1024 * 1024   # the Bot API's getFile limit
TYPING_EVERY = 4.5              # a chat action shows for about 5 s

CHECKUP_TEXT = "政策体检"      # what /checkup asks the core (kb/nlu/lexicon/slots.yaml: checkup_exact)
COMMON_QUESTIONS = [
    "我能获得多少奖励？",
    "我们镇够不够申报专业镇？",
    "申报专业镇找哪个部门？",
    "专业镇有哪些支持政策？",
]
GREETING = (
    "您好！我是专业镇政策助手。\n"
    "我可以回答山西省专业镇支持政策的问题：企业能拿多少奖励、够不够申报、该找哪个部门。"
    "每个回答都注明依据的文件（文号）和条款。\n\n"
    "直接把问题发给我，或点下面的常见问题。"
)
HELP = (
    "怎么用：直接发文字问题，例如“晋城高平的企业营收首次过了5亿，能拿多少奖励？”。\n"
    "我需要了解企业情况（所在县市区、营收等）时会追问，您回答后我会记住。\n\n"
    "/start 开始和常见问题\n"
    "/checkup 政策体检：按企业情况列出能申请的全部奖补\n"
    "/profile 查看我记住的企业信息（保存、通知、删除）\n"
    "/reset 清除这些信息，重新开始\n"
    "/help 显示本说明\n\n"
    "回答下方：“查看原文”显示依据条款的原文；👍 / 👎 告诉我们回答好不好。\n"
    "需要工作人员解答的话，发送“留言”。"
)
STAFF_HELP = (
    "\n\n工作人员：/reload 重新加载文件和规则表；/stats 近7天统计；/inbox 待回复的留言；"
    "/reply 留言编号 回复内容（用户下次发消息时收到）；"
    "直接发送 .txt、.docx 或 .pdf 文件可添加到知识库（需确认）。"
)
APOLOGY = "抱歉，处理您的消息时出了点问题，请稍后再试。"
REFUSAL = "抱歉，这个功能只对工作人员开放。"
REASON_PROMPT = "抱歉没能帮上忙。可以用一句话告诉我哪里不对吗？（可选，发送 /skip 跳过）"
THANKS = "谢谢反馈！"
THANKS_REASON = "谢谢，您的意见已记录，我们会改进。"
NOT_YOURS = "只能评价您自己提问得到的回答。"
FEEDBACK_FAILED = "抱歉，反馈没有记录成功。"


# ---------------------------------------------------------------------- small parts

class RateLimiter:
    """At most `limit` events per key in any `period` seconds (sliding window).

    `check(key)` returns "ok" (counted), "warn" (refused; tell the user, once per period) or "drop"
    (refused silently). A limit or period of 0 disables limiting."""
    OK, WARN, DROP = "ok", "warn", "drop"

    def __init__(self, limit: int, period: float, clock: Callable[[], float] = time.monotonic):
        self.limit, self.period, self.clock = limit, period, clock
        self._hits: dict[Any, deque[float]] = {}
        self._warned: dict[Any, float] = {}
        self._checks = 0

    def check(self, key: Any) -> str:
        if self.limit <= 0 or self.period <= 0:
            return self.OK
        now = self.clock()
        self._checks += 1
        if self._checks % 1000 == 0:
            self._purge(now)
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.period:
            hits.popleft()
        if len(hits) < self.limit:
            hits.append(now)
            return self.OK
        if now - self._warned.get(key, -math.inf) >= self.period:
            self._warned[key] = now
            return self.WARN
        return self.DROP

    def retry_after(self, key: Any) -> int:
        """Whole seconds until `key` may send again."""
        hits = self._hits.get(key)
        if not hits:
            return 0
        return max(1, math.ceil(hits[0] + self.period - self.clock()))

    def _purge(self, now: float) -> None:
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= now - self.period]:
            del self._hits[key]
            self._warned.pop(key, None)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates from different chats run concurrently (a slow answer never stalls other chats);
    updates from one chat run one at a time, in the order they arrived, so a follow-up is never
    answered before the question it follows.

    The chat's turn is awaited *before* taking one of the `max_concurrent_updates` slots, so a user
    flooding the bot queues behind their own messages without holding slots other chats need."""

    def __init__(self, max_concurrent_updates: int = 128):
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await super().process_update(update, coroutine)
            return
        key = chat.id
        # no await before acquiring: tasks start in update order and asyncio.Lock is FIFO
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                await super().process_update(update, coroutine)
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key], self._locks[key]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


class MessageRateLimiter(AIORateLimiter):
    """PTB's AIORateLimiter (Telegram's 30 messages/s overall, 20/min per group, retries on 429), but
    "typing" actions and callback answers are not messages and don't spend that budget: otherwise
    every answer would cost two slots and a busy bot would stall its own replies."""
    UNLIMITED = frozenset({"sendChatAction", "answerCallbackQuery", "getMe", "setMyCommands",
                           "deleteWebhook", "setWebhook", "getFile"})

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        if endpoint in self.UNLIMITED:
            return await callback(*args, **kwargs)
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


def callback_fits(data: str) -> bool:
    return 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_MAX


def text_button(label: str, text: str, token_for: Callable[[str], str] | None = None) -> InlineKeyboardButton | None:
    """A button that asks `text` as if the user had typed it: `q:<text>` when it fits Telegram's 64 bytes,
    else `k:<token>` (the text kept by the bot under a short token), else none."""
    if callback_fits(f"q:{text}"):
        return InlineKeyboardButton(label, callback_data=f"q:{text}")
    if token_for is not None:
        return InlineKeyboardButton(label, callback_data=f"k:{token_for(text)}")
    return None


def answer_keyboard(answer: Answer, question_id: int | None,
                    token_for: Callable[[str], str] | None = None) -> InlineKeyboardMarkup | None:
    """Under an answer: the answers to its follow-up question (choices), suggested next questions,
    查看原文 (one button per cited clause, at most 3) and 👍 / 👎."""
    rows: list[list[InlineKeyboardButton]] = []
    parts = answer.parts
    if parts is not None and parts.choices:
        buttons = [b for b in (text_button(c, c, token_for) for c in parts.choices[:8]) if b]
        short = all(len(c) <= 6 for c in parts.choices[:8])
        width = 3 if short else 1
        rows += [buttons[i:i + width] for i in range(0, len(buttons), width)]
    if parts is not None and parts.suggestions:
        chosen = set(parts.choices)
        for sug in [x for x in parts.suggestions if x not in chosen][:3]:
            b = text_button("💬 " + sug, sug, token_for)
            if b:
                rows.append([b])
    seen: list[str] = []
    for c in answer.citations:
        if c.clause_id and c.clause_id not in seen and callback_fits(f"c:{c.clause_id}"):
            seen.append(c.clause_id)
        elif c.clause_id and not callback_fits(f"c:{c.clause_id}"):
            log.warning("clause id too long for a button: %r", c.clause_id)
    seen = seen[:3]
    if seen:
        labels = ["📄 查看原文"] if len(seen) == 1 else [f"📄 原文{i}" for i in range(1, len(seen) + 1)]
        rows.append([InlineKeyboardButton(lbl, callback_data=f"c:{cid}") for lbl, cid in zip(labels, seen)])
    if question_id is not None and answer.status != CLARIFY:
        rows.append([InlineKeyboardButton("👍", callback_data=f"f:1:{question_id}"),
                     InlineKeyboardButton("👎", callback_data=f"f:0:{question_id}")])
    return InlineKeyboardMarkup(rows) if rows else None


def _is_vote(b: InlineKeyboardButton) -> bool:
    return (b.callback_data or "").startswith(("f:", "v:"))


def without_feedback(markup: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    """The same keyboard with the 👍 / 👎 row removed."""
    if markup is None:
        return None
    rows = [row for row in markup.inline_keyboard if not any(_is_vote(b) for b in row)]
    return InlineKeyboardMarkup(rows) if rows else None


def voted(markup: InlineKeyboardMarkup | None, up: bool) -> InlineKeyboardMarkup:
    """The keyboard after a vote: the 👍 / 👎 row becomes the vote cast (a button that does nothing)."""
    rows = list(without_feedback(markup).inline_keyboard) if without_feedback(markup) else []
    rows.append([InlineKeyboardButton("✅ 您的评价：👍 有用" if up else "✅ 您的评价：👎 没用", callback_data="v:done")])
    return InlineKeyboardMarkup(rows)


def without_asks(markup: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    """The keyboard without the choice / suggestion buttons (after one was pressed)."""
    if markup is None:
        return None
    rows = [row for row in markup.inline_keyboard
            if not any((b.callback_data or "").startswith(("q:", "k:")) for b in row)]
    return InlineKeyboardMarkup(rows) if rows else None


def format_citation(c: Citation | None) -> str:
    if c is None:
        return "找不到这条原文，可能文件已更新。请重新提问。"
    head = f"《{c.doc}》" if c.doc else ""
    where = " ".join(x for x in (c.number, c.clause) if x)
    return "\n".join(x for x in (head, where, "", c.text.strip()) if x is not None).strip()


def format_stats(s: dict) -> str:
    by = s.get("by_status", {})
    lines = [f"近 {s.get('days', 7):g} 天共 {s.get('total', 0)} 个问题："
             f"已回答 {by.get('answered', 0)}，追问 {by.get('clarify', 0)}，"
             f"未找到 {by.get('not_found', 0)}，出错 {by.get('error', 0)}。",
             f"👍 {s.get('up', 0)}　👎 {s.get('down', 0)}"]
    for title, rows in (("最常问的问题：", s.get("frequent") or []), ("没能回答的问题：", s.get("unanswered") or [])):
        lines.append("")
        lines.append(title if rows else title + "无")
        lines += [f"{i}. {q}（{n} 次）" for i, (q, n) in enumerate(rows, 1)]
    return "\n".join(lines)


def format_inbox(m) -> str:
    """One inbox message for staff (bot.inbox.Message)."""
    where = "，".join(x for x in (m.channel, m.region, f"转{m.office}" if m.office else "") if x)
    lines = [f"【{m.ref}】{where}", m.message]
    if m.context:
        lines.append("此前问过：" + "；".join(m.context[-3:]))
    lines.append(f"联系方式：{m.contact}" if m.contact else "未留联系方式（答复会在对话中给用户）")
    return "\n".join(lines)


def visible_text(html_text: str) -> str:
    import html as _html
    return _html.unescape(re.sub(r"<[^>]+>", "", html_text))


def format_report(report: dict | None) -> str:
    if not report:
        return ""
    return "\n".join(f"{k}：{v}" for k, v in report.items() if isinstance(v, (str, int, float, bool)))


def file_url_for(base_url: str) -> str:
    """The file-download URL that goes with a Bot API base URL (…/bot → …/file/bot)."""
    if base_url.endswith("/bot"):
        return base_url[: -len("bot")] + "file/bot"
    u = urlparse(base_url)
    return f"{u.scheme}://{u.netloc}/file/bot"


@dataclass
class PendingUpload:
    path: Path
    name: str
    user_id: int
    chat_id: int
    overrides: dict[str, str] | None = None


# Staff can correct what detection gets wrong in the file's caption, one "字段：值" per line.
CAPTION_FIELDS = {"标题": "title", "文号": "number", "发文机关": "issuer", "地区": "region", "适用地区": "region",
                  "成文日期": "date", "生效日期": "valid_from", "有效期至": "valid_until", "类别": "kind"}
FIELD_LABELS = {v: k for k, v in reversed(list(CAPTION_FIELDS.items()))}    # number → 文号
CAPTION_FIELDS.update({v: v for v in CAPTION_FIELDS.values()})


def parse_overrides(caption: str | None) -> dict[str, str]:
    """`文号：晋市政办〔2023〕39号` / `valid_until=2025-12-31` lines of a caption → add_document overrides."""
    out: dict[str, str] = {}
    for line in (caption or "").splitlines():
        m = re.match(r"\s*([^:：=]+?)\s*[:：=]\s*(.+?)\s*$", line)
        if m and m.group(1).lower() in CAPTION_FIELDS:
            out[CAPTION_FIELDS[m.group(1).lower()]] = m.group(2)
    return out


# ---------------------------------------------------------------------- the bot

class PolicyBot:
    """The handlers. One instance per Application, kept in `application.bot_data[BOT_DATA_KEY]`."""

    def __init__(self, config: Config, runtime: "Runtime", kb_admin: Any = None,
                 clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.runtime = runtime
        self.limiter = RateLimiter(config.rate_limit_messages, config.rate_limit_seconds, clock)
        self.reason_wanted: dict[int, int] = {}         # user id → question id awaiting a 👎 reason
        self.uploads: dict[str, PendingUpload] = {}     # token → staged upload awaiting confirmation
        self.asks: OrderedDict[str, str] = OrderedDict()   # token → a button's question too long for its data
        self.loop: asyncio.AbstractEventLoop | None = None  # set when the application starts
        self._kb_admin = kb_admin
        self.upload_dir = config.data_dir / "uploads"

    # -- registration
    def register(self, app: Application) -> None:
        msg = filters.UpdateType.MESSAGE
        app.add_handler(CommandHandler("start", self.on_start, filters=msg))
        app.add_handler(CommandHandler("help", self.on_help, filters=msg))
        app.add_handler(CommandHandler("reset", self.on_reset, filters=msg))
        app.add_handler(CommandHandler("profile", self.on_profile, filters=msg))
        app.add_handler(CommandHandler("checkup", self.on_checkup, filters=msg))
        app.add_handler(CommandHandler("skip", self.on_skip, filters=msg))
        app.add_handler(CommandHandler("reload", self.on_reload, filters=msg))
        app.add_handler(CommandHandler("stats", self.on_stats, filters=msg))
        app.add_handler(CommandHandler("inbox", self.on_inbox, filters=msg))
        app.add_handler(CommandHandler("reply", self.on_reply, filters=msg))
        app.add_handler(MessageHandler(msg & filters.COMMAND, self.on_unknown_command))
        app.add_handler(MessageHandler(msg & filters.Document.ALL, self.on_document))
        app.add_handler(MessageHandler(msg & filters.TEXT, self.on_text))
        app.add_handler(CallbackQueryHandler(self.on_callback))
        app.add_handler(MessageHandler(msg & ~filters.TEXT, self.on_other))
        app.add_error_handler(self.on_error)

    def is_staff(self, user) -> bool:
        return user is not None and user.id in self.config.staff_ids

    # -- sending
    async def send_text(self, bot, chat_id: int, text: str, reply_markup=None) -> None:
        """Plain text → escaped HTML pieces within Telegram's limit; the keyboard goes under the last."""
        pieces = split_message(text) or ["…"]
        for i, piece in enumerate(pieces):
            await bot.send_message(chat_id, escape(piece),
                                   reply_markup=reply_markup if i == len(pieces) - 1 else None)

    async def _typing(self, bot, chat_id: int) -> None:
        try:
            await bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramError as e:
            log.debug("chat action failed: %s", e)

    async def _keep_typing(self, bot, chat_id: int) -> None:
        while True:
            await asyncio.sleep(TYPING_EVERY)
            await self._typing(bot, chat_id)

    async def refuse(self, update: Update, what: str) -> None:
        user = update.effective_user
        log.warning("staff-only %s refused for non-staff Telegram user %s", what, user.id if user else "?")
        if update.callback_query:
            await update.callback_query.answer(REFUSAL, show_alert=True)
        elif update.effective_chat:
            await self.send_text(update.get_bot(), update.effective_chat.id, REFUSAL)

    # -- owners
    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        self.reason_wanted.pop(update.effective_user.id, None)
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(q, callback_data=f"a:{i}")]
                                         for i, q in enumerate(COMMON_QUESTIONS)])
        await self.send_text(context.bot, update.effective_chat.id, GREETING, keyboard)

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text = HELP + (STAFF_HELP if self.is_staff(update.effective_user) else "")
        await self.send_text(context.bot, update.effective_chat.id, text)

    async def on_reset(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        self.reason_wanted.pop(user.id, None)
        await asyncio.to_thread(self.runtime.reset, CHANNEL, user.id)
        saved = await asyncio.to_thread(self.runtime.profile_status, CHANNEL, user.id)
        await self.send_text(context.bot, update.effective_chat.id,
                             "好的，我已忘记之前了解的企业信息。请重新提问。" +
                             ("\n（您同意保存的企业信息仍然保留；要删除请发送“删除我的信息”或在 /profile 里删除。）"
                              if saved else ""))

    async def on_profile(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text, markup = await self._profile_view(update.effective_user.id)
        await self.send_text(context.bot, update.effective_chat.id, text, markup)

    async def _profile_view(self, user_id: int) -> tuple[str, InlineKeyboardMarkup | None]:
        """What is known about the enterprise and whether it is saved (with the owner's consent), with
        buttons to delete it or turn new-policy notices off and on."""
        lines = await asyncio.to_thread(self.runtime.profile, CHANNEL, user_id)
        saved = await asyncio.to_thread(self.runtime.profile_status, CHANNEL, user_id)
        text = ("我目前了解的企业信息：\n" + "\n".join(f"• {x}" for x in lines)
                if lines else "我还没有记录任何企业信息。提问时告诉我所在县市区、营收等情况即可。")
        rows = []
        if saved:
            text += ("\n\n这些信息已按您的同意保存，" + ("有新政策时会通知您。" if saved["notify"] else "新政策通知已关闭。")
                     + f"超过{self.config.profile_retention_days}天不更新会自动删除。")
            rows.append([InlineKeyboardButton("🗑 删除我的信息", callback_data="p:del")])
            rows.append([InlineKeyboardButton("🔕 关闭新政策通知", callback_data="p:off") if saved["notify"] else
                         InlineKeyboardButton("🔔 开启新政策通知", callback_data="p:on")])
        else:
            text += "\n\n这些信息只在本次对话中使用，没有保存。做一次 /checkup 政策体检后可以选择保存，有新政策时通知您。"
            if lines:
                text += "\n发送 /reset 可清除。"
        return text, InlineKeyboardMarkup(rows) if rows else None

    async def on_checkup(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.answer_question(context.bot, update.effective_chat.id, update.effective_user.id, CHECKUP_TEXT)

    async def _cb_profile(self, update: Update, context, rest: str) -> None:
        """/profile's buttons: delete the saved profile, notices off / on (only the owner's own)."""
        query, user = update.callback_query, update.effective_user
        if rest == "del":
            await asyncio.to_thread(self.runtime.delete_profile, CHANNEL, user.id)
            note = "已删除您的企业信息，之后不会再收到新政策通知。"
        elif rest in ("off", "on"):
            done = await asyncio.to_thread(self.runtime.set_notify, CHANNEL, user.id, rest == "on")
            note = ("已开启新政策通知。" if rest == "on" else "已关闭新政策通知。") if done else "您还没有保存企业信息。"
        else:
            await query.answer()
            return
        await query.answer(note)
        text, markup = await self._profile_view(user.id)
        try:
            await query.edit_message_text(escape(text), reply_markup=markup)
        except TelegramError as e:
            log.info("could not update the profile message: %s", e)
            await self.send_text(context.bot, update.effective_chat.id, note)

    async def on_skip(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if self.reason_wanted.pop(update.effective_user.id, None) is not None:
            await self.send_text(context.bot, update.effective_chat.id, THANKS)
        else:
            await self.send_text(context.bot, update.effective_chat.id, "好的。有问题随时问我。")

    async def on_unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.send_text(context.bot, update.effective_chat.id, "没有这个命令。发送 /help 查看用法。")

    async def on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.send_text(context.bot, update.effective_chat.id, "我只能看懂文字问题，请用文字提问。")

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user, chat, text = update.effective_user, update.effective_chat, update.message.text or ""
        qid = self.reason_wanted.pop(user.id, None)
        if qid is not None:
            stored = await asyncio.to_thread(self.runtime.feedback, CHANNEL, user.id, qid, -1, text.strip()[:1000])
            await self.send_text(context.bot, chat.id, THANKS_REASON if stored else FEEDBACK_FAILED)
            return
        await self.answer_question(context.bot, chat.id, user.id, text)

    async def answer_question(self, bot, chat_id: int, user_id: int, text: str) -> None:
        text = text.strip()
        if not text:
            return
        verdict = self.limiter.check(user_id)
        if verdict != RateLimiter.OK:
            log.info("rate limit: dropped a message from a Telegram user (%s)", verdict)
            if verdict == RateLimiter.WARN:
                await self.send_text(bot, chat_id, f"您发得有点快，请 {self.limiter.retry_after(user_id)} 秒后再问。"
                                                   "刚才这几条消息我先不回答了，抱歉！")
            return
        await self._typing(bot, chat_id)
        typing = asyncio.create_task(self._keep_typing(bot, chat_id))
        try:
            turn = await self.runtime.ask(CHANNEL, user_id, text)
        finally:
            typing.cancel()
        await self.send_answer(bot, chat_id, turn)

    def token_for(self, text: str) -> str:
        """A short token for a button whose question does not fit its 64-byte data (kept in memory; a
        button pressed after a restart asks the user to type the question)."""
        token = secrets.token_urlsafe(9)
        self.asks[token] = text
        while len(self.asks) > ASKS_KEPT:
            self.asks.popitem(last=False)
        return token

    async def send_answer(self, bot, chat_id: int, turn: "Turn") -> None:
        for m in turn.staff_replies:
            await self.send_text(bot, chat_id, f"📨 工作人员回复（留言编号 {m.ref}）：\n{m.reply}")
        answer = turn.answer
        markup = answer_keyboard(answer, turn.question_id, self.token_for)
        if answer.parts is not None:
            body = telegram_html(answer)
            if utf16_len(visible_text(body)) <= TELEGRAM_LIMIT:
                await bot.send_message(chat_id, body, reply_markup=markup)
                return
        await self.send_text(bot, chat_id, answer.answer, markup)   # too long for one message: plain pieces

    # -- buttons
    async def on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        kind, _, rest = (query.data or "").partition(":")
        handler = {"a": self._cb_ask, "c": self._cb_citation, "f": self._cb_feedback,
                   "u": self._cb_upload, "q": self._cb_text, "k": self._cb_text, "v": self._cb_noop,
                   "p": self._cb_profile}.get(kind)
        if handler is None:
            await query.answer()
            return
        await handler(update, context, rest)

    async def _cb_ask(self, update: Update, context, rest: str) -> None:
        await update.callback_query.answer()
        try:
            question = COMMON_QUESTIONS[int(rest)]
        except (ValueError, IndexError):
            return
        await self.answer_question(context.bot, update.effective_chat.id, update.effective_user.id, question)

    async def _cb_text(self, update: Update, context, rest: str) -> None:
        """A clarify choice or a suggested question: asked as if the user had typed it."""
        query = update.callback_query
        kind = (query.data or "")[:1]
        text = rest if kind == "q" else self.asks.get(rest)
        if not text:
            await query.answer("这个按钮已失效，请直接输入您的问题。", show_alert=True)
            return
        await query.answer()
        message = query.message
        if message is not None and getattr(message, "reply_markup", None) is not None:
            try:    # a choice is made once: the choice and suggestion buttons go
                await query.edit_message_reply_markup(without_asks(message.reply_markup))
            except TelegramError as e:
                log.info("could not remove the choice buttons: %s", e)
        await self.answer_question(context.bot, update.effective_chat.id, update.effective_user.id, text)

    async def _cb_noop(self, update: Update, context, rest: str) -> None:
        await update.callback_query.answer("已收到您的评价，谢谢！")

    async def _cb_citation(self, update: Update, context, clause_id: str) -> None:
        await update.callback_query.answer()
        citation = await asyncio.to_thread(self.runtime.citation, clause_id)
        await self.send_text(context.bot, update.effective_chat.id, format_citation(citation))

    async def _cb_feedback(self, update: Update, context, rest: str) -> None:
        query, user = update.callback_query, update.effective_user
        value, _, qid_text = rest.partition(":")
        try:
            qid = int(qid_text)
        except ValueError:
            await query.answer()
            return
        up = value == "1"
        stored = await asyncio.to_thread(self.runtime.feedback, CHANNEL, user.id, qid, 1 if up else -1)
        if stored is False:
            log.warning("telegram: refused a vote on question %s from a user who did not ask it (%s)",
                        qid, user.id)
            await query.answer(NOT_YOURS, show_alert=True)
            return
        await query.answer(THANKS if stored else FEEDBACK_FAILED)
        message = query.message
        if stored and message is not None and getattr(message, "reply_markup", None) is not None:
            try:       # the 👍 / 👎 buttons become the vote cast
                await query.edit_message_reply_markup(voted(message.reply_markup, up))
            except TelegramError as e:   # e.g. the message is too old to edit: not worth an apology
                log.info("could not replace the feedback buttons: %s", e)
        if not up and stored:
            self.reason_wanted[user.id] = qid
            await context.bot.send_message(update.effective_chat.id, escape(REASON_PROMPT),
                                           reply_markup=ForceReply(input_field_placeholder="哪里不对？"))

    # -- staff
    async def on_reload(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not self.is_staff(update.effective_user):
            await self.refuse(update, "/reload")
            return
        chat_id = update.effective_chat.id
        await self.send_text(context.bot, chat_id, "正在重新加载文件和规则表，期间照常回答问题……")
        try:
            report = await self.runtime.reload()
        except BotError as e:
            log.exception("reload failed")
            await self.send_text(context.bot, chat_id, f"❌ 重新加载失败，仍在使用原来的版本：{str(e) or e.user_message}")
            return
        await self.send_text(context.bot, chat_id, ("✅ 已重新加载。\n" + format_report(report)).strip())

    async def on_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not self.is_staff(update.effective_user):
            await self.refuse(update, "/stats")
            return
        stats = await asyncio.to_thread(self.runtime.qlog.stats, 7)
        await self.send_text(context.bot, update.effective_chat.id, format_stats(stats))

    async def on_inbox(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not self.is_staff(update.effective_user):
            await self.refuse(update, "/inbox")
            return
        messages = await asyncio.to_thread(self.runtime.inbox.list, "open", 20)
        if not messages:
            await self.send_text(context.bot, update.effective_chat.id, "没有待回复的留言。")
            return
        text = f"待回复的留言 {len(messages)} 条（最新在前）：\n\n" + "\n\n".join(format_inbox(m) for m in messages)
        await self.send_text(context.bot, update.effective_chat.id,
                             text + "\n\n回复：/reply 留言编号 回复内容")

    async def on_reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/reply 000042 回复内容: the owner gets it the next time they write."""
        from bot.inbox import parse_reference
        user = update.effective_user
        if not self.is_staff(user):
            await self.refuse(update, "/reply")
            return
        chat_id = update.effective_chat.id
        parts = (update.message.text or "").split(maxsplit=2)
        ref = parse_reference(parts[1]) if len(parts) > 1 else None
        if ref is None or len(parts) < 3 or not parts[2].strip():
            await self.send_text(context.bot, chat_id, "用法：/reply 留言编号 回复内容，例如 /reply 000042 请带营收证明到市工信局办理。")
            return
        stored = await asyncio.to_thread(self.runtime.inbox.answer, ref, parts[2].strip(), f"telegram:{user.id}")
        if not stored:
            await self.send_text(context.bot, chat_id, f"没有编号为 {parts[1]} 的留言。")
            return
        await self.send_text(context.bot, chat_id, f"✅ 已回复留言 {ref:06d}：用户下次发消息时会收到。")

    async def notify_staff(self, bot, message) -> None:
        """Tell every staff member that a message for a person has landed."""
        text = "📨 新留言\n" + format_inbox(message) + f"\n\n回复：/reply {message.ref} 回复内容"
        for staff_id in sorted(self.config.staff_ids):
            try:
                await self.send_text(bot, staff_id, text)
            except TelegramError as e:
                log.warning("could not notify staff member %s of message %s: %s", staff_id, message.ref, e)

    def kb_admin(self):
        """The knowledge-base admin API (kb/admin.py), loaded when first needed."""
        return self._kb_admin or importlib.import_module("kb.admin")

    async def on_document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user, chat, doc = update.effective_user, update.effective_chat, update.message.document
        if not self.is_staff(user):
            await self.refuse(update, "document upload")
            return
        name = doc.file_name or "document"
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            await self.send_text(context.bot, chat.id, f"只能添加 .txt、.docx 或 .pdf 文件，《{name}》不是。")
            return
        if doc.file_size and doc.file_size > UPLOAD_MAX_BYTES:
            await self.send_text(context.bot, chat.id, f"《{name}》超过 20 MB，Telegram 不允许机器人下载，请压缩或拆分后再发。")
            return
        token = secrets.token_hex(6)
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        path = self.upload_dir / f"{token}{suffix}"
        tg_file = await doc.get_file()
        await tg_file.download_to_drive(path)
        try:
            draft = await asyncio.to_thread(self.kb_admin().inspect_file, path, name)
        except KBError as e:
            path.unlink(missing_ok=True)
            await self.send_text(context.bot, chat.id,
                                 f"❌ 无法添加《{name}》：{str(e) or e.user_message}\n知识库没有任何改动。")
            return
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        overrides = parse_overrides(update.message.caption)
        self.uploads[token] = PendingUpload(path, name, user.id, chat.id, overrides or None)
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("✅ 确认添加", callback_data=f"u:y:{token}"),
                                          InlineKeyboardButton("✖ 取消", callback_data=f"u:n:{token}")]])
        given = "".join(f"\n{FIELD_LABELS[k]}：{v}" for k, v in overrides.items())
        text = (f"收到《{name}》，识别结果：\n" + "\n".join(draft.describe())
                + (f"\n\n按文件说明改为：{given}" if given else "")
                + "\n\n确认添加到知识库吗？添加后会重建索引。"
                + ("" if given else "\n识别有误时，可重新发送文件并在说明里写明，例如“文号：晋市政办〔2023〕39号”。"))
        await self.send_text(context.bot, chat.id, text, keyboard)

    async def _cb_upload(self, update: Update, context, rest: str) -> None:
        query, chat_id = update.callback_query, update.effective_chat.id
        if not self.is_staff(update.effective_user):
            await self.refuse(update, "upload confirmation")
            return
        choice, _, token = rest.partition(":")
        pending = self.uploads.pop(token, None)
        if pending is None:
            await query.answer("这次上传已失效（可能已处理或机器人重启过），请重新发送文件。", show_alert=True)
            return
        await query.answer()
        try:
            await query.edit_message_reply_markup(None)   # no second click on the same upload
        except TelegramError as e:
            log.info("could not remove the upload buttons: %s", e)
        if choice != "y":
            pending.path.unlink(missing_ok=True)
            await self.send_text(context.bot, chat_id, f"已取消，《{pending.name}》没有添加，知识库没有任何改动。")
            return
        await self.send_text(context.bot, chat_id, f"正在添加《{pending.name}》并重建索引，请稍候……")
        await self._typing(context.bot, chat_id)
        try:
            report = await asyncio.to_thread(self.kb_admin().add_document, self.config, pending.path, pending.name,
                                             pending.overrides)
        except KBError as e:
            log.warning("upload of %r failed: %s", pending.name, e)
            pending.path.unlink(missing_ok=True)
            await self.send_text(context.bot, chat_id,
                                 f"❌ 没有添加《{pending.name}》：{str(e) or e.user_message}\n知识库没有任何改动。")
            return
        finally:
            pending.path.unlink(missing_ok=True)
        if report.unchanged:
            await self.send_text(context.bot, chat_id, f"《{pending.name}》已在知识库中（{report.doc_id}），内容没有变化。")
            return
        try:
            await self.runtime.reload()
        except BotError as e:
            log.exception("reload after an upload failed")
            await self.send_text(context.bot, chat_id, f"文件已添加（{report.doc_id}），但重新加载失败："
                                 f"{str(e) or e.user_message}\n请稍后发送 /reload。")
            return
        clauses = f"共 {report.clauses} 条条款，" if report.clauses is not None else ""
        await self.send_text(context.bot, chat_id, f"✅ 已添加《{pending.name}》（{report.doc_id}），"
                                                   f"{clauses}索引已更新，现在就可以提问了。")

    # -- errors
    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("error while handling a Telegram update", exc_info=context.error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        text = context.error.user_message if isinstance(context.error, BotError) else APOLOGY
        try:
            await context.bot.send_message(update.effective_chat.id, escape(text))
        except TelegramError as e:
            log.warning("could not send the apology: %s", e)


# ---------------------------------------------------------------------- the token stays out of logs

class RedactTokens(logging.Filter):
    """Masks bot tokens in log records: httpx logs every request URL (…/bot<token>/getUpdates) at
    INFO, and an exception's text may carry one too. Installed on the `httpx` and `telegram` loggers
    and on the root logger's handlers, so records from any library are covered once they reach them."""
    PATTERN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")     # the shape of every Bot API token

    def __init__(self):
        super().__init__("redact-bot-tokens")
        self.tokens: set[str] = set()

    def redact(self, text: str) -> str:
        for token in self.tokens:
            text = text.replace(token, "<bot-token>")
        return self.PATTERN.sub("<bot-token>", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:       # a malformed record is not ours to fix
            return True
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


TOKEN_FILTER = RedactTokens()


def redact_token_in_logs(token: str) -> None:
    """Mask `token` (and anything shaped like a bot token) wherever this process logs."""
    TOKEN_FILTER.tokens.add(token)
    targets = [logging.getLogger(name) for name in ("httpx", "httpcore", "telegram", "telegram.ext")]
    targets += logging.getLogger().handlers
    for target in targets:
        if TOKEN_FILTER not in target.filters:
            target.addFilter(TOKEN_FILTER)


# ---------------------------------------------------------------------- assembly

BOT_COMMANDS = [BotCommand("start", "开始，常见问题"), BotCommand("checkup", "政策体检：能申请哪些"),
                BotCommand("help", "怎么用"), BotCommand("profile", "我的企业信息（保存、通知、删除）"),
                BotCommand("reset", "清除企业信息，重新开始")]


@contextlib.asynccontextmanager
async def notice_sender(config: Config):
    """A sender for new-policy notices (bot/notify.py): `await send(chat_id, text)` posts the text to the
    chat through the Bot API (TELEGRAM_API_BASE_URL when set), in pieces within Telegram's limit."""
    from telegram import Bot
    if not config.telegram_token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
    redact_token_in_logs(config.telegram_token)
    bot = Bot(config.telegram_token, base_url=config.telegram_base_url or "https://api.telegram.org/bot")
    async with bot:
        async def send(address: str, text: str) -> None:
            for piece in split_message(text) or ["…"]:
                await bot.send_message(int(address), escape(piece), parse_mode=ParseMode.HTML)
        yield send


async def _post_init(app: Application) -> None:
    try:
        await app.bot.set_my_commands(BOT_COMMANDS)
    except TelegramError as e:
        log.warning("could not set the command menu: %s", e)
    policy_bot: PolicyBot = app.bot_data[BOT_DATA_KEY]
    policy_bot.loop = asyncio.get_running_loop()
    if policy_bot.config.staff_ids and app.bot_data.get(LISTENER_KEY) is None:
        def on_message(message) -> None:
            """Called from the thread answering the question: hand the notice to the bot's loop."""
            loop = policy_bot.loop
            if loop is not None and not loop.is_closed():
                asyncio.run_coroutine_threadsafe(policy_bot.notify_staff(app.bot, message), loop)
        policy_bot.runtime.inbox_listeners.append(on_message)
        app.bot_data[LISTENER_KEY] = on_message


LISTENER_KEY = "inbox_listener"
API_BASE_KEY = "api_base_url"


def build_application(config: Config, runtime: "Runtime", *, base_url: str | None = None,
                      base_file_url: str | None = None, token: str | None = None,
                      rate_limiter: bool | BaseRateLimiter = True, kb_admin: Any = None,
                      max_concurrent_updates: int = 128) -> Application:
    """A PTB Application with every handler registered, not yet started.

    `base_url` (default: config.telegram_base_url, else Telegram's) is PTB's form, e.g.
    `http://127.0.0.1:8081/bot`; `base_file_url` defaults to the matching `/file/bot` URL.
    `rate_limiter`: True → `MessageRateLimiter` (PTB's AIORateLimiter with Telegram's limits),
    False → none (tests, benchmarks), or any BaseRateLimiter instance.
    `kb_admin`: the object with `inspect_file` / `add_document` (default: the module kb.admin)."""
    token = token or config.telegram_token
    if not token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
    redact_token_in_logs(token)
    base_url = base_url or config.telegram_base_url or "https://api.telegram.org/bot"
    base_file_url = base_file_url or file_url_for(base_url)
    builder = (Application.builder().token(token).base_url(base_url).base_file_url(base_file_url)
               .defaults(Defaults(parse_mode=ParseMode.HTML,
                                  link_preview_options=LinkPreviewOptions(is_disabled=True)))
               .concurrent_updates(PerChatUpdateProcessor(max_concurrent_updates))
               .post_init(_post_init))
    if rate_limiter is True:
        builder = builder.rate_limiter(MessageRateLimiter(max_retries=2))
    elif rate_limiter:
        builder = builder.rate_limiter(rate_limiter)
    app = builder.build()
    policy_bot = PolicyBot(config, runtime, kb_admin=kb_admin)
    app.bot_data[BOT_DATA_KEY] = policy_bot
    app.bot_data[API_BASE_KEY] = base_url
    policy_bot.register(app)
    return app


ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


async def start_application(app: Application, *, webhook_url: str | None = None, secret_token: str | None = None,
                            listen: str = "127.0.0.1", port: int = 8443, poll_timeout: float = 10) -> None:
    """Start `app` inside an event loop someone else runs (what `run_polling` / `run_webhook` do,
    without owning the loop): initialize, the command menu, long polling or the webhook server, start."""
    await app.initialize()
    if app.post_init:
        await app.post_init(app)
    if webhook_url:
        await app.updater.start_webhook(listen=listen, port=port, url_path=urlparse(webhook_url).path.lstrip("/"),
                                        webhook_url=webhook_url, secret_token=secret_token,
                                        allowed_updates=ALLOWED_UPDATES)
    else:
        await app.updater.start_polling(timeout=poll_timeout, allowed_updates=ALLOWED_UPDATES)
    await app.start()


async def stop_application(app: Application) -> None:
    """Undo `start_application`: stop fetching updates, finish the handlers running, close the bot."""
    listener = app.bot_data.pop(LISTENER_KEY, None)
    if listener is not None:
        try:
            app.bot_data[BOT_DATA_KEY].runtime.inbox_listeners.remove(listener)
        except ValueError:
            pass
    if app.updater and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    await app.shutdown()


def describe_running(app, webhook_url: str | None = None, listen: str | None = None, port: int | None = None) -> str:
    """Where the bot is: "Telegram bot @name: polling api.telegram.org" or the webhook and local address.
    Never the token."""
    bot = getattr(app, "bot", None)
    name = getattr(bot, "username", None) if bot is not None else None
    who = f"Telegram bot @{name}" if name else "Telegram bot"
    data = getattr(app, "bot_data", None) or {}
    api = urlparse(data.get(API_BASE_KEY) or "https://api.telegram.org/bot")
    if webhook_url:
        path = urlparse(webhook_url).path or "/"
        return f"{who}: webhook {webhook_url} (listening on http://{listen}:{port}{path}, Bot API {api.netloc})"
    return f"{who}: polling {api.scheme}://{api.netloc}"


async def run_bot(config: Config, runtime: "Runtime", *, webhook_url: str | None = None,
                  secret_token: str | None = None, listen: str = "127.0.0.1", port: int = 8443,
                  stop: asyncio.Event | None = None, out=None, **build_kw) -> None:
    """`python -m bot telegram`: start the bot, print where it is (stdout), run until `stop` is set or
    SIGINT/SIGTERM, then stop cleanly."""
    import sys

    from bot.adapters.signals import stop_on_signals
    out = out or sys.stdout
    stop = stop or asyncio.Event()
    with stop_on_signals(stop):
        app = build_application(config, runtime, **build_kw)
        await start_application(app, webhook_url=webhook_url, secret_token=secret_token, listen=listen, port=port)
        try:
            print(describe_running(app, webhook_url, listen, port), file=out, flush=True)
            await stop.wait()
        finally:
            await stop_application(app)


@click.command(help="Run the Telegram bot (long polling, or --webhook URL). Prints where it is when up.")
@click.option("--webhook", "webhook_url", metavar="URL",
              help="Receive updates by webhook at this public HTTPS URL instead of long polling.")
@click.option("--webhook-secret", envvar="TELEGRAM_WEBHOOK_SECRET", metavar="TOKEN",
              help="Secret Telegram sends with every webhook call (A-Z a-z 0-9 _ -); "
                   "default: $TELEGRAM_WEBHOOK_SECRET, else a random one per start.")
@click.option("--listen", default="127.0.0.1", show_default=True, help="Webhook server address.")
@click.option("--port", default=8443, show_default=True, type=int, help="Webhook server port.")
@click.pass_context
def command(ctx, webhook_url, webhook_secret, listen, port):
    from bot.cli import load
    config = load(ctx)
    if not config.telegram_token:
        raise click.ClickException("set TELEGRAM_BOT_TOKEN (and TELEGRAM_API_BASE_URL for a self-hosted Bot API server)")
    if webhook_secret and not _SECRET_RE.fullmatch(webhook_secret):
        raise click.BadParameter("only A-Z, a-z, 0-9, _ and -, at most 256 characters", param_hint="--webhook-secret")
    if webhook_url and not urlparse(webhook_url).scheme.startswith("http"):
        raise click.BadParameter("must be an http(s) URL", param_hint="--webhook")
    from telegram.error import InvalidToken

    from bot.runtime import Runtime
    redact_token_in_logs(config.telegram_token)
    try:
        runtime = Runtime.start(config)
    except BotError as e:
        raise click.ClickException(str(e) or e.user_message)
    runtime.start_housekeeping()      # expired sessions are purged on a schedule
    try:
        asyncio.run(run_bot(config, runtime, webhook_url=webhook_url,
                            secret_token=(webhook_secret or secrets.token_urlsafe(32)) if webhook_url else None,
                            listen=listen, port=port))
    except KeyboardInterrupt:
        pass
    except InvalidToken as e:
        # its message quotes the token: say what is wrong without it
        raise click.ClickException("Telegram refused the bot token (TELEGRAM_BOT_TOKEN): check it with "
                                   "@BotFather") from e
    except OSError as e:
        raise click.ClickException(f"cannot listen on {listen}:{port}: {e.strerror or e}") from e
    finally:
        runtime.close()

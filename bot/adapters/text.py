"""Channel-neutral helpers for putting plain answer text into chat messages.

Pure functions, no I/O, usable by every adapter (Telegram, WeChat, web):

- `escape(value)`: text for an HTML message body (`&`, `<`, `>` escaped; quotes kept).
- `utf16_len(text)`: length as Telegram counts it (UTF-16 code units).
- `split_message(text, limit=4096, measure=utf16_len)`: pieces of at most `limit` (as measured),
  cut at the best boundary available: paragraph, line, sentence end, clause punctuation, space,
  and only as a last resort mid-text. Split the *plain* text first, then escape each piece.
- `html_pieces(text, limit=4096)`: `split_message` then `escape` each piece.
"""
from __future__ import annotations

import html
import re
from typing import Callable

TELEGRAM_LIMIT = 4096

# Boundaries in order of preference. Each pattern matches the text a piece may end with
# (the cut goes after the match); closing quotes and brackets stay with their sentence.
_CLOSERS = "”’\"'」』）)】]》"
_BOUNDARIES = [
    re.compile(r"\n\s*\n"),                                   # paragraph
    re.compile(r"\n"),                                        # line
    re.compile(rf"(?:[。！？!?…]+|\.(?=\s)|；|;)[{re.escape(_CLOSERS)}]*"),   # sentence
    re.compile(r"[，、,：:]"),                                 # clause
    re.compile(r"\s"),                                        # word
]
# A boundary this early in the window would make a needlessly short piece; try the next kind.
_MIN_FILL = 0.5


def escape(value: object) -> str:
    """`value` as text that is safe inside an HTML message body."""
    return html.escape("" if value is None else str(value), quote=False)


def utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def _fits(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """The largest n such that measure(text[:n]) <= limit."""
    if measure(text) <= limit:
        return len(text)
    lo, hi = 0, min(len(text), limit)  # no measure counts a character as less than 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _cut(window: str, final: bool) -> int:
    """Where to end a piece within `window` (a prefix that fits). `final`: the window is all that's left."""
    if final:
        return len(window)
    for pattern in _BOUNDARIES:
        ends = [m.end() for m in pattern.finditer(window)]
        ends = [e for e in ends if e > 0 and window[:e].strip()]
        if not ends:
            continue
        if ends[-1] >= len(window) * _MIN_FILL:
            return ends[-1]
    # only early boundaries (or none): the latest of any kind, else cut where the window ends
    ends = [m.end() for p in _BOUNDARIES for m in p.finditer(window) if window[:m.end()].strip()]
    return max(ends) if ends else len(window)


def split_message(text: str, limit: int = TELEGRAM_LIMIT,
                  measure: Callable[[str], int] = utf16_len) -> list[str]:
    """Split `text` into pieces that each measure at most `limit`, preferring natural boundaries.

    Whitespace at a cut is dropped; nothing else is lost or reordered, so joining the pieces with
    the dropped whitespace gives back the text. Empty or blank text gives []."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        n = _fits(rest, limit, measure)
        if n == 0:  # a single character longer than the limit (only with a byte measure): keep it
            n = 1
        window = rest[:n]
        end = _cut(window, final=n == len(rest))
        piece = rest[:end].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[end:].lstrip()
    return pieces


def html_pieces(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Plain text → escaped HTML message bodies, each within `limit` visible characters."""
    return [escape(p) for p in split_message(text, limit)]

"""Read a file staff hand in (.txt, .docx, .pdf) into plain text for the knowledge base.

Every rejection is a `KBError` whose message names the file and says, in plain words, why it cannot be used
and what to do about it. Nothing here writes anything.
"""
from __future__ import annotations

import logging
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bot.errors import KBError

log = logging.getLogger(__name__)

SUPPORTED = (".txt", ".docx", ".pdf")
HINTS = {
    ".doc": "old Word .doc files are not supported; open it in Word or WPS and save it as .docx",
    ".wps": "WPS .wps files are not supported; save it as .docx",
    ".rtf": "save it as .docx or .txt",
    ".xls": "spreadsheets are not policy documents; copy the text into a .txt or .docx",
    ".xlsx": "spreadsheets are not policy documents; copy the text into a .txt or .docx",
    ".ofd": "OFD files are not supported; export the document as PDF (with text) or .docx",
    ".jpg": "this is a picture; the text must be typed or OCR-ed into a .txt or .docx",
    ".png": "this is a picture; the text must be typed or OCR-ed into a .txt or .docx",
}
# below this many letters/characters of text a PDF counts as having no text layer
MIN_TEXT_CHARS = 20
# no policy document is this big; anything larger (or endless, like /dev/zero) is refused unread
MAX_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Loaded:
    text: str
    format: str        # "txt", "docx", "pdf"
    encoding: str      # e.g. "utf-8", "gb18030"; "" for docx/pdf
    name: str          # the name staff know the file by


def load_text(path: Path | str, original_name: str | None = None) -> str:
    """The text of a staff file; raises KBError for anything that cannot be used."""
    return load(path, original_name).text


def load(path: Path | str, original_name: str | None = None) -> Loaded:
    path = Path(path)
    name = original_name or path.name
    ext = Path(name).suffix.lower() or path.suffix.lower()
    if ext not in SUPPORTED:
        hint = HINTS.get(ext, "use a .txt (UTF-8 or GBK), .docx or .pdf with text")
        raise KBError(f"{name}: unsupported file type {ext or '(no extension)'}; {hint}")
    data = read_bytes(path, name)
    if not data.strip():
        raise KBError(f"{name}: the file is empty")
    if ext == ".txt":
        text, enc = _decode_text(data, name)
        loaded = Loaded(text, "txt", enc, name)
    elif ext == ".docx":
        loaded = Loaded(_docx_text(path, data, name), "docx", "", name)
    else:
        loaded = Loaded(_pdf_text(path, data, name), "pdf", "", name)
    text = normalize(loaded.text)
    if not text.strip():
        raise KBError(f"{name}: contains no text")
    return Loaded(text, loaded.format, loaded.encoding, name)


def read_bytes(path: Path | str, name: str | None = None, limit: int | None = None) -> bytes:
    """A file's bytes, refusing what is not a regular file (a device, a pipe: /dev/zero never ends) and
    anything over `limit` bytes, without reading more than that."""
    import os
    import stat
    path = Path(path)
    name = name or path.name
    limit = limit or MAX_BYTES
    try:
        st = os.stat(path)              # follows a symlink to what it points at
        if not stat.S_ISREG(st.st_mode):
            raise KBError(f"{name}: not a regular file (a device, pipe or folder); give the document itself")
        if st.st_size > limit:
            raise KBError(f"{name}: too large ({st.st_size // (1024 * 1024)} MB); a policy document is under "
                          f"{limit // (1024 * 1024)} MB")
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise KBError(f"{name}: cannot be read: {e.strerror or e}") from e
    if len(data) > limit:
        raise KBError(f"{name}: too large (over {limit // (1024 * 1024)} MB); a policy document is smaller")
    return data


def normalize(text: str) -> str:
    """Line ends, byte-order marks and control characters; the words themselves are left as published."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "").replace("\x00", "")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    text = unicodedata.normalize("NFC", text)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n") + "\n"


# ---------------------------------------------------------------- .txt
def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _readable(text: str) -> float:
    """Share of characters that belong in a Chinese policy document (letters, CJK, punctuation, space)."""
    if not text:
        return 0.0
    good = 0
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\n\t\r " or cat[0] in "LNPSZ" and cat not in ("Co", "Cn", "Cs"):
            # private-use and unassigned characters are what a wrong decoding produces
            good += 1
    return good / len(text)


def _clean_chinese(text: str) -> bool:
    """Decoded into real Chinese: mostly common CJK, no private-use or odd symbols, readable throughout."""
    if _readable(text) < 0.98:
        return False
    cjk = sum(1 for ch in text if _is_cjk(ch))
    odd = sum(1 for ch in text if unicodedata.category(ch) in ("Co", "Cn") or "\ue000" <= ch <= "\uf8ff")
    return cjk > 0 and odd == 0


def _decode_text(data: bytes, name: str) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise KBError(f"{name}: cannot be read as text (broken UTF-16)") from None
    if b"\x00" in data[:8192]:
        raise KBError(f"{name}: looks like a binary file, not text; save the document as .txt, .docx or .pdf")
    try:
        text = data.decode("utf-8")
        if _readable(text) >= 0.95:
            return text, "utf-8"
    except UnicodeDecodeError:
        pass
    # Chinese legacy encodings: gb18030 is a superset of GBK and GB2312, so one decoder reads them all.
    try:
        text = data.decode("gb18030")
        if _clean_chinese(text):
            return text, "gb18030"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes
    best = from_bytes(data).best()
    if best is not None:
        text = str(best)
        if _readable(text) >= 0.95 and any(_is_cjk(ch) for ch in text):
            return text, best.encoding
    raise KBError(f"{name}: cannot be read as text (binary, or an unknown encoding); "
                  f"save it as UTF-8 or GBK text, .docx or .pdf")


# ---------------------------------------------------------------- .docx
def _docx_text(path: Path, data: bytes, name: str) -> str:
    if not zipfile.is_zipfile(path):
        raise KBError(f"{name}: not a valid .docx file (corrupt, or another format renamed to .docx)")
    try:
        import docx
        document = docx.Document(str(path))
    except Exception as e:  # python-docx raises several kinds for broken packages
        raise KBError(f"{name}: the Word document is damaged and cannot be opened ({type(e).__name__})") from e
    from docx.table import Table
    parts: list[str] = []
    try:
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                parts.extend(_table_lines(block))
            else:
                parts.append(block.text)
    except Exception as e:
        raise KBError(f"{name}: the Word document is damaged and cannot be read ({type(e).__name__})") from e
    return "\n".join(parts)


def _table_lines(table) -> list[str]:
    lines = []
    for row in table.rows:
        cells, last = [], None
        for cell in row.cells:
            t = cell.text.strip().replace("\n", " ")
            if cell._tc is last:        # a merged cell repeats itself across the columns it spans
                continue
            last = cell._tc
            cells.append(t)
        if any(cells):
            lines.append("\t".join(cells))
    return lines


# ---------------------------------------------------------------- .pdf
def _pdf_text(path: Path, data: bytes, name: str) -> str:
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise KBError(f"{name}: not a valid PDF file (corrupt, or another format renamed to .pdf)")
    try:
        from pypdf import PdfReader
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise KBError(f"{name}: the PDF is password-protected; save an unprotected copy")
            except KBError:
                raise
            except Exception as e:
                raise KBError(f"{name}: the PDF is password-protected; save an unprotected copy") from e
        pages, images = [], 0
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            try:
                images += len(page.images)
            except Exception:  # an unreadable image still means the page is a picture
                images += 1
    except KBError:
        raise
    except Exception as e:
        raise KBError(f"{name}: the PDF is damaged and cannot be read ({type(e).__name__})") from e
    text = "\n\n".join(p.strip("\n") for p in pages)
    letters = sum(1 for ch in text if ch.isalnum())
    if letters < MIN_TEXT_CHARS:
        if images:
            raise KBError(f"{name}: a scanned PDF (pictures of pages, no text layer); run OCR on it or "
                          f"supply the text as .txt or .docx")
        raise KBError(f"{name}: the PDF has no text")
    return re.sub(r"\n{3,}", "\n\n", text)

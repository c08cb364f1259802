"""Documents in the knowledge base: `<id>.txt` (text as published) beside `<id>.yaml` (metadata staff edit)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, fields
from datetime import date
from pathlib import Path

import yaml

from bot.errors import KBError

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
KINDS = {"support_policy", "implementation_plan", "status_report", "notice", "other"}


@dataclass(frozen=True)
class DocumentMeta:
    id: str
    title: str
    number: str
    issuer: str
    region: str
    date: str | None = None
    valid_from: str | None = None
    valid_until: str | None = None
    kind: str = "other"
    status: str = "active"          # active | retired
    supersedes: str | None = None
    superseded_by: str | None = None
    source_file: str | None = None
    sha256: str | None = None
    notes: str | None = None

    def valid_until_date(self) -> date | None:
        return date.fromisoformat(self.valid_until) if self.valid_until else None

    def valid_from_date(self) -> date | None:
        return date.fromisoformat(self.valid_from) if self.valid_from else None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class SourceDocument:
    meta: DocumentMeta
    text: str
    path: Path


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_date(path: Path, key: str, value) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise KBError(f"{path.name}: {key} must be a date like 2025-12-31, not {value!r}") from None


def read_meta(path: Path) -> DocumentMeta:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise KBError(f"{path.name}: metadata cannot be read: {e}") from e
    if not isinstance(raw, dict):
        raise KBError(f"{path.name}: metadata must be a mapping of fields")
    known = {f.name for f in fields(DocumentMeta)}
    unknown = set(raw) - known
    if unknown:
        raise KBError(f"{path.name}: unknown field(s) {', '.join(sorted(unknown))}")
    for req in ("id", "title", "number", "issuer", "region"):
        if not raw.get(req):
            raise KBError(f"{path.name}: field {req!r} is required")
    if not ID_RE.match(str(raw["id"])):
        raise KBError(f"{path.name}: id {raw['id']!r} must be lowercase letters, digits and '-'")
    if raw.get("status", "active") not in ("active", "retired"):
        raise KBError(f"{path.name}: status must be active or retired")
    for k in ("date", "valid_from", "valid_until"):
        raw[k] = _check_date(path, k, raw.get(k))
    raw = {k: (str(v) if isinstance(v, (int, float)) and k not in () else v) for k, v in raw.items()}
    return DocumentMeta(**raw)


def write_meta(path: Path, meta: DocumentMeta) -> None:
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(meta.to_dict(), allow_unicode=True, sort_keys=False), encoding="utf-8")
    tmp.replace(path)


def read_text(path: Path) -> str:
    """A document's text as stored in the knowledge base (UTF-8). Rejects empty and binary files."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise KBError(f"{path.name}: cannot be read: {e.strerror}") from e
    if not data.strip():
        raise KBError(f"{path.name}: the file is empty")
    if b"\x00" in data[:4096]:
        raise KBError(f"{path.name}: looks like a binary file, not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise KBError(f"{path.name}: not valid UTF-8 text (byte {e.start}); convert it or add it with "
                      f"`python -m bot kb add`, which detects GBK") from e
    if not any("\u4e00" <= ch <= "\u9fff" for ch in text):
        raise KBError(f"{path.name}: contains no Chinese text; is it the right file?")
    return text


def load_documents(directory: Path) -> list[SourceDocument]:
    directory = Path(directory)
    if not directory.is_dir():
        raise KBError(f"documents folder not found: {directory}")
    docs, seen = [], {}
    for meta_path in sorted(directory.glob("*.yaml")):
        meta = read_meta(meta_path)
        txt = meta_path.with_suffix(".txt")
        if not txt.exists():
            raise KBError(f"{meta_path.name}: its text {txt.name} is missing")
        if meta.id in seen:
            raise KBError(f"{meta_path.name}: id {meta.id!r} is also used by {seen[meta.id]}")
        seen[meta.id] = meta_path.name
        docs.append(SourceDocument(meta, read_text(txt), txt))
    for txt in sorted(directory.glob("*.txt")):
        if not txt.with_suffix(".yaml").exists():
            raise KBError(f"{txt.name}: has no metadata file {txt.with_suffix('.yaml').name}")
    return docs

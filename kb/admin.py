"""Staff operations on the knowledge base: inspect, add, retire, replace, list, show, verify.

Front ends (the `kb` CLI, the Telegram staff commands) call these and show `KBError` messages as they are.

Every change is a small transaction on the documents folder: a journal (`.kb-txn/journal.json`) records
each file about to be created or overwritten (with a backup) *before* it is written; the change is made
live by `kb.build.build`; if the build fails the folder is restored exactly; if the process dies half-way,
the next operation (or `recover()`) rolls the half-done change back. The build itself swaps the index in
atomically, so the old index keeps answering until then.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field, replace as dc_replace
from datetime import date
from pathlib import Path
from typing import Iterator

from bot.config import Config
from bot.errors import KBError
from kb.detect import detect
from kb.loaders import load

log = logging.getLogger(__name__)

TXN_DIR = ".kb-txn"
ORIGINALS = "originals"
OVERRIDABLE = ("title", "number", "issuer", "region", "date", "valid_from", "valid_until", "kind")
LABELS = {"title": "标题 title", "number": "文号 number", "issuer": "发文机关 issuer", "region": "适用地区 region",
          "date": "成文日期 date", "valid_from": "生效日期 valid from", "valid_until": "有效期至 valid until",
          "kind": "类别 kind"}


# ---------------------------------------------------------------- drafts
@dataclass
class Draft:
    """What a file would become: detected metadata (each overridable) and its text."""
    title: str | None
    number: str | None
    issuer: str | None
    region: str | None
    valid_from: str | None
    valid_until: str | None
    kind: str
    date: str | None
    text: str
    source_file: str = ""
    format: str = ""
    encoding: str = ""
    sha256: str = ""
    overridden: tuple[str, ...] = ()

    def with_overrides(self, overrides: dict | None) -> "Draft":
        changes = {k: _blank_none(v) for k, v in (overrides or {}).items() if v is not None}
        unknown = set(changes) - set(OVERRIDABLE)
        if unknown:
            raise KBError(f"cannot set {', '.join(sorted(unknown))}; the fields are {', '.join(OVERRIDABLE)}")
        for k in ("date", "valid_from", "valid_until"):
            if changes.get(k):
                changes[k] = _iso_date(k, changes[k])
        if changes.get("date") and "valid_from" not in changes and self.valid_from == self.date:
            changes["valid_from"] = changes["date"]   # valid from the issue date, as detected
        return dc_replace(self, **changes, overridden=tuple(sorted(set(self.overridden) | set(changes))))

    def missing(self) -> list[str]:
        return [k for k in ("title", "number", "issuer", "region") if not getattr(self, k)]

    def describe(self) -> list[str]:
        """Lines to show staff before they confirm."""
        lines = [f"文件 file: {self.source_file} ({self.format}{', ' + self.encoding if self.encoding else ''}, "
                 f"{len(self.text)} 字 characters)"]
        for k in OVERRIDABLE:
            v = getattr(self, k)
            mark = " (given)" if k in self.overridden else ""
            if not v:
                need = k in ("title", "number", "issuer", "region")
                v = "— not found; " + (f"required: give --{k.replace('_', '-')}" if need else "none")
            lines.append(f"{LABELS[k]}: {v}{mark}")
        first = next((ln.strip() for ln in self.text.splitlines() if ln.strip()), "")
        lines.append(f"开头 starts: {first[:60]}")
        return lines


def _blank_none(v):
    return None if isinstance(v, str) and not v.strip() else (v.strip() if isinstance(v, str) else v)


def _iso_date(key: str, value) -> str:
    if isinstance(value, date):
        return value.isoformat()
    s = str(value).strip()
    m = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", s)
    try:
        if not m:
            raise ValueError
        return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        raise KBError(f"{key}: {value!r} is not a date; write it like 2025-12-31") from None


def inspect_file(path: Path, original_name: str) -> Draft:
    """Read a staff file and detect its metadata. Raises KBError for a file that cannot be used."""
    loaded = load(Path(path), original_name)
    d = detect(loaded.text)
    from kb.documents import sha256_text
    return Draft(title=d.title, number=d.number, issuer=d.issuer, region=d.region, valid_from=d.valid_from,
                 valid_until=d.valid_until, kind=d.kind, date=d.date, text=loaded.text,
                 source_file=Path(original_name).name, format=loaded.format, encoding=loaded.encoding,
                 sha256=sha256_text(loaded.text))


# ---------------------------------------------------------------- reports
@dataclass
class AddReport:
    doc_id: str
    clauses: int | None
    unchanged: bool
    title: str = ""
    build: object | None = None
    note: str = ""
    proposals: list = field(default_factory=list)     # kb.propose.Proposal, with their review status


@dataclass
class Preview:
    """What adding a draft would make: its id, clauses, rule proposals, and what is wrong with it."""
    doc_id: str
    clauses: list                 # kb.parse.Clause
    proposals: list               # kb.propose.Proposal
    problems: list[str]           # refused unless forced: contradictions, a document that does not split

    def outline(self, width: int = 16) -> list[tuple[str, str, str]]:
        """(clause id, heading path, first characters) of every clause, for staff to confirm."""
        return [(c.id, c.heading, c.text.replace("\n", " ")[:width]) for c in self.clauses]


@dataclass
class ChangeReport:
    doc_id: str
    action: str
    build: object | None = None


@dataclass
class DocumentInfo:
    meta: object               # kb.documents.DocumentMeta
    state: str                 # active | retired | superseded | expired | not yet in force
    clauses: int | None
    text: str
    path: Path
    originals: list[str] = field(default_factory=list)

    def describe(self) -> list[str]:
        m = self.meta
        lines = [f"id: {m.id}", f"状态 state: {self.state}"]
        for k in ("title", "number", "issuer", "region", "date", "valid_from", "valid_until", "kind",
                  "supersedes", "superseded_by", "source_file"):
            v = getattr(m, k, None)
            if v:
                lines.append(f"{LABELS.get(k, k)}: {v}")
        lines.append(f"条款 clauses: {self.clauses if self.clauses is not None else 'unknown (not built)'}")
        if self.originals:
            lines.append(f"原件 original: {', '.join(self.originals)}")
        first = next((ln.strip() for ln in self.text.splitlines() if ln.strip()), "")
        lines.append(f"开头 starts: {first[:60]}")
        return lines


# ---------------------------------------------------------------- transactions
class _Txn:
    """Journalled changes to the documents folder; rollback restores it byte for byte."""

    def __init__(self, docs: Path):
        self.docs = docs
        self.dir = docs / TXN_DIR
        self.journal = self.dir / "journal.json"
        self.entries: list[dict] = []

    def begin(self) -> "_Txn":
        if self.dir.exists():
            raise KBError(f"an unfinished change is pending in {self.dir}; run `python -m bot kb list` to "
                          f"roll it back first")
        self.dir.mkdir(parents=True)
        self._save()
        return self

    def _save(self) -> None:
        tmp = self.journal.with_suffix(".tmp")
        tmp.write_text(json.dumps({"entries": self.entries}, ensure_ascii=False), encoding="utf-8")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        tmp.replace(self.journal)

    def _target(self, e: dict) -> Path:
        return Path(e["path"]) if e.get("abs") else self.docs / e["path"]

    def write(self, rel: str | Path, data: bytes | None) -> None:
        """Write (or, with data None, remove) a file: `rel` inside the documents folder, or an absolute path
        (the rule tables beside it)."""
        absolute = Path(rel).is_absolute()
        target = Path(rel) if absolute else self.docs / rel
        rel = str(rel)
        if data is None and not target.exists():
            return
        if not any(e["path"] == rel for e in self.entries):
            entry = {"path": rel, "existed": target.exists(), "abs": absolute}
            if target.exists():
                backup = self.dir / f"{len(self.entries)}.bak"
                shutil.copy2(target, backup)
                entry["backup"] = backup.name
            self.entries.append(entry)
            self._save()   # the journal knows about the file before the file changes
        if data is None:
            target.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)

    def rollback(self) -> None:
        for e in reversed(self.entries):
            target = self._target(e)
            if e.get("existed"):
                shutil.copy2(self.dir / e["backup"], target)
            else:
                target.unlink(missing_ok=True)
                with contextlib.suppress(OSError):   # remove originals/ again if this made it
                    if target.parent != self.docs and target.parent.name in (ORIGINALS, "review") \
                            and not any(target.parent.iterdir()):
                        target.parent.rmdir()
        self._finish()

    def commit(self) -> None:
        self._finish()

    def _finish(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    @classmethod
    def pending(cls, docs: Path) -> "_Txn | None":
        t = cls(docs)
        if not t.dir.exists():
            return None
        try:
            t.entries = json.loads(t.journal.read_text(encoding="utf-8"))["entries"]
        except (OSError, ValueError, KeyError):
            t.entries = []   # died before the first file was written: nothing to undo
        return t


@contextlib.contextmanager
def _locked(config: Config) -> Iterator[None]:
    """One knowledge-base change at a time (across processes); the lock dies with its process."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    with open(config.data_dir / "kb-admin.lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def recover(config: Config, rebuild: bool = True) -> bool:
    """Roll back a change a killed process left half-done. True if there was one."""
    with _locked(config):
        return _recover(config, rebuild)


def _recover(config: Config, rebuild: bool) -> bool:
    txn = _Txn.pending(config.documents_dir)
    if txn is None:
        return False
    log.warning("rolling back an interrupted knowledge-base change (%d file(s))", len(txn.entries))
    txn.rollback()
    if rebuild:
        _build(config, progress=False)
    return True


def _build(config: Config, progress: bool = True):
    from kb.build import build
    return build(config, progress=progress, recover_pending=False)   # the change in flight is ours


def _apply(config: Config, txn: _Txn, progress: bool):
    """Make the journalled change live, or undo it exactly."""
    try:
        report = _build(config, progress=progress)
    except BaseException as e:
        txn.rollback()
        if isinstance(e, KBError):
            raise
        if isinstance(e, Exception):
            raise KBError(f"the knowledge base could not be rebuilt ({type(e).__name__}: {e}); "
                          f"nothing was changed") from e
        raise
    txn.commit()
    return report


# ---------------------------------------------------------------- reading the folder
def _documents(config: Config) -> list:
    from kb.documents import load_documents
    return load_documents(config.documents_dir)


def _meta_path(config: Config, doc_id: str) -> Path:
    return config.documents_dir / f"{doc_id}.yaml"


def _get(config: Config, doc_id: str):
    from kb.documents import read_meta
    p = _meta_path(config, doc_id)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,63}", doc_id or "") or not p.exists():
        known = ", ".join(sorted(m.stem for m in config.documents_dir.glob("*.yaml"))) or "none"
        raise KBError(f"no document {doc_id!r}; the documents are: {known}")
    return read_meta(p)


def _meta_bytes(meta) -> bytes:
    import yaml
    return yaml.safe_dump(meta.to_dict(), allow_unicode=True, sort_keys=False).encode("utf-8")


def _kb_db(config: Config) -> Path:
    from index.store import current_dir
    cur = current_dir(config.data_dir)
    return cur / "kb.sqlite" if cur and (cur / "kb.sqlite").exists() else config.kb_db


def _clause_count(config: Config, doc_id: str, report=None) -> int | None:
    """Clauses of a document that answers can cite (None when the knowledge base cannot tell)."""
    per_doc = getattr(report, "per_document", None)
    if per_doc and doc_id in per_doc:
        return per_doc[doc_id]
    db = _kb_db(config)
    if not db.exists():
        return None
    try:
        import sqlite3
        from kb.parse import INDEXED_KINDS
        kinds = sorted(INDEXED_KINDS)
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return con.execute(f"SELECT count(*) FROM clauses WHERE doc_id = ? AND kind IN "
                               f"({','.join('?' * len(kinds))})", [doc_id, *kinds]).fetchone()[0]
        finally:
            con.close()
    except Exception:
        log.debug("could not count clauses of %s", doc_id, exc_info=True)
    return None


def base_id(draft: Draft) -> str:
    """The id a file would get, before making it unique: from its file name, else its 文号 or date."""
    stem = Path(draft.source_file).stem.lower()
    base = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")[:40].strip("-")
    if len(base) < 3 or not re.search(r"[a-z]", base):
        m = re.search(r"〔(\d{4})〕(\d+)号", draft.number or "")
        base = f"doc-{m[1]}-{m[2]}" if m else f"doc-{(draft.date or '')[:4] or 'x'}-{draft.sha256[:6]}"
    return base[:56]


def _new_id(config: Config, draft: Draft) -> str:
    base = base_id(draft)
    doc_id, n = base, 2
    while (_meta_path(config, doc_id).exists() or (config.documents_dir / f"{doc_id}.txt").exists()):
        doc_id, n = f"{base}-{n}", n + 1
    return doc_id


def _validate(config: Config, draft: Draft, name: str):
    from kb.regions import Gazetteer
    missing = draft.missing()
    if "region" in missing:
        raise KBError(f"{name}: the region it applies to was not found in the text; give it with --region "
                      f"(e.g. 晋城市, 泽州县)")
    region = Gazetteer.load().resolve(draft.region)
    if region is None:
        raise KBError(f"{name}: unknown region {draft.region!r}; use a city or county name such as 晋城市, "
                      f"泽州县, 忻州市 or 乡宁县")
    if missing:
        raise KBError(f"{name}: could not find its {', '.join(missing)}; give "
                      + " ".join(f"--{k.replace('_', '-')}" for k in missing))
    if draft.valid_from and draft.valid_until and draft.valid_until < draft.valid_from:
        raise KBError(f"{name}: valid until {draft.valid_until} is before valid from {draft.valid_from}")
    if not any("\u4e00" <= ch <= "\u9fff" for ch in draft.text):
        raise KBError(f"{name}: contains no Chinese text; is it the right file?")
    if draft.kind not in _kinds():
        raise KBError(f"{name}: kind must be one of {', '.join(sorted(_kinds()))}")
    return dc_replace(draft, region=region.name)


def _kinds() -> set[str]:
    from kb.documents import KINDS
    return set(KINDS)


def _stage(config: Config, txn: _Txn, doc_id: str, draft: Draft, path: Path, supersedes: str | None = None):
    from kb.documents import DocumentMeta
    ext = Path(draft.source_file).suffix.lower() or Path(path).suffix.lower()
    meta = DocumentMeta(id=doc_id, title=draft.title, number=draft.number, issuer=draft.issuer,
                        region=draft.region, date=draft.date, valid_from=draft.valid_from,
                        valid_until=draft.valid_until, kind=draft.kind, status="active", supersedes=supersedes,
                        superseded_by=None, source_file=draft.source_file, sha256=draft.sha256)
    from kb.loaders import read_bytes
    txn.write(f"{ORIGINALS}/{doc_id}{ext}", read_bytes(path, draft.source_file))
    txn.write(f"{doc_id}.txt", draft.text.encode("utf-8"))
    txn.write(f"{doc_id}.yaml", _meta_bytes(meta))   # the .yaml last: a document exists once it has one
    return meta


def _same_text(config: Config, sha: str):
    """The document whose text is this one's: by the sha256 in its metadata, or by its text read the way
    `kb add` reads a file (so a copy of a shipped .txt is recognised even without a recorded sha256)."""
    from kb.documents import sha256_text
    from kb.loaders import normalize
    for doc in _documents(config):
        if sha in (doc.meta.sha256, sha256_text(doc.text), sha256_text(normalize(doc.text))):
            return doc.meta
    return None


def _same_number(config: Config, number: str | None, but: str | None = None):
    if not number:
        return None
    key = re.sub(r"\s+", "", number)
    for doc in _documents(config):
        if doc.meta.id != but and re.sub(r"\s+", "", doc.meta.number or "") == key:
            return doc.meta
    return None


def contradictions(config: Config, draft: Draft, replacing: str | None = None) -> list[str]:
    """Metadata that contradicts itself or the knowledge base, said before anything is written."""
    from kb.regions import Gazetteer
    out = []
    gaz = Gazetteer.load()
    region = gaz.resolve(draft.region) if draft.region else None
    own = gaz.find_in(draft.issuer) if draft.issuer else None
    if region and own and region.name != own.name and not gaz.covers(region.name, own.name) \
            and not gaz.covers(own.name, region.name):
        out.append(f"the region {region.name} does not match the issuer {draft.issuer} ({own.name})")
    if draft.valid_from and draft.valid_until and draft.valid_until < draft.valid_from:
        out.append(f"valid until {draft.valid_until} is before valid from {draft.valid_from}")
    other = _same_number(config, draft.number, but=replacing)
    if other is not None:
        out.append(f"文号 {draft.number} is already in the knowledge base as {other.id} ({other.title}); "
                   f"a new version of it is added with `kb replace {other.id} FILE`")
    return out


def split_problem(clauses) -> str | None:
    """A document that did not split into its clauses: one clause, or its body inside the cover."""
    from kb.parse import INDEXED_KINDS, _heading
    from kb.propose import is_amount_sentence, sentences
    body = [c for c in clauses if c.kind in INDEXED_KINDS]
    cover = next((c for c in clauses if c.kind == "cover"), None)
    if cover is not None:
        lines = cover.text.split("\n")
        if any(_heading(ln) for ln in lines) or any(is_amount_sentence(x) for x in sentences(cover.text)):
            return "its body was read as the cover page (headings or amounts in the cover)"
    if len(body) < 2:
        return f"it splits into {len(body)} clause{'s' if len(body) != 1 else ''} only; its headings were not recognised"
    return None


def _source(draft: Draft, doc_id: str, supersedes: str | None = None):
    from kb.documents import DocumentMeta, SourceDocument
    meta = DocumentMeta(id=doc_id, title=draft.title or "", number=draft.number or "", issuer=draft.issuer or "",
                        region=draft.region or "", date=draft.date, valid_from=draft.valid_from,
                        valid_until=draft.valid_until, kind=draft.kind, status="active", supersedes=supersedes,
                        source_file=draft.source_file, sha256=draft.sha256)
    return SourceDocument(meta, draft.text, Path(f"{doc_id}.txt"))


def preview(config: Config, draft: Draft, replacing: str | None = None) -> Preview:
    """Split and propose without writing anything (the id is the one `add` would choose now)."""
    from kb.proposals import propose_document
    doc_id = _new_id(config, draft)
    clauses, proposals = propose_document(_source(draft, doc_id))
    problems = contradictions(config, draft, replacing)
    sp = split_problem(clauses)
    if sp:
        problems.append(f"{draft.source_file}: {sp}")
    return Preview(doc_id, clauses, proposals, problems)


def _stage_rules(config: Config, txn: "_Txn", doc, decisions: dict | None, accept_all: bool) -> list:
    """Propose rule rows for the staged document, apply staff decisions, journal the review and awards files."""
    from kb import proposals as props
    _, proposals = props.propose_document(doc)
    decided = dict(decisions or {})
    for p in proposals:       # a proposal that cannot be a valid row waits for staff to correct it
        if decided.get(props.local_id(p)) == "accepted" and props.row_problem(p):
            log.warning("%s stays pending: %s", p.id, props.row_problem(p))
            decided.pop(props.local_id(p))
    props.decide(proposals, {k: v for k, v in decided.items()
                             if any(props.local_id(p) == k for p in proposals)})
    if accept_all:
        props.accept_all(proposals)
    review_files = props.review_files
    for rel, data in review_files(doc.meta.id, proposals).items():
        txn.write(Path(config.rules_dir).resolve() / rel, data)
    return proposals


def _check_rules(config: Config) -> None:
    """The rule tables with the staged documents: a wrong row fails the change before it is built (a rules
    folder with no tables yet has nothing to check)."""
    from bot.errors import RuleError
    from kb.build import parse_all
    from kb.rules import load_rules
    if not any(Path(config.rules_dir).glob("*.yaml")):
        return
    try:
        load_rules(config.rules_dir, {c.id for c in parse_all(_documents(config))})
    except RuleError as e:
        raise KBError(f"the rule tables would not be valid with this change ({e}); nothing was changed") from e


# ---------------------------------------------------------------- operations
def _refuse(problems: list[str], force: bool, what: str) -> None:
    if problems and not force:
        raise KBError(f"{what}: " + "; ".join(problems) + ". Nothing was changed (confirm to add it anyway)")


def add_document(config: Config, path: Path, original_name: str, overrides: dict | None = None,
                 progress: bool = True, decisions: dict[str, str] | None = None, accept_all: bool = False,
                 force: bool = False) -> AddReport:
    """Add a staff file to the knowledge base and make it live. Same file twice: nothing changes.

    Refused (nothing written) for a 文号 already present, and, unless `force`, for metadata that contradicts
    itself (a region that is not the issuer's) or a document that does not split into clauses. The rule
    proposals for its amount sentences are written to the rule folder's review/<id>.yaml with the given
    `decisions` ({proposal id without the document id: accepted|rejected|pending}; `accept_all` accepts every
    one) and the accepted ones as awards-<id>.yaml, in the same all-or-nothing change."""
    draft = inspect_file(path, original_name).with_overrides(overrides)
    with _locked(config):
        _recover(config, rebuild=False)
        same = _same_text(config, draft.sha256)
        if same is not None:
            note = "" if same.status == "active" else f"it is {same.status}"
            return AddReport(same.id, _clause_count(config, same.id), True, same.title, note=note)
        dup = _same_number(config, draft.number)
        if dup is not None:
            raise KBError(f"{original_name}: 文号 {draft.number} is already in the knowledge base as {dup.id} "
                          f"({dup.title}); to add a new version use `kb replace {dup.id} FILE`. Nothing was changed")
        draft = _validate(config, draft, original_name)
        pre = preview(config, draft)
        _refuse(pre.problems, force, original_name)
        doc_id = _new_id(config, draft)
        txn = _Txn(config.documents_dir).begin()
        try:
            _stage(config, txn, doc_id, draft, path)
            proposals = _stage_rules(config, txn, _source(draft, doc_id), decisions, accept_all)
            _check_rules(config)
        except BaseException:
            txn.rollback()
            raise
        report = _apply(config, txn, progress)
        return AddReport(doc_id, _clause_count(config, doc_id, report), False, draft.title, build=report,
                         proposals=proposals)


def retire(config: Config, doc_id: str, progress: bool = True) -> ChangeReport:
    """Keep the document for history but stop answering from it."""
    with _locked(config):
        _recover(config, rebuild=False)
        meta = _get(config, doc_id)
        if meta.status == "retired":
            return ChangeReport(doc_id, "unchanged")
        txn = _Txn(config.documents_dir).begin()
        try:
            txn.write(f"{doc_id}.yaml", _meta_bytes(dc_replace(meta, status="retired")))
        except BaseException:
            txn.rollback()
            raise
        return ChangeReport(doc_id, "retired", _apply(config, txn, progress))


def replace(config: Config, old_id: str, path: Path, original_name: str, overrides: dict | None = None,
            progress: bool = True, decisions: dict[str, str] | None = None, accept_all: bool = False,
            force: bool = False) -> AddReport:
    """Add a new version that supersedes `old_id` from its valid_from (the old one answers until then)."""
    draft = inspect_file(path, original_name).with_overrides(overrides)
    with _locked(config):
        _recover(config, rebuild=False)
        old = _get(config, old_id)
        if old.status == "retired":
            raise KBError(f"{old_id} is retired; add the new document with `kb add` instead")
        if old.superseded_by:
            raise KBError(f"{old_id} is already replaced by {old.superseded_by}; replace that one instead")
        same = _same_text(config, draft.sha256)
        if same is not None:
            if same.id == old_id:
                raise KBError(f"{original_name}: has the same text as {old_id}; nothing to replace")
            if same.supersedes == old_id:
                return AddReport(same.id, _clause_count(config, same.id), True, same.title)
            raise KBError(f"{original_name}: has the same text as {same.id}, already in the knowledge base")
        if not draft.region:
            draft = dc_replace(draft, region=old.region)
        draft = _validate(config, draft, original_name)
        if not draft.valid_from:
            raise KBError(f"{original_name}: from when does it replace {old_id}? give --valid-from")
        dup = _same_number(config, draft.number, but=old_id)
        if dup is not None:
            raise KBError(f"{original_name}: 文号 {draft.number} is already in the knowledge base as {dup.id} "
                          f"({dup.title}). Nothing was changed")
        pre = preview(config, draft, replacing=old_id)
        _refuse(pre.problems, force, original_name)
        doc_id = _new_id(config, draft)
        txn = _Txn(config.documents_dir).begin()
        try:
            _stage(config, txn, doc_id, draft, path, supersedes=old_id)
            txn.write(f"{old_id}.yaml", _meta_bytes(dc_replace(old, superseded_by=doc_id)))
            proposals = _stage_rules(config, txn, _source(draft, doc_id, supersedes=old_id), decisions, accept_all)
            _check_rules(config)
        except BaseException:
            txn.rollback()
            raise
        report = _apply(config, txn, progress)
        return AddReport(doc_id, _clause_count(config, doc_id, report), False, draft.title, build=report,
                         note=f"replaces {old_id} from {draft.valid_from}", proposals=proposals)


def _state(meta, by_id: dict, today: date) -> str:
    if meta.status == "retired":
        return "retired"
    if meta.superseded_by:
        succ = by_id.get(meta.superseded_by)
        start = succ.valid_from if succ else None
        if succ is None or not start or start <= today.isoformat():
            return f"superseded by {meta.superseded_by}"
        return f"active (superseded by {meta.superseded_by} from {start})"
    if meta.valid_from and meta.valid_from > today.isoformat():
        return f"not yet in force (from {meta.valid_from})"
    if meta.valid_until and meta.valid_until < today.isoformat():
        return f"expired ({meta.valid_until})"
    return "active"


def _today(config: Config) -> date:
    from datetime import datetime
    from zoneinfo import ZoneInfo
    return datetime.now(ZoneInfo(config.timezone)).date()


def list_documents(config: Config, today: date | None = None) -> list[DocumentInfo]:
    recover(config)
    docs = _documents(config)
    by_id = {d.meta.id: d.meta for d in docs}
    today = today or _today(config)
    out = [DocumentInfo(d.meta, _state(d.meta, by_id, today), _clause_count(config, d.meta.id), d.text,
                        d.path, _originals(config, d.meta.id)) for d in docs]
    return sorted(out, key=lambda i: (i.meta.date or "", i.meta.id))


def show(config: Config, doc_id: str, today: date | None = None) -> DocumentInfo:
    for info in list_documents(config, today):
        if info.meta.id == doc_id:
            return info
    _get(config, doc_id)   # raises with the list of known ids
    raise KBError(f"no document {doc_id!r}")


def _originals(config: Config, doc_id: str) -> list[str]:
    d = config.documents_dir / ORIGINALS
    return sorted(p.name for p in d.glob(f"{doc_id}.*")) if d.is_dir() else []


# ---------------------------------------------------------------- candidates for verify
@contextlib.contextmanager
def candidate(config: Config, change=None) -> Iterator[Config]:
    """A throw-away copy of the knowledge base (documents, built data) with `change(candidate_config)`
    applied, for checking answers before a change goes live. The live knowledge base is not touched."""
    with tempfile.TemporaryDirectory(prefix="pz-candidate-") as tmp:
        tmp = Path(tmp)
        docs, data = tmp / "documents", tmp / "data"
        shutil.copytree(config.documents_dir, docs, ignore=shutil.ignore_patterns(TXN_DIR, ORIGINALS))
        rules = tmp / "rules"            # a change writes rule proposals: never into the live rules
        if Path(config.rules_dir).is_dir():
            shutil.copytree(config.rules_dir, rules)
        data.mkdir()
        # start from the live build so the candidate build only embeds what changed
        from index.store import current_dir
        cur = current_dir(config.data_dir)
        if cur:
            copy = data / "builds" / cur.name
            shutil.copytree(cur, copy)
            os.symlink(os.path.relpath(copy, data), data / "current")
        cand = config.with_(documents_dir=docs, data_dir=data,
                            **({"rules_dir": rules} if Path(config.rules_dir).is_dir() else {}))
        if change is not None:
            change(cand)
        yield cand


def file_digest(path: Path) -> str:
    from kb.loaders import read_bytes
    return hashlib.sha256(read_bytes(path)).hexdigest()


# ---------------------------------------------------------------- verify: what answers would change
GOLD = Path(__file__).resolve().parent.parent / "tests" / "gold" / "answers.jsonl"
DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "dev.jsonl"


@dataclass
class Change:
    question: str
    field: str
    live: object
    candidate: object


def golden_questions(path: Path | None = None) -> list[dict]:
    path = Path(path) if path else (GOLD if GOLD.exists() or not DEV.exists() else DEV)
    if not path.exists():
        raise KBError(f"golden questions not found: {path}")
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except ValueError as e:
            raise KBError(f"{path.name} line {n}: not JSON: {e}") from e
        if not isinstance(case, dict) or not case.get("q"):
            raise KBError(f"{path.name} line {n}: needs a question \"q\"")
        cases.append(case)
    return cases


def answer_summary(answer) -> dict:
    """The parts of an answer a staff regression check compares."""
    first = answer.citations[0] if answer.citations else None
    return {
        "status": answer.status,
        "total_yuan": answer.total_yuan,
        "amounts": sorted((r.item, r.amount_yuan) for r in answer.rewards if r.amount_yuan is not None),
        "first_citation": f"{first.number} {first.clause}".strip() if first else None,
    }


def run_questions(assistant, cases: list[dict], tick=None) -> list[dict]:
    from bot.core.types import Session
    out = []
    for i, case in enumerate(cases):
        session = Session(id=f"verify-{i}")
        for earlier in case.get("turns") or case.get("history") or []:
            assistant.answer(earlier if isinstance(earlier, str) else earlier.get("q", ""), session)
        out.append(answer_summary(assistant.answer(case["q"], session)))
        if tick:
            tick()
    return out


def compare(cases: list[dict], live: list[dict], cand: list[dict]) -> list[Change]:
    changes = []
    for case, a, b in zip(cases, live, cand):
        for k in ("status", "total_yuan", "amounts", "first_citation"):
            if a[k] != b[k]:
                changes.append(Change(case["q"], k, a[k], b[k]))
    return changes


def verify(live_config: Config, candidate_config: Config, questions: Path | None = None, today=None,
           tick=None) -> list[Change]:
    """Answer the golden questions with the live knowledge base and with the candidate; what changed."""
    from bot.core.service import Assistant
    cases = golden_questions(questions)
    _build(candidate_config, progress=False)
    kw = {"today": today} if today else {}
    live = run_questions(Assistant.load(live_config, **kw), cases, tick)
    cand = run_questions(Assistant.load(candidate_config, **kw), cases, tick)
    return compare(cases, live, cand)

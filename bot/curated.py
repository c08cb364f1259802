"""Curated answers: a reply staff wrote once for a question the assistant answered wrongly or weakly, given
to later questions close in meaning (Dify's annotation replies, FastGPT's Q&A pairs).

    store = CuratedStore(path, lapsed=..., keys=...)
    store.add(question, qvec, reply, clause_ids, by, clause_hashes=..., source_question_id=...) -> id
    store.add_wording(id, text, vec)        # another way owners ask the same thing
    store.match(question, qvec) -> CuratedReply | None     # what the core calls (bot/core/hooks.py)
    store.list() / get(id) / retire(id, by)

A question matches a curated answer when the cosine of their unit-length embeddings (the vector retrieval
uses, `Assistant.analyse(q).qvec`) is at least `threshold` *and* they name the same figures and places:
"营收首次达到5亿" and "…10亿" are 0.988 apart in e5 but have different answers. The threshold was measured
on paraphrases (tests/test_curated.py, docs/staff.md): at 0.96, with the figure/place guard, no question
of a different meaning matched, and about 6 in 10 paraphrases did — add the wordings owners really use
(`answers curate --also`) to catch the rest.

A curated answer **lapses** (is no longer given; `answers list` and `kb verify` say why) when a document it
cites is retired or replaced, or a clause it cites has gone or changed. The check is made at every match,
against the knowledge base the assistant is answering from (`lapsed(clause_ids, clause_hashes)`).

`CuratedStore(path_or_database, …)`: a SQLite file, or a `bot.storage.Database` (PostgreSQL, shared by
the workers). Each worker keeps the active wordings' vectors in memory and reads them again when the
store has changed (a staff command, another worker).
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from sqlite_utils import Migrations

from bot.core.hooks import CuratedReply
from bot.storage import Database, Schema, Store

log = logging.getLogger(__name__)
migrations = Migrations("curated_answers")

THRESHOLD = 0.96          # cosine of e5 query embeddings; measured in tests/test_curated.py
ACTIVE, RETIRED = "active", "retired"


@migrations()
def m001_curated(db):
    db["curated"].create({
        "id": int, "question": str, "reply": str, "clause_ids": str, "clause_hashes": str,
        "created": float, "created_by": str, "source_question_id": int, "status": str,
        "retired_at": float, "retired_by": str, "hits": int, "last_hit": float,
    }, pk="id", defaults={"status": ACTIVE, "hits": 0})
    db["wordings"].create({"id": int, "curated_id": int, "text": str, "vec": bytes, "added": float},
                          pk="id", foreign_keys=[("curated_id", "curated", "id")])
    db["wordings"].create_index(["curated_id"])


@dataclass
class Curated:
    id: int
    question: str
    reply: str
    clause_ids: list[str]
    created: float
    created_by: str
    status: str = ACTIVE
    source_question_id: int | None = None
    clause_hashes: dict[str, str] = field(default_factory=dict)
    wordings: list[str] = field(default_factory=list)
    hits: int = 0
    retired_by: str | None = None


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def default_keys(text: str) -> tuple:
    """What must be the same in two questions for one answer to fit both: the figures they name."""
    return tuple(sorted(float(x) for x in _NUMBER.findall(text.replace(",", "").replace("，", ""))))


def lapse_reason(clause_ids: list[str], clause_hashes: dict[str, str], kb) -> str | None:
    """Why a curated answer citing these clauses no longer holds in knowledge base `kb` (kb/store.py
    KnowledgeBase), or None: a cited clause gone or changed, a cited document retired or replaced."""
    for cid in clause_ids:
        clause = kb.clauses.get(cid)
        if clause is None:
            return f"引用的条款 {cid} 已不在知识库中"
        doc = kb.documents.get(clause.doc_id)
        if doc is None or doc.status != "active":
            return f"引用的文件 {clause.doc_id} 已废止"
        if doc.superseded_by:
            return f"引用的文件 {clause.doc_id} 已被 {doc.superseded_by} 替代"
        want = clause_hashes.get(cid)
        if want and want != clause.hash:
            return f"引用的条款 {cid} 的内容已修改"
    return None


class CuratedStore(Store):
    """Curated answers. `lapsed(clause_ids, clause_hashes) -> reason | None` is asked at every
    match (the runtime binds it to the knowledge base in service); `keys(text)` gives what two questions
    must share (default: their figures; the runtime adds the places they name)."""
    schema = Schema("curated_answers", migrations)

    def __init__(self, path: "Path | str | Database", threshold: float = THRESHOLD,
                 lapsed: Callable[[list[str], dict[str, str]], str | None] | None = None,
                 keys: Callable[[str], tuple] | None = None):
        super().__init__(path)
        self.threshold = threshold
        self.lapsed = lapsed
        self.keys = keys or default_keys
        self._cache: tuple[tuple, list[tuple[int, str, tuple]], np.ndarray] | None = None

    # -- writing
    def add(self, question: str, qvec, reply: str, clause_ids: list[str], by: str,
            clause_hashes: dict[str, str] | None = None, source_question_id: int | None = None) -> int:
        question, reply = question.strip(), reply.strip()
        if not question or not reply:
            raise ValueError("a curated answer needs the question and the reply")
        vec = _unit(qvec)
        with self.database.transaction() as tx:
            cid = tx.insert("curated", {
                "question": question, "reply": reply, "clause_ids": json.dumps(list(clause_ids)),
                "clause_hashes": json.dumps(clause_hashes or {}), "created": time.time(),
                "created_by": by, "source_question_id": source_question_id, "status": ACTIVE, "hits": 0,
            })
            self._insert_wording(tx, cid, question, vec)
        self._cache = None
        return cid

    def add_wording(self, curated_id: int, text: str, vec) -> None:
        """Another wording of the question (`answers curate --also`)."""
        if self.get(curated_id) is None:
            raise KeyError(curated_id)
        self._insert_wording(self.database, curated_id, text.strip(), _unit(vec))
        self._cache = None

    @staticmethod
    def _insert_wording(db: Database, curated_id: int, text: str, vec: np.ndarray) -> None:
        db.insert("wordings", {"curated_id": curated_id, "text": text, "vec": vec.tobytes(), "added": time.time()})

    def retire(self, curated_id: int, by: str) -> bool:
        n = self.database.execute("UPDATE curated SET status = ?, retired_at = ?, retired_by = ? "
                                  "WHERE id = ? AND status = ?",
                                  [RETIRED, time.time(), by, curated_id, ACTIVE]).rowcount
        self._cache = None
        return n == 1

    # -- reading
    def get(self, curated_id: int) -> Curated | None:
        rows = self._rows("WHERE id = ?", [curated_id])
        return rows[0] if rows else None

    def list(self, include_retired: bool = True) -> list[Curated]:
        return self._rows("" if include_retired else "WHERE status = 'active'", [])

    def _rows(self, where: str, args: list) -> list[Curated]:
        rows = self.database.execute(f"SELECT * FROM curated {where} ORDER BY id", args).dicts()
        texts: dict[int, list[str]] = {r["id"]: [] for r in rows}
        if rows:
            for cid, text in self.database.execute(
                    f"SELECT curated_id, text FROM wordings WHERE curated_id IN (SELECT id FROM curated {where}) "
                    "ORDER BY id", args).fetchall():
                texts.setdefault(cid, []).append(text)
        return [Curated(r["id"], r["question"], r["reply"], json.loads(r["clause_ids"] or "[]"), r["created"],
                        r["created_by"] or "", r["status"], r["source_question_id"],
                        json.loads(r["clause_hashes"] or "{}"), texts[r["id"]], r["hits"] or 0,
                        r["retired_by"]) for r in rows]

    def state(self, entry: Curated) -> str:
        """active, retired, or lapsed: <why> (checked against the knowledge base now)."""
        if entry.status != ACTIVE:
            return RETIRED
        why = self.lapsed(entry.clause_ids, entry.clause_hashes) if self.lapsed else None
        return f"lapsed: {why}" if why else ACTIVE

    def _wordings(self):
        """(version, [(curated id, text, keys)], matrix of unit vectors) of active answers, read again
        when the active wordings have changed (a staff command or another worker changed the store)."""
        version = tuple(self.database.execute(
            "SELECT count(*), coalesce(max(w.id), 0) FROM wordings w JOIN curated c ON c.id = w.curated_id "
            "WHERE c.status = 'active'").fetchone())
        if self._cache is not None and self._cache[0] == version:
            return self._cache
        rows = self.database.execute("SELECT w.curated_id, w.text, w.vec FROM wordings w JOIN curated c "
                                     "ON c.id = w.curated_id WHERE c.status = 'active' ORDER BY w.id").fetchall()
        meta = [(cid, text, self.keys(text)) for cid, text, _ in rows]
        mat = (np.stack([np.frombuffer(bytes(v), dtype=np.float32) for _, _, v in rows]) if rows
               else np.zeros((0, 0), np.float32))
        self._cache = (version, meta, mat)
        return self._cache

    def match(self, question: str, qvec) -> CuratedReply | None:
        """The curated reply for a question close in meaning to one staff answered, or None. Never raises:
        a failure here must not stop the assistant answering on its own."""
        try:
            return self._match(question, qvec)
        except Exception:
            log.exception("curated answers: matching failed; answering without them")
            return None

    def _match(self, question: str, qvec) -> CuratedReply | None:
        if qvec is None:
            return None
        _, meta, mat = self._wordings()
        if not meta:
            return None
        v = np.asarray(qvec, dtype=np.float32).reshape(-1)
        if mat.shape[1] != v.shape[0]:
            log.warning("curated answers were embedded with another model (%d-d, not %d-d): re-curate them",
                        mat.shape[1], v.shape[0])
            return None
        sims = mat @ (v / (np.linalg.norm(v) or 1.0))
        keys = self.keys(question)
        tried: set[int] = set()
        for i in np.argsort(-sims):
            if sims[i] < self.threshold:
                break
            cid, _, wkeys = meta[i]
            if cid in tried or wkeys != keys:
                continue
            tried.add(cid)
            entry = self.get(cid)
            if entry is None or entry.status != ACTIVE:
                continue
            why = self.lapsed(entry.clause_ids, entry.clause_hashes) if self.lapsed else None
            if why:
                log.info("curated answer %d has lapsed (%s): not given", cid, why)
                continue
            self.database.execute("UPDATE curated SET hits = hits + 1, last_hit = ? WHERE id = ?",
                                  [time.time(), cid])
            return CuratedReply(cid, entry.reply, list(entry.clause_ids), float(sims[i]))
        return None


def _unit(vec) -> np.ndarray:
    v = np.asarray(vec, dtype=np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    if not n:
        raise ValueError("the question's vector is empty")
    return v / n


# ---------------------------------------------------------------- for staff commands
def open_store(config, kb=None) -> "CuratedStore":
    """The curated answers of `config`'s data dir, their lapse checked against `kb` (default: the knowledge
    base in service, read from disk; none built yet → nothing lapses)."""
    if kb is None:
        kb = load_kb(config)
    from kb.regions import Gazetteer
    gaz = Gazetteer.load()

    def keys(text: str) -> tuple:
        return default_keys(text) + tuple(sorted({r.name for r in gaz.find_all(text)}))
    from bot.storage import location
    return CuratedStore(location(config, "curated_answers"), threshold=getattr(config, "curated_threshold", None)
                        or THRESHOLD, lapsed=(lambda ids, hashes: lapse_reason(ids, hashes, kb)) if kb else None,
                        keys=keys)


def load_kb(config):
    from kb.store import KnowledgeBase
    try:
        return KnowledgeBase.load(config.kb_db)
    except Exception as e:      # not built yet, or unreadable: say so where it is used
        log.info("no knowledge base to check curated answers against: %s", e)
        return None


def verify_listing(live_config, candidate_config) -> list[tuple[Curated, str, str]]:
    """For `kb verify`: every curated answer with its state in the live knowledge base and in the
    candidate (a retire/replace that makes one lapse shows as a change)."""
    from bot.storage import exists, location
    if not exists(live_config, "curated_answers"):
        return []
    live_kb, cand_kb = load_kb(live_config), load_kb(candidate_config)
    store = CuratedStore(location(live_config, "curated_answers"))
    try:
        out = []
        for entry in store.list(include_retired=False):
            states = []
            for kb in (live_kb, cand_kb):
                why = lapse_reason(entry.clause_ids, entry.clause_hashes, kb) if kb else None
                states.append(f"lapsed: {why}" if why else ACTIVE)
            out.append((entry, states[0], states[1]))
        return out
    finally:
        store.close()

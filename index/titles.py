"""The documents' titles, 文号 and TA numbers, indexed at build time: which documents share a word or a
character bigram with a question's title words, whose 文号 or proposal number it quotes — so that finding the
documents a question names (bot/core/documents.py) looks at a few of them, not at every one.

    titles_docs.npy                document ids, in the order of the build's documents
    titles_kind.npy / titles_region.npy   per document: its kind and region (positions in titles_meta.json)
    titles_meta.json               the kinds and regions
    title_<table>.npy              sorted keys of each table, with title_<table>_ptr.npy / _docs.npy: the
                                   documents of key i are docs[ptr[i]:ptr[i+1]] (ascending)
        tokens   words of the title (index.tokenize, as the question is cut at run time)
        grams    character bigrams of the title (index.sentences.bigrams)
        plain    the 文号 without spaces and brackets (晋市政办202339号)
        num      the number in the 文号 (39), as written by int()
        ta       a TA proposal number in the 文号 or title, lower case (ta0034)

The normalisations below are the ones the scoring of a document uses, so both agree by construction.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from index.vocab import StringTable, save_strings

NUM_IN_NUMBER = re.compile(r"(\d{4})\D{0,3}(\d{1,4})\s*号")
_NUMBER_MENTION = re.compile(r"(?<!\d)(\d+)\s*号")
_TA = re.compile(r"TA\d{3,5}", re.I)
TABLES = ("tokens", "grams", "plain", "num", "ta")


def compact_number(number: str | None) -> str:
    """The 文号 without whitespace."""
    return re.sub(r"\s", "", number or "")


def plain_number(number: str | None) -> str:
    """The 文号 without whitespace and brackets: 晋市政办〔2023〕39号 → 晋市政办202339号."""
    return re.sub(r"[〔〕\[\]［］（）()【】]", "", compact_number(number))


def plain_question(question: str) -> str:
    """The question as a 文号 is looked for in it: without whitespace and brackets."""
    return re.sub(r"[\s〔〕\[\]［］（）()【】]", "", question)


def number_key(plain: str) -> str | None:
    """The number of a plain 文号 (202339号 → "39"), or None."""
    m = NUM_IN_NUMBER.search(plain)
    return str(int(m.group(2))) if m else None


def ta_key(number: str | None, title: str) -> str | None:
    """The TA proposal number of a document, lower case (TA0034 → "ta0034"), or None."""
    m = _TA.search(compact_number(number) + title)
    return m.group().lower() if m else None


def number_mentions(question: str) -> set[str]:
    """Numbers the question gives as "N号" (each a whole run of digits): a document whose number_key is
    one of them is named by number."""
    return {m.group(1) for m in _NUMBER_MENTION.finditer(question)}


def ta_mentions(question: str) -> set[str]:
    """Every ta_key a document could have that occurs in the question."""
    q = question.lower()
    out = set()
    for m in re.finditer("ta", q):
        digits = ""
        for ch in q[m.end():m.end() + 5]:
            if not re.fullmatch(r"\d", ch):
                break
            digits += ch
        out.update("ta" + digits[:k] for k in range(3, len(digits) + 1))
    return out


def _units(title: str) -> tuple[set[str], set[str]]:
    from index.sentences import bigrams
    from index.tokenize import tokenize
    return set(tokenize(title)), bigrams(title)


def write(directory: Path, docs: Iterable) -> None:
    """docs: DocumentMeta of every document (id, title, number, kind, region), in the build's order."""
    docs = list(docs)
    kinds = sorted({d.kind or "" for d in docs})
    regions = sorted({d.region or "" for d in docs})
    tables: dict[str, dict[str, list[int]]] = {t: {} for t in TABLES}
    for i, d in enumerate(docs):
        tokens, grams = _units(d.title or "")
        plain = plain_number(d.number)
        keys = {"tokens": tokens, "grams": grams, "plain": {plain} if plain else set(),
                "num": {number_key(plain)} - {None}, "ta": {ta_key(d.number, d.title or "")} - {None}}
        for table, words in keys.items():
            for w in words:
                tables[table].setdefault(w, []).append(i)
    np.save(directory / "titles_docs.npy", np.array([d.id for d in docs] or [""], dtype=str)[:len(docs)])
    np.save(directory / "titles_kind.npy", np.array([kinds.index(d.kind or "") for d in docs], np.int32))
    np.save(directory / "titles_region.npy", np.array([regions.index(d.region or "") for d in docs], np.int32))
    lengths = sorted({len(p) for p in tables["plain"]})
    (directory / "titles_meta.json").write_text(json.dumps({"kinds": kinds, "regions": regions,
                                                            "plain_lengths": lengths}, ensure_ascii=False),
                                                encoding="utf-8")
    for table, postings in tables.items():
        keys = save_strings(directory / f"title_{table}.npy", postings)
        lists = [postings.get(str(k), []) for k in keys]
        ptr = np.zeros(len(lists) + 1, np.int64)
        np.cumsum([len(p) for p in lists], out=ptr[1:])
        np.save(directory / f"title_{table}_ptr.npy", ptr)
        np.save(directory / f"title_{table}_docs.npy", np.array([i for p in lists for i in p], np.int32))


class _Postings:
    def __init__(self, directory: Path, table: str):
        self.keys = StringTable(directory / f"title_{table}.npy")
        self.ptr = np.load(directory / f"title_{table}_ptr.npy", mmap_mode="r")
        self.docs = np.load(directory / f"title_{table}_docs.npy", mmap_mode="r")

    def of(self, words: list[str]) -> list[tuple[str, np.ndarray]]:
        """(word, its documents) for the words that are keys."""
        out = []
        for w, i in zip(words, self.keys.ids(words).tolist()):
            if i >= 0:
                out.append((w, np.asarray(self.docs[int(self.ptr[i]):int(self.ptr[i + 1])])))
        return out

    def docs_of(self, words: list[str]) -> np.ndarray:
        found = [d for _, d in self.of(words)]
        return np.unique(np.concatenate(found)) if found else np.zeros(0, np.int32)


class TitleIndex:
    """The tables above, memory-mapped; a document is known by its position (`doc_id(i)`)."""

    def __init__(self, directory: Path):
        directory = Path(directory)
        self.ids = np.load(directory / "titles_docs.npy", mmap_mode="r")
        self.doc_kind = np.load(directory / "titles_kind.npy", mmap_mode="r")
        self.doc_region = np.load(directory / "titles_region.npy", mmap_mode="r")
        meta = json.loads((directory / "titles_meta.json").read_text(encoding="utf-8"))
        self.kinds, self.regions = meta["kinds"], meta["regions"]
        self._plain_lengths = meta["plain_lengths"]
        self._tables = {t: _Postings(directory, t) for t in TABLES}

    def __len__(self) -> int:
        return len(self.ids)

    def doc_id(self, i: int) -> str:
        return str(self.ids[i])

    def overlap(self, token_weights: dict[str, float], gram_weights: dict[str, float]) -> np.ndarray:
        """Per document: the sum of the weights of the words and bigrams of its title."""
        out = np.zeros(len(self), np.float64)
        for table, weights in (("tokens", token_weights), ("grams", gram_weights)):
            found = self._tables[table].of(list(weights))
            if found:
                docs = np.concatenate([d for _, d in found])
                w = np.concatenate([np.full(len(d), weights[word], np.float64) for word, d in found])
                out += np.bincount(docs, weights=w, minlength=len(self))
        return out

    def quoting_number(self, question: str) -> np.ndarray:
        """Documents whose plain 文号 occurs in the question (plain_question)."""
        q = plain_question(question)
        subs = [q[a:a + n] for n in self._plain_lengths for a in range(len(q) - n + 1)]
        return self._tables["plain"].docs_of(list(dict.fromkeys(subs)))

    def numbered(self, question: str) -> np.ndarray:
        """Documents whose number the question gives as "N号"."""
        return self._tables["num"].docs_of(sorted(number_mentions(question)))

    def quoting_ta(self, question: str) -> np.ndarray:
        """Documents whose TA proposal number occurs in the question."""
        return self._tables["ta"].docs_of(sorted(ta_mentions(question)))

"""Sorted string tables on disk: token → id by binary search over a memory-mapped array, so that start-up
reads none of a vocabulary that grows with the knowledge base; lookups a process has made are remembered."""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np


def save_strings(path: Path, strings: Iterable[str]) -> np.ndarray:
    """Write the strings sorted; returns them in that order (a string's id is its position)."""
    arr = np.array(sorted(set(strings)) or [""], dtype=str)
    np.save(path, arr)
    return arr


class StringTable:
    """Sorted strings from `save_strings`, memory-mapped. `ids(words)` → positions, -1 where absent."""

    def __init__(self, path: Path):
        self.strings = np.load(path, mmap_mode="r")

    def __len__(self) -> int:
        return len(self.strings)

    def ids(self, words: list[str]) -> np.ndarray:
        if not words:
            return np.zeros(0, np.int64)
        q = np.array(words, dtype=str)
        pos = np.searchsorted(self.strings, q)
        pos = np.minimum(pos, len(self.strings) - 1)
        found = self.strings[pos] == q
        return np.where(found, pos, -1)

    def id(self, word: str) -> int:
        return int(self.ids([word])[0])

    def word(self, i: int) -> str:
        return str(self.strings[i])


class Weights(Mapping):
    """word → weight for the words of a StringTable that have one (NaN in `values` means none): behaves as
    the dict it replaces (`in`, `[]`, `.get`), remembering the answers it has looked up."""
    CACHE = 200000

    def __init__(self, table: StringTable, values: np.ndarray):
        self.table, self.values = table, values
        self._seen: dict[str, float | None] = {}
        self._lock = threading.Lock()

    def _lookup(self, word) -> float | None:
        if not isinstance(word, str):
            return None
        try:
            return self._seen[word]
        except KeyError:
            pass
        i = self.table.id(word)
        v = None if i < 0 else float(self.values[i])
        if v is not None and v != v:       # NaN: a word of the table without a weight here
            v = None
        with self._lock:
            if len(self._seen) >= self.CACHE:
                self._seen.clear()
            self._seen[word] = v
        return v

    def __getitem__(self, word) -> float:
        v = self._lookup(word)
        if v is None:
            raise KeyError(word)
        return v

    def __contains__(self, word) -> bool:
        return self._lookup(word) is not None

    def get(self, word, default=None):
        v = self._lookup(word)
        return default if v is None else v

    def __len__(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.values)))

    def __iter__(self):
        ok = ~np.isnan(self.values)
        return (str(w) for w, k in zip(self.table.strings, ok) if k)

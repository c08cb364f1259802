"""Where each clause and passage sits in the index: rows grouped by the region of their document, so a search
for one region reads only its shard and its parents' (a city's policy covers its counties; a county's only
itself). Written at build time, read memory-mapped.

    layout.json          regions → clause and passage row ranges; documents → region and clause rows
    clause_ids.npy       clause id of each row             clause_sorted.npy / clause_sorted_row.npy: id → row
    clause_doc.npy       document (position in layout.json) of each row
    clause_passages.npy  passage rows of clause row i: [ptr[i], ptr[i+1])
    passage_clause.npy   clause row of each passage
    clause_flags.npy     bit 0: an introduction to sub-clauses ("…如下：")
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INTRO = 1


def shard_order(regions: list[str]) -> list[int]:
    """Positions sorted so that equal regions are together, regions in order of first appearance, and order
    kept within a region (a knowledge base already grouped so keeps its order)."""
    first: dict[str, int] = {}
    for r in regions:
        first.setdefault(r, len(first))
    return sorted(range(len(regions)), key=lambda i: (first[regions[i]], i))


def write_layout(directory: Path, clause_ids: list[str], clause_docs: list[str], doc_regions: dict[str, str],
                 passage_clause: list[int], flags: list[int]) -> None:
    """clause rows must already be grouped by region (shard_order) and passages by clause row."""
    docs = list(dict.fromkeys(clause_docs))
    doc_pos = {d: i for i, d in enumerate(docs)}
    regions: dict[str, dict] = {}
    of_passage = np.asarray(passage_clause, np.int64)
    ptr = np.searchsorted(of_passage, np.arange(len(clause_ids) + 1), side="left").astype(np.int64)
    doc_rows: dict[str, list[int]] = {}
    for row, d in enumerate(clause_docs):
        r = doc_regions[d]
        span = regions.setdefault(r, {"rows": [row, row]})
        if span["rows"][1] != row:
            raise ValueError(f"clause rows of region {r} are not contiguous")
        span["rows"][1] = row + 1
        doc_rows.setdefault(d, [row, row + 1])[1] = row + 1
    for span in regions.values():
        a, b = span["rows"]
        span["passages"] = [int(ptr[a]), int(ptr[b])]
    layout = {"regions": regions, "documents": [{"id": d, "region": doc_regions[d], "rows": doc_rows[d]}
                                                 for d in docs]}
    (directory / "layout.json").write_text(json.dumps(layout, ensure_ascii=False), encoding="utf-8")
    ids = np.array(clause_ids, dtype=str) if clause_ids else np.zeros(0, "<U1")
    np.save(directory / "clause_ids.npy", ids)
    order = np.argsort(ids, kind="stable")
    np.save(directory / "clause_sorted.npy", ids[order])
    np.save(directory / "clause_sorted_row.npy", order.astype(np.int32))
    np.save(directory / "clause_doc.npy", np.array([doc_pos[d] for d in clause_docs], np.int32))
    np.save(directory / "clause_passages.npy", ptr)
    np.save(directory / "passage_clause.npy", of_passage.astype(np.int32))
    np.save(directory / "clause_flags.npy", np.array(flags, np.uint8))


@dataclass
class Layout:
    regions: dict[str, dict]
    docs: list[str]
    doc_region: list[str]
    clause_ids: np.ndarray
    sorted_ids: np.ndarray
    sorted_row: np.ndarray
    clause_doc: np.ndarray
    clause_passages: np.ndarray
    passage_clause: np.ndarray
    flags: np.ndarray

    @classmethod
    def load(cls, directory: Path) -> "Layout":
        raw = json.loads((directory / "layout.json").read_text(encoding="utf-8"))
        m = lambda name: np.load(directory / name, mmap_mode="r")  # noqa: E731
        lay = cls(raw["regions"], [d["id"] for d in raw["documents"]], [d["region"] for d in raw["documents"]],
                  m("clause_ids.npy"), m("clause_sorted.npy"), m("clause_sorted_row.npy"), m("clause_doc.npy"),
                  m("clause_passages.npy"), m("passage_clause.npy"), m("clause_flags.npy"))
        lay._rows: dict[str, int] = {}
        lay._lock = threading.Lock()
        lay._doc_pos = {d: i for i, d in enumerate(lay.docs)}
        return lay

    @property
    def size(self) -> int:
        return len(self.clause_ids)

    @property
    def passages(self) -> int:
        return len(self.passage_clause)

    def row(self, clause_id: str) -> int:
        """The clause's row, -1 when it is not indexed."""
        r = self._rows.get(clause_id)
        if r is None:
            n = len(self.sorted_ids)
            i = int(np.searchsorted(self.sorted_ids, clause_id)) if n else 0
            r = int(self.sorted_row[i]) if i < n and str(self.sorted_ids[i]) == clause_id else -1
            with self._lock:
                if len(self._rows) > 200000:
                    self._rows.clear()
                self._rows[clause_id] = r
        return r

    def clause_id(self, row: int) -> str:
        return str(self.clause_ids[row])

    def ranges(self, regions: list[str] | None) -> list[tuple[int, int]]:
        """Clause row ranges of these regions' shards (all rows for None), in row order, merged."""
        if regions is None:
            return [(0, self.size)] if self.size else []
        spans = sorted(tuple(self.regions[r]["rows"]) for r in regions if r in self.regions)
        out: list[tuple[int, int]] = []
        for a, b in spans:
            if out and out[-1][1] == a:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
        return out

    def passage_range(self, a: int, b: int) -> tuple[int, int]:
        return int(self.clause_passages[a]), int(self.clause_passages[b])

    def doc_mask(self, docs: set[str]) -> np.ndarray:
        """Over document positions: True for the given document ids."""
        mask = np.zeros(len(self.docs), bool)
        for d in docs:
            i = self._doc_pos.get(d)
            if i is not None:
                mask[i] = True
        return mask

"""Gold-set measurements shared by `python -m bot eval` and the tests."""
from __future__ import annotations

from pathlib import Path

import yaml

from bot.config import ROOT

GOLD = ROOT / "tests" / "gold" / "retrieval.yaml"


def load_gold(path: str | Path | None = None) -> list[dict]:
    raw = yaml.safe_load(Path(path or GOLD).read_text(encoding="utf-8"))
    return raw["cases"]


def retrieval_metrics(assistant, cases: list[dict], k: int = 5):
    n = len(cases)
    r1 = r3 = r5 = mrr = 0.0
    misses = []
    for case in cases:
        want = set(case["clauses"])
        region = None
        if case.get("region"):
            region = assistant.gaz.resolve(case["region"]).name
        else:
            found = assistant.gaz.find_in(case["q"])
            region = found.name if found else None
        got = [h.clause_id for h in assistant.search(case["q"], k, region)]
        rank = next((i for i, c in enumerate(got) if c in want), None)
        if rank is not None:
            r1 += rank < 1
            r3 += rank < 3
            r5 += rank < 5
            mrr += 1 / (rank + 1)
        if rank != 0:
            misses.append((case["q"], sorted(want), got[:3]))
    return {"n": n, "r1": r1 / n, "r3": r3 / n, "r5": r5 / n, "mrr": mrr / n}, misses

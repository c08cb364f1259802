"""Query expansion with the colloquial → document-term table in synonyms.yaml."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

SYNONYMS_FILE = Path(__file__).with_name("synonyms.yaml")


@lru_cache(maxsize=1)
def table() -> tuple[tuple[str, str], ...]:
    raw = yaml.safe_load(SYNONYMS_FILE.read_text(encoding="utf-8")) or {}
    return tuple(sorted(((str(k).lower(), str(v)) for k, v in raw.items()), key=lambda kv: -len(kv[0])))


def expand(query: str) -> str:
    q = query.lower()
    extra = [v for k, v in table() if k in q]
    return query + (" " + " ".join(extra) if extra else "")

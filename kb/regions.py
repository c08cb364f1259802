"""Gazetteer of regions: names, short forms and nesting (a city's policy covers its counties)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

GAZETTEER_FILE = Path(__file__).with_name("regions.yaml")


@dataclass(frozen=True)
class Region:
    name: str
    parent: str | None
    level: str
    aliases: tuple[str, ...]


class Gazetteer:
    def __init__(self, regions: list[Region], outside: list[str]):
        self.regions = {r.name: r for r in regions}
        self.outside = tuple(outside)
        self._alias: dict[str, str] = {}
        for r in regions:
            for a in (r.name, *r.aliases):
                self._alias[a] = r.name
        # longest names first so 晋城市城区 wins over 晋城市 and 城区
        names = sorted(self._alias, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, names)))
        self._outside_pattern = re.compile("|".join(map(re.escape, self.outside)))

    @classmethod
    @lru_cache(maxsize=4)
    def load(cls, path: Path = GAZETTEER_FILE) -> "Gazetteer":
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        regions = [Region(r["name"], r.get("parent"), r.get("level", "city" if r.get("parent") == "山西省"
                                                                else "county"), tuple(r.get("aliases", [])))
                   for r in raw["regions"]]
        return cls(regions, raw.get("outside", []))

    def resolve(self, name: str | None) -> Region | None:
        if not name:
            return None
        key = self._alias.get(name.strip())
        return self.regions.get(key) if key else None

    def find_all(self, text: str) -> list[Region]:
        found: list[Region] = []
        for m in self._pattern.finditer(text):
            r = self.regions[self._alias[m.group()]]
            if r.level == "province":
                continue  # 山西精品, 山西省工艺美术大师: every document is in Shanxi
            if r not in found:
                found.append(r)
        return found

    def mentions(self, text: str) -> list[tuple[str, int, int]]:
        """Every region named in the text, with where: (name, start, end); the province is left out."""
        out = []
        for m in self._pattern.finditer(text):
            name = self._alias[m.group()]
            if self.regions[name].level != "province":
                out.append((name, m.start(), m.end()))
        return out

    def find_in(self, text: str) -> Region | None:
        """The most specific region the text names (a county beats its city)."""
        found = self.find_all(text)
        if not found:
            return None
        return max(found, key=lambda r: len(self.ancestors(r.name)))

    def outside_place(self, text: str) -> str | None:
        m = self._outside_pattern.search(text)
        return m.group() if m else None

    def ancestors(self, name: str) -> list[str]:
        """The region and its parents, most specific first."""
        chain, cur = [], self.regions.get(name)
        while cur:
            chain.append(cur.name)
            cur = self.regions.get(cur.parent) if cur.parent else None
        return chain

    def covers(self, policy_region: str, enterprise_region: str) -> bool:
        """Does a policy of `policy_region` apply to an enterprise in `enterprise_region`?"""
        return policy_region in self.ancestors(enterprise_region)

    def short(self, name: str) -> str:
        r = self.regions.get(name)
        return r.aliases[0] if r and r.aliases else name

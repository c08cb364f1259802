"""Question analysis: a message → a frame (its type, how sure, and the slots)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Callable

import numpy as np

from bot.nlu.intents import IntentModel, fold
from bot.nlu.slots import Slots, read_slots
from kb.regions import Gazetteer

# below this the type is not trusted on its own (chosen on the bank's held-out part: `bot eval intents`)
CONFIDENT = 0.5


@dataclass
class Frame:
    text: str
    type: str
    confidence: float
    ranked: list[tuple[str, float]]
    slots: Slots
    qvec: np.ndarray | None = field(default=None, repr=False)

    @property
    def confident(self) -> bool:
        return self.confidence >= CONFIDENT

    def score(self, type_: str) -> float:
        return next((p for t, p in self.ranked if t == type_), 0.0)


class Analyzer:
    def __init__(self, model: IntentModel, gazetteer: Gazetteer, embed: Callable[[str], np.ndarray]):
        self.model, self.gaz, self.embed = model, gazetteer, embed

    def analyse(self, text: str, today: date) -> Frame:
        slots = read_slots(text, self.gaz, today)
        qvec = self.embed(text)
        p = self.model.predict(fold(text, self.gaz.mentions(text)), qvec)
        return Frame(text, p.type, p.confidence, p.ranked, slots, qvec)

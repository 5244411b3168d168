"""BANT (budget, authority, need, timeline) as a qualification rule.

Each fact is positive, negative or unknown:

==============  ===========================  ==========================
fact            positive                     negative
==============  ===========================  ==========================
``budget``      a number above 0             0
``authority``   true                         false
``need``        any other text               none, no, n/a, kein, keiner
``timeline``    immediate, quarter, year     none
==============  ===========================  ==========================

The lead's BANT is ``qualified`` when all four facts are positive, ``held_back`` when a fact the
model lists under ``lifecycle.bant.hold_back_on`` is negative, else ``open``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from leadstream.core.profile import BANT_FIELDS

__all__ = ["BantVerdict", "fact", "verdict"]

Fact = Literal["positive", "negative", "unknown"]
Status = Literal["qualified", "held_back", "open"]

_NO_NEED = frozenset({"none", "no", "n/a", "na", "kein", "keiner", "keine", "nein", "-"})


@dataclass(frozen=True, slots=True)
class BantVerdict:
    status: Status
    negatives: tuple[str, ...] = ()  # the listed facts that hold the lead back


def fact(name: str, value: Any) -> Fact:
    """Whether one BANT fact speaks for or against buying."""
    if value is None:
        return "unknown"
    if name == "budget":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "unknown"
        return "positive" if value > 0 else "negative"
    if name == "authority":
        return "positive" if value is True else "negative" if value is False else "unknown"
    if name == "need":
        text = str(value).strip().lower()
        return "unknown" if not text else "negative" if text in _NO_NEED else "positive"
    if name == "timeline":
        return "negative" if value == "none" else "positive" if value in (
            "immediate", "quarter", "year") else "unknown"
    return "unknown"


def verdict(bant: Mapping[str, Any], hold_back_on: tuple[str, ...]) -> BantVerdict:
    facts = {name: fact(name, bant.get(name)) for name in BANT_FIELDS}
    negatives = tuple(name for name in hold_back_on if facts.get(name) == "negative")
    if negatives:
        return BantVerdict("held_back", negatives)
    if all(value == "positive" for value in facts.values()):
        return BantVerdict("qualified")
    return BantVerdict("open")

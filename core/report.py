"""The funnel report (``GET /reports/funnel``, README "Reports"): leads per stage, stage-to-stage
conversion, median time between stages and, with campaign costs, cost per lead, MQL, SQL and won
deal, grouped by source type, campaign or month of creation.

It is derived from the lead states themselves (:func:`row_of`), not from counters kept beside
them, so it is exact whenever the states are, after a crash too. Each worker folds its own leads
into *partials* (:func:`add_row`), which merge by addition (:func:`merge_partials`); the worker
asked finishes them (:func:`finish`).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from leadstream.core import attribution
from leadstream.core.apply import WON_AMOUNT
from leadstream.core.stages import Stage
from leadstream.core.state import LeadState
from leadstream.core.model import ModelSet

__all__ = ["FUNNEL", "GROUPINGS", "Row", "Cost", "row_of", "add_row", "merge_partials", "finish",
           "month_of", "month_window", "Grouping"]

#: the funnel's steps, in order: conversion and time are reported between neighbours
FUNNEL = (Stage.MGL, Stage.MQL, Stage.SAL, Stage.SQL, Stage.WON)
STEPS = tuple(f"{a}_to_{b}" for a, b in zip(FUNNEL, FUNNEL[1:]))
Grouping = Literal["source_type", "campaign", "month"]
GROUPINGS: tuple[str, ...] = ("source_type", "campaign", "month")
_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Row:
    """One lead, as the report counts it."""

    created_at: float  # when it became a lead (its earliest touchpoint with contact identity)
    stage: str
    reached: Mapping[str, float]  # funnel stage → when it first entered it
    source_type: str
    campaign: str | None  # of the touch that made it a lead (else its first touch)
    won_amount: float | None


@dataclass(frozen=True, slots=True)
class Cost:
    """What a campaign cost in one month (reports.costs_path)."""

    campaign: str
    month: str  # YYYY-MM
    cost: float
    currency: str
    source_type: str


def month_of(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m")


def row_of(state: LeadState, models: ModelSet) -> Row | None:
    """``None`` for a visitor or a retired (merged-away) id: not a lead."""
    if state.merged_into is not None or state.stage == Stage.VISITOR:
        return None
    created = state.contact_since if state.contact_since is not None else state.first_event_at
    if created is None:
        return None
    reached: dict[str, float] = {Stage.MGL: created}
    for entry in state.history:
        to = entry["to"]
        if to in FUNNEL and to not in reached:
            reached[to] = entry["at"]
    touch = attribution.source_of(state.attribution)
    amount = state.flags.get(WON_AMOUNT)
    return Row(created_at=created, stage=state.stage, reached=reached,
               source_type=attribution.source_type(state.attribution, models),
               campaign=touch[4] if touch is not None else None,
               won_amount=float(amount) if amount is not None and state.stage == Stage.WON else None)


def group_of(row: Row, by: str | None) -> str:
    if by == "source_type":
        return row.source_type
    if by == "campaign":
        return row.campaign or "(none)"
    if by == "month":
        return month_of(row.created_at)
    return "all"


def _empty() -> dict[str, Any]:
    return {"leads": 0, "stages": {}, "reached": {}, "hours": {step: [] for step in STEPS},
            "revenue": 0.0, "won_with_amount": 0}


def add_row(partials: dict[str, dict[str, Any]], row: Row, by: str | None) -> None:
    part = partials.setdefault(group_of(row, by), _empty())
    part["leads"] += 1
    part["stages"][row.stage] = part["stages"].get(row.stage, 0) + 1
    for stage in row.reached:
        part["reached"][stage] = part["reached"].get(stage, 0) + 1
    for step, (a, b) in zip(STEPS, zip(FUNNEL, FUNNEL[1:])):
        if a in row.reached and b in row.reached:
            part["hours"][step].append(round(max(0.0, row.reached[b] - row.reached[a]) / _HOUR, 3))
    if row.won_amount is not None:
        part["revenue"] += row.won_amount
        part["won_with_amount"] += 1


def merge_partials(parts: Iterable[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    total: dict[str, dict[str, Any]] = {}
    for part in parts:
        for group, found in part.items():
            into = total.setdefault(group, _empty())
            into["leads"] += int(found["leads"])
            for name in ("stages", "reached"):
                for stage, n in found[name].items():
                    into[name][stage] = into[name].get(stage, 0) + int(n)
            for step in STEPS:
                into["hours"][step].extend(found["hours"].get(step, ()))
            into["revenue"] += float(found["revenue"])
            into["won_with_amount"] += int(found["won_with_amount"])
    return total


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def _cost_of(costs: Iterable[Cost], by: str | None, group: str,
             months: tuple[str | None, str | None]) -> float | None:
    first, last = months
    selected = [c for c in costs if (first is None or c.month >= first)
                and (last is None or c.month <= last)]
    if by == "source_type":
        selected = [c for c in selected if c.source_type == group]
    elif by == "campaign":
        selected = [c for c in selected if c.campaign == group]
    elif by == "month":
        selected = [c for c in selected if c.month == group]
    return round(sum(c.cost for c in selected), 2) if selected else None


def finish(partials: Mapping[str, Mapping[str, Any]], by: str | None,
           costs: Iterable[Cost] = (),
           months: tuple[str | None, str | None] = (None, None)) -> dict[str, Any]:
    """The report: per group, counts, conversion, median hours and, with costs, what a lead, an
    MQL, an SQL and a won deal cost (``months``: the first and last cost month the window
    covers, :func:`month_window`)."""
    costs = list(costs)
    groups: dict[str, Any] = {}
    for group in sorted(partials):
        part = partials[group]
        reached = part["reached"]
        out: dict[str, Any] = {
            "leads": part["leads"],
            "stages": dict(sorted(part["stages"].items())),
            "reached": {stage: reached.get(stage, 0) for stage in FUNNEL},
            "conversion": {step: _ratio(reached.get(b, 0), reached.get(a, 0))
                           for step, (a, b) in zip(STEPS, zip(FUNNEL, FUNNEL[1:]))},
            "median_hours": {step: (round(statistics.median(part["hours"][step]), 2)
                                    if part["hours"][step] else None) for step in STEPS},
        }
        if costs:
            cost = _cost_of(costs, by, group, months)
            out["cost"] = cost
            for name, stage in (("cost_per_lead", Stage.MGL), ("cost_per_mql", Stage.MQL),
                                ("cost_per_sql", Stage.SQL), ("cost_per_won", Stage.WON)):
                out[name] = round(cost / reached[stage], 2) if cost and reached.get(stage) else None
        if part["won_with_amount"]:
            out["revenue"] = round(part["revenue"], 2)
            if costs and out.get("cost"):
                out["return"] = round((part["revenue"] - out["cost"]) / out["cost"], 4)
        groups[group] = out
    report: dict[str, Any] = {"by": by, "groups": groups}
    if costs:
        report["currency"] = costs[0].currency
    return report



def month_window(since: float | None, until: float | None) -> tuple[str | None, str | None]:
    """The first and last month (YYYY-MM) a window touches; ``None``: open on that side."""
    return (month_of(since) if since is not None else None,
            month_of(until) if until is not None else None)

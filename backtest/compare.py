"""What each model made of the log, and how the candidates differ from the first (the current).

Per model: MQLs per ISO week, leads per stage at the end, grades and matrix cells, handover
events per kind and reason, the score distribution, and the precision of its MQLs against what
sales said in the log. Against the first model, per lead: an MQL earlier, later, additionally
(only the candidate), never (only the current), or the same.

Sales' verdicts in the log were given to the MQLs of the model that ran then; a candidate's
additional MQLs mostly have none. A lead's *outcome* is the furthest verdict it got: won, lost,
qualified, accepted, rejected, disqualified (won and lost leads were accepted first).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leadstream.backtest.replay import LeadSummary, ModelOutcome
from leadstream.core.stages import Stage

__all__ = ["compare", "OUTCOMES", "CHANGES", "outcome_of", "week_of"]

#: a lead's outcome from sales' verdicts, the furthest first
OUTCOMES = ("won", "lost", "qualified", "accepted", "rejected", "disqualified")
#: outcomes that mean sales took the lead on (an accepted MQL)
_TAKEN = frozenset({"won", "lost", "qualified", "accepted"})
CHANGES = ("earlier", "later", "additional", "never")
_SCORE_BINS = (0, 10, 20, 30, 40, 50, 60, 80, 100, 150)
_EXAMPLES = 12


def week_of(at: float) -> str:
    year, week, _ = datetime.fromtimestamp(at, tz=UTC).isocalendar()
    return f"{year}-W{week:02d}"


def outcome_of(verdicts: list[str] | None) -> str | None:
    if not verdicts:
        return None
    return next((o for o in OUTCOMES if o in verdicts), None)


def _bin(score: float) -> str:
    for low, high in zip(_SCORE_BINS, _SCORE_BINS[1:]):
        if score < high:
            return f"{low}–{high}"
    return f"{_SCORE_BINS[-1]}+"


@dataclass(frozen=True, slots=True)
class _Model:
    label: str
    outcome: ModelOutcome


def _per_model(outcome: ModelOutcome, verdicts: Mapping[str, list[str]]) -> dict[str, Any]:
    mqls = [row for row in outcome.transitions if row[2] == "stage_transition" and row[4] == Stage.MQL]
    mql_leads = {row[1] for row in mqls}
    weeks = Counter(week_of(row[6]) for row in mqls)
    by_outcome = Counter(outcome_of(verdicts.get(lead)) or "no verdict" for lead in mql_leads)
    judged = sum(n for name, n in by_outcome.items() if name != "no verdict")
    taken = sum(by_outcome[name] for name in _TAKEN)
    bins = Counter(_bin(lead.score) for lead in outcome.leads.values())
    return {
        "model": f"{outcome.name} {outcome.version}",
        "leads": len(outcome.leads),
        "mql_leads": len(mql_leads),
        "mql_transitions": len(mqls),
        "mqls_per_week": dict(sorted(weeks.items())),
        "stages": dict(sorted(Counter(lead.stage for lead in outcome.leads.values()).items())),
        "grades": dict(sorted(Counter(lead.grade for lead in outcome.leads.values()).items())),
        "matrix": dict(sorted(Counter(lead.matrix for lead in outcome.leads.values()).items())),
        "handovers": dict(sorted(Counter(f"{row[2]}:{row[5]}"
                                         for row in outcome.transitions).items())),
        "scores": {label: bins.get(label, 0) for label in
                   [_bin(low) for low in _SCORE_BINS]},
        "mql_outcomes": {name: by_outcome.get(name, 0) for name in (*OUTCOMES, "no verdict")},
        "precision": round(taken / judged, 4) if judged else None,
        "rejected": dict(sorted(outcome.rejected.items())),
    }


def _change(base: LeadSummary | None, other: LeadSummary | None) -> str | None:
    was = base.first_mql_at if base is not None else None
    now = other.first_mql_at if other is not None else None
    if was is None and now is None:
        return None
    if was is None:
        return "additional"
    if now is None:
        return "never"
    if now < was:
        return "earlier"
    if now > was:
        return "later"
    return None


def _example(lead: str, change: str, base: LeadSummary | None, other: LeadSummary | None,
             verdicts: Mapping[str, list[str]]) -> dict[str, Any]:
    def view(summary: LeadSummary | None) -> dict[str, Any] | None:
        if summary is None:
            return None
        return {"stage": summary.stage, "score": summary.score, "grade": summary.grade,
                "first_mql_at": summary.first_mql_at, "top": [list(t) for t in summary.top]}
    return {"lead_id": lead, "change": change, "outcome": outcome_of(verdicts.get(lead)),
            "current": view(base), "candidate": view(other)}


def compare(outcomes: list[ModelOutcome], verdicts: Mapping[str, list[str]]) -> dict[str, Any]:
    """The comparison: ``models`` (one entry per outcome, the first is the baseline) and
    ``changes`` (one entry per candidate)."""
    report: dict[str, Any] = {"models": [_per_model(o, verdicts) for o in outcomes],
                              "changes": []}
    base = outcomes[0]
    for other in outcomes[1:]:
        counts: Counter[str] = Counter()
        by_outcome: dict[str, Counter[str]] = {name: Counter() for name in CHANGES}
        examples: list[dict[str, Any]] = []
        for lead in sorted(set(base.leads) | set(other.leads)):
            change = _change(base.leads.get(lead), other.leads.get(lead))
            if change is None:
                continue
            counts[change] += 1
            by_outcome[change][outcome_of(verdicts.get(lead)) or "no verdict"] += 1
            if len(examples) < _EXAMPLES and (change in ("additional", "never")
                                              or len(examples) < _EXAMPLES // 2):
                examples.append(_example(lead, change, base.leads.get(lead),
                                         other.leads.get(lead), verdicts))
        report["changes"].append({
            "candidate": f"{other.name} {other.version}",
            "counts": {name: counts.get(name, 0) for name in CHANGES},
            "outcomes": {name: dict(sorted(c.items())) for name, c in by_outcome.items()},
            "examples": examples,
        })
    return report

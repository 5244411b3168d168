"""A simulated sales team for the demo: answers handover events with CRM verdicts."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

__all__ = ["SimulatedSales"]

_REJECT_REASONS = ("no_budget", "wrong_contact", "not_now", "no_need")


class SimulatedSales:
    """Decides, per handover event and deterministically per seed, what sales answers."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._answered: set[str] = set()

    def answer(self, event: dict[str, Any]) -> dict[str, Any] | None:
        if event.get("kind") != "stage_transition" or event["transition_id"] in self._answered:
            return None  # re-published copies and SLA events get no new answer
        self._answered.add(event["transition_id"])
        roll = self._rng.random()
        stage = event["to_stage"]
        if stage == "mql":
            verdict = "accepted" if roll < 0.7 else "rejected" if roll < 0.95 else "disqualified"
        elif stage == "sal":
            verdict = "qualified" if roll < 0.65 else "lost"
        elif stage == "sql":
            verdict = "won" if roll < 0.55 else "lost"
        else:
            return None
        when = datetime.fromisoformat(event["occurred_at"]) + timedelta(hours=self._rng.uniform(1, 40))
        answer: dict[str, Any] = {
            "feedback_id": f"crm-{event['transition_id'][:12]}-{verdict}",
            "lead_id": event["lead_id"],
            "verdict": verdict,
            "occurred_at": when.isoformat(),
        }
        if verdict == "accepted":
            answer["owner"] = (event.get("routing") or {}).get("owner")
        if verdict == "rejected":
            answer["reason"] = self._rng.choice(_REJECT_REASONS)
        if verdict == "won":
            answer["amount"] = float(self._rng.choice([18_000, 36_000, 60_000, 95_000]))
        if verdict == "qualified":
            answer["bant"] = {"budget": float(self._rng.choice([20_000, 50_000, 120_000])),
                              "need": "CRM integration"}
        return answer

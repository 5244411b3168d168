"""Routing: ordered rules pick a team; weighted rendezvous hashing picks the owner.

Rendezvous hashing is deterministic (same lead, same team ⇒ same owner, on every worker and every
replay), spreads leads by the owners' weights, and gives a stable "next owner" order for SLA
re-routing. Adding an owner moves only the leads that the new owner wins.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from leadstream.core.model import ScoringModel

__all__ = ["route", "owner_ranking", "next_owner"]


def _score(lead_id: str, owner: str, weight: float) -> float:
    digest = hashlib.sha256(f"{lead_id}\x1f{owner}".encode()).digest()
    u = (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 2)  # in (0, 1)
    return -weight / math.log(u)


def owner_ranking(lead_id: str, owners: Mapping[str, float]) -> list[str]:
    return sorted(owners, key=lambda o: (-_score(lead_id, o, owners[o]), o))


def route(lead_id: str, profile: Mapping[str, Any], model: ScoringModel) -> dict[str, Any]:
    """``{team, owner, rule, tried}`` for a lead entering MQL."""
    for rule in model.routing.rules:
        if rule.matches(profile):
            owners = model.routing.teams[rule.team].owners
            owner = owner_ranking(lead_id, owners)[0]
            return {"team": rule.team, "owner": owner, "rule": rule.id, "tried": [owner]}
    return {"team": None, "owner": None, "rule": None, "tried": []}


def next_owner(lead_id: str, routing: Mapping[str, Any], model: ScoringModel) -> str | None:
    """The next owner in the team's ranking after those already tried (wraps around)."""
    team = model.routing.teams.get(routing.get("team") or "")
    if team is None:
        return None
    ranking = owner_ranking(lead_id, team.owners)
    tried: Iterable[str] = routing.get("tried", [])
    untried = [o for o in ranking if o not in set(tried)]
    return untried[0] if untried else ranking[0]

"""Consent per scope, kept as a short history in event time, so a guard can ask "as of when?".

Scopes: ``newsletter`` (one newsletter), ``marketing`` (all marketing communication; what an
``unsubscribe`` without a scope means) and ``all`` (no contact at all). A newsletter opt-out never
touches the lifecycle. A ``marketing`` or ``all`` opt-out stops the behaviour score from promoting
the lead from the opt-out's event time on; an explicit hand-raise (demo or callback request) later
than the opt-out still promotes it, and counts as renewed consent to be contacted (``all``).

The history is a list of ``[occurred_at, scope, status, event_id]`` in event-time order (ties by
event id), so the status of a scope as of any time is the last entry at or before it, whatever
order the entries arrived in.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

__all__ = [
    "SCOPES",
    "DEFAULT_SCOPE",
    "CONSENT_LENGTH",
    "OPTED_OUT",
    "OPTED_IN",
    "record",
    "status_as_of",
    "blocks_score_promotion",
    "merge",
    "scope_of",
    "EMAIL",
    "BOUNCED",
]

SCOPES = ("newsletter", "marketing", "all")
#: not a consent scope but a contact point's state: a hard bounce (status ``bounced``)
EMAIL = "email"
BOUNCED = "bounced"
DEFAULT_SCOPE = "marketing"
OPTED_OUT = "opted_out"
OPTED_IN = "opted_in"
#: consent changes kept per lead; the newest per scope is never dropped
CONSENT_LENGTH = 16
#: scopes whose opt-out stops a score-based promotion
_BLOCKING = ("marketing", "all")

Entry = list[Any]  # [occurred_at, scope, status, event_id]


def _order(entry: Entry) -> tuple[float, str]:
    return entry[0], entry[3]


def scope_of(payload: Mapping[str, Any]) -> str:
    scope = payload.get("scope")
    return scope if scope in SCOPES else DEFAULT_SCOPE


def record(history: list[Entry], at: float, scope: str, status: str, event_id: str) -> bool:
    """Insert one change in event-time order; return False when it is already there."""
    entry = [at, scope, status, event_id]
    position = bisect.bisect_left([_order(e) for e in history], _order(entry))
    if position < len(history) and history[position] == entry:
        return False
    history.insert(position, entry)
    _trim(history)
    return True


def _trim(history: list[Entry]) -> None:
    while len(history) > CONSENT_LENGTH:
        newest = {}
        for index, entry in enumerate(history):
            newest[entry[1]] = index
        # the oldest entry that is not the newest of its scope
        drop = next(i for i in range(len(history)) if newest[history[i][1]] != i)
        del history[drop]


def status_as_of(history: list[Entry], scope: str, at: float) -> str:
    """``opted_out`` or ``opted_in`` for ``scope`` at event time ``at`` (an entry at ``at`` counts)."""
    status = OPTED_IN
    for entry in history:
        if entry[0] > at:
            break
        if entry[1] == scope:
            status = entry[2]
    return status


def blocks_score_promotion(history: list[Entry], at: float) -> bool:
    """Whether an opt-out of marketing or of all contact stands at ``at``."""
    if not history:
        return False
    return any(status_as_of(history, scope, at) == OPTED_OUT for scope in _BLOCKING)


def merge(into: list[Entry], other: list[Entry]) -> None:
    """The union of two histories (a visitor's into its lead, or two merged leads)."""
    for entry in other:
        record(into, entry[0], entry[1], entry[2], entry[3])

"""The connector's tables as rows: one place that says which event field lands in which column,
shared by the pure fold (``fold``) and the SQL store (``store``)."""

from __future__ import annotations

from typing import Any

from leadstream.connector.events import (
    ConsentEvent,
    EngagedContact,
    EngagementEvent,
    LeadEvent,
    MergeEvent,
)

__all__ = [
    "CONSENT_COLUMNS",
    "CONTACT_COLUMNS",
    "ENGAGEMENT_COLUMNS",
    "JSON_COLUMNS",
    "LEAD_COLUMNS",
    "LEAD_FROM_TRANSITION",
    "MERGE_COLUMNS",
    "Row",
    "TIME_COLUMNS",
    "TRANSITION_COLUMNS",
    "consent_row",
    "contact_row",
    "engagement_row",
    "lead_row",
    "merge_row",
    "newest",
    "transition_row",
]

Row = dict[str, Any]

# leads column → the transitions column it is built from: a lead's row is the snapshot of its
# own transitions row with the highest sequence, so it can be rebuilt after a merge or an
# erasure took rows away
LEAD_FROM_TRANSITION = {
    "lead_id": "lead_id", "sequence": "sequence", "stage": "to_stage", "last_kind": "kind",
    "last_reason": "reason", "last_transition_id": "transition_id",
    "updated_at": "occurred_at",
    **{c: c for c in ("score", "grade", "fit_points", "matrix", "temperature", "bant_status",
                      "team", "owner", "profile", "bant", "attribution", "source_type",
                      "account_id", "model_name", "model_version")},
}
LEAD_COLUMNS = tuple(LEAD_FROM_TRANSITION)
TRANSITION_COLUMNS = (
    "transition_id", "lead_id", "published_lead_id", "sequence", "kind", "from_stage",
    "to_stage", "reason", "detail", "occurred_at", "trigger_event_id", "trigger_type", "score",
    "grade", "fit_points", "matrix", "temperature", "bant_status", "team", "owner", "profile",
    "bant", "attribution", "source_type", "account_id", "model_name", "model_version",
)
CONSENT_COLUMNS = ("change_id", "lead_id", "published_lead_id", "scope", "status", "occurred_at")
MERGE_COLUMNS = ("merge_id", "survivor", "absorbed", "rule", "occurred_at")
ENGAGEMENT_COLUMNS = ("engagement_id", "account_id", "entry", "engagement", "best_grade",
                      "occurred_at")
CONTACT_COLUMNS = ("engagement_id", "lead_id", "score", "grade", "stage", "role")

JSON_COLUMNS = frozenset({"profile", "bant", "attribution"})
TIME_COLUMNS = frozenset({"updated_at", "occurred_at"})


def transition_row(event: LeadEvent, owner: str) -> Row:
    return {
        "transition_id": event.transition_id, "lead_id": owner,
        "published_lead_id": event.lead_id, "sequence": event.sequence, "kind": event.kind,
        "from_stage": event.from_stage, "to_stage": event.to_stage, "reason": event.reason,
        "detail": event.detail, "occurred_at": event.occurred_at,
        "trigger_event_id": event.trigger_event_id, "trigger_type": event.trigger_type,
        "score": event.score, "grade": event.grade, "fit_points": event.fit_points,
        "matrix": event.matrix, "temperature": event.temperature,
        "bant_status": event.bant_status, "team": event.team, "owner": event.owner,
        "profile": event.profile, "bant": event.bant, "attribution": event.attribution,
        "source_type": event.source_type, "account_id": event.account_id,
        "model_name": event.model_name, "model_version": event.model_version,
    }


def lead_row(transition: Row) -> Row:
    return {column: transition[source] for column, source in LEAD_FROM_TRANSITION.items()}


def newest(rows: list[Row]) -> Row:
    """The row a lead's row is built from: highest sequence, then event time, then id."""
    return max(rows, key=lambda r: (r["sequence"], r["occurred_at"], r["transition_id"]))


def consent_row(event: ConsentEvent, owner: str) -> Row:
    return {"change_id": event.change_id, "lead_id": owner, "published_lead_id": event.lead_id,
            "scope": event.scope, "status": event.status, "occurred_at": event.occurred_at}


def merge_row(event: MergeEvent) -> Row:
    return {"merge_id": event.merge_id, "survivor": event.survivor, "absorbed": event.absorbed,
            "rule": event.rule, "occurred_at": event.occurred_at}


def engagement_row(event: EngagementEvent) -> Row:
    return {"engagement_id": event.engagement_id, "account_id": event.account_id,
            "entry": event.entry, "engagement": event.engagement,
            "best_grade": event.best_grade, "occurred_at": event.occurred_at}


def contact_row(engagement_id: str, contact: EngagedContact) -> Row:
    return {"engagement_id": engagement_id, "lead_id": contact.lead_id, "score": contact.score,
            "grade": contact.grade, "stage": contact.stage, "role": contact.role}

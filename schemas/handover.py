"""The handover events: the contract CRM connectors consume from ``lead-handover``.

Several kinds share the topic, told apart by ``kind``: stage transitions, SLA breaches and lead
updates (:class:`HandoverEvent`), ``leads_merged`` (:class:`LeadsMergedEvent`) and ``erased``
(:class:`ErasedEvent`). The last two are identity events; consumers should apply them to the CRM
records of the ids they name (merge the absorbed record into the survivor; delete).

Upsert on ``transition_id``: it is deterministic (same input log ⇒ same ids), and a record that is
published twice (after a crash, or when its trigger is re-sent) carries the same id and the same
content. Order per lead by ``sequence``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "HandoverEvent",
    "LeadsMergedEvent",
    "ErasedEvent",
    "HandoverRecord",
    "Contributor",
    "TrailItem",
    "Trigger",
    "ModelRef",
    "Routing",
    "Attribution",
    "AttributedTouch",
    "AccountEngagedEvent",
    "EngagedContact",
    "SCHEMA_VERSION",
]

SCHEMA_VERSION = 1


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(_Out):
    event_id: str
    type: str
    occurred_at: datetime


class Contributor(_Out):
    rule: str
    points: float = Field(description="the rule's decayed points at the transition's event time")
    count: int = Field(description="touchpoints this rule has counted for the lead")


class TrailItem(_Out):
    event_id: str
    type: str
    occurred_at: datetime


class ModelRef(_Out):
    name: str
    version: str


class Routing(_Out):
    team: str | None = None
    owner: str | None = None
    rule: str | None = Field(default=None, description="the routing rule that fired")
    previous_owner: str | None = Field(default=None, description="on an SLA breach only")


class AttributedTouch(_Out):
    event_id: str
    type: str
    occurred_at: datetime
    source: str | None = None
    campaign: str | None = None
    channel: str | None = None


class Attribution(_Out):
    """Where the lead came from (README, "Attribution")."""

    first_touch: AttributedTouch | None = Field(
        default=None, description="its earliest touchpoint in event time, as a visitor or not")
    lead_created: AttributedTouch | None = Field(
        default=None, description="its earliest touchpoint with contact identity: what made it "
        "a lead (an MGL)")
    mql_touch: AttributedTouch | None = Field(
        default=None, description="its last touchpoint at or before its latest MQL transition; "
        "null before it became an MQL")
    source_type: Literal["spears", "seeds", "nets"] = Field(
        description="the model's sources rules applied to lead_created (else first_touch): "
        "spears (direct sales outreach), seeds (referrals, partners), nets (inbound online "
        "marketing)")


class HandoverEvent(_Out):
    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["stage_transition", "sla_breach", "lead_updated"] = Field(
        description="sla_breach: an MQL not accepted within the SLA, re-routed (stage unchanged); "
        "lead_updated: the lead changed without changing stage, the same snapshot as a "
        "transition (reason lead_changed: its engagement band, grade, temperature, owner, BANT "
        "or profile changed (or its score moved by lifecycle.updates.score_change), at most once "
        "per lifecycle.updates.interval_minutes of event time, detail names what changed; reason "
        "history_linked: a visitor's history joined a lead handed over before)"
    )
    transition_id: str = Field(description="deterministic id; upsert key for consumers")
    lead_id: str
    sequence: int = Field(
        ge=1,
        description="n-th event of this lead (transitions, SLA breaches and updates); folding "
        "the topic by the highest sequence per lead gives its current view: the to_stage is its "
        "stage (a re-published record never moves a lead backwards)",
    )
    from_stage: str
    to_stage: str
    reason: str = Field(description="reason code, e.g. contact_identified, score_threshold")
    detail: str | None = Field(
        default=None,
        description="e.g. the CRM's rejection reason code; for lead_changed, what changed, comma "
        "separated: score, band, grade, temperature, owner, bant_status, bant, profile")
    occurred_at: datetime = Field(description="event time of the triggering touchpoint")
    trigger: Trigger
    score: float = Field(description="behaviour score (primary model) as of the lead's newest touchpoint "
                         "(on an event caused by time: as of its occurred_at)")
    grade: Literal["A", "B", "C", "D"] = Field(description="fit grade, A best")
    fit_points: float
    matrix: str = Field(description="grade × engagement band, A1 (best) … D4")
    temperature: Literal["cold", "warm", "hot"]
    scores: dict[str, float] = Field(description="behaviour score per model name")
    top_contributors: list[Contributor]
    recent_touchpoints: list[TrailItem] = Field(description="oldest first")
    profile: dict[str, Any]
    bant: dict[str, Any] = Field(description="budget, authority, need, timeline as known")
    bant_status: Literal["qualified", "held_back", "open"] = Field(
        default="open",
        description="qualified: all four BANT facts positive; held_back: a fact the model lists "
        "(lifecycle.bant.hold_back_on) is negative, which keeps the score from promoting the "
        "lead; open: anything else",
    )
    routing: Routing
    model: ModelRef
    attribution: Attribution | None = Field(
        default=None, description="null only on an event a replay re-publishes from before "
        "leadstream recorded attribution")
    account_id: str | None = Field(
        default=None, description="the account the lead belongs to (README, 'Accounts'); null "
        "for a free-mail lead without account_id or company_domain")


class LeadsMergedEvent(_Out):
    """Two known leads are one person: ``absorbed`` lives on as ``survivor`` (keyed by survivor)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["leads_merged"] = "leads_merged"
    merge_id: str = Field(description="the merge command's command_id; upsert key")
    survivor: str = Field(description="the lead id that lives on; it now holds both histories")
    absorbed: str = Field(description="the lead id merged away; its later input goes to survivor")
    rule: Literal["explicit", "most_advanced_stage", "oldest"] = Field(
        description="explicit: the command named the survivor; most_advanced_stage: the lead "
        "further along the lifecycle; oldest: same stage, the earlier first touchpoint"
    )
    occurred_at: datetime = Field(description="when the merge command was issued")


class ErasedEvent(_Out):
    """GDPR erasure done: the lead and its aliases are gone from every table (keyed by lead)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["erased"] = "erased"
    erase_id: str = Field(description="the erase command's command_id")
    lead_id: str
    aliases: list[str] = Field(description="visitor and merged-away ids erased with the lead")
    occurred_at: datetime = Field(description="when the erase command was issued")


class ConsentTrigger(_Out):
    event_id: str = Field(description="the touchpoint that said it (an unsubscribe, a newsletter "
                          "signup, a demo or callback request, a hard bounce)")
    occurred_at: datetime


class ConsentChangedEvent(_Out):
    """A known lead's consent for one scope, as of an event time (keyed by lead). Fold per lead
    and scope by the latest ``occurred_at``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["consent_changed"] = "consent_changed"
    change_id: str = Field(description="deterministic id of this statement; upsert key")
    lead_id: str
    scope: Literal["newsletter", "marketing", "all", "email"] = Field(
        description="newsletter, marketing (all marketing communication), all (any contact); "
        "email: the address itself (status bounced after a hard bounce)")
    status: Literal["opted_out", "opted_in", "bounced"]
    occurred_at: datetime = Field(description="event time from which the status holds")
    trigger: ConsentTrigger


class EngagedContact(_Out):
    lead_id: str
    score: float = Field(description="behaviour score as of the event's occurred_at")
    grade: Literal["A", "B", "C", "D"] | None = None
    stage: str | None = None
    role: str | None = Field(default=None, description="the lead's job title")


class AccountEngagedEvent(_Out):
    """An account whose contacts together are engaged enough: a marketing-qualified account
    (keyed by account id; README, "Accounts")."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["account_engaged"] = "account_engaged"
    engagement_id: str = Field(description="deterministic id (the account's n-th engagement); "
                               "upsert key")
    account_id: str
    entry: int = Field(ge=1, description="how often this account became engaged, this one "
                       "included")
    engagement: float = Field(description="Σ diminishing^k · score_k over its contacts, best "
                              "first (settings: accounts)")
    best_grade: Literal["A", "B", "C", "D"] | None = None
    contacts: list[EngagedContact] = Field(description="the engaged contacts that contributed, "
                                           "best score first")
    occurred_at: datetime = Field(description="event time: its newest contact's newest "
                                  "touchpoint")


HandoverRecord = Annotated[
    HandoverEvent | LeadsMergedEvent | ErasedEvent | ConsentChangedEvent | AccountEngagedEvent,
    Field(discriminator="kind"),
]

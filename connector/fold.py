"""The connector's rules as a pure fold: what the tables hold after a sequence of handover
events. The SQL store implements the same rules; this is their reference (the contract tests
compare a database with it) and the place to read them:

* one transitions row per ``transition_id``, consent row per ``change_id``, merge row per
  ``merge_id``, engagement row per ``engagement_id``: a copy changes nothing;
* a lead's row is the snapshot of its own transitions row with the highest ``sequence``: a lower
  one never overwrites a higher one;
* ``leads_merged``: the absorbed id's rows from up to the merge (event time) point at the
  survivor (``published_lead_id`` keeps the id they were published under) and the absorbed id
  has no lead row of its own; a late event of it, from up to the merge, lands on the survivor;
* ``erased``: every row of the lead and of its aliases from up to the erasure is deleted (lead,
  transitions, consent, merges, account contacts); what stays is, per id, a one-way hash and the
  erasure's time, and the ids of the deleted events. A late copy of such an event is dropped; a
  returning person's later events start a new row;
* each rule is per key and decided by ids and event times, never by arrival: redelivery and any
  interleaving of partitions give the same tables (``tests/unit/test_connector_fold.py``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from leadstream.connector.events import (
    ConsentEvent,
    EngagementEvent,
    ErasureEvent,
    HandoverEvent,
    LeadEvent,
    MergeEvent,
    id_hash,
)
from leadstream.connector.rows import (
    Row,
    consent_row,
    contact_row,
    engagement_row,
    lead_row,
    merge_row,
    newest,
    transition_row,
)

__all__ = ["MAX_CHAIN", "Tables", "fold"]

# merges chain (A into S, later S into T); conflicting merges may even leave a ring
MAX_CHAIN = 64


@dataclass
class Tables:
    transitions: dict[str, Row] = field(default_factory=dict)
    consent: dict[str, Row] = field(default_factory=dict)
    merges: dict[str, Row] = field(default_factory=dict)
    engagements: dict[str, Row] = field(default_factory=dict)
    contacts: dict[tuple[str, str], Row] = field(default_factory=dict)
    erased_ids: dict[str, datetime] = field(default_factory=dict)  # id hash → erasure time
    erased_events: set[str] = field(default_factory=set)
    erasures: set[str] = field(default_factory=set)

    @property
    def leads(self) -> dict[str, Row]:
        own: dict[str, list[Row]] = defaultdict(list)
        for row in self.transitions.values():
            if row["lead_id"] == row["published_lead_id"]:
                own[row["lead_id"]].append(row)
        return {lead_id: lead_row(newest(rows)) for lead_id, rows in own.items()}

    def apply(self, event: HandoverEvent) -> None:
        if isinstance(event, LeadEvent):
            self._lead(event)
        elif isinstance(event, ConsentEvent):
            self._consent(event)
        elif isinstance(event, MergeEvent):
            self._merge(event)
        elif isinstance(event, ErasureEvent):
            self._erase(event)
        else:
            self._engagement(event)

    def resolve(self, lead_id: str, at: datetime) -> str:
        """The id an event of ``lead_id`` at event time ``at`` lives under: follow the merges
        made at or after ``at`` (a ring resolves to the id itself)."""
        seen = {lead_id}
        current = lead_id
        for _ in range(MAX_CHAIN):
            merges = [m for m in self.merges.values()
                      if m["absorbed"] == current and m["occurred_at"] >= at]
            if not merges:
                return current
            survivor = max(merges, key=lambda m: m["merge_id"])["survivor"]
            if survivor in seen:
                return lead_id
            seen.add(survivor)
            current = survivor
        return lead_id

    def _gone(self, lead_id: str, at: datetime, event_id: str | None) -> bool:
        """An event of an erased person, from up to the erasure (its id is remembered, as if
        it had arrived before the erasure and been deleted by it)."""
        if event_id is not None and event_id in self.erased_events:
            return True
        erased_at = self.erased_ids.get(id_hash(lead_id))
        if erased_at is None or at > erased_at:
            return False
        if event_id is not None:
            self.erased_events.add(event_id)
        return True

    def _lead(self, event: LeadEvent) -> None:
        if not self._gone(event.lead_id, event.occurred_at, event.transition_id):
            self.transitions.setdefault(event.transition_id, transition_row(
                event, self.resolve(event.lead_id, event.occurred_at)))

    def _consent(self, event: ConsentEvent) -> None:
        if not self._gone(event.lead_id, event.occurred_at, event.change_id):
            self.consent.setdefault(event.change_id, consent_row(
                event, self.resolve(event.lead_id, event.occurred_at)))

    def _merge(self, event: MergeEvent) -> None:
        if event.merge_id in self.merges or any(
                self._gone(i, event.occurred_at, event.merge_id)
                for i in (event.survivor, event.absorbed)):
            return
        self.merges[event.merge_id] = merge_row(event)
        root = self.resolve(event.absorbed, event.occurred_at)
        if root == event.absorbed:  # a ring: nothing moves
            return
        for table in (self.transitions, self.consent):
            for row in table.values():
                if row["lead_id"] == event.absorbed and row["occurred_at"] <= event.occurred_at:
                    row["lead_id"] = root

    def _erase(self, event: ErasureEvent) -> None:
        if event.erase_id in self.erasures:
            return
        self.erasures.add(event.erase_id)
        ids = set(event.lead_ids)
        at = event.occurred_at
        for lead_id in ids:
            key = id_hash(lead_id)
            self.erased_ids[key] = max(self.erased_ids.get(key, at), at)
        for table in (self.transitions, self.consent):
            for event_id in [k for k, row in table.items() if row["occurred_at"] <= at
                             and (row["lead_id"] in ids or row["published_lead_id"] in ids)]:
                del table[event_id]
                self.erased_events.add(event_id)
        for merge_id in [k for k, row in self.merges.items() if row["occurred_at"] <= at
                         and (row["survivor"] in ids or row["absorbed"] in ids)]:
            del self.merges[merge_id]
            self.erased_events.add(merge_id)
        for key in [k for k in self.contacts
                    if k[1] in ids and self.engagements[k[0]]["occurred_at"] <= at]:
            del self.contacts[key]

    def _engagement(self, event: EngagementEvent) -> None:
        if event.engagement_id in self.engagements:
            return
        self.engagements[event.engagement_id] = engagement_row(event)
        for contact in event.contacts:
            if not self._gone(contact.lead_id, event.occurred_at, None):
                self.contacts[(event.engagement_id, contact.lead_id)] = contact_row(
                    event.engagement_id, contact)


def fold(events: list[HandoverEvent]) -> Tables:
    tables = Tables()
    for event in events:
        tables.apply(event)
    return tables

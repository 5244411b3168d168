"""A realistic ``lead-handover`` topic without a worker: the demo's traffic generator's people
through the pure core (tests/harness.py), two merges and an erasure among them, each emitted item
encoded and keyed as the lead agent publishes it (agents/leads/plan.py). The erased person's
later touchpoints make them come back as a new lead."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from leadstream.config.model_loader import DEFAULT_MODEL_PATH, load_models
from leadstream.core.emitted import ConsentChanged, Erased, LeadsMerged, Transition
from leadstream.core.messages import Erase, MergeRequest, Message
from leadstream.demo.traffic import TrafficGenerator
from leadstream.schemas.touchpoints import parse_touchpoint
from leadstream.streams.encoding.mappers import (
    consent_to_handover,
    erased_to_handover,
    merged_to_handover,
    routed_touchpoint,
    transition_to_handover_json,
)
from tests import harness

__all__ = ["handover_records"]

Record = tuple[bytes, bytes]


def handover_records(*, people: int = 150, total: int = 4000, seed: int = 11) -> list[Record]:
    traffic = TrafficGenerator(people=people, total=total, seed=seed, malformed_rate=0.0,
                               bot_rate=0.0, duplicate_rate=0.02,
                               end=datetime(2026, 11, 30, tzinfo=UTC), span=timedelta(days=30))
    touchpoints: list[Message] = [routed_touchpoint(parse_touchpoint(r.value, max_bytes=65536))
                                  for r in itertools.islice(traffic, total)]
    models = load_models(DEFAULT_MODEL_PATH)
    half = len(touchpoints) // 2
    states, emitted = harness.run(touchpoints[:half], models)
    known = sorted(lead_id for lead_id, state in states.items()
                   if not lead_id.startswith("v-") and state.stage not in ("visitor",)
                   and getattr(state, "retired_into", None) is None)
    at = touchpoints[half - 1].occurred_at + 1  # type: ignore[union-attr]
    commands: list[Message] = [
        MergeRequest(merge_id="crm-dedupe-1", lead_id=known[0], other=known[1], survivor=None, at=at),
        MergeRequest(merge_id="crm-dedupe-2", lead_id=known[2], other=known[3],
                     survivor=known[3], at=at + 1),
        Erase(erase_id="gdpr-1", lead_id=known[4], at=at + 2),
    ]
    erased: dict[str, int] = {}
    states, more = harness.run(commands + touchpoints[half:], models, states=states, erased=erased)
    out: list[Record] = []
    for item in emitted + more:
        if isinstance(item, Transition):
            out.append((item.lead_id.encode(), transition_to_handover_json(item)))
        elif isinstance(item, Erased):
            out.append((item.lead_id.encode(), erased_to_handover(item).model_dump_json().encode()))
        elif isinstance(item, ConsentChanged):
            out.append((item.lead_id.encode(), consent_to_handover(item).model_dump_json().encode()))
        elif isinstance(item, LeadsMerged):
            out.append((item.survivor.encode(), merged_to_handover(item).model_dump_json().encode()))
    return out

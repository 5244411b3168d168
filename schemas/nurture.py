"""Nurture signals for marketing automation (output, ``lead-nurture``), keyed by lead id."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["NurtureEvent", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1


class NurtureEvent(BaseModel):
    """A lead to enrol in a nurture track. Upsert on ``signal_id``: a replay re-publishes the same
    record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["nurture_signal"] = "nurture_signal"
    signal_id: str = Field(description="deterministic id; upsert key")
    lead_id: str
    signal: Literal["recycled", "went_cold", "stalled"] = Field(
        description="recycled: back to nurturing (rejected by sales, or lost and cooled off); "
        "went_cold: an MQL or SAL without touchpoints too long, recycled; stalled: an MGL that "
        "has not moved on for lifecycle.stall_after_days")
    reason: str = Field(description="the transition's reason code (sales_rejected, nurture, "
                        "went_cold), or no_progress for a stall")
    stage: str = Field(description="the lead's stage with the signal")
    occurred_at: datetime = Field(description="event time of the signal")
    trigger_event_id: str = Field(description="the message (touchpoint, verdict or tick) that "
                                  "caused it")
    score: float = Field(description="behaviour score (primary model) then")
    grade: Literal["A", "B", "C", "D"] = Field(description="fit grade then")

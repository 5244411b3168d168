"""The DLQ record on ``touchpoints-dlq``: everything needed to understand and replay a rejection."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DlqRecord", "DlqSource", "DlqHeader"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DlqSource(_Out):
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None


class DlqHeader(_Out):
    key: str
    value_b64: str


class DlqRecord(_Out):
    schema_version: Literal[1] = 1
    dlq_id: str = Field(
        description="deterministic: the same rejected input gets the same id, also when it is "
        "rejected again after a crash (a DLQ consumer dedupes on it). For stage ingest, feedback "
        "and commands it derives from the input record's position; for stage leads from the "
        "rejected message's own event, feedback or command id")
    kind: str = Field(description="short bounded code, e.g. invalid_json, unknown_type, oversize")
    reason: str = Field(description="what is wrong, for a human")
    stage: Literal["ingest", "feedback", "commands", "leads", "accounts"] = Field(
        description="which agent rejected the record"
    )
    source: DlqSource
    key_b64: str | None = Field(description="original record key, base64")
    value_b64: str = Field(description="original record value, base64 (bytes kept exactly)")
    headers: list[DlqHeader]
    rejected_at: datetime = Field(description="wall-clock time of the rejection")

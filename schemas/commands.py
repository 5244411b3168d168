"""Operator commands on ``lead-commands``: merge two known leads, erase a person (GDPR).

::

    {"command": "merge", "command_id": "crm-dedupe-0042", "issued_at": "2026-11-20T10:00:00Z",
     "lead_ids": ["em-3f1a…", "crm-0815"], "survivor": "crm-0815"}          # survivor optional
    {"command": "erase", "command_id": "gdpr-2026-117", "issued_at": "2026-11-20T10:00:00Z",
     "email": "jane@example.com"}                  # or lead_id, crm_id or anonymous_id

Lead ids are the canonical ids of the handover events; an erase may name the person by any one
identity, which is mapped the way touchpoints are (README, "Lead ids").
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from leadstream.exceptions import InvalidCommand
from leadstream.schemas.fields import IMPLAUSIBLE_TIME, Email, EventTime, Id, field_errors
from leadstream.schemas.strict_json import load_record

__all__ = ["MergeCommand", "EraseCommand", "CommandIn", "parse_command"]


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    command_id: Id = Field(description="unique per command; a re-sent command is applied once")
    issued_at: EventTime


class MergeCommand(_Command):
    command: Literal["merge"]
    lead_ids: tuple[Id, Id] = Field(description="the two known leads that are one person")
    survivor: Id | None = Field(
        default=None,
        description="which of the two lives on; without it the further-advanced lead does "
        "(then the one with the earlier first touchpoint)",
    )

    @model_validator(mode="after")
    def _sane(self) -> MergeCommand:
        if self.lead_ids[0] == self.lead_ids[1]:
            raise ValueError("lead_ids must name two different leads")
        if self.survivor is not None and self.survivor not in self.lead_ids:
            raise ValueError("survivor must be one of lead_ids")
        return self


class EraseCommand(_Command):
    command: Literal["erase"]
    lead_id: Id | None = None
    email: Email | None = None
    crm_id: Id | None = None
    anonymous_id: Id | None = None

    @model_validator(mode="after")
    def _one_identity(self) -> EraseCommand:
        given = [v for v in (self.lead_id, self.email, self.crm_id, self.anonymous_id) if v]
        if len(given) != 1:
            raise ValueError("exactly one of lead_id, email, crm_id or anonymous_id is required")
        return self


CommandIn = Annotated[MergeCommand | EraseCommand, Field(discriminator="command")]
_ADAPTER: TypeAdapter[MergeCommand | EraseCommand] = TypeAdapter(CommandIn)


def parse_command(raw: bytes, *, max_bytes: int) -> MergeCommand | EraseCommand:
    """Decode and validate one command, or raise :class:`InvalidCommand`."""
    data = load_record(raw, max_bytes=max_bytes, rejected=InvalidCommand)
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        first = errors[0]
        if first["type"] in ("union_tag_not_found", "union_tag_invalid"):
            raise InvalidCommand("unknown_command",
                                 "field 'command' must be one of: merge, erase") from None
        if not first["loc"]:
            raise InvalidCommand("not_an_object", "a command must be a JSON object") from None
        implausible = next((e for e in errors if IMPLAUSIBLE_TIME in e["msg"]), None)
        if implausible is not None:
            raise InvalidCommand("implausible_time", f"field 'issued_at': {implausible['msg']}") from None
        raise InvalidCommand("invalid_field", field_errors(errors, skip=1)) from None

"""CRM verdicts on ``lead-feedback`` (keyed by lead id)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from leadstream.exceptions import InvalidFeedback
from leadstream.schemas.fields import IMPLAUSIBLE_TIME, EventTime, Id, field_errors
from leadstream.schemas.strict_json import load_record
from leadstream.schemas.touchpoints import Bant

__all__ = ["FeedbackIn", "parse_feedback"]


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)

    feedback_id: Id = Field(
        description="unique per verdict; a re-sent verdict is applied once"
    )
    lead_id: Id = Field(
        description="the canonical lead id from the handover event"
    )
    verdict: Literal["accepted", "rejected", "qualified", "won", "lost", "disqualified",
                     "reinstated"] = Field(
        description="accepted (mql → sal), rejected (mql/sal → recycled), qualified (sal → sql), "
        "won (sql → won), lost (sal/sql → lost), disqualified (any open stage → disqualified), "
        "reinstated (disqualified → recycled; the fit rules that disqualified it are waived)")
    occurred_at: EventTime
    reason: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")] | None = Field(
        default=None, description="a short code, e.g. no_budget, wrong_contact"
    )
    owner: Id | None = None
    bant: Bant | None = None
    amount: Annotated[float, Field(ge=0, le=1e12)] | None = Field(
        default=None, description="verdict won only: the deal's value, in the currency of the "
        "campaign costs (reports.costs_path); GET /reports/funnel sums it as revenue")

    @model_validator(mode="after")
    def _amount_only_when_won(self) -> FeedbackIn:
        if self.amount is not None and self.verdict != "won":
            raise ValueError("amount is for verdict 'won' only")
        return self


_ADAPTER: TypeAdapter[FeedbackIn] = TypeAdapter(FeedbackIn)


def parse_feedback(raw: bytes, *, max_bytes: int) -> FeedbackIn:
    data = load_record(raw, max_bytes=max_bytes, rejected=InvalidFeedback)
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        first = errors[0]
        implausible = next((e for e in errors if IMPLAUSIBLE_TIME in e["msg"]), None)
        if implausible is not None:
            raise InvalidFeedback("implausible_time", f"field 'occurred_at': {implausible['msg']}") from None
        if not first["loc"]:
            raise InvalidFeedback("not_an_object", "a feedback record must be a JSON object") from None
        raise InvalidFeedback("invalid_field", field_errors(errors)) from None

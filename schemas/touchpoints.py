"""Touchpoints as producers send them (README, "Touchpoints"): an envelope plus a type-specific payload.

``parse_touchpoint(raw)`` is the only way bytes become a touchpoint; every failure raises
:class:`~leadstream.exceptions.InvalidTouchpoint` with a bounded ``kind`` and a readable reason.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyAddress,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from leadstream.core.identity import VISITOR_PREFIX
from leadstream.exceptions import InvalidTouchpoint
from leadstream.schemas.fields import (
    IMPLAUSIBLE_TIME,
    Email,
    EventTime,
    Id,
    LongText,
    Text,
    Url,
    field_errors,
)
from leadstream.schemas.strict_json import load_record

__all__ = [
    "Profile",
    "Bant",
    "TouchpointIn",
    "TOUCHPOINT_MODELS",
    "parse_touchpoint",
]


class _In(BaseModel):
    # Producers may add fields (ignored); NaN/Infinity are never valid numbers.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)


class Profile(_In):
    """Profile fields a form, scan or request may carry. Last write wins by event time."""

    first_name: Text | None = None
    last_name: Text | None = None
    company: Text | None = None
    job_title: Text | None = None
    company_size: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    industry: Text | None = None
    country: Annotated[Text, Field(min_length=2, max_length=64)] | None = None
    phone: Annotated[Text, Field(max_length=64)] | None = None
    account_id: Annotated[Text, Field(max_length=200)] | None = Field(
        default=None, description="the CRM's account (company) id: groups the lead into this "
        "account (README, 'Accounts')")
    company_domain: Annotated[Text, Field(max_length=253)] | None = Field(
        default=None, description="the company's web domain, e.g. example.com: the account when "
        "no account_id is known")


class Bant(_In):
    """Budget, Authority, Need, Timeline as far as the touchpoint tells."""

    budget: Annotated[float, Field(ge=0, le=1e12)] | None = None
    authority: bool | None = None
    need: Text | None = None
    timeline: Literal["immediate", "quarter", "year", "none"] | None = None


#: "at least one identity" in JSON Schema terms: one of the four, present and not null
_IDENTITY_RULE = {"anyOf": [{"required": [name], "properties": {name: {"type": "string"}}}
                            for name in ("lead_id", "email", "anonymous_id", "crm_id")]}


class _Envelope(_In):
    model_config = ConfigDict(json_schema_extra=_IDENTITY_RULE)

    event_id: Id
    occurred_at: EventTime
    source: Annotated[Text, Field(max_length=100)] | None = None
    lead_id: Id | None = None
    email: Email | None = None
    anonymous_id: Id | None = None
    crm_id: Id | None = None
    campaign: Annotated[Text, Field(max_length=200)] | None = None
    channel: Annotated[Text, Field(max_length=100)] | None = None
    # read by the bot/internal-traffic filter only; never stored, forwarded or logged
    user_agent: Annotated[Text, Field(max_length=1000)] | None = None
    ip: IPvAnyAddress | None = None

    @model_validator(mode="after")
    def _has_identity(self) -> _Envelope:
        if not (self.lead_id or self.email or self.anonymous_id or self.crm_id):
            raise ValueError(
                "no identity: one of lead_id, email, anonymous_id or crm_id is required"
            )
        if self.lead_id and self.lead_id.startswith(VISITOR_PREFIX):
            raise ValueError(f"lead_id must not start with '{VISITOR_PREFIX}' (reserved for visitors)")
        return self


class FormSubmitPayload(_In):
    form_id: Id
    profile: Profile = Field(default_factory=Profile)
    bant: Bant | None = None


class EmailPayload(_In):
    message_id: Id


class EmailClickPayload(_In):
    message_id: Id
    url: Url


class DownloadPayload(_In):
    asset_id: Id
    asset_kind: Literal["whitepaper", "case_study", "datasheet", "ebook", "report", "video", "other"]


class EventScanPayload(_In):
    event_name: Annotated[Text, Field(min_length=1, max_length=200)]
    profile: Profile = Field(default_factory=Profile)
    bant: Bant | None = None


class WebVisitPayload(_In):
    url: Url
    referrer: Url | None = None
    duration_s: Annotated[float, Field(ge=0, le=86_400)] | None = None


class WebinarPayload(_In):
    webinar_id: Id
    status: Literal["registered", "attended"]


class NewsletterPayload(_In):
    list_id: Id | None = None


class RequestPayload(_In):
    """Demo and callback requests: the hand-raisers."""

    product: Annotated[Text, Field(max_length=200)] | None = None
    message: LongText | None = None
    profile: Profile = Field(default_factory=Profile)
    bant: Bant | None = None


class ChatPayload(_In):
    summary: LongText | None = None
    bant: Bant | None = None


class UnsubscribePayload(_In):
    scope: Literal["newsletter", "marketing", "all"] = Field(
        default="marketing",
        description="newsletter: one newsletter (the lifecycle is not touched); marketing: all "
        "marketing communication (the score no longer promotes the lead, a later demo or "
        "callback request still does); all: no contact at all (only a later hand-raise, which "
        "renews consent, promotes it)",
    )


class BouncePayload(_In):
    bounce: Literal["hard", "soft"]


class FormSubmit(_Envelope):
    type: Literal["form_submit"]
    payload: FormSubmitPayload


class EmailOpen(_Envelope):
    type: Literal["email_open"]
    payload: EmailPayload


class EmailClick(_Envelope):
    type: Literal["email_click"]
    payload: EmailClickPayload


class Download(_Envelope):
    type: Literal["download"]
    payload: DownloadPayload


class EventScan(_Envelope):
    type: Literal["event_scan"]
    payload: EventScanPayload


class WebVisit(_Envelope):
    type: Literal["web_visit"]
    payload: WebVisitPayload


class Webinar(_Envelope):
    type: Literal["webinar"]
    payload: WebinarPayload


class NewsletterSignup(_Envelope):
    type: Literal["newsletter_signup"]
    payload: NewsletterPayload = Field(default_factory=NewsletterPayload)


class DemoRequest(_Envelope):
    type: Literal["demo_request"]
    payload: RequestPayload = Field(default_factory=RequestPayload)


class CallbackRequest(_Envelope):
    type: Literal["callback_request"]
    payload: RequestPayload = Field(default_factory=RequestPayload)


class Chat(_Envelope):
    type: Literal["chat"]
    payload: ChatPayload = Field(default_factory=ChatPayload)


class Unsubscribe(_Envelope):
    type: Literal["unsubscribe"]
    payload: UnsubscribePayload = Field(default_factory=UnsubscribePayload)


class EmailBounce(_Envelope):
    type: Literal["email_bounce"]
    payload: BouncePayload


TOUCHPOINT_MODELS: dict[str, type[_Envelope]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (
        FormSubmit,
        EmailOpen,
        EmailClick,
        Download,
        EventScan,
        WebVisit,
        Webinar,
        NewsletterSignup,
        DemoRequest,
        CallbackRequest,
        Chat,
        Unsubscribe,
        EmailBounce,
    )
}

TouchpointIn = Annotated[
    Union[tuple(TOUCHPOINT_MODELS.values())],  # type: ignore[valid-type]
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(TouchpointIn)

_MAX_REASON_ERRORS = 3


def parse_touchpoint(raw: bytes, *, max_bytes: int) -> _Envelope:
    """Decode and validate one touchpoint record, or raise ``InvalidTouchpoint``."""
    data = load_record(raw, max_bytes=max_bytes, rejected=InvalidTouchpoint)
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise _rejection(exc) from None


def _rejection(exc: ValidationError) -> InvalidTouchpoint:
    errors = exc.errors(include_input=False, include_url=False)
    first = errors[0]
    kind_of = first["type"]
    if kind_of == "json_invalid":
        return InvalidTouchpoint("invalid_json", f"not valid JSON: {first['msg']}")
    if kind_of in ("dict_type", "model_type", "model_attributes_type") and not first["loc"]:
        return InvalidTouchpoint("not_an_object", "a touchpoint must be a JSON object")
    if kind_of == "union_tag_not_found":
        return InvalidTouchpoint("missing_type", "field 'type' is missing")
    if kind_of == "union_tag_invalid":
        known = ", ".join(sorted(TOUCHPOINT_MODELS))
        return InvalidTouchpoint("unknown_type", f"unknown touchpoint type; known types: {known}")
    implausible = next((e for e in errors if IMPLAUSIBLE_TIME in e["msg"]), None)
    if implausible is not None:
        return InvalidTouchpoint("implausible_time", f"field 'occurred_at': {implausible['msg']}")
    if any("no identity" in e["msg"] for e in errors):
        return InvalidTouchpoint(
            "missing_identity",
            "no identity: one of lead_id, email, anonymous_id or crm_id is required",
        )
    # loc[0] is the discriminator tag; the field path starts after it
    reason = field_errors(errors, skip=1, limit=_MAX_REASON_ERRORS)
    more = len(errors) - _MAX_REASON_ERRORS
    if more > 0:
        reason += f"; and {more} more error(s)"
    return InvalidTouchpoint("invalid_field", reason)

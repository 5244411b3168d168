"""The touchpoint types leadstream understands (README, "Touchpoints").

``schemas/touchpoints.py`` defines one payload model per type; a unit test keeps the two in step.
"""

from __future__ import annotations

__all__ = ["TOUCHPOINT_TYPES", "MATCHABLE_ENVELOPE_FIELDS", "PAYLOAD_FIELDS", "PAYLOAD_VALUES",
           "PROFILE_FIELDS", "NUMERIC_PROFILE_FIELDS"]

TOUCHPOINT_TYPES: frozenset[str] = frozenset(
    {
        "form_submit",
        "email_open",
        "email_click",
        "download",
        "event_scan",
        "web_visit",
        "webinar",
        "newsletter_signup",
        "demo_request",
        "callback_request",
        "chat",
        "unsubscribe",
        "email_bounce",
    }
)

#: envelope fields a behaviour rule may match, besides the payload's
MATCHABLE_ENVELOPE_FIELDS: frozenset[str] = frozenset({"campaign", "channel", "source"})

_PROFILE_CARRIERS = frozenset({"profile", "bant"})  # objects: matched through fit rules and BANT

#: the payload fields each type carries (objects such as ``profile`` included)
PAYLOAD_FIELDS: dict[str, frozenset[str]] = {
    "form_submit": frozenset({"form_id"}) | _PROFILE_CARRIERS,
    "email_open": frozenset({"message_id"}),
    "email_click": frozenset({"message_id", "url"}),
    "download": frozenset({"asset_id", "asset_kind"}),
    "event_scan": frozenset({"event_name"}) | _PROFILE_CARRIERS,
    "web_visit": frozenset({"url", "referrer", "duration_s"}),
    "webinar": frozenset({"webinar_id", "status"}),
    "newsletter_signup": frozenset({"list_id"}),
    "demo_request": frozenset({"product", "message"}) | _PROFILE_CARRIERS,
    "callback_request": frozenset({"product", "message"}) | _PROFILE_CARRIERS,
    "chat": frozenset({"summary", "bant"}),
    "unsubscribe": frozenset({"scope"}),
    "email_bounce": frozenset({"bounce"}),
}

#: payload fields with a closed set of values, per type
PAYLOAD_VALUES: dict[tuple[str, str], frozenset[str]] = {
    ("download", "asset_kind"): frozenset(
        {"whitepaper", "case_study", "datasheet", "ebook", "report", "video", "other"}),
    ("webinar", "status"): frozenset({"registered", "attended"}),
    ("unsubscribe", "scope"): frozenset({"newsletter", "marketing", "all"}),
    ("email_bounce", "bounce"): frozenset({"hard", "soft"}),
}

#: a lead's profile fields (``email_domain`` is derived from the email at ingest)
PROFILE_FIELDS: frozenset[str] = frozenset({
    "first_name", "last_name", "company", "job_title", "company_size", "industry", "country",
    "phone", "email_domain", "account_id", "company_domain",
})
NUMERIC_PROFILE_FIELDS: frozenset[str] = frozenset({"company_size"})

"""The touchpoint types leadstream understands (README, "Touchpoints").

``schemas/touchpoints.py`` defines one payload model per type; a unit test keeps the two in step.
"""

from __future__ import annotations

__all__ = ["TOUCHPOINT_TYPES"]

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

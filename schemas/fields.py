"""Field types shared by every input message: ids, free text, event times.

Ids are printable ASCII without spaces or quotes (they become Kafka keys, log fields and URL path
segments); free text may hold anything printable but no control characters (they break CRMs and
terminals downstream). Event times must be plausible: not before 2000, not more than a day ahead
of the worker's clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

__all__ = [
    "window_bound",
    "field_errors",
    "EARLIEST_EVENT_TIME",
    "IMPLAUSIBLE_TIME",
    "MAX_CLOCK_SKEW",
    "Email",
    "EventTime",
    "Id",
    "LongText",
    "Text",
    "Url",
    "error_message",
]

_ID_PATTERN = r"^[A-Za-z0-9_.:@+/=#|~&-]+$"
# C0 controls except tab, LF, CR; and DEL
_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_URL_PATTERN = r"^[^\x00-\x20\x7f]+$"
_NOT_IN_EMAIL = r'@\s"<>()\[\]\\,;:\x00-\x1f\x7f'
_EMAIL_PATTERN = rf"^[^{_NOT_IN_EMAIL}]+@[^{_NOT_IN_EMAIL}]+$"

_PATTERN_MESSAGES = {
    _ID_PATTERN: "an id may hold only letters, digits and _ . : @ + / = # | ~ & - (no spaces or quotes)",
    _TEXT_PATTERN: "text must not contain control characters",
    _URL_PATTERN: "a URL must not contain spaces or control characters",
    _EMAIL_PATTERN: "not an email address (one @, no spaces, quotes, brackets or control characters)",
}


def error_message(error: Any) -> str:
    """A pydantic error as an operator reads it (patterns are explained, not printed)."""
    if error.get("type") == "string_pattern_mismatch":
        return _PATTERN_MESSAGES.get(error.get("ctx", {}).get("pattern"), error["msg"])
    return str(error["msg"])


def field_errors(errors: list[Any], *, skip: int = 0, limit: int = 3) -> str:
    """The first ``limit`` errors as ``field 'a.b': why``; ``skip`` drops leading path parts (the
    tag of a discriminated union)."""
    return "; ".join(
        f"field '{'.'.join(str(p) for p in error['loc'][skip:]) or '(record)'}': {error_message(error)}"
        for error in errors[:limit]
    )

EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_CLOCK_SKEW = timedelta(days=1)
_SKEW_WORDS = "one day"  # str(timedelta) reads "1 day, 0:00:00"
#: marker the parsers map to the DLQ kind ``implausible_time``
IMPLAUSIBLE_TIME = "implausible event time"


def _plausible(value: datetime) -> datetime:
    if value < EARLIEST_EVENT_TIME:
        raise ValueError(f"{IMPLAUSIBLE_TIME}: before {EARLIEST_EVENT_TIME:%Y-%m-%d}")
    if value > datetime.now(tz=UTC) + MAX_CLOCK_SKEW:
        raise ValueError(f"{IMPLAUSIBLE_TIME}: more than {_SKEW_WORDS} in the future")
    return value


Id = Annotated[str, Field(min_length=1, max_length=200, pattern=_ID_PATTERN)]
Text = Annotated[str, Field(max_length=500, pattern=_TEXT_PATTERN)]
LongText = Annotated[str, Field(max_length=5000, pattern=_TEXT_PATTERN)]
Url = Annotated[str, Field(min_length=1, max_length=2000, pattern=_URL_PATTERN)]
# surrounding whitespace is a common export artefact; it is stripped before the pattern check
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320, pattern=_EMAIL_PATTERN)
]
EventTime = Annotated[AwareDatetime, AfterValidator(_plausible)]


def window_bound(text: str) -> float:
    """A bound a person types for a time window (a report's or a backtest's ``since``/``until``):
    an ISO 8601 date or time, UTC unless it says otherwise; ``ValueError`` if it is none."""
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or time, e.g. 2026-11-01") from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()

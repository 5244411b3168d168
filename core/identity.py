"""Canonical lead ids.

The mapping, in order of precedence (documented in the README):

1. ``lead_id`` given by the producer → used as is;
2. ``email`` → ``em-`` + 24 hex chars of SHA-256 over the normalised email (trimmed, lower-cased),
   so the key never carries the address itself (no PII in keys, logs or metrics);
3. ``crm_id`` → ``crm-<crm_id>``;
4. only ``anonymous_id`` → ``anon-<anonymous_id>``: a visitor, never handed over.
"""

from __future__ import annotations

import hashlib

__all__ = ["canonical_lead_id", "email_lead_id", "normalise_email", "visitor_id", "VISITOR_PREFIX"]

VISITOR_PREFIX = "anon-"


def visitor_id(anonymous_id: str) -> str:
    return f"{VISITOR_PREFIX}{anonymous_id}"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_lead_id(email: str) -> str:
    digest = hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()
    return f"em-{digest[:24]}"


def canonical_lead_id(
    *,
    lead_id: str | None = None,
    email: str | None = None,
    crm_id: str | None = None,
    anonymous_id: str | None = None,
) -> tuple[str, bool]:
    """Return ``(canonical id, has_contact)``; raise ``ValueError`` when no identity is given."""
    if lead_id:
        if lead_id.startswith(VISITOR_PREFIX):
            raise ValueError(f"lead_id must not start with {VISITOR_PREFIX!r} (reserved for visitors)")
        return lead_id, True
    if email:
        return email_lead_id(email), True
    if crm_id:
        return f"crm-{crm_id}", True
    if anonymous_id:
        return visitor_id(anonymous_id), False
    raise ValueError("no identity: one of lead_id, email, crm_id or anonymous_id is required")

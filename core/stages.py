"""Lifecycle stages (README, "The scoring model" and "Handover events")."""

from __future__ import annotations

from typing import Final

__all__ = ["Stage"]


class Stage:
    """The stage names a lead's state holds: plain strings, compared on every message (an ``Enum``
    member's ``.value`` took ~5× as long as reading a class attribute)."""

    VISITOR: Final = "visitor"
    MGL: Final = "mgl"
    MQL: Final = "mql"
    SAL: Final = "sal"
    SQL: Final = "sql"
    WON: Final = "won"
    LOST: Final = "lost"
    RECYCLED: Final = "recycled"
    DISQUALIFIED: Final = "disqualified"

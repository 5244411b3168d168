"""Whether a worker is serving: partitions assigned, tables recovered, not rebalancing."""

from __future__ import annotations

from typing import Any

__all__ = ["is_ready"]


def is_ready(app: Any) -> bool:
    recovery = app.tables.recovery
    return bool(
        not app.rebalancing
        and not app.in_recovery
        and recovery.completed.is_set()
    )

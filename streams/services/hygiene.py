"""Touchpoint hygiene at ingest: future events, bots and internal traffic never reach scoring.

Filtered touchpoints go to the DLQ like any rejected input (nothing disappears silently), with a
bounded ``kind`` and a reason that names the rule, never the person.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import Any

from leadstream.config.settings import HygieneSettings
from leadstream.exceptions import InvalidTouchpoint

__all__ = ["TrafficFilter"]


class TrafficFilter:
    def __init__(self, settings: HygieneSettings, clock: Callable[[], float] = time.time) -> None:
        self._max_future = settings.max_future_s
        self._agents = tuple(s.lower() for s in settings.bot_user_agents if s)
        self._domains = frozenset(d.lower().lstrip("@") for d in settings.internal_email_domains)
        self._networks = tuple(settings.internal_ip_ranges)
        self._clock = clock

    def check(self, envelope: Any) -> None:
        """Raise :class:`InvalidTouchpoint` if the touchpoint must not be scored."""
        ahead = envelope.occurred_at.timestamp() - self._clock()
        if ahead > self._max_future:
            raise InvalidTouchpoint(
                "future_event",
                f"occurred_at is {ahead:.0f} s ahead of the worker's clock "
                f"(hygiene.max_future_s is {self._max_future:g})",
            )
        agent = (envelope.user_agent or "").lower()
        if agent:
            hit = next((pattern for pattern in self._agents if pattern in agent), None)
            if hit is not None:
                raise InvalidTouchpoint("bot_traffic", f"user_agent contains {hit!r} (hygiene.bot_user_agents)")
        if envelope.email and self._domains:
            if envelope.email.rsplit("@", 1)[1].lower() in self._domains:
                raise InvalidTouchpoint("internal_traffic", "email domain is listed in hygiene.internal_email_domains")
        if envelope.ip is not None and self._networks:
            address = ipaddress.ip_address(envelope.ip)
            network = next((n for n in self._networks if address.version == n.version and address in n), None)
            if network is not None:
                raise InvalidTouchpoint("internal_traffic", f"ip is in {network} (hygiene.internal_ip_ranges)")

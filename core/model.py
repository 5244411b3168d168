"""The scoring model as data: what marketing ops edit (YAML), validated by pydantic.

Loading a file (with file and line in errors) is ``leadstream.config.model_loader``'s job; this
module only says what a valid model is and answers "which rules does this touchpoint hit?".
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from leadstream.core.messages import Touchpoint
from leadstream.core.touchpoint_types import TOUCHPOINT_TYPES

__all__ = ["BehaviourRule", "MqlGuard", "Lifecycle", "ScoringModel"]

_RULE_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class BehaviourRule(_Strict):
    """Points for touchpoints of one type whose fields match glob patterns."""

    id: str = Field(pattern=_RULE_ID, description="stable rule id; keys the per-rule score")
    type: str = Field(description="touchpoint type this rule applies to")
    match: dict[str, str] = Field(
        default_factory=dict,
        description="field → glob (fnmatch, case-sensitive); envelope fields campaign, channel, "
        "source or any payload field such as url, asset_kind, form_id, status",
    )
    points: float = Field(description="points per counted touchpoint; negative allowed")
    half_life_days: float | None = Field(
        default=None, gt=0, description="exponential decay in event time; none = no decay"
    )

    _compiled: tuple[tuple[str, re.Pattern[str]], ...] = PrivateAttr(default=())

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in TOUCHPOINT_TYPES:
            raise ValueError(
                f"unknown touchpoint type {value!r}; known: {', '.join(sorted(TOUCHPOINT_TYPES))}"
            )
        return value

    def model_post_init(self, __context: Any) -> None:
        self._compiled = tuple(
            (name, re.compile(fnmatch.translate(pattern))) for name, pattern in self.match.items()
        )

    @property
    def half_life_seconds(self) -> float | None:
        return None if self.half_life_days is None else self.half_life_days * 86400.0

    def matches(self, touchpoint: Touchpoint) -> bool:
        if touchpoint.type != self.type:
            return False
        for name, pattern in self._compiled:
            value = touchpoint.field_value(name)
            if value is None or not pattern.match(str(value)):
                return False
        return True


class MqlGuard(_Strict):
    min_score: float = Field(default=50.0, description="behaviour score at which an MGL is an MQL")


class Lifecycle(_Strict):
    mql: MqlGuard = Field(default_factory=MqlGuard)
    hand_raiser_types: tuple[str, ...] = Field(
        default=("demo_request", "callback_request"),
        description="touchpoint types that make a known lead an MQL at once (fast lane)",
    )
    suppress_types: tuple[str, ...] = Field(
        default=("unsubscribe",),
        description="touchpoint types after which a lead is never promoted to MQL by score",
    )

    @field_validator("hand_raiser_types", "suppress_types")
    @classmethod
    def _known_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - TOUCHPOINT_TYPES)
        if unknown:
            raise ValueError(f"unknown touchpoint type(s): {', '.join(unknown)}")
        return value


class ScoringModel(_Strict):
    """A named, versioned scoring model."""

    name: str = Field(min_length=1, max_length=64)
    version: str = Field(min_length=1, max_length=32)
    rules: tuple[BehaviourRule, ...] = Field(min_length=1)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)

    _by_type: Mapping[str, tuple[BehaviourRule, ...]] = PrivateAttr(default_factory=dict)
    _by_id: Mapping[str, BehaviourRule] = PrivateAttr(default_factory=dict)

    @field_validator("rules")
    @classmethod
    def _unique_rule_ids(cls, rules: tuple[BehaviourRule, ...]) -> tuple[BehaviourRule, ...]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice; rule ids must be unique")
            seen.add(rule.id)
        return rules

    def model_post_init(self, __context: Any) -> None:
        by_type: dict[str, list[BehaviourRule]] = {}
        for rule in self.rules:
            by_type.setdefault(rule.type, []).append(rule)
        self._by_type = {kind: tuple(rules) for kind, rules in by_type.items()}
        self._by_id = {rule.id: rule for rule in self.rules}

    def rules_for(self, touchpoint: Touchpoint) -> list[BehaviourRule]:
        """Every rule the touchpoint matches (all of them count, not just the first)."""
        return [rule for rule in self._by_type.get(touchpoint.type, ()) if rule.matches(touchpoint)]

    def rule(self, rule_id: str) -> BehaviourRule | None:
        return self._by_id.get(rule_id)

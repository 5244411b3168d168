"""The scoring model as data: what marketing ops edit (YAML), validated by pydantic.

Loading a file (with file and line in errors) is ``leadstream.config.model_loader``'s job; this
module says what a valid model is and answers questions about it ("which rules does this
touchpoint hit?", "which grade is 37 fit points?").
"""

from __future__ import annotations

import fnmatch
import re
from functools import cached_property
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadstream.core.messages import Touchpoint

if TYPE_CHECKING:
    from leadstream.core.accounts import AccountRules
from leadstream.core.touchpoint_types import (
    MATCHABLE_ENVELOPE_FIELDS,
    NUMERIC_PROFILE_FIELDS,
    PAYLOAD_FIELDS,
    PAYLOAD_VALUES,
    PROFILE_FIELDS,
    TOUCHPOINT_TYPES,
)

__all__ = [
    "BehaviourRule",
    "FitRule",
    "Fit",
    "Engagement",
    "Temperature",
    "MqlGuard",
    "BantRules",
    "UpdateRules",
    "Lifecycle",
    "RoutingRule",
    "Team",
    "Routing",
    "SourceTypeRule",
    "SourceTypes",
    "ScoringModel",
    "ModelSet",
    "GRADES",
]

_RULE_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
GRADES = ("A", "B", "C", "D")
#: distinct profiles whose fit points are remembered per model (a few MB at most)
_FIT_MEMO_SIZE = 16_384
#: distinct (source, campaign, channel) whose source type is remembered per model
_SOURCE_MEMO_SIZE = 4_096
Grade = Literal["A", "B", "C", "D"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _known_types(value: tuple[str, ...]) -> tuple[str, ...]:
    unknown = sorted(set(value) - TOUCHPOINT_TYPES)
    if unknown:
        raise ValueError(
            f"unknown touchpoint type(s): {', '.join(unknown)}; "
            f"known: {', '.join(sorted(TOUCHPOINT_TYPES))}"
        )
    return value


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
    daily_cap: int | None = Field(
        default=None, ge=1, description="at most this many counted touchpoints per UTC day"
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in TOUCHPOINT_TYPES:
            raise ValueError(
                f"unknown touchpoint type {value!r}; known: {', '.join(sorted(TOUCHPOINT_TYPES))}"
            )
        return value

    @model_validator(mode="after")
    def _can_match(self) -> BehaviourRule:
        """A match on a field the type never carries, or a glob no allowed value fits, would
        silently never count: an error instead."""
        carried = PAYLOAD_FIELDS[self.type] - {"profile", "bant"}
        allowed = carried | MATCHABLE_ENVELOPE_FIELDS | {"type"}
        for name, pattern in self.match.items():
            if name not in allowed:
                raise ValueError(
                    f"match field {name!r} is not carried by {self.type} touchpoints, so the rule "
                    f"could never count; matchable: {', '.join(sorted(allowed))}")
            values = PAYLOAD_VALUES.get((self.type, name))
            if values is not None and not any(fnmatch.fnmatchcase(v, pattern) for v in values):
                raise ValueError(
                    f"match {name}: {pattern!r} fits none of the values {self.type} touchpoints "
                    f"can carry ({', '.join(sorted(values))})")
        return self

    # Derived lookups are cached properties, not pydantic private attributes: those are read
    # through BaseModel.__getattr__, which is slow in the scoring hot path.
    @cached_property
    def compiled_match(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return tuple(
            (name, re.compile(fnmatch.translate(pattern))) for name, pattern in self.match.items()
        )

    @cached_property
    def half_life_seconds(self) -> float | None:
        return None if self.half_life_days is None else self.half_life_days * 86400.0

    def matches(self, touchpoint: Touchpoint) -> bool:
        if touchpoint.type != self.type:
            return False
        for name, pattern in self.compiled_match:
            value = touchpoint.field_value(name)
            if value is None or not pattern.match(str(value)):
                return False
        return True


class FitRule(_Strict):
    """Fit points for a profile field: words or phrases, globs, regular expressions, a set of
    values, or a numeric range (exactly one of them)."""

    id: str = Field(pattern=_RULE_ID)
    field: str = Field(
        min_length=1,
        description="profile field: " + ", ".join(sorted(PROFILE_FIELDS)) +
        " (email_domain is derived from the email)",
    )
    words: tuple[str, ...] = Field(
        default=(), description="words or phrases, case-insensitive, matched as whole words: "
        "'cto' matches 'CTO & Co-Founder', not 'Contractor'; 'head of' matches 'Head of IT'; a "
        "'*' inside a word matches within it ('*leiter' matches 'Vertriebsleiter')")
    match: tuple[str, ...] = Field(default=(), description="globs over the whole value, "
                                   "case-insensitive ('*cto*' also matches 'Doctor')")
    regex: tuple[str, ...] = Field(default=(), description="regular expressions, searched, "
                                   "case-insensitive")
    values: tuple[str, ...] = Field(default=(), description="exact values, case-insensitive")
    min: float | None = Field(default=None, description="numeric range, inclusive")
    max: float | None = None
    points: float = 0.0
    disqualify: bool = Field(default=False, description="a match disqualifies the lead")

    @model_validator(mode="after")
    def _one_condition(self) -> FitRule:
        ranged = self.min is not None or self.max is not None
        kinds = sum([bool(self.words), bool(self.match), bool(self.regex), bool(self.values),
                     ranged])
        if kinds != 1:
            raise ValueError(
                "a fit rule needs exactly one of: words, match, regex, values, or min/max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.field not in PROFILE_FIELDS:
            raise ValueError(
                f"field {self.field!r} is not a profile field, so the rule could never match; "
                f"profile fields: {', '.join(sorted(PROFILE_FIELDS))}")
        if ranged and self.field not in NUMERIC_PROFILE_FIELDS:
            raise ValueError(f"min/max need a numeric field ({', '.join(sorted(NUMERIC_PROFILE_FIELDS))}), "
                             f"not {self.field!r}")
        if not ranged and self.field in NUMERIC_PROFILE_FIELDS:
            raise ValueError(f"{self.field!r} is a number: use min/max")
        for word in self.words:
            if not _WORD.findall(word.replace("*", "")):
                raise ValueError(f"words: {word!r} has no word in it")
        for pattern in self.regex:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"regex {pattern!r} is not a valid regular expression: {exc}") \
                    from None
        return self

    @cached_property
    def value_patterns(self) -> tuple[re.Pattern[str], ...]:
        if self.words:
            return (_words_pattern(self.words),)
        if self.regex:
            return tuple(re.compile(p, re.IGNORECASE) for p in self.regex)
        return tuple(re.compile(fnmatch.translate(p.lower())) for p in self.match)

    @cached_property
    def value_set(self) -> frozenset[str]:
        return frozenset(v.lower() for v in self.values)

    def matches(self, profile: Mapping[str, Any]) -> bool:
        value = profile.get(self.field)
        if value is None:
            return False
        if self.min is not None or self.max is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
            return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)
        text = str(value).lower()
        if self.value_set:
            return text in self.value_set
        if self.words:
            return self.value_patterns[0].search(" ".join(_WORD.findall(text))) is not None
        if self.regex:
            return any(p.search(str(value)) for p in self.value_patterns)
        return any(p.match(text) for p in self.value_patterns)


_WORD = re.compile(r"[^\W_]+")  # letters and digits, in any script; '-', '&', '/', '_' separate


def _words_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern over a value's words joined by single spaces: each phrase as whole words."""
    alternatives = []
    for phrase in phrases:
        words = [w for w in re.split(r"[^\w*]+|_", phrase.lower()) if w.replace("*", "")]
        alternatives.append(" ".join(re.escape(w).replace(r"\*", r"\w*") for w in words))
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


_DEFAULT_GRADES: dict[Grade, float] = {"A": 40.0, "B": 25.0, "C": 10.0}


class Fit(_Strict):
    rules: tuple[FitRule, ...] = ()
    grades: dict[Grade, float] = Field(
        default_factory=lambda: _DEFAULT_GRADES.copy(),
        description="minimum fit points per grade A, B, C; anything below C is D",
    )

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules: tuple[FitRule, ...]) -> tuple[FitRule, ...]:
        _unique_ids(r.id for r in rules)
        return rules

    @model_validator(mode="after")
    def _ordered_grades(self) -> Fit:
        missing = [g for g in ("A", "B", "C") if g not in self.grades]
        if missing:
            raise ValueError(f"grades needs thresholds for A, B and C (missing {', '.join(missing)})")
        if not self.grades["A"] >= self.grades["B"] >= self.grades["C"]:
            raise ValueError("grade thresholds must satisfy A >= B >= C")
        return self

    @cached_property
    def _fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(rule.field for rule in self.rules))

    @cached_property
    def _memo(self) -> dict[tuple[Any, ...], float]:
        return {}

    def points(self, profile: Mapping[str, Any]) -> float:
        """Fit points of a profile. Memoised on the values of the fields the rules read: every
        message asks for a lead's grade several times, and most profiles share their values."""
        key = tuple(map(profile.get, self._fields))
        memo = self._memo
        try:
            return memo[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value: not worth remembering
            return self._points(profile)
        if len(memo) >= _FIT_MEMO_SIZE:
            memo.clear()
        points = memo[key] = self._points(profile)
        return points

    @cached_property
    def _by_field(self) -> tuple[tuple[str, tuple[int, ...], dict[tuple[type, Any], tuple[int, ...]]], ...]:
        """Per field its rules' positions and a memo: (type, value) → positions that match."""
        return tuple((name, tuple(i for i, rule in enumerate(self.rules) if rule.field == name), {})
                     for name in self._fields)

    def _points(self, profile: Mapping[str, Any]) -> float:
        """A profile not seen lately (100,000 people have many distinct ones) still shares each
        field's value with others: which rules a value matches is remembered per field. The
        points are added in rule order, as one sum over the rules would add them."""
        rules = self.rules
        matched: list[int] = []
        for name, positions, memo in self._by_field:
            value = profile.get(name)
            if value is None:
                continue
            key = (value.__class__, value)  # 1, 1.0 and True are one dict key, not one text
            try:
                hits = memo[key]
            except KeyError:
                hits = tuple(i for i in positions if rules[i].matches(profile))
                if len(memo) >= _FIT_MEMO_SIZE:
                    memo.clear()
                memo[key] = hits
            except TypeError:  # an unhashable value
                hits = tuple(i for i in positions if rules[i].matches(profile))
            matched.extend(hits)
        matched.sort()
        return sum(rules[i].points for i in matched)

    def grade(self, points: float) -> str:
        for grade in ("A", "B", "C"):
            if points >= self.grades[grade]:  # type: ignore[index]
                return grade
        return "D"


class Engagement(_Strict):
    bands: tuple[float, float, float] = Field(
        default=(75.0, 50.0, 25.0),
        description="minimum behaviour score of bands 1, 2, 3 (1 = most engaged); below is 4",
    )

    @field_validator("bands")
    @classmethod
    def _descending(cls, bands: tuple[float, float, float]) -> tuple[float, float, float]:
        if not bands[0] >= bands[1] >= bands[2]:
            raise ValueError("engagement bands must be descending (band 1 highest)")
        return bands

    def band(self, score: float) -> int:
        for number, minimum in enumerate(self.bands, start=1):
            if score >= minimum:
                return number
        return 4


class Temperature(_Strict):
    warm: float = Field(default=30.0, description="behaviour score from which a lead is warm")
    hot: float = Field(default=70.0, description="behaviour score from which a lead can be hot")
    hot_timelines: tuple[Literal["immediate", "quarter", "year", "none"], ...] = Field(
        default=("immediate", "quarter"),
        description="BANT timelines that make a high score hot; without one it stays warm",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Temperature:
        if self.hot < self.warm:
            raise ValueError("hot must be >= warm")
        return self


class MqlGuard(_Strict):
    min_score: float = Field(default=50.0, description="behaviour score for MQL")
    min_grade: Grade = Field(default="C", description="worst grade that can become an MQL")


BantFact = Literal["budget", "authority", "need", "timeline"]


class BantRules(_Strict):
    """How BANT qualifies (core/bant.py says when a fact is positive or negative)."""

    qualify_min_grade: Grade | None = Field(
        default="C",
        description="all four facts positive, with at least this grade, make an MGL an MQL at "
        "once (reason bant_qualified); null: BANT never qualifies on its own",
    )
    hold_back_on: tuple[BantFact, ...] = Field(
        default=("budget", "authority"),
        description="an explicit negative on one of these facts holds a lead back from a "
        "score-based MQL (a hand-raise still promotes it)",
    )


class UpdateRules(_Strict):
    """When a known lead's view changed enough to publish a ``lead_updated`` (core/updates.py)."""

    interval_minutes: float | None = Field(
        default=15.0, gt=0,
        description="at most one lead_updated (reason lead_changed) per lead within this much "
        "event time; a change inside it is published when it ends. null: no such updates",
    )
    score_change: float | None = Field(
        default=None, gt=0,
        description="also a change: a behaviour score this far from the last published one; "
        "null (default): only a new engagement band counts (like a new grade, temperature, "
        "owner, BANT or profile)",
    )

    @property
    def interval_seconds(self) -> float | None:
        return None if self.interval_minutes is None else self.interval_minutes * 60.0


class Lifecycle(_Strict):
    mql: MqlGuard = Field(default_factory=MqlGuard)
    bant: BantRules = Field(default_factory=BantRules)
    updates: UpdateRules = Field(default_factory=UpdateRules)
    hand_raiser_types: tuple[str, ...] = Field(
        default=("demo_request", "callback_request"),
        description="touchpoint types that make a known lead an MQL at once (fast lane)",
    )
    hand_raiser_min_grade: Grade = Field(
        default="D", description="worst grade a hand-raiser may have to take the fast lane"
    )
    suppress_types: tuple[str, ...] = Field(
        default=("unsubscribe",),
        description="opt-out touchpoint types: from their event time on, a marketing or all "
        "opt-out (payload.scope) stops the score from promoting the lead (core/consent.py)",
    )
    reengage_min_points: float = Field(
        default=20.0, ge=0,
        description="a recycled lead re-enters MQL only with this many behaviour points earned "
        "since it was recycled (and the MQL guard met)",
    )
    sla_hours: float = Field(
        default=48.0, gt=0, description="an MQL not accepted by sales within this is a breach"
    )
    recycle_after_days: float | None = Field(
        default=90.0, gt=0, description="an MQL or SAL without touchpoints this long is recycled"
    )
    stall_after_days: float | None = Field(
        default=30.0, gt=0,
        description="an MGL that has not moved on this long after it became one gets a stalled "
        "nurture signal (once per time it became an MGL); none = no stall signals",
    )
    lost_cool_off_days: float | None = Field(
        default=180.0, gt=0,
        description="a lost lead goes back to nurturing (lost → recycled, reason nurture) this "
        "long after it was lost; none = lost stays terminal",
    )
    max_lateness_days: float = Field(
        default=30.0, gt=0, le=60,
        description="a touchpoint this much older than the lead's newest is too late: it goes to "
        "the DLQ (too_late) instead of counting; at most 60 (daily caps keep 62 days)",
    )

    @field_validator("hand_raiser_types", "suppress_types")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _known_types(value)


class RoutingRule(_Strict):
    id: str = Field(pattern=_RULE_ID)
    when: dict[str, list[str] | dict[str, float]] = Field(
        default_factory=dict,
        description="profile field → list of values (case-insensitive) or {min, max}; "
        "all must hold; empty = always",
    )
    team: str = Field(min_length=1)

    def matches(self, profile: Mapping[str, Any]) -> bool:
        for name, condition in self.when.items():
            value = profile.get(name)
            if value is None:
                return False
            if isinstance(condition, dict):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    return False
                if "min" in condition and value < condition["min"]:
                    return False
                if "max" in condition and value > condition["max"]:
                    return False
            elif str(value).lower() not in {c.lower() for c in condition}:
                return False
        return True


class Team(_Strict):
    owners: dict[str, float] = Field(
        min_length=1, description="owner → weight (capacity share); weights > 0"
    )

    @field_validator("owners")
    @classmethod
    def _positive(cls, owners: dict[str, float]) -> dict[str, float]:
        bad = [name for name, weight in owners.items() if weight <= 0]
        if bad:
            raise ValueError(f"owner weights must be > 0: {', '.join(bad)}")
        return owners


class Routing(_Strict):
    rules: tuple[RoutingRule, ...] = Field(
        default=(RoutingRule(id="default", team="inbound"),)
    )
    teams: dict[str, Team] = Field(
        default_factory=lambda: {"inbound": Team(owners={"inbound-queue": 1.0})}
    )

    @model_validator(mode="after")
    def _teams_exist(self) -> Routing:
        _unique_ids(r.id for r in self.rules)
        missing = sorted({r.team for r in self.rules} - set(self.teams))
        if missing:
            raise ValueError(f"routing rules name undefined team(s): {', '.join(missing)}")
        return self


SourceType = Literal["spears", "seeds", "nets"]


class SourceTypeRule(_Strict):
    """Maps a lead's source to one of the three source types: ``spears`` (direct sales outreach:
    cold calls, outbound mail, sales events), ``seeds`` (referrals, recommendations, partners) or
    ``nets`` (inbound online marketing: search, content, social, ads)."""

    type: SourceType
    match: dict[Literal["source", "channel", "campaign"], tuple[str, ...]] = Field(
        min_length=1,
        description="envelope field → globs (case-insensitive); every field named must match "
        "one of its globs",
    )

    @cached_property
    def compiled_match(self) -> tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]:
        return tuple((name, tuple(re.compile(fnmatch.translate(p.lower())) for p in globs))
                     for name, globs in self.match.items())

    def matches(self, fields: Mapping[str, str | None]) -> bool:
        for name, patterns in self.compiled_match:
            value = fields.get(name)
            if value is None or not any(p.match(value.lower()) for p in patterns):
                return False
        return True


class SourceTypes(_Strict):
    """How a lead's source type is decided: the rules in order, the first match wins; a lead no
    rule matches (or without a source) gets ``default``."""

    rules: tuple[SourceTypeRule, ...] = Field(
        default=(
            SourceTypeRule(type="spears", match={"channel": ("outbound*", "cold_*", "sales*",
                                                             "phone", "direct_mail")}),
            SourceTypeRule(type="seeds", match={"channel": ("referral*", "partner*",
                                                            "recommendation*", "reseller*")}),
            SourceTypeRule(type="seeds", match={"source": ("referral*", "partner*", "customer*")}),
        ),
    )
    default: SourceType = Field(default="nets", description="inbound online marketing")

    def classify(self, fields: Mapping[str, str | None]) -> str:
        return self.classify_touch(fields.get("source"), fields.get("campaign"),
                                   fields.get("channel"))

    def classify_touch(self, source: str | None, campaign: str | None,
                       channel: str | None) -> str:
        """The source type of a touch; remembered per distinct (source, campaign, channel), which
        are few (every transition asks)."""
        key = (source, campaign, channel)
        found = self.memo.get(key)
        if found is None:
            fields = {"source": source, "campaign": campaign, "channel": channel}
            found = next((rule.type for rule in self.rules if rule.matches(fields)), self.default)
            if len(self.memo) < _SOURCE_MEMO_SIZE:
                self.memo[key] = found
        return found

    @cached_property
    def memo(self) -> dict[tuple[str | None, str | None, str | None], str]:
        return {}


def _unique_ids(ids: Any) -> None:
    seen: set[str] = set()
    for rule_id in ids:
        if rule_id in seen:
            raise ValueError(f"rule id {rule_id!r} is used twice; rule ids must be unique")
        seen.add(rule_id)


class ScoringModel(_Strict):
    """A named, versioned scoring model."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    version: str = Field(min_length=1, max_length=32)
    rules: tuple[BehaviourRule, ...] = Field(min_length=1)
    fit: Fit = Field(default_factory=Fit)
    engagement: Engagement = Field(default_factory=Engagement)
    temperature: Temperature = Field(default_factory=Temperature)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    routing: Routing = Field(default_factory=Routing)
    sources: SourceTypes = Field(default_factory=SourceTypes)

    @field_validator("rules")
    @classmethod
    def _unique_rule_ids(cls, rules: tuple[BehaviourRule, ...]) -> tuple[BehaviourRule, ...]:
        _unique_ids(r.id for r in rules)
        return rules

    @cached_property
    def rules_by_type(self) -> Mapping[str, tuple[BehaviourRule, ...]]:
        by_type: dict[str, list[BehaviourRule]] = {}
        for rule in self.rules:
            by_type.setdefault(rule.type, []).append(rule)
        return {kind: tuple(rules) for kind, rules in by_type.items()}

    @cached_property
    def rules_by_id(self) -> Mapping[str, BehaviourRule]:
        return {rule.id: rule for rule in self.rules}

    def rules_for(self, touchpoint: Touchpoint) -> list[BehaviourRule]:
        """Every rule the touchpoint matches (all of them count, not just the first)."""
        return [rule for rule in self.rules_by_type.get(touchpoint.type, ()) if rule.matches(touchpoint)]

    def rule(self, rule_id: str) -> BehaviourRule | None:
        return self.rules_by_id.get(rule_id)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class ModelSet:
    """The models a worker runs: ``primary`` drives the lifecycle; ``others`` only score.

    Several models run side by side, e.g. one per product line; every lead carries a score per
    model, and handover events show them all.
    """

    __slots__ = ("primary", "others", "accounts", "_ref")

    def __init__(self, primary: ScoringModel, others: tuple[ScoringModel, ...] = (),
                 accounts: AccountRules | None = None) -> None:
        from leadstream.core.accounts import AccountRules  # (it imports this module)

        names = [primary.name, *(m.name for m in others)]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique, got {names}")
        self.primary = primary
        self.others = others
        #: how leads are grouped into accounts (from the settings, not a model: not in ``ref``)
        self.accounts = accounts if accounts is not None else AccountRules()
        self._ref = ",".join(m.ref for m in (primary, *others))  # models are frozen

    @classmethod
    def of(cls, model: ScoringModel | ModelSet) -> ModelSet:
        return model if isinstance(model, ModelSet) else cls(model)

    @property
    def all(self) -> tuple[ScoringModel, ...]:
        return (self.primary, *self.others)

    @property
    def ref(self) -> str:
        """Changes whenever any model's name or version changes."""
        return self._ref

"""Accounts: the people of one company, and when their engagement makes it a marketing-qualified
account (README, "Accounts").

A known lead belongs to an account (:func:`account_of`): the profile's ``account_id`` (from the
CRM or a form), else its ``company_domain``, else the domain of its email unless that is a
free-mail domain (free-mail leads stay without an account). Visitors have none.

The lead side tells its account what it is now (:func:`contact_updates`): a
:class:`ContactUpdate` with the lead's primary-model score components, grade, stage and role,
versioned by the lead's own progress, or a leave when it moved to another account, was merged
away or erased. The account side keeps the newest version per contact (an order-free maximum, so
replays and re-sends change nothing) and, after each update, evaluates the account as of its
newest contact's event time (:func:`apply_contact`):

    engagement = Σ_k diminishing^k · score_k     (contacts' decayed scores, best first, ≥ 0)

When the engagement reaches ``engaged_score`` with at least ``engaged_contacts`` contacts scoring
``contact_min_score`` or more, :class:`AccountEngaged` is emitted once; it is emitted again only
after the engagement fell below ``rearm_below`` × ``engaged_score`` at a later update.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadstream.core.fit import grade as fit_grade
from leadstream.core.model import GRADES, ScoringModel
from leadstream.core.scoring import behaviour_score
from leadstream.core.stages import Stage
from leadstream.core.state import LeadState

__all__ = [
    "AccountRules",
    "AccountState",
    "ContactUpdate",
    "AccountEngaged",
    "DEFAULT_FREE_MAIL",
    "account_of",
    "registered_account",
    "contact_updates",
    "apply_contact",
    "take",
    "decide",
    "evaluate",
    "engagement_id",
]

#: the free-mail domains a default installation knows (settings: accounts.free_mail_domains)
DEFAULT_FREE_MAIL = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.de", "hotmail.com", "hotmail.de",
    "outlook.com", "outlook.de", "live.com", "msn.com", "icloud.com", "me.com", "aol.com",
    "gmx.de", "gmx.net", "gmx.at", "gmx.ch", "web.de", "t-online.de", "freenet.de", "posteo.de",
    "mailbox.org", "proton.me", "protonmail.com", "mail.com", "yandex.ru", "zoho.com",
})
#: leaves remembered per account, so a re-sent older update does not bring a contact back
LEFT_KEPT = 256


@dataclass(frozen=True, slots=True)
class AccountRules:
    """How leads are grouped and when an account counts as engaged (settings: ``accounts``)."""

    enabled: bool = True
    free_mail_domains: frozenset[str] = DEFAULT_FREE_MAIL
    engaged_score: float = 120.0
    engaged_contacts: int = 2
    contact_min_score: float = 20.0
    diminishing: float = 0.5
    rearm_below: float = 0.5


def account_of(profile: Mapping[str, Any], rules: AccountRules) -> str | None:
    """The account a lead with this profile belongs to, or ``None``."""
    if not rules.enabled:
        return None
    explicit = profile.get("account_id")
    if explicit:
        return str(explicit)
    for name in ("company_domain", "email_domain"):
        domain = profile.get(name)
        if domain:
            domain = str(domain).strip().lower().removeprefix("www.")
            if name == "company_domain" or domain not in rules.free_mail_domains:
                return domain
    return None


@dataclass(frozen=True, slots=True)
class ContactUpdate:
    """A lead, as its account sees it (``components`` ``None``: the lead left the account)."""

    account_id: str
    lead_id: str
    version: tuple[float, int, int]  # (newest event time, touchpoints, transitions): grows
    components: dict[str, list[float]] | None = None  # primary model: rule → [units, ref]
    grade: str | None = None
    stage: str | None = None
    role: str | None = None  # the profile's job title
    erased: bool = False  # the lead was erased: the account forgets it (no leave is kept)

    def to_primitive(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "lead_id": self.lead_id,
                "version": list(self.version), "components": self.components,
                "grade": self.grade, "stage": self.stage, "role": self.role,
                "erased": self.erased}

    @classmethod
    def from_primitive(cls, data: Mapping[str, Any]) -> ContactUpdate:
        version = data["version"]
        return cls(account_id=data["account_id"], lead_id=data["lead_id"],
                   version=(float(version[0]), int(version[1]), int(version[2])),
                   components=data.get("components"), grade=data.get("grade"),
                   stage=data.get("stage"), role=data.get("role"),
                   erased=bool(data.get("erased", False)))


def contact_updates(lead_id: str, before: str | None, state: LeadState | None,
                    model: ScoringModel, rules: AccountRules) -> list[ContactUpdate]:
    """What a lead's accounts must hear after the lead changed: ``before`` is the account it was
    registered with (``LeadState.account``), ``state`` the lead now (``None``: erased). Sets
    ``state.account``."""
    if state is None:
        return [ContactUpdate(before, lead_id, (0.0, 0, 0), erased=True)] if before else []
    now = registered_account(state, rules)
    version = _version(state)
    out: list[ContactUpdate] = []
    if before is not None and before != now:
        out.append(ContactUpdate(before, lead_id, version))
    state.account = now
    if now is not None:
        out.append(ContactUpdate(
            now, state.lead_id, version,
            components={rule: list(c) for rule, c in state.components.get(model.name, {}).items()},
            grade=fit_grade(state.profile, model), stage=state.stage,
            role=state.profile.get("job_title")))
    return out


def registered_account(state: LeadState, rules: AccountRules) -> str | None:
    """The account a lead is registered with once its account has heard of it
    (``LeadState.account``): a known, live lead's :func:`account_of`."""
    if state.merged_into is not None or state.stage == Stage.VISITOR:
        return None
    return account_of(state.profile, rules)


def _version(state: LeadState) -> tuple[float, int, int]:
    return (state.last_event_at or 0.0, state.touchpoints, state.transitions)


@dataclass(slots=True)
class AccountState:
    account_id: str
    # lead id → [version, components, grade, stage, role]
    contacts: dict[str, list[Any]] = field(default_factory=dict)
    left: dict[str, list[Any]] = field(default_factory=dict)  # lead id → version of its leave
    engaged: int = 0  # account_engaged events so far
    armed: bool = True  # whether reaching the threshold emits one

    def to_primitive(self) -> dict[str, Any]:
        return {"v": 1, "account_id": self.account_id, "contacts": self.contacts,
                "left": self.left, "engaged": self.engaged, "armed": self.armed}

    @classmethod
    def from_primitive(cls, data: Mapping[str, Any]) -> AccountState:
        return cls(account_id=data["account_id"], contacts=dict(data.get("contacts") or {}),
                   left=dict(data.get("left") or {}), engaged=int(data.get("engaged", 0)),
                   armed=bool(data.get("armed", True)))


@dataclass(frozen=True, slots=True)
class Contact:
    lead_id: str
    score: float
    grade: str | None
    stage: str | None
    role: str | None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """An account as of event time ``at``."""

    at: float | None
    engagement: float
    contacts: tuple[Contact, ...]  # best score first
    engaged: tuple[Contact, ...]  # those at or above contact_min_score
    best_grade: str | None


@dataclass(frozen=True, slots=True)
class AccountEngaged:
    """Published on the handover topic, keyed by account: a marketing-qualified account."""

    engagement_id: str
    account_id: str
    entry: int
    occurred_at: float
    engagement: float
    best_grade: str | None
    contacts: tuple[Contact, ...]  # the engaged contacts that contributed


def engagement_id(account_id: str, entry: int) -> str:
    raw = f"account\x1f{account_id}\x1fengaged\x1f{entry}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def evaluate(state: AccountState, model: ScoringModel, rules: AccountRules) -> Evaluation:
    if not state.contacts:
        return Evaluation(None, 0.0, (), (), None)
    at = max(record[0][0] for record in state.contacts.values())
    contacts = sorted(
        (Contact(lead_id, round(max(0.0, behaviour_score(record[1] or {}, model, at)), 2),
                 record[2], record[3], record[4])
         for lead_id, record in state.contacts.items()),
        key=lambda c: (-c.score, c.lead_id))
    engagement = round(sum(c.score * rules.diminishing ** k for k, c in enumerate(contacts)), 2)
    grades = [c.grade for c in contacts if c.grade in GRADES]
    return Evaluation(
        at=at, engagement=engagement, contacts=tuple(contacts),
        engaged=tuple(c for c in contacts if c.score >= rules.contact_min_score),
        best_grade=min(grades, key=GRADES.index) if grades else None)


def apply_contact(state: AccountState | None, update: ContactUpdate, model: ScoringModel,
                  rules: AccountRules) -> tuple[AccountState, list[AccountEngaged]]:
    """Take in one contact update and decide; return the account and what to publish."""
    state = take(state, update)
    return state, decide(state, model, rules)


def take(state: AccountState | None, update: ContactUpdate) -> AccountState:
    """Take in one contact update (the newest version per contact wins); decide nothing yet.
    The account handler takes a batch's updates of an account, then decides once: evaluating
    an account scores every contact, so once per batch, not per update."""
    if state is None:
        state = AccountState(update.account_id)
    if update.erased:
        state.contacts.pop(update.lead_id, None)
        state.left.pop(update.lead_id, None)
        return state
    version = list(update.version)
    current = state.contacts.get(update.lead_id)
    known = current[0] if current is not None else state.left.get(update.lead_id)
    if known is not None and version <= known:
        return state  # a re-sent or overtaken update
    if update.components is None:
        state.contacts.pop(update.lead_id, None)
        state.left[update.lead_id] = version
        while len(state.left) > LEFT_KEPT:
            del state.left[next(iter(state.left))]
    else:
        state.left.pop(update.lead_id, None)
        state.contacts[update.lead_id] = [version, update.components, update.grade,
                                          update.stage, update.role]
    return state


def decide(state: AccountState, model: ScoringModel, rules: AccountRules) -> list[AccountEngaged]:
    """Whether the account, as it is now, is to be announced (or re-armed)."""
    view = evaluate(state, model, rules)
    qualifies = (view.engagement >= rules.engaged_score
                 and len(view.engaged) >= rules.engaged_contacts)
    if state.armed and qualifies and view.at is not None:
        state.engaged += 1
        state.armed = False
        return [AccountEngaged(engagement_id(state.account_id, state.engaged), state.account_id,
                               state.engaged, view.at, view.engagement, view.best_grade,
                               view.engaged)]
    if not state.armed and view.engagement < rules.rearm_below * rules.engaged_score:
        state.armed = True
    return []

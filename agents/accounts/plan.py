"""Plan one account-messages batch: each account's state is read once, takes in the batch's
contact updates in order (``core.accounts.take``), decides once (``core.accounts.decide``: an
evaluation scores every contact, so once per batch) and is written once.

The order of effects is the leads' (agents/leads/plan.py): an ``account_engaged`` event is kept
nowhere in the account's state, so it goes out *first*, before the state that says it was
published; a crash in between decides it again from the earlier state, with the same id. A record
that cannot be decoded or applied goes to the DLQ and the batch goes on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from leadstream.agents.dlq import dlq_value
from leadstream.core.accounts import AccountEngaged, AccountState, ContactUpdate, decide, take
from leadstream.core.model import ModelSet
from leadstream.streams.encoding.codecs import decode_account, encode_account
from leadstream.streams.lane import InputRecord

__all__ = ["AccountPlan", "plan_accounts"]


@dataclass(slots=True)
class AccountPlan:
    first: list[tuple[str, bytes, bytes]] = field(default_factory=list)  # (topic, key, value)
    writes: dict[bytes, bytes] = field(default_factory=dict)
    outputs: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    engaged: list[AccountEngaged] = field(default_factory=list)
    rejected: list[tuple[InputRecord, Exception]] = field(default_factory=list)


def plan_accounts(records: list[InputRecord], stored: Callable[[bytes], bytes | None],
                  models: ModelSet, *, handover: str, dlq: str,
                  to_event: Callable[[AccountEngaged], bytes]) -> AccountPlan:
    plan = AccountPlan()
    states: dict[bytes, AccountState | None] = {}
    for record in records:
        key = record.key or b""
        if key not in states:
            raw = stored(key)
            states[key] = decode_account(raw) if raw is not None else None
        try:
            update = ContactUpdate.from_primitive(orjson.loads(record.value or b""))
            if update.account_id.encode() != key:
                raise ValueError("the record's key is not its account_id")
            states[key] = take(states[key], update)
        except Exception as exc:  # a poison record must never stop the stream
            plan.rejected.append((record, exc))
            plan.outputs.append((dlq, record.key, dlq_value(
                record, stage="accounts", kind="internal_error",
                reason=f"unexpected {type(exc).__name__} while applying a contact update",
                rejected_id=hashlib.sha256(record.value or b"").hexdigest())))
            continue
    for key, state in states.items():
        if state is None:
            continue
        for event in decide(state, models.primary, models.accounts):
            plan.first.append((handover, key, to_event(event)))
            plan.engaged.append(event)
        plan.writes[key] = encode_account(state)
    return plan

"""Crash torture: a deterministic touchpoint log processed by a worker that is killed -9 again and
again must end exactly where an uninterrupted run ends.

The suite runs it small (``tests/integration/test_crash.py``); the long run is this module:

    .venv/bin/python -m tests.torture --touchpoints 20000 --people 1000 --kills 20

The log has three phases, each produced only after the previous one is fully processed (committed),
because a lead's outcome depends on the order of its touchpoints and CRM verdicts and two input
topics give no order between them: (1) touchpoints with re-sent duplicates, malformed records and
late events; (2) CRM verdicts for the leads that became MQLs — accepted, rejected, disqualified,
re-sent, impossible and for unknown leads; (3) more touchpoints (re-engagement, more duplicates).

The reference is the pure core applied to the same log in the same per-lead order, which is what
an uninterrupted run computes; the tests also run the pipeline uninterrupted and compare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from leadstream.broker.high_watermarks import high_watermarks
from leadstream.config.model_loader import DEFAULT_MODEL_PATH, load_models
from leadstream.config.settings import HygieneSettings
from leadstream.core.apply import apply
from leadstream.core.emitted import (ConsentChanged, Delete, LeadsMerged, NurtureSignal, Rejected,
                                     Send, Transition)
from leadstream.core.accounts import AccountState, apply_contact, contact_updates, engagement_id
from leadstream.core.model import ModelSet
from leadstream.core.state import LeadState
from leadstream.demo.observe import counter_total, scrape
from leadstream.demo.traffic import TrafficGenerator
from leadstream.exceptions import RejectedMessage
from leadstream.schemas.feedback import parse_feedback
from leadstream.schemas.touchpoints import parse_touchpoint
from leadstream.streams.pipeline import account_messages_topic, lead_messages_topic
from leadstream.streams.services.hygiene import TrafficFilter
from leadstream.streams.encoding.codecs import decode_account
from leadstream.streams.encoding.mappers import (consent_to_handover, feedback_to_core,
                                                 routed_touchpoint, transition_to_handover)

__all__ = ["TortureLog", "build_log", "Reference", "run_log", "RunReport", "check_outcome"]

MAX_BYTES = 65536
Records = list[tuple[bytes | None, bytes]]


@dataclass
class Phase:
    topic: str  # "touchpoints" or "feedback" (a key of Deployment.topics)
    records: Records


@dataclass
class TortureLog:
    phases: list[Phase]
    malformed: int
    duplicates: int
    late: int


class Reference:
    """The pure core over the log: lead states, transitions by id, DLQ counts."""

    def __init__(self, models: ModelSet) -> None:
        self.models = models
        self.states: dict[str, LeadState] = {}
        self.erased: dict[str, int] = {}  # lead id → erasure count (the worker's tombstones)
        self.transitions: dict[str, str] = {}  # id → handover JSON
        self.signals: set[str] = set()  # nurture signal ids
        #: handover records an uninterrupted run publishes (a re-sent trigger re-publishes)
        self.published = 0
        self.rejected: Counter[str] = Counter()
        self.hygiene = TrafficFilter(HygieneSettings())
        self.accounts: dict[str, AccountState] = {}  # what the account handler keeps
        self.engaged: set[str] = set()  # account_engaged ids

    def _to_core(self, topic: str, raw: bytes) -> Any:
        if topic == "touchpoints":
            envelope = parse_touchpoint(raw, max_bytes=MAX_BYTES)
            self.hygiene.check(envelope)
            return routed_touchpoint(envelope)
        return feedback_to_core(parse_feedback(raw, max_bytes=MAX_BYTES))

    def feed(self, phase: Phase) -> None:
        for _, raw in phase.records:
            try:
                message: Any = self._to_core(phase.topic, raw)
            except RejectedMessage as exc:
                self.rejected[f"{phase.topic}:{exc.kind}"] += 1
                continue
            # messages one lead sends another (visitor links) are applied right after, as the
            # worker does when every involved lead is caught up
            queue: deque[Any] = deque([message])
            while queue:
                current = queue.popleft()
                before = self.states.get(current.lead_id)
                registered = before.account if before is not None else None
                state, emitted = apply(before, current, self.models,
                                       generation=self.erased.get(current.lead_id, 0))
                if state is not None:
                    self.states[current.lead_id] = state
                for item in emitted:
                    if isinstance(item, Transition | LeadsMerged | ConsentChanged):
                        self.published += 1
                    if isinstance(item, Transition):
                        self.transitions[item.transition_id] = transition_to_handover(item).model_dump_json()
                    elif isinstance(item, ConsentChanged):  # compared like transitions, by id
                        self.transitions[item.change_id] = consent_to_handover(item).model_dump_json()
                    elif isinstance(item, NurtureSignal):
                        self.signals.add(item.signal_id)
                    elif isinstance(item, Rejected):
                        self.rejected[f"leads:{item.kind}"] += 1
                    elif isinstance(item, Send):
                        queue.append(item.message)
                    elif isinstance(item, Delete):
                        self.states.pop(item.lead_id, None)
                        self.erased[item.lead_id] = item.generation
                self._tell_account(current.lead_id, registered)

    def _tell_account(self, lead_id: str, registered: str | None) -> None:
        """What the lead handler sends the account handler after the lead changed."""
        state = self.states.get(lead_id)
        for update in contact_updates(lead_id, registered, state, self.models.primary,
                                      self.models.accounts):
            account, events = apply_contact(self.accounts.get(update.account_id), update,
                                            self.models.primary, self.models.accounts)
            self.accounts[update.account_id] = account
            self.engaged.update(event.engagement_id for event in events)


def build_log(*, touchpoints: int, people: int, seed: int, models: ModelSet) -> TortureLog:
    rng = random.Random(seed)
    end = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(hours=2)
    # the cookie on every touchpoint: the log's order per lead is the order the worker applies,
    # so the pure core over the log is the exact reference (tests/backlog.py has the realistic mix)
    traffic = TrafficGenerator(people=people, total=touchpoints, seed=seed, end=end,
                               duplicate_rate=0.03, malformed_rate=0.02,
                               identity_mix="cookie_everywhere")
    generated = [next(traffic) for _ in range(touchpoints)]
    records: Records = [(r.key, r.value) for r in generated]
    # late events: a valid record moved later in the log (its key, so its partition, unchanged)
    late = 0
    for i in rng.sample(range(len(records)), k=len(records) // 20):
        if generated[i].kind == "valid" and i + 50 < len(records):
            records.insert(min(len(records), i + rng.randint(20, 200)), records.pop(i))
            late += 1
    cut = int(len(records) * 0.6)
    first, third = Phase("touchpoints", records[:cut]), Phase("touchpoints", records[cut:])
    reference = Reference(models)
    reference.feed(first)
    feedback = Phase("feedback", _verdicts(reference.states, rng, end + timedelta(hours=1)))
    return TortureLog(
        phases=[first, feedback, third],
        malformed=sum(1 for r in generated if r.kind not in ("valid", "duplicate")),
        duplicates=sum(1 for r in generated if r.kind == "duplicate"),
        late=late,
    )


def _verdicts(states: dict[str, LeadState], rng: random.Random, at: datetime) -> Records:
    out: Records = []
    stamp = at.isoformat().replace("+00:00", "Z")

    def verdict(lead: str, kind: str, n: int, **extra: Any) -> None:
        body = {"feedback_id": f"crm-{lead}-{n}", "lead_id": lead, "verdict": kind,
                "occurred_at": stamp, **extra}
        out.append((lead.encode(), json.dumps(body).encode()))

    for lead, state in sorted(states.items()):
        if state.stage == "mql":
            kind = rng.choices(["accepted", "rejected", "disqualified", None], [50, 25, 10, 15])[0]
            if kind == "rejected":
                verdict(lead, kind, 1, reason="no_budget")
            elif kind:
                verdict(lead, kind, 1)
            if kind and rng.random() < 0.1:
                out.append(out[-1])  # the CRM re-sends
        elif state.stage == "mgl" and rng.random() < 0.05:
            verdict(lead, "won", 9)  # impossible for an MGL
    for n in range(3):
        verdict(f"em-{n:024d}", "accepted", n)  # unknown leads
    return out


@dataclass
class RunReport:
    kills: int = 0
    kills_mid_stream: int = 0
    restarts: int = 0
    seconds: float = 0.0
    phase_seconds: list[float] = field(default_factory=list)
    #: linked visitors' touchpoints ingest forwarded itself, summed over the worker's lives
    forwarded_at_ingest: int = 0

    def count_forwards(self, worker: Any) -> None:
        """Add what the worker's metric counted so far (read just before it dies)."""
        try:
            samples = scrape(worker.metrics_url)
        except OSError:
            return  # not serving yet: it forwarded nothing that counts here
        self.forwarded_at_ingest += int(counter_total(
            samples, "leadstream_identity_messages_total", note="forwarded_at_ingest"))


async def _drained(deployment: Any) -> bool:
    """Every record of every input topic processed and committed by the app's consumer group."""
    bootstrap = deployment.broker.bootstrap_servers
    topics = [deployment.topics["touchpoints"], deployment.topics["feedback"],
              deployment.topics["commands"], lead_messages_topic(deployment.settings()),
              account_messages_topic(deployment.settings())]
    # a consumer of the group that never subscribes: it only reads the group's committed offsets
    # (the admin client's OffsetFetch version is one the embedded broker answers wrongly)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=deployment.name,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        parts = []
        for topic in topics:
            partitions = await consumer._client._wait_on_metadata(topic) or range(8)
            parts += [TopicPartition(topic, p) for p in partitions]
        ends = await high_watermarks(consumer._client, parts)
        for tp, end in ends.items():
            committed = await consumer.committed(tp) or 0
            if end and committed < end:
                if os.environ.get("LEADSTREAM_TORTURE_DEBUG"):
                    print(f"{time.strftime('%X')} lag {tp.topic}[{tp.partition}] {committed} < {end}",
                          file=sys.stderr)
                return False
        return True
    except Exception as exc:  # a topic not created yet, a group still forming: not drained
        if os.environ.get("LEADSTREAM_TORTURE_DEBUG"):
            print(f"drained? {type(exc).__name__}: {exc}", file=sys.stderr)
        return False
    finally:
        await consumer.stop()


def drained(deployment: Any) -> bool:
    return asyncio.run(_drained(deployment))


def run_log(deployment: Any, log: TortureLog, *, kills: int, seed: int,
            kill_window: tuple[float, float] = (0.3, 2.5), timeout: float = 300.0,
            settle: float = 0.0, per_slice: int | None = None) -> RunReport:
    """Produce each phase as a trickle while the worker is killed -9 ``kills`` times (spread over
    the phases) and restarted each time, then wait until the phase is fully processed.

    The trickle keeps input arriving until the phase's last kill (a worker drains a burst faster
    than it restarts, so kills after a burst would hit an idle worker); then the rest follows.
    """
    rng = random.Random(seed)
    report = RunReport()
    started = time.monotonic()
    shares = [0.5, 0.2, 0.3] if len(log.phases) == 3 else [1 / len(log.phases)] * len(log.phases)
    plan = [int(kills * s) for s in shares]
    plan[0] += kills - sum(plan)
    worker = deployment.start_worker()
    for phase, phase_kills in zip(log.phases, plan, strict=True):
        phase_started = time.monotonic()
        topic = deployment.topics[phase.topic]
        slices = phase_kills * 80 + 1
        if per_slice:  # a steady rate: ``per_slice`` records every 0.2 s
            slices = max(slices, len(phase.records) // per_slice + 1)
        trickle = Trickle(deployment, phase.records, topic, slices=slices)
        trickle.start()
        for _ in range(phase_kills):
            time.sleep(rng.uniform(*kill_window))
            mid = not trickle.done.is_set() or not drained(deployment)
            report.count_forwards(worker)
            worker.kill()
            report.kills += 1
            report.kills_mid_stream += int(mid)
            worker = deployment.start_worker()
            report.restarts += 1
        trickle.finish()
        deadline = time.monotonic() + timeout
        while not drained(deployment):
            if time.monotonic() > deadline:
                raise AssertionError(f"phase {phase.topic} not processed after {timeout}s")
            if os.environ.get("LEADSTREAM_TORTURE_DEBUG"):
                samples = scrape(worker.metrics_url)
                print(f"{time.strftime('%X')} handled "
                      f"{counter_total(samples, 'leadstream_touchpoints_total'):.0f} lag "
                      f"{counter_total(samples, 'leadstream_consumer_lag'):.0f}", file=sys.stderr)
            time.sleep(0.5)
        if settle:
            wait_settled(deployment, settle, timeout)
        report.phase_seconds.append(round(time.monotonic() - phase_started, 1))
    report.count_forwards(worker)
    worker.stop()
    report.seconds = round(time.monotonic() - started, 1)
    return report


def wait_settled(deployment: Any, seconds: float, timeout: float) -> None:
    """After a drain, wait until time-driven work (ticks) has caught up: no tick sent for
    ``seconds`` and everything it sent processed. A log in the past is due at once, and an SLA
    breach sets the next deadline 48 h of event time later, often still in the past, so a lead
    breaches once per tick round until its deadlines reach the present."""
    deadline = time.monotonic() + timeout
    worker = next(w for w in reversed(deployment.workers) if w.alive)
    last, quiet_since = -1.0, time.monotonic()
    while True:
        if time.monotonic() > deadline:
            raise AssertionError(f"ticks still being sent after {timeout}s")
        try:
            sent = counter_total(scrape(worker.metrics_url), "leadstream_ticks_sent_total")
        except OSError:
            sent = last
        if sent != last:
            last, quiet_since = sent, time.monotonic()
        elif time.monotonic() - quiet_since >= seconds and drained(deployment):
            return
        time.sleep(0.5)


class Trickle(threading.Thread):
    """Produces ``records`` in order, one slice every 0.2 s; :meth:`finish` sends the rest at
    once and waits."""

    def __init__(self, deployment: Any, records: list[tuple[bytes | None, bytes]], topic: str,
                 *, slices: int) -> None:
        super().__init__(daemon=True)
        self._deployment, self._records, self._topic = deployment, records, topic
        self._size = max(1, -(-len(records) // slices))
        self._hurry = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            at = 0
            while at < len(self._records):
                size = len(self._records) - at if self._hurry.is_set() else self._size
                self._deployment.produce(self._records[at:at + size], topic=self._topic)
                at += size
                if not self._hurry.is_set():
                    self._hurry.wait(0.2)
        except BaseException as exc:  # re-raised by finish()
            self.error = exc
        finally:
            self.done.set()

    def finish(self) -> None:
        self._hurry.set()
        self.join()
        if self.error is not None:
            raise self.error


@dataclass
class Outcome:
    lead_mismatches: list[str]
    missing_transitions: set[str]
    unexpected_transitions: set[str]
    handover_records: int
    handover_duplicates: int
    duplicates_differing: list[str]
    dlq_by_stage_kind: Counter[str]
    #: nurture signal ids the pure core publishes that the worker did not, and the reverse
    missing_signals: set[str] = field(default_factory=set)
    unexpected_signals: set[str] = field(default_factory=set)
    #: accounts whose contacts differ from the pure core's
    account_mismatches: list[str] = field(default_factory=list)
    #: account_engaged ids the worker's account states say were published, and were not; and
    #: published ones they do not account for
    engaged_missing: set[str] = field(default_factory=set)
    engaged_unexpected: set[str] = field(default_factory=set)
    engaged: int = 0


#: how long to read on after the expected count arrived (the workers are stopped: nothing more is
#: being written, so this only catches extra copies already in the topic)
_SETTLE_S = 0.75


def check_outcome(deployment: Any, reference: Reference) -> Outcome:
    leads = deployment.leads()
    mismatches = sorted(
        lead for lead in set(leads) | set(reference.states)
        if lead not in leads or lead not in reference.states
        or leads[lead].to_primitive() != reference.states[lead].to_primitive()
    )
    handovers = deployment.consume("handover", count=len(reference.transitions), settle=_SETTLE_S)
    first: dict[str, bytes] = {}
    differing: list[str] = []
    engaged: set[str] = set()
    accounts_published = 0
    for record in handovers:
        body = json.loads(record.value)
        if body.get("kind") == "account_engaged":
            engaged.add(body["engagement_id"])
            accounts_published += 1
            continue
        event_id = body.get("transition_id") or body["change_id"]
        if event_id in first and first[event_id] != record.value:
            differing.append(event_id)
        first.setdefault(event_id, record.value)
    dlq = [json.loads(m.value) for m in deployment.consume("dlq", count=sum(reference.rejected.values()),
                                                            settle=_SETTLE_S)]
    # a record re-processed after a crash is rejected again: the same input position, or for the
    # lead agent (whose input is the internal re-keyed copy) the same record content
    positions = {(r["stage"], r["kind"], r["value_b64"] if r["stage"] == "leads" else
                  (r["source"]["topic"], r["source"]["partition"], r["source"]["offset"])) for r in dlq}
    dlq_counts: Counter[str] = Counter()
    for stage, kind, _ in positions:
        source = "touchpoints" if stage == "ingest" else ("feedback" if stage == "feedback" else "leads")
        dlq_counts[f"{source}:{kind}"] += 1
    signals = {json.loads(m.value)["signal_id"]
               for m in deployment.consume("nurture", count=len(reference.signals), settle=_SETTLE_S,
                                           timeout=30.0)}
    accounts = {key.decode(): decode_account(raw)
                for key, raw in deployment.table("accounts").items()}
    implied = {engagement_id(account_id, n) for account_id, account in accounts.items()
               for n in range(1, account.engaged + 1)}
    return Outcome(
        account_mismatches=sorted(
            account_id for account_id in set(accounts) | set(reference.accounts)
            if account_id not in accounts or account_id not in reference.accounts
            or accounts[account_id].contacts != reference.accounts[account_id].contacts),
        engaged_missing=implied - engaged,
        engaged_unexpected=engaged - implied,
        engaged=len(engaged),
        missing_signals=reference.signals - signals,
        unexpected_signals=signals - reference.signals,
        lead_mismatches=mismatches,
        missing_transitions=set(reference.transitions) - set(first),
        unexpected_transitions=set(first) - set(reference.transitions),
        handover_records=len(handovers) - accounts_published,
        handover_duplicates=len(handovers) - accounts_published - len(first),
        duplicates_differing=differing,
        dlq_by_stage_kind=dlq_counts,
    )


def _main() -> int:  # pragma: no cover - the long run, see module docstring
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--touchpoints", type=int, default=20_000)
    parser.add_argument("--people", type=int, default=1_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--kill-window", type=float, nargs=2, default=(0.3, 2.5),
                        metavar=("MIN_S", "MAX_S"),
                        help="seconds from a worker being ready to its kill; longer windows let "
                        "it catch up, so ingest forwards linked visitors' touchpoints itself")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    import tempfile

    from leadstream.broker import EmbeddedBroker
    from tests.integration.conftest import Deployment

    base = args.workdir or Path(tempfile.mkdtemp(prefix="leadstream-torture-"))
    models = load_models(DEFAULT_MODEL_PATH, [])
    log = build_log(touchpoints=args.touchpoints, people=args.people, seed=args.seed, models=models)
    reference = Reference(models)
    for phase in log.phases:
        reference.feed(phase)
    with EmbeddedBroker(log_path=base / "tansu.log") as broker:
        deployment = Deployment(broker=broker, name=f"torture-{args.seed}", base=base)
        report = run_log(deployment, log, kills=args.kills, seed=args.seed,
                         kill_window=tuple(args.kill_window))
        outcome = check_outcome(deployment, reference)
        internal = Counter(
            "visitor_links" if json.loads(m.value).get("k") == "L" else "other"
            for m in deployment.consume(lead_messages_topic(deployment.settings()), count=1,
                                        settle=3.0))
    ok = not (outcome.lead_mismatches or outcome.missing_transitions or outcome.unexpected_transitions
              or outcome.duplicates_differing or outcome.missing_signals
              or outcome.unexpected_signals) and outcome.dlq_by_stage_kind == reference.rejected
    print(json.dumps({
        "ok": ok, "touchpoints": args.touchpoints, "leads": len(reference.states),
        "log": {"malformed": log.malformed, "duplicates": log.duplicates, "late": log.late,
                "verdicts": len(log.phases[1].records)},
        "kills": report.kills, "kills_mid_stream": report.kills_mid_stream, "seconds": report.seconds,
        "phase_seconds": report.phase_seconds,
        "transitions": len(reference.transitions), "handover_records": outcome.handover_records,
        "handover_duplicates": outcome.handover_duplicates,
        "lead_mismatches": len(outcome.lead_mismatches),
        # touchpoints sent to a visitor to be linked or forwarded there, of all lead messages
        # (ingest forwards a linked visitor's touchpoints itself when it can: fewer of these)
        "lead_messages": internal.total(), "visitor_links": internal["visitor_links"],
        "forwarded_at_ingest": report.forwarded_at_ingest,
        "dlq": dict(sorted(outcome.dlq_by_stage_kind.items())),
        "workdir": str(base),
    }, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main())

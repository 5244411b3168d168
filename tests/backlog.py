"""Same log, same answer, whatever order the worker meets a person's touchpoints in.

The log has the identity mix real tracking produces (demo/traffic.py, ``realistic``): web visits
carry only the visitor cookie, emails, webinars, badge scans and unsubscribes only the email, web
forms both. Such a person's touchpoints reach their lead on two paths (straight, or through the
visitor), and while a worker works off a backlog the straight path overtakes the other. The log
is run paced (each phase trickled in, the worker keeping up), as a backlog (each phase produced
at once before the worker reads it), and paced with kill -9s; each run is compared with the
first on what must never differ: every lead's stage and stage entries, score and grade, the set
of handover transition ids, and what the DLQ holds. SLA breaches are left out of the comparison:
they follow the wall clock (ticks), and an SLA that ends while the runs go on ends in one and not
in the other. So are lead updates, whose number depends on the arrival order by design.

The suite runs it small (``tests/integration/test_backlog.py``); the long run is this module:

    .venv/bin/python -m tests.backlog --touchpoints 6000 --people 400 --kills 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from leadstream.config.model_loader import DEFAULT_MODEL_PATH, load_models
from leadstream.core.lifecycle import snapshot
from leadstream.core.model import ModelSet
from leadstream.core.state import LeadState
from leadstream.demo.traffic import TrafficGenerator
from leadstream.streams.prepare import ensure_topics
from tests.torture import Phase, Reference, RunReport, TortureLog, drained, run_log, wait_settled

__all__ = ["build_mix_log", "run_backlog", "run_paced", "snapshot_of", "Snapshot", "differences",
           "late_blocking_facts", "MIX_ENV"]

MODELS = load_models(DEFAULT_MODEL_PATH, [])
#: ticks on, every second: SLA breaches are part of what is compared. They follow wall-clock
#: time, so every run gives them time after each phase (``TICK_SETTLE_S``) to fire for every
#: MQL whose SLA has passed (in event time, the log is in the past: all of them)
MIX_ENV = {"LEADSTREAM__TICKS__ENABLED": "true", "LEADSTREAM__TICKS__INTERVAL_S": "1"}
TICK_SETTLE_S = 3.0
#: event kinds whose number depends on more than the log: SLA breaches on the wall clock, lead
#: updates on the arrival order (an update corrects a handover made before a visitor's history
#: arrived; in another order the handover already had it)
_NOT_COMPARED = ("sla_breach", "lead_updated")
#: scores are compared as of one fixed time, after every event of the log
_SCORE_AT = datetime(2100, 1, 1, tzinfo=UTC).timestamp()


def build_mix_log(*, touchpoints: int, people: int, seed: int) -> TortureLog:
    """Touchpoints; then merge and erase commands for some of the leads they made; then more
    touchpoints (erased people come back, merged-away ids keep getting touchpoints)."""
    rng = random.Random(seed)
    end = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(hours=2)
    traffic = TrafficGenerator(people=people, total=touchpoints, seed=seed, end=end,
                               duplicate_rate=0.02, malformed_rate=0.01, span=timedelta(days=25))
    records = [(r.key, r.value) for r in (next(traffic) for _ in range(touchpoints))]
    cut = int(len(records) * 0.6)
    first = Phase("touchpoints", records[:cut])
    reference = Reference(ModelSet.of(MODELS.primary))
    reference.feed(first)
    known = sorted(lead for lead, state in reference.states.items()
                   if state.stage != "visitor" and state.merged_into is None)
    issued = (end - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    commands: list[tuple[bytes | None, bytes]] = []
    picked = rng.sample(known, k=min(len(known), 3 * max(1, len(known) // 25)))
    merges, erasures = picked[: len(picked) * 2 // 3], picked[len(picked) * 2 // 3:]
    for n, (a, b) in enumerate(zip(merges[::2], merges[1::2])):
        body = {"command": "merge", "command_id": f"merge-{n}", "issued_at": issued,
                "lead_ids": [a, b]}
        commands.append((a.encode(), json.dumps(body).encode()))
        if n % 3 == 0:
            commands.append(commands[-1])  # an operator re-sends: applied once
    for n, lead in enumerate(erasures):
        body = {"command": "erase", "command_id": f"erase-{n}", "issued_at": issued,
                "lead_id": lead}
        commands.append((lead.encode(), json.dumps(body).encode()))
    return TortureLog(phases=[first, Phase("commands", commands), Phase("touchpoints", records[cut:])],
                      malformed=0, duplicates=0, late=0)


@dataclass
class Snapshot:
    """What must not depend on the order: per lead, and over all."""

    leads: dict[str, tuple[str, tuple[tuple[str, int], ...], float, str]]
    transition_ids: set[str]
    #: what each DLQ record rejected, the same in every run (dlq_id itself names the topic)
    dlq_inputs: set[tuple[str, str, str]]
    #: distinct dlq_ids: one per rejected input, also when it was rejected again after a crash
    dlq_ids: int
    handover_records: int
    #: transition ids published with two different contents within the run
    two_contents: int
    #: transition id → lead id
    lead_of: dict[str, str] = field(default_factory=dict)
    #: leads with a fact that can stop a promotion (an opt-out, negative points, a profile that
    #: changed): when it arrives after the promotion it no longer stops it (README, "Decisions
    #: in event time", the second limit)
    blockable: set[str] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)


def _lead_view(state: LeadState) -> tuple[str, tuple[tuple[str, int], ...], float, str]:
    if state.merged_into is not None:
        return ("retired:" + state.merged_into, (), 0.0, "")
    view = snapshot(state, MODELS, _SCORE_AT)
    entries = tuple(sorted((k, v) for k, v in state.stage_entries.items() if k not in _NOT_COMPARED))
    return (state.stage, entries,
            round(view.scores[MODELS.primary.name], 3), view.grade)


def _blockable(state: LeadState) -> bool:
    primary = MODELS.primary
    negative = {rule.id for rule in primary.rules if rule.points < 0}
    counted = state.rule_counts.get(primary.name, {})
    return (any(entry[1] in ("marketing", "all") and entry[2] == "opted_out" for entry in state.consent)
            or any(counted.get(rule) for rule in negative) or bool(state.profile_history))


def snapshot_of(deployment: Any, *, expected_transitions: int = 1) -> Snapshot:
    leads = deployment.leads()
    handovers = deployment.consume("handover", count=expected_transitions, settle=2.0)
    contents: dict[str, set[bytes]] = {}
    breaches: set[str] = set()
    lead_of: dict[str, str] = {}
    for record in handovers:
        body = json.loads(record.value)
        event_id = body.get("transition_id") or body.get("change_id")  # consent_changed too
        if event_id is not None:
            contents.setdefault(event_id, set()).add(record.value)
            lead_of[event_id] = body["lead_id"]
            if body.get("kind") in _NOT_COMPARED:
                breaches.add(event_id)
    dlq = [json.loads(m.value) for m in deployment.consume("dlq", count=1, settle=2.0, timeout=10.0)]
    inputs = {(d["stage"], d["kind"], d["value_b64"] if d["stage"] == "leads"
               else f'{d["source"]["partition"]}@{d["source"]["offset"]}') for d in dlq}
    two = {k: sorted(v) for k, v in contents.items() if len(v) > 1}
    examples = {}
    for k, versions in list(two.items())[:3]:
        a, b = json.loads(versions[0]), json.loads(versions[1])
        examples[k] = {f: (a.get(f), b.get(f)) for f in a if a.get(f) != b.get(f) and f != "trail"}
    return Snapshot(
        extra={"two_contents": examples, "sla_breaches": len(breaches)},
        leads={lead: _lead_view(state) for lead, state in leads.items()},
        transition_ids=set(contents) - breaches,
        dlq_inputs=inputs,
        dlq_ids=len({d["dlq_id"] for d in dlq}),
        handover_records=len(handovers),
        two_contents=sum(1 for versions in contents.values() if len(versions) > 1),
        lead_of=lead_of,
        blockable={lead for lead, state in leads.items() if _blockable(state)},
    )


def _went_further(reference: Snapshot, other: Snapshot, lead: str) -> bool:
    """``other`` has every stage entry of ``reference`` and more: a promotion that a late fact
    did not stop (the documented limit), not a lost or a wrong one."""
    if lead not in reference.blockable or lead not in other.leads or lead not in reference.leads:
        return False
    ours, theirs = dict(reference.leads[lead][1]), dict(other.leads[lead][1])
    return all(theirs.get(stage, 0) >= n for stage, n in ours.items()) and theirs != ours


def differences(reference: Snapshot, other: Snapshot) -> dict[str, Any]:
    """What differs, as counts and a few examples (empty: the same). Leads that ``other``
    promoted although a fact that arrived late there would have stopped it are counted apart
    (``late_blocking_fact``): the README's documented limit, expected only when the direct path
    fell behind the visitor's (after a kill); every other difference is a failure."""
    out: dict[str, Any] = {}
    further = {k for k in set(reference.leads) | set(other.leads) if _went_further(reference, other, k)}
    stage = [k for k in set(reference.leads) | set(other.leads)
             if k not in further and (
                 reference.leads.get(k, ("",))[0] != other.leads.get(k, ("",))[0]
                 or reference.leads.get(k, (0, 0))[1] != other.leads.get(k, (0, 0))[1])]
    score = [k for k in set(reference.leads) & set(other.leads)
             if abs(reference.leads[k][2] - other.leads[k][2]) > 0.01
             or reference.leads[k][3] != other.leads[k][3]]
    if stage:
        out["stage"] = {"count": len(stage), "examples": {k: (reference.leads.get(k), other.leads.get(k))
                                                           for k in sorted(stage)[:3]}}
    if score:
        out["score_or_grade"] = {"count": len(score), "examples": {
            k: (reference.leads[k], other.leads[k]) for k in sorted(score)[:3]}}
    missing = {t for t in reference.transition_ids - other.transition_ids
               if reference.lead_of.get(t) not in further}
    unexpected = {t for t in other.transition_ids - reference.transition_ids
                  if other.lead_of.get(t) not in further}
    if missing or unexpected:
        out["transition_ids"] = {"missing": len(missing), "unexpected": len(unexpected)}
    if reference.dlq_inputs != other.dlq_inputs:
        out["dlq"] = {"missing": len(reference.dlq_inputs - other.dlq_inputs),
                      "unexpected": len(other.dlq_inputs - reference.dlq_inputs)}
    if other.dlq_ids != len(other.dlq_inputs):
        out["dlq_ids_per_input"] = {"ids": other.dlq_ids, "inputs": len(other.dlq_inputs)}
    return out


def late_blocking_facts(reference: Snapshot, other: Snapshot) -> list[str]:
    """The leads ``differences`` counts apart: promoted in ``other`` although a fact dated before
    the promotion, which arrived after it there, stopped the promotion in ``reference``."""
    return sorted(k for k in set(reference.leads) | set(other.leads)
                  if _went_further(reference, other, k))


#: the paced runs' rate: 20 records every 0.2 s, which a worker keeps up with on the embedded broker
PACED_PER_SLICE = 20


def run_paced(deployment: Any, log: TortureLog, *, kills: int = 0, seed: int = 7,
              timeout: float = 300.0, settle: float = TICK_SETTLE_S,
              per_slice: int = PACED_PER_SLICE) -> RunReport:
    """Each phase trickled in at ``per_slice`` records every 0.2 s (default 100 records/s) while
    the worker keeps up (and is killed ``kills`` times)."""
    return run_log(deployment, log, kills=kills, seed=seed, timeout=timeout, settle=settle,
                   per_slice=per_slice)


def run_backlog(deployment: Any, log: TortureLog, *, timeout: float = 300.0,
                settle: float = TICK_SETTLE_S) -> RunReport:
    """Each phase produced at once while no worker runs, then worked off: a backlog per phase
    (two input topics give no order between them, so a phase waits for the one before)."""
    report = RunReport()
    started = time.monotonic()
    asyncio.run(ensure_topics(deployment.settings()))  # auto-created ones would get 4 partitions
    for phase in log.phases:
        phase_started = time.monotonic()
        deployment.produce(phase.records, topic=deployment.topics[phase.topic])
        worker = deployment.start_worker()
        deadline = time.monotonic() + timeout
        while not drained(deployment):
            if time.monotonic() > deadline:
                raise AssertionError(f"backlog of {phase.topic} not processed after {timeout}s")
            time.sleep(0.5)
        if settle:
            wait_settled(deployment, settle, timeout)
        report.count_forwards(worker)
        worker.stop()
        report.restarts += 1
        report.phase_seconds.append(round(time.monotonic() - phase_started, 1))
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _main() -> int:  # pragma: no cover - the long run, see module docstring
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--touchpoints", type=int, default=6000)
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    import tempfile

    from leadstream.broker import EmbeddedBroker
    from tests.integration.conftest import Deployment

    base = args.workdir or Path(tempfile.mkdtemp(prefix="leadstream-backlog-"))
    log = build_mix_log(touchpoints=args.touchpoints, people=args.people, seed=args.seed)
    results: dict[str, Any] = {"touchpoints": args.touchpoints, "people": args.people,
                               "commands": len(log.phases[1].records)}
    with EmbeddedBroker(log_path=base / "tansu.log") as broker:
        runs: dict[str, tuple[Snapshot, RunReport]] = {}
        for name, run in (("paced", lambda d: run_paced(d, log)),
                          ("backlog", lambda d: run_backlog(d, log)),
                          ("kills", lambda d: run_paced(d, log, kills=args.kills, seed=args.seed))):
            deployment = Deployment(broker=broker, name=f"{name}-{args.seed}", base=base / name,
                                    env_overrides=dict(MIX_ENV))
            (base / name).mkdir(parents=True, exist_ok=True)
            report = run(deployment)
            runs[name] = (snapshot_of(deployment), report)
            deployment.stop()
        reference = runs["paced"][0]
        results["leads"] = sum(1 for v in reference.leads.values() if not v[0].startswith("retired:"))
        results["stages"] = dict(Counter(v[0] for v in reference.leads.values()
                                         if not v[0].startswith("retired:")))
        results["transitions"] = len(reference.transition_ids)
        results["dlq_records"] = len(reference.dlq_inputs)
        for name, (snap, report) in runs.items():
            results[name] = {"seconds": report.seconds, "kills": report.kills,
                             "handover_records": snap.handover_records,
                             "republished": snap.handover_records - len(snap.transition_ids),
                             "ids_with_two_contents": snap.two_contents,
                             "two_content_examples": snap.extra["two_contents"],
                             "sla_breaches": snap.extra["sla_breaches"],
                             "differences": differences(reference, snap),
                             "late_blocking_fact": late_blocking_facts(reference, snap)}
    results["ok"] = not any(results[name]["differences"] for name in runs)
    print(json.dumps(results, indent=2, default=str))
    return 0 if results["ok"] else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main())

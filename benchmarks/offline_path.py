"""The worker's Python work per touchpoint without Kafka: ingest and lead handler, in one process.

    .venv/bin/python benchmarks/offline_path.py                  # µs per touchpoint (best of 5)
    .venv/bin/python benchmarks/offline_path.py --instructions   # instructions per touchpoint
    .venv/bin/python benchmarks/offline_path.py --phases         # µs per touchpoint by phase
    .venv/bin/python benchmarks/offline_path.py --phases --people 10000 --touchpoints 100000
                                                  # the same over throughput.py's log (~3 min)

Each record of a demo log (the throughput benchmark's mix; 3,000 people, seed 11) is parsed and validated,
filtered, keyed and encoded as ingest does; every lead message it causes is decoded and applied,
and the addressee's state is encoded, decoded (a state write and a read per message, more than
the worker's ~0.5 writes per touchpoint, which batches them), bucketed for the funnel, given its
next deadline, and each transition becomes handover JSON. Not included: Kafka (fetch, produce),
RocksDB, the batch lane, metrics. The collector runs with the worker's settings (config ``gc``).

``--phases`` times each phase of one pass, the collector's pauses apart, and scales the shares
to an untimed pass. It is not a floor of the worker's work: over the log of ``throughput.py
--touchpoints 20000 --leads 2000`` the worker used less CPU per touchpoint, Kafka included, than
this path. The worker decodes a state only on a cache miss, so it allocates and collects less,
and it runs each phase over a whole batch.

Time on this shared VM moves ±10 % between identical runs, more than most single changes to this
path are worth. ``--instructions`` counts instructions instead (valgrind's callgrind, ~3 min): the
whole process for the first ``N1`` and for the first ``N2`` touchpoints of the same log, so
start-up, imports and generating the log cancel out in ``(I(N2) - I(N1)) / (N2 - N1)``. Repeated
runs agree to ~0.1 %. Instructions are not time (memory stalls are not counted), but a change that
removes work shows up in them reliably.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import time
from collections import deque

from leadstream.config import load_model
from leadstream.config.settings import HygieneSettings, Settings
from leadstream.core.apply import apply, next_deadline
from leadstream.core.emitted import Send, Transition
from leadstream.core.model import ModelSet
from leadstream.core.state import LeadState
from leadstream.demo.traffic import TrafficGenerator
from leadstream.exceptions import RejectedMessage
from leadstream.gc_tuning import tune_gc
from leadstream.schemas.touchpoints import parse_touchpoint
from leadstream.streams.encoding.codecs import decode_message, decode_state, encode_message, encode_state
from leadstream.streams.services.funnel import bucket_of
from leadstream.streams.services.hygiene import TrafficFilter
from leadstream.streams.encoding.mappers import routed_touchpoint, transition_to_handover_json

MAX_BYTES = Settings().max_message_bytes


_BOOKKEEPING = "leads: funnel bucket, next deadline"


class Laps:
    """Time per phase of the path (``--phases``): ``lap(name)`` charges the time since the
    previous lap to ``name``, less the collector's pauses in between, which are counted apart
    (a collection runs in whichever phase allocates when a threshold is reached). ``perf_counter``,
    not ``process_time``: that one is a system call, whose cost would land in the phases."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.gc_seconds = 0.0
        self._gc_since_lap = 0.0
        self._gc_started = 0.0
        self._last = time.perf_counter()

    def __enter__(self) -> Laps:
        gc.callbacks.append(self._on_gc)
        self._last = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self._gc_since_lap += time.perf_counter() - self._gc_started

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        paused, self._gc_since_lap = self._gc_since_lap, 0.0
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._last - paused
        self.gc_seconds += paused
        self._last = now


def run(values: list[bytes], models: ModelSet, laps: Laps | None = None) -> int:
    """The path over ``values``; returns the number of lead messages applied. ``laps`` times its
    phases (the worker does no state decode on a cache hit, and ~0.5 state encodes per
    touchpoint instead of one per lead message)."""
    lap = laps.lap if laps is not None else None
    hygiene = TrafficFilter(HygieneSettings())
    states: dict[str, LeadState] = {}
    applied = 0
    for raw in values:
        try:
            envelope = parse_touchpoint(raw, max_bytes=MAX_BYTES)
            if lap:
                lap("ingest: parse and validate")
            hygiene.check(envelope)
            routed = routed_touchpoint(envelope)
            if lap:
                lap("ingest: hygiene, canonical id, core message")
            queue = deque([encode_message(routed)])
            if lap:
                lap("ingest: encode lead message")
        except RejectedMessage:
            if lap:
                lap("ingest: rejected records")
            continue
        while queue:
            message = decode_message(queue.popleft())
            applied += 1
            previous = states.get(message.lead_id)
            if lap:
                lap("leads: decode lead message")
            if previous is not None and previous.merged_into is None:
                encoded = encode_state(previous)
                if lap:
                    lap("leads: encode state")
                previous = decode_state(encoded)
                if lap:
                    lap("leads: decode state")
            if previous is not None:
                bucket_of(previous, models)
            if lap:
                lap(_BOOKKEEPING)
            state, emitted = apply(previous, message, models)
            if lap:
                lap("leads: apply")
            if state is not None:
                states[message.lead_id] = state
                bucket_of(state, models)
                if state.merged_into is None:
                    next_deadline(state, models)
            if lap:
                lap(_BOOKKEEPING)
            for item in emitted:
                if isinstance(item, Send):
                    queue.append(encode_message(item.message))
                elif isinstance(item, Transition):
                    transition_to_handover_json(item)
            if lap:
                lap("leads: encode sends and handovers")
    return applied


def _report_phases(values: list[bytes], models: ModelSet) -> None:
    """Where the path's time goes."""
    with Laps() as laps:
        applied = run(values, models, laps)
    timed = sum(laps.seconds.values()) + laps.gc_seconds
    untimed = _best_of(3, values, models)[0] / len(values) * 1e6  # without the laps' own cost
    print(f"{len(values):,} touchpoints, {applied / len(values):.2f} lead messages each; "
          f"µs per touchpoint by phase (shares of a timed pass, scaled to an untimed one):")
    rows = sorted([*laps.seconds.items(), ("garbage collector (in any phase)", laps.gc_seconds)],
                  key=lambda item: -item[1])
    for name, seconds in rows:
        print(f"  {name:<44} {seconds / timed * untimed:7.1f}  {seconds / timed:6.1%}")
    print(f"  {'total (best of 3 untimed passes)':<44} {untimed:7.1f}")


def _best_of(passes: int, values: list[bytes], models: ModelSet) -> tuple[float, int]:
    """The least process time of ``passes`` passes over ``values`` in seconds, and the lead
    messages a pass applies."""
    best, applied = float("inf"), 0
    for _ in range(passes):
        start = time.process_time()
        applied = run(values, models)
        best = min(best, time.process_time() - start)
    return best, applied


def _log(touchpoints: int, people: int = 3000, mix: str = "realistic") -> list[bytes]:
    """The first ``touchpoints`` records of the demo generator's log (seed 11) over ``people``
    people: 20,000 records, or ``touchpoints`` if more."""
    traffic = TrafficGenerator(people=people, seed=11, total=max(20_000, touchpoints),
                               identity_mix=mix)  # type: ignore[arg-type]
    return [next(traffic).value for _ in range(touchpoints)]


def _instructions(valgrind: str, first: int, log_size: int, people: int, mix: str) -> int:
    out = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         __file__, "--touchpoints", str(log_size), "--people", str(people), "--only", str(first),
         "--identity-mix", mix],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    match = re.search(r"Collected : (\d+)", out.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{out.stderr[-2000:]}")
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--touchpoints", type=int, default=2500,
                        help="how many records of the demo log")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions with valgrind (N1 = a fifth of the log, N2 = all)")
    parser.add_argument("--people", type=int, default=3000,
                        help="people in the log (throughput.py's log: --people 10000 "
                        "--touchpoints 100000)")
    parser.add_argument("--phases", action="store_true",
                        help="one timed pass: µs per touchpoint by phase, the collector's "
                        "pauses apart (shares of the timed pass, scaled to untimed ones)")
    parser.add_argument("--identity-mix", choices=["realistic", "cookie_everywhere"],
                        default="realistic",
                        help="what each touchpoint carries (demo/traffic.py); cookie_everywhere is "
                        "the log of runs before 2026-12-06")
    parser.add_argument("--only", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions:
        valgrind = shutil.which("valgrind")
        if valgrind is None:
            print("--instructions needs valgrind on PATH", file=sys.stderr)
            return 2
        n1, n2 = args.touchpoints // 5, args.touchpoints
        i1 = _instructions(valgrind, n1, n2, args.people, args.identity_mix)
        i2 = _instructions(valgrind, n2, n2, args.people, args.identity_mix)
        print(f"{(i2 - i1) / (n2 - n1):,.0f} instructions per touchpoint "
              f"({n1:,} and {n2:,} touchpoints: {i1:,} and {i2:,})")
        return 0
    values = _log(args.touchpoints, args.people, args.identity_mix)
    models = ModelSet.of(load_model())
    # the worker's collector settings: with CPython's defaults, full collections over the
    # states kept here (every lead of the log) made a pass over 100,000 touchpoints ~20 % slower
    tune_gc(thresholds=Settings().gc.thresholds, freeze=True)
    if args.phases:
        _report_phases(values, models)
        return 0
    if args.only is not None:
        run(values[:args.only], models)
        return 0
    best, applied = _best_of(5, values, models)
    print(f"{best / len(values) * 1e6:.1f} µs per touchpoint, best of 5 "
          f"({len(values):,} touchpoints, {applied / len(values):.2f} lead messages each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

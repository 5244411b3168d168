"""The worker's Python work per touchpoint without Kafka: ingest and lead handler, in one process.

    .venv/bin/python benchmarks/offline_path.py                  # µs per touchpoint (best of 5)
    .venv/bin/python benchmarks/offline_path.py --instructions   # instructions per touchpoint

Each record of a demo log (the throughput benchmark's mix; 3,000 people, seed 11) is parsed and validated,
filtered, keyed and encoded as ingest does; every lead message it causes is decoded and applied,
and the addressee's state is encoded, decoded (a state write and a read per message, more than
the worker's ~0.5 writes per touchpoint, which batches them), bucketed for the funnel, given its
next deadline, and each transition becomes handover JSON. Not included: Kafka (fetch, produce),
RocksDB, the batch lane, metrics.

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
from leadstream.schemas.touchpoints import parse_touchpoint
from leadstream.streams.codecs import decode_message, decode_state, encode_message, encode_state
from leadstream.streams.funnel import bucket_of
from leadstream.streams.hygiene import TrafficFilter
from leadstream.streams.mappers import routed_touchpoint, transition_to_handover_json

MAX_BYTES = Settings().max_message_bytes


def run(values: list[bytes], models: ModelSet) -> int:
    """The path over ``values``; returns the number of lead messages applied."""
    hygiene = TrafficFilter(HygieneSettings())
    states: dict[str, LeadState] = {}
    applied = 0
    for raw in values:
        try:
            envelope = parse_touchpoint(raw, max_bytes=MAX_BYTES)
            hygiene.check(envelope)
            queue = deque([encode_message(routed_touchpoint(envelope))])
        except RejectedMessage:
            continue
        while queue:
            message = decode_message(queue.popleft())
            applied += 1
            previous = states.get(message.lead_id)
            if previous is not None and previous.merged_into is None:
                previous = decode_state(encode_state(previous))
            if previous is not None:
                bucket_of(previous, models)
            state, emitted = apply(previous, message, models)
            if state is not None:
                states[message.lead_id] = state
                bucket_of(state, models)
                if state.merged_into is None:
                    next_deadline(state, models)
            for item in emitted:
                if isinstance(item, Send):
                    queue.append(encode_message(item.message))
                elif isinstance(item, Transition):
                    transition_to_handover_json(item)
    return applied


def _log(touchpoints: int) -> list[bytes]:
    """The first ``touchpoints`` records of the demo generator's 20,000 over 3,000 people."""
    traffic = TrafficGenerator(people=3000, seed=11, total=20_000)
    return [next(traffic).value for _ in range(touchpoints)]


def _instructions(valgrind: str, first: int, log_size: int) -> int:
    out = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         __file__, "--touchpoints", str(log_size), "--only", str(first)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    match = re.search(r"Collected : (\d+)", out.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{out.stderr[-2000:]}")
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--touchpoints", type=int, default=2500,
                        help="how many records of the demo log (at most 20,000)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions with valgrind (N1 = a fifth of the log, N2 = all)")
    parser.add_argument("--only", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions:
        valgrind = shutil.which("valgrind")
        if valgrind is None:
            print("--instructions needs valgrind on PATH", file=sys.stderr)
            return 2
        n1, n2 = args.touchpoints // 5, args.touchpoints
        i1, i2 = _instructions(valgrind, n1, n2), _instructions(valgrind, n2, n2)
        print(f"{(i2 - i1) / (n2 - n1):,.0f} instructions per touchpoint "
              f"({n1:,} and {n2:,} touchpoints: {i1:,} and {i2:,})")
        return 0
    values = _log(args.touchpoints)
    models = ModelSet.of(load_model())
    gc.freeze()  # as the worker does after start-up
    if args.only is not None:
        run(values[:args.only], models)
        return 0
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        applied = run(values, models)
        best = min(best, time.process_time() - start)
    print(f"{best / len(values) * 1e6:.1f} µs per touchpoint, best of 5 "
          f"({len(values):,} touchpoints, {applied / len(values):.2f} lead messages each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How fast ``leadstream backtest`` replays a log: two models, split over worker processes.

    .venv/bin/python benchmarks/backtest.py [--touchpoints 1000000] [--people 100000] [--workers 2]

Generates a log of the demo's traffic with a simulated sales team's verdicts (``leadstream
traffic --out``; timed apart, it runs the current model once), then backtests it with the default
model and ``config/examples/stricter-mql.yaml``. The baseline, in the same run: one process
replaying the whole history of one person in ``--sample`` (every person whose id hashes there, as
the backtest's own split picks them) with the default model alone: the pure core's offline rate
with the worker's decoding, over states as large as the whole log makes them. It reports the
backtest's wall time, records/s, model-records/s (records × models per second) and their ratio
to the baseline's records/s: 2.0 would mean two models cost no more than one and the processes
scale perfectly.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from leadstream.backtest.generate import generate_log
from leadstream.backtest.partition import LogPlan, replay_part, replay_log, terminal_progress
from leadstream.config import load_model
from leadstream.config.model_loader import DEFAULT_MODEL_PATH
from leadstream.config.settings import HygieneSettings
from leadstream.core.model import ModelSet

CANDIDATE = Path(DEFAULT_MODEL_PATH).parent / "examples" / "stricter-mql.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--touchpoints", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=int, default=20, help="baseline: 1 person in N")
    parser.add_argument("--log", type=Path, help="reuse (or keep) the generated log here")
    args = parser.parse_args()

    sets = [ModelSet.of(load_model()), ModelSet.of(load_model(CANDIDATE))]
    hygiene = HygieneSettings()
    log = args.log or Path(tempfile.mkdtemp(prefix="leadstream-bench-")) / "log.jsonl.gz"
    if not log.exists():
        started = time.monotonic()
        counts = generate_log(log, sets[0], people=args.people, touchpoints=args.touchpoints,
                              days=180)
        print(f"generated {counts['touchpoints']:,} touchpoints and {counts['feedback']:,} "
              f"verdicts over {args.people:,} people in {time.monotonic() - started:.0f} s: {log}")

    plan = LogPlan.of([log], args.sample)
    options = {"hygiene": hygiene, "max_message_bytes": 65536, "ticks": True, "since": None,
               "until": None}
    started = time.monotonic()
    base = replay_part([log], plan, 0, sets[:1], options, None)
    base_seconds = time.monotonic() - started
    base_rate = base.records / base_seconds
    print(f"baseline: one process, one model, the {base.records:,} records of 1 person in "
          f"{args.sample} in {base_seconds:.1f} s = {base_rate:,.0f} records/s")

    result = replay_log([log], sets, hygiene, 65536, workers=args.workers,
                        on_progress=terminal_progress)
    rate = result.records / result.seconds
    print(f"backtest: {len(sets)} models, {args.workers} processes, {result.records:,} records "
          f"in {result.seconds:.1f} s = {rate:,.0f} records/s, "
          f"{rate * len(sets):,.0f} model-records/s")
    print(f"model-records/s / baseline records/s: {rate * len(sets) / base_rate:.2f} "
          f"(ideal {args.workers:.2f})")
    mqls = [sum(1 for row in o.transitions if row[2] == "stage_transition" and row[4] == "mql")
            for o in result.outcomes]
    print(f"MQL transitions: {', '.join(f'{o.name} {o.version} {n:,}' for o, n in zip(result.outcomes, mqls))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

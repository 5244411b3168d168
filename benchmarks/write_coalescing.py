"""How many lead-state writes a write-behind cache could save on the throughput benchmark's log.

    .venv/bin/python benchmarks/write_coalescing.py [--touchpoints 100000] [--leads 10000] [--rate 2000]

No broker, no worker: the pure core applies the log in order (as the crash torture's reference
does, a message one lead sends another right after). Each applied lead message reads its
addressee's state and, unless the addressee is a cached retired id that only forwards, writes it.
A write-behind cache (Kafka Streams' record cache, or a checkpoint interval) writes a key once per
window however often the window changed it. At ``--rate`` touchpoints/s, the log is cut into
windows of 5 ms … 1 s and the distinct addressees per window are counted, as a fraction of the
messages: an upper bound on the share of writes such a cache would still make. The worker already
writes each key once per batch, and a paced fetch brings a few milliseconds of input.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, deque
from typing import Any

from leadstream.config import load_model
from leadstream.config.settings import HygieneSettings, Settings
from leadstream.core.apply import apply
from leadstream.core.emitted import Send
from leadstream.core.model import ModelSet
from leadstream.core.state import LeadState
from leadstream.demo.traffic import TrafficGenerator
from leadstream.exceptions import RejectedMessage
from leadstream.schemas.touchpoints import parse_touchpoint
from leadstream.streams.services.hygiene import TrafficFilter
from leadstream.streams.encoding.mappers import routed_touchpoint

MAX_BYTES = Settings().max_message_bytes  # the worker's default

WINDOWS_MS = (5, 10, 25, 50, 100, 250, 1000)


def addressees(values: list[bytes], models: ModelSet) -> tuple[list[list[str]], Counter[str]]:
    """Per input record, the lead ids its lead messages went to, in order; and the messages'
    kinds."""
    states: dict[str, LeadState] = {}
    hygiene = TrafficFilter(HygieneSettings())
    kinds: Counter[str] = Counter()
    out: list[list[str]] = []
    for raw in values:
        try:
            envelope = parse_touchpoint(raw, max_bytes=MAX_BYTES)
            hygiene.check(envelope)
            message: Any = routed_touchpoint(envelope)
        except RejectedMessage:
            out.append([])
            continue
        queue: deque[Any] = deque([message])
        ids: list[str] = []
        while queue:
            current = queue.popleft()
            kinds[type(current).__name__] += 1
            ids.append(current.lead_id)
            state, emitted = apply(states.get(current.lead_id), current, models)
            if state is not None:
                states[current.lead_id] = state
            queue.extend(item.message for item in emitted if isinstance(item, Send))
        out.append(ids)
    return out, kinds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--touchpoints", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--rate", type=float, default=2000.0, help="touchpoints per second")
    args = parser.parse_args()

    traffic = TrafficGenerator(people=args.leads, seed=args.seed, total=args.touchpoints)
    values = [next(traffic).value for _ in range(args.touchpoints)]
    per_record, kinds = addressees(values, ModelSet.of(load_model()))
    messages = sum(len(ids) for ids in per_record)
    print(f"{args.touchpoints} touchpoints over {args.leads} people: {messages} lead messages "
          f"({messages / args.touchpoints:.2f} per touchpoint; {dict(kinds.most_common())})")
    print(f"windows at {args.rate:.0f} touchpoints/s: writes with one write per key and window, "
          "as a fraction of one per message")
    for window_ms in WINDOWS_MS:
        size = max(1, int(args.rate * window_ms / 1000))
        writes = sum(len({lead for ids in per_record[i:i + size] for lead in ids})
                     for i in range(0, len(per_record), size))
        print(f"  {window_ms:>5} ms ({size:>5} touchpoints): {writes / messages:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

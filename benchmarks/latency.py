"""Latency: touchpoint produced → its handover visible to a consumer, at half the peak rate.

    .venv/bin/python benchmarks/latency.py [--seconds 30] [--leads 10000] [--fraction 0.5]

One embedded broker, one pipeline worker. First the peak is measured in the same run: a burst of
``--burst`` touchpoints (30 days of event time) is drained as fast as the worker can. Then the
worker settles: many of the burst's leads are past a deadline and are ticked in rounds, so the run
waits until no tick was sent for ``--settle`` seconds. Then the same people go on live (event
times of now) at ``--fraction`` of the peak for ``--seconds`` while a consumer reads the handover
topic; every handover whose trigger is one of those touchpoints gives one latency sample (first
copy only). Prints p50, p90, p99 and max, the median per 5 s of sending (rising: the worker falls
behind), a breakdown per hop and, as baselines, one raw aiokafka hop at the same rate, producer
linger, consumer fetch wait and duration on a topic with as many partitions (``broker_hop.py``),
and ``--chain-hops`` (3) such hops in a chain, relayed at once as a stage with nothing to do
would. Every handover crosses the broker at least three times before a consumer sees it
(touchpoint → ingest → lead → consumer; a first contact that links a visitor once more, for the
visitor's forward), so the chain is what the broker alone takes on the shortest path.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from leadstream.broker import EmbeddedBroker
from leadstream.demo.observe import counter_total, scrape
from leadstream.demo.traffic import Record, TrafficGenerator
from leadstream.demo.worker_process import WorkerProcess
from leadstream.streams.pipeline import lead_messages_topic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from broker_hop import over_time, percentile, raw_hop  # noqa: E402  (sibling script)
from throughput import (  # noqa: E402  (sibling script)
    PARTITIONS,
    _cpu_seconds,
    _env,
    _produce,
    add_env_option,
    env_settings,
    handled,
    main_thread_cpu_seconds,
    settings_for,
    start_py_spy,
    stop_py_spy,
)

APP = "latency"


def _ticks_sent(worker: WorkerProcess) -> int:
    try:
        return int(counter_total(scrape(worker.metrics_url), "leadstream_ticks_sent_total"))
    except OSError:
        return 0


def _counters(worker: WorkerProcess, name: str, label: str, *values: str) -> list[int]:
    """The worker's counter ``name`` so far, one total per ``label`` value."""
    try:
        samples = scrape(worker.metrics_url)
    except OSError:
        return [0] * len(values)
    return [int(counter_total(samples, name, **{label: value})) for value in values]


_CACHE = ("leadstream_state_cache_lookups_total", "outcome", "hit", "miss")
_FORWARDS = ("leadstream_identity_messages_total", "note", "forwarded_at_ingest", "forwarded")


def _settle(worker: WorkerProcess, quiet_s: float, timeout: float = 180.0) -> tuple[int, float]:
    """Wait until the worker sends no more ticks for ``quiet_s``: the burst's touchpoints span 30
    days of event time, so many of its leads are past a deadline (going cold, SLA) and are ticked,
    in rounds, right after it. Returns (ticks sent meanwhile, seconds waited)."""
    start = time.monotonic()
    first = last = _ticks_sent(worker)
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < quiet_s and time.monotonic() - start < timeout:
        time.sleep(0.5)
        now = _ticks_sent(worker)
        if now != last:
            last, quiet_since = now, time.monotonic()
    return last - first, time.monotonic() - start


def _wait_handled(worker: WorkerProcess, total: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while handled(worker) < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"worker stuck below {total} handled; see {worker.log_path}")
        time.sleep(0.05)


async def _paced(bootstrap: str, topic: str, records: list[Record], rate: float,
                 sent_at: dict[str, float], linger_ms: float) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms)
    await producer.start()
    try:
        start = time.monotonic()
        for i, record in enumerate(records):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if record.kind == "valid":
                sent_at[orjson.loads(record.value)["event_id"]] = time.time()
            await producer.send(topic, record.value, key=record.key)
        await producer.flush()
    finally:
        await producer.stop()


async def _measure(bootstrap: str, records: list[Record], rate: float, tail: float,
                   arrivals: dict[str, tuple[float, float]],
                   linger_ms: float, fetch_max_wait_ms: int) -> list[tuple[float, float]]:
    """(time sent, latency) of each handover triggered by ``records``; ``arrivals`` gets, per
    trigger event id, (handover record timestamp, time the consumer saw it)."""
    sent_at: dict[str, float] = {}
    seen: set[str] = set()
    samples: list[tuple[float, float]] = []
    consumer = AIOKafkaConsumer(f"{APP}-out", bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="latest",
                                fetch_max_wait_ms=fetch_max_wait_ms)
    await consumer.start()
    await consumer.seek_to_end()
    for tp in consumer.assignment():
        await consumer.position(tp)  # pin "latest" before the first touchpoint goes out
    stop = asyncio.Event()

    async def read() -> None:
        while not stop.is_set():
            for messages in (await consumer.getmany(timeout_ms=20)).values():
                now = time.time()
                for message in messages:
                    event = orjson.loads(message.value)
                    if event.get("kind") != "stage_transition" and event.get("kind") != "sla_breach":
                        continue
                    trigger = (event.get("trigger") or {}).get("event_id")
                    transition = event["transition_id"]
                    if trigger in sent_at and transition not in seen:
                        seen.add(transition)
                        samples.append((sent_at[trigger], now - sent_at[trigger]))
                        arrivals[trigger] = (message.timestamp / 1000, now)

    reader = asyncio.create_task(read())
    try:
        await _paced(bootstrap, f"{APP}-in", records, rate, sent_at, linger_ms)
        await asyncio.sleep(tail)
    finally:
        stop.set()
        await reader
        await consumer.stop()
    return samples


def _summary(name: str, seconds: list[float]) -> str:
    ms = [1000 * x for x in seconds]
    return (f"{name:<34} p50 {percentile(ms, 0.50):6.0f}  p90 {percentile(ms, 0.90):6.0f}  "
            f"p99 {percentile(ms, 0.99):6.0f}  max {max(ms):6.0f}  (n={len(ms)})")


async def _breakdown(bootstrap: str, arrivals: dict[str, tuple[float, float]]) -> None:
    """Where the time goes, from record timestamps (each set when its record was produced):
    touchpoint → first lead message (ingest) → last lead message (e.g. a visitor's forward) →
    handover written → handover seen by the consumer."""
    # a re-sent touchpoint (the traffic has ~2 % duplicates) is produced and keyed again later:
    # keep the first produce time, and only lead messages written before its handover
    lead_messages: dict[str, list[float]] = {}
    produced: dict[str, float] = {}
    for topic in (f"{APP}-in", lead_messages_topic(settings_for(APP))):
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                    auto_offset_reset="earliest", fetch_max_wait_ms=10)
        await consumer.start()
        try:
            idle = 0
            while idle < 3:
                batches = await consumer.getmany(timeout_ms=300, max_records=50_000)
                idle = 0 if batches else idle + 1
                for messages in batches.values():
                    for m in messages:
                        try:
                            data = orjson.loads(m.value)
                        except orjson.JSONDecodeError:
                            continue
                        if not isinstance(data, dict):
                            continue
                        at = m.timestamp / 1000
                        if topic.endswith("-in"):
                            if isinstance(data.get("event_id"), str):
                                produced.setdefault(data["event_id"], at)
                            continue
                        inner = data.get("tp") if data.get("k") in ("L", "A") else data
                        event_id = inner.get("e") if isinstance(inner, dict) else None
                        if event_id in arrivals:
                            lead_messages.setdefault(event_id, []).append(at)
        finally:
            await consumer.stop()
    rows: dict[str, list[float]] = {"ingest: touchpoint → lead message": [],
                                    "identity hops: first → last lead message": [],
                                    "lead handler: last lead message → handover": [],
                                    "consumer: handover written → seen": []}
    for event_id, (written, seen) in arrivals.items():
        before = [at for at in lead_messages.get(event_id, ()) if at <= written]
        if event_id not in produced or not before:
            continue
        first, last = min(before), max(before)
        parts = list(rows.values())
        parts[0].append(first - produced[event_id])
        parts[1].append(last - first)
        parts[2].append(written - last)
        parts[3].append(seen - written)
    for name, values in rows.items():
        if values:
            print(_summary(name, [max(0.0, v) for v in values]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--burst", type=int, default=30_000)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=13)
    add_env_option(parser, "extra worker setting (repeatable), e.g. to try another fetch wait")
    parser.add_argument("--fraction", type=float, default=0.5, help="of the peak rate")
    parser.add_argument("--rate", type=float, default=None, metavar="PER_SECOND",
                        help="pace at this fixed rate instead of a fraction of the measured peak "
                        "(the peak varies from run to run; a fixed rate compares two builds)")
    parser.add_argument("--settle", type=float, default=6.0, metavar="SECONDS",
                        help="before pacing, wait until no tick was sent for this long (the "
                        "tick interval is 5 s); 0: pace right after the burst")
    parser.add_argument("--linger-ms", type=float, default=1.0,
                        help="linger of the producer of the paced touchpoints (and of the raw "
                        "hop); the Java client's default is 5 ms since Kafka 4.0")
    parser.add_argument("--consumer-fetch-wait-ms", type=int, default=100,
                        help="fetch wait of the handover consumer and of the raw hop's consumer "
                        "(the worker's on the embedded broker is 100 ms). Tansu re-reads a "
                        "partition's storage every half of it while a fetch waits, at a cost "
                        "that grows with the partition's batches: a 5 ms wait on the handover "
                        "topic took broker CPU the worker needs on a 2-core machine")
    parser.add_argument("--chain-hops", type=int, default=3, metavar="N",
                        help="second baseline: N raw hops in a chain, relayed at once (every "
                        "handover crosses the broker at least three times before it is read, a "
                        "first contact that links a visitor four times); 0: skip it")
    parser.add_argument("--py-spy", type=Path, metavar="FILE",
                        help="record the worker with py-spy (on PATH) into FILE while pacing, "
                        "raw collapsed stacks; py-spy pauses the worker for each sample, so "
                        "that run's latencies do not count")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="leadstream-latency-"))
    traffic = TrafficGenerator(people=args.leads, seed=args.seed, total=args.burst * 4)
    burst = [next(traffic) for _ in range(args.burst)]

    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        bs = broker.bootstrap_servers
        worker = WorkerProcess(bootstrap_servers=bs, state_dir=workdir / "state",
                               log_path=workdir / "worker.log",
                               extra_env={**_env(APP), **env_settings(args)})
        worker.start()
        worker.wait_ready(timeout=120)
        asyncio.run(_produce(bs, [f"{APP}-in"], burst))
        # the worker drains while the burst is produced (~4 % of it in one run): only what is left
        # when the timer starts counts
        start, before = time.monotonic(), handled(worker)
        _wait_handled(worker, len(burst))
        peak = (len(burst) - before) / (time.monotonic() - start)
        rate = args.rate or peak * args.fraction
        if args.settle:
            ticked, waited = _settle(worker, quiet_s=args.settle)
            print(f"settled: {ticked} ticks for the burst's past deadlines in {waited:.0f} s")
        # live traffic: the same people go on, with event times of now
        traffic.retime(datetime.now(tz=UTC), timedelta(seconds=1 / rate))
        paced = [next(traffic) for _ in range(int(rate * args.seconds))]
        print(f"peak (burst of {len(burst)} drained): {peak:.0f} touchpoints/s; "
              f"pacing {len(paced)} live touchpoints at {rate:.0f}/s for {args.seconds:.0f} s")
        ticks_before = _ticks_sent(worker)
        cache_before, forwards_before = _counters(worker, *_CACHE), _counters(worker, *_FORWARDS)
        pid = worker.pid or 0
        cpu_before, main_before = _cpu_seconds(pid), main_thread_cpu_seconds(pid)
        spy = start_py_spy(pid, args.py_spy) if args.py_spy else None
        arrivals: dict[str, tuple[float, float]] = {}
        samples = asyncio.run(_measure(bs, paced, rate, tail=3.0, arrivals=arrivals,
                                       linger_ms=args.linger_ms,
                                       fetch_max_wait_ms=args.consumer_fetch_wait_ms))
        _wait_handled(worker, len(burst) + len(paced))
        if spy is not None:
            stop_py_spy(spy)
        cpu, main = _cpu_seconds(pid) - cpu_before, main_thread_cpu_seconds(pid) - main_before
        print(f"worker CPU while pacing: {cpu:.1f} s, {1e6 * cpu / len(paced):.0f} µs per "
              f"touchpoint ({cpu / args.seconds:.0%} of a core); main thread {main / cpu:.0%}, "
              f"other threads (Faust's consumer) {1 - main / cpu:.0%}")
        print(f"ticks sent while pacing: {_ticks_sent(worker) - ticks_before}")
        hits, misses = (n - b for n, b in zip(_counters(worker, *_CACHE), cache_before))
        print(f"state cache while pacing: {hits} hits, {misses} misses "
              f"({hits / max(1, hits + misses):.0%} hit rate)")
        at_ingest, by_visitor = (n - b for n, b in zip(_counters(worker, *_FORWARDS),
                                                       forwards_before))
        print(f"linked visitors' touchpoints while pacing: {at_ingest} forwarded by ingest, "
              f"{by_visitor} by the visitor ({at_ingest / max(1, at_ingest + by_visitor):.0%} "
              "skipped the visitor's hop)")
        worker.stop()
        hop = asyncio.run(raw_hop(bs, rate, count=len(paced), linger_ms=args.linger_ms,
                                  partitions=PARTITIONS,
                                  fetch_max_wait_ms=args.consumer_fetch_wait_ms))
        chain = asyncio.run(raw_hop(bs, rate, count=len(paced), linger_ms=args.linger_ms,
                                    partitions=PARTITIONS,
                                    fetch_max_wait_ms=args.consumer_fetch_wait_ms,
                                    topic="latency-chain", hops=args.chain_hops)) \
            if args.chain_hops else []
        print("\nwhere it goes (ms, from record timestamps):")
        asyncio.run(_breakdown(bs, arrivals))

    if not samples:
        print("no handovers observed")
        return 1
    latencies = [latency for _, latency in samples]
    print("\nlatency in ms, produced → visible to a consumer:")
    print(_summary("pipeline: touchpoint → handover", latencies))
    print(over_time(samples))
    hop_latencies = [latency for _, latency in hop]
    print(_summary("raw aiokafka: one hop (baseline)", hop_latencies))
    print(over_time(hop))
    print("pipeline / raw hop, same run: p50 {:.1f}×, p99 {:.1f}×".format(
        *(percentile(latencies, q) / max(1e-6, percentile(hop_latencies, q)) for q in (0.5, 0.99))))
    if chain:
        chain_latencies = [latency for _, latency in chain]
        print(_summary(f"raw aiokafka: {args.chain_hops} hops in a chain (baseline)",
                       chain_latencies))
        print(over_time(chain))
        p50, p99 = (percentile(latencies, q) / max(1e-6, percentile(chain_latencies, q))
                    for q in (0.5, 0.99))
        print(f"pipeline / raw chain, same run: p50 {p50:.1f}×, p99 {p99:.1f}×; the chain's "
              f"p99 <= 250 ms: {'yes' if percentile(chain_latencies, 0.99) <= 0.25 else 'NO'}")
    print(f"pipeline mean {1000 * statistics.fmean(latencies):.0f} ms; "
          f"p99 <= 250 ms: {'yes' if percentile(latencies, 0.99) <= 0.25 else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

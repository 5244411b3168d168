"""State and scale: bytes per lead in RocksDB, worker RSS, and rebuild time, at 10k / 100k / 1M leads.

    .venv/bin/python benchmarks/state_scale.py [--sizes 10000,100000,1000000]

Realistic lead states come from the pure core: the demo traffic generator's touchpoints for a pool
of people are applied with the default model, and each of the N synthetic leads takes one pool
state under its own id. The states are written to a fresh leads changelog (as a worker would have
written them); then a worker starts on an *empty* state directory and rebuilds its table from the
changelog. Per size it reports:

* rebuild: worker start → ready (recovery done), minus the same for an empty changelog measured
  in the same run (process start and group join);
* bytes per lead: the leads table's RocksDB files after the rebuild, divided by N;
* RSS after the rebuild, and peak RSS after 20,000 touchpoints spread over all N leads (state on
  disk and bounded caches: it should not grow with N).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

from leadstream.broker import EmbeddedBroker
from leadstream.config.model_loader import DEFAULT_MODEL_PATH, load_models
from leadstream.core.apply import apply
from leadstream.core.model import ModelSet
from leadstream.core.state import LeadState
from leadstream.demo.observe import counter_total, scrape
from leadstream.demo.traffic import TrafficGenerator
from leadstream.demo.worker_process import WorkerProcess
from leadstream.exceptions import RejectedMessage
from leadstream.schemas.touchpoints import parse_touchpoint
from leadstream.streams.pipeline import changelog_topic
from leadstream.streams.encoding.codecs import encode_state
from leadstream.streams.encoding.mappers import touchpoint_to_core

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import (  # noqa: E402  (sibling benchmark script)
    _cpu_seconds,
    _env,
    add_env_option,
    env_settings,
    settings_for,
)

TRAFFIC = 20_000


def state_pool(people: int, seed: int) -> list[LeadState]:
    """Lead states as the core builds them from the demo's touchpoint mix."""
    models = ModelSet.of(load_models(DEFAULT_MODEL_PATH))
    traffic = TrafficGenerator(people=people, seed=seed, total=people * 10)
    states: dict[str, LeadState] = {}
    for _ in range(people * 10):
        record = next(traffic)
        if record.kind != "valid":
            continue
        try:
            touchpoint = touchpoint_to_core(parse_touchpoint(record.value, max_bytes=65_536))
        except RejectedMessage:
            continue
        state, _ = apply(states.get(touchpoint.lead_id), touchpoint, models)
        if state is not None:
            states[touchpoint.lead_id] = state
    return list(states.values())


def lead_id(i: int) -> str:
    return f"bench-{i:08d}"


async def write_changelog(bootstrap: str, topic: str, pool: list[LeadState], n: int) -> None:
    encoded = [s.to_primitive() for s in pool]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20,
                                max_batch_size=512 * 1024, max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        import orjson

        for i in range(n):
            data = dict(encoded[i % len(encoded)], lead_id=lead_id(i))
            await producer.send(topic, orjson.dumps(data), key=lead_id(i).encode())
        await producer.flush()
    finally:
        await producer.stop()


async def produce_traffic(bootstrap: str, topic: str, n: int, seed: int) -> None:
    rng = random.Random(seed)
    kinds = ["web_visit", "email_open", "email_click", "download", "pricing_visit"]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    try:
        now = time.time()
        for i in range(TRAFFIC):
            lid = lead_id(rng.randrange(n))
            body = {"event_id": f"scale-{i}", "type": rng.choice(kinds), "lead_id": lid,
                    "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
                    "payload": {}}
            await producer.send(topic, json.dumps(body).encode(), key=lid.encode())
        await producer.flush()
    finally:
        await producer.stop()


def _rss_mb(pid: int, field: str = "VmRSS:") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_size(bootstrap: str, workdir: Path, pool: list[LeadState], n: int,
             extra_env: dict[str, str] | None = None) -> dict[str, float]:
    app = f"scale{n}"
    if n:
        t0 = time.monotonic()
        changelog = changelog_topic(settings_for(app))
        asyncio.run(write_changelog(bootstrap, changelog, pool, n))
        print(f"  wrote {n} states to {changelog} in {time.monotonic() - t0:.1f} s", flush=True)
    state_dir = workdir / f"{app}-state"
    worker = WorkerProcess(bootstrap_servers=bootstrap, state_dir=state_dir,
                           log_path=workdir / f"{app}.log",
                           extra_env={**_env(app), **(extra_env or {})})
    start = time.monotonic()
    worker.start()
    worker.wait_ready(timeout=3600)
    ready = time.monotonic() - start
    result = {"leads": n, "ready_s": ready, "rss_ready_mb": _rss_mb(worker.pid or 0),
              "cpu_s": _cpu_seconds(worker.pid or 0)}
    # one RocksDB per partition: <state>/v1/tables/leads-<partition>.db (files incl. the WAL)
    result["leads_table_bytes"] = sum(_dir_bytes(p) for p in state_dir.rglob("leads-*.db"))
    if n:
        asyncio.run(produce_traffic(bootstrap, f"{app}-in", n, seed=n))
        deadline = time.monotonic() + 600
        while True:
            try:
                done = counter_total(scrape(worker.metrics_url), "leadstream_touchpoints_total")
            except OSError:
                done = 0
            if done >= TRAFFIC or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        result["rss_after_traffic_mb"] = _rss_mb(worker.pid or 0)
        result["peak_rss_mb"] = _rss_mb(worker.pid or 0, "VmHWM:")
    worker.stop()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--pool", type=int, default=2_000, help="people behind the state pool")
    parser.add_argument("--seed", type=int, default=17)
    add_env_option(parser, "extra worker setting (repeatable)")
    args = parser.parse_args()
    extra_env = env_settings(args)
    sizes = [int(s) for s in args.sizes.split(",")]

    pool = state_pool(args.pool, args.seed)
    sizes_b = sorted(len(encode_state(s)) for s in pool)
    print(f"state pool: {len(pool)} leads; encoded state bytes p50 {sizes_b[len(sizes_b) // 2]}, "
          f"max {sizes_b[-1]}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="leadstream-scale-"))
    results = []
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        base = run_size(broker.bootstrap_servers, workdir, pool, 0, extra_env)
        print(f"  empty changelog: ready after {base['ready_s']:.1f} s, RSS {base['rss_ready_mb']:.0f} MB",
              flush=True)
        for n in sizes:
            r = run_size(broker.bootstrap_servers, workdir, pool, n, extra_env)
            results.append(r)
            print(f"  {n} leads: ready after {r['ready_s']:.1f} s", flush=True)

    print()
    print(f"{'leads':>9}{'rebuild s':>11}{'leads/s':>10}{'bytes/lead':>12}{'RSS ready MB':>14}"
          f"{'RSS after traffic':>19}{'peak RSS MB':>13}")
    for r in results:
        rebuild = max(0.0, r["ready_s"] - base["ready_s"])
        rate = r["leads"] / rebuild if rebuild > 0 else float("inf")
        print(f"{r['leads']:>9}{rebuild:>11.1f}{rate:>10.0f}{r['leads_table_bytes'] / r['leads']:>12.0f}"
              f"{r['rss_ready_mb']:>14.0f}{r['rss_after_traffic_mb']:>19.0f}{r['peak_rss_mb']:>13.0f}")
    print(f"baseline (empty changelog): start + join {base['ready_s']:.1f} s, RSS {base['rss_ready_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

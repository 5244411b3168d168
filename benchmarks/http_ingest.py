"""How many touchpoints per second ``POST /touchpoints`` takes on this machine.

    .venv/bin/python benchmarks/http_ingest.py [--seconds 20] [--batch 500] [--clients 4]

Starts the embedded broker and one worker (token auth on, as in production), then ``--clients``
threads post NDJSON batches of ``--batch`` demo touchpoints (the demo's realistic mix, malformed
ones included) for ``--seconds``. Reports the records the worker answered for per second (each
answer comes only once Kafka has the batch's valid records), the requests' p50/p99, and then
waits until the worker has scored every accepted record.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from leadstream.broker import EmbeddedBroker
from leadstream.demo.observe import counter_total, scrape
from leadstream.demo.traffic import TrafficGenerator
from leadstream.demo.worker_process import WorkerProcess


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--people", type=int, default=5000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="leadstream-bench-"))
    token = secrets.token_urlsafe(16)
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        worker = WorkerProcess(bootstrap_servers=broker.bootstrap_servers,
                               state_dir=workdir / "state", log_path=workdir / "worker.log",
                               extra_env={"LEADSTREAM__WEB__API_TOKEN": token,
                                          "LEADSTREAM__WEB__INGEST_MAX_BYTES": str(16 << 20)})
        worker.start()
        try:
            worker.wait_ready(timeout=90)
            return _run(args, worker, token)
        finally:
            worker.stop()


def _run(args: argparse.Namespace, worker: WorkerProcess, token: str) -> int:
    traffic = TrafficGenerator(people=args.people, seed=11, total=10**9)
    lock = threading.Lock()
    answered = {"accepted": 0, "rejected": 0}
    latencies: list[float] = []
    stop_at = time.monotonic() + args.seconds

    def body() -> bytes:
        with lock:
            return b"\n".join(next(traffic).value for _ in range(args.batch)) + b"\n"

    def client() -> None:
        while time.monotonic() < stop_at:
            data = body()
            request = urllib.request.Request(
                f"{worker.base_url}/touchpoints", data=data, method="POST",
                headers={"Authorization": f"Bearer {token}",
                         "Content-Type": "application/x-ndjson"})
            started = time.monotonic()
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
                answer = json.loads(response.read())
            with lock:
                latencies.append(time.monotonic() - started)
                answered["accepted"] += answer["accepted"]
                answered["rejected"] += answer["rejected"]

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    total = answered["accepted"] + answered["rejected"]
    latencies.sort()
    print(f"POST /touchpoints: {total:,} records in {elapsed:.1f} s = {total / elapsed:,.0f} "
          f"records/s ({answered['accepted']:,} accepted, {answered['rejected']:,} rejected), "
          f"{len(latencies)} requests of {args.batch}, {args.clients} clients; request p50 "
          f"{statistics.median(latencies) * 1000:.0f} ms, p99 "
          f"{latencies[int(len(latencies) * 0.99) - 1] * 1000:.0f} ms")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        done = counter_total(scrape(worker.metrics_url), "leadstream_touchpoints_total")
        if done >= answered["accepted"]:
            print(f"the worker scored or deduplicated all {answered['accepted']:,} accepted "
                  f"records {time.monotonic() - started - elapsed:.1f} s after the last answer")
            return 0
        time.sleep(0.5)
    print("the worker did not account for every accepted record within 300 s")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())

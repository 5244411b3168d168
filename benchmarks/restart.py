"""Restart after kill -9: seconds until the restarted worker holds every partition again, with
dynamic group membership and with static membership (``kafka.group_instance_id``, KIP-345).

    .venv/bin/python benchmarks/restart.py [--restarts 3]

One worker on the embedded broker, with the product's timeouts for it (6 s session, 1 s
heartbeat, 10 s rebalance). A dynamic member's new incarnation waits until the broker drops the
killed one; a static one takes its place. (On the embedded broker a static member that rejoins a
group of two leaves the group unable to finish its rebalance: one worker only.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository root, for the tests' deployment helper

from leadstream.broker import EmbeddedBroker  # noqa: E402
from tests.integration.conftest import Deployment  # noqa: E402


def _partitions(worker: object) -> list[int]:
    try:
        with urllib.request.urlopen(f"{worker.base_url}/readyz", timeout=2) as response:  # type: ignore[attr-defined]  # noqa: S310
            return list(json.loads(response.read())["partitions"])
    except OSError:
        return []


def restarts(deployment: Deployment, count: int) -> list[float]:
    worker = deployment.start_worker()
    deployment.wait_for(lambda: len(_partitions(worker)) == 8, timeout=90, what="ready")
    out = []
    for _ in range(count):
        time.sleep(2.0)
        worker.kill()
        killed = time.monotonic()
        worker = deployment.start_worker(ready=False)
        deployment.wait_for(lambda: len(_partitions(worker)) == 8, timeout=120,
                            what="every partition again")
        out.append(round(time.monotonic() - killed, 1))
    worker.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--restarts", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="leadstream-restart-"))
    results: dict[str, list[float]] = {}
    with EmbeddedBroker(log_path=base / "broker.log") as broker:
        for mode in ("dynamic", "static"):
            (base / mode).mkdir()
            deployment = Deployment(broker=broker, name=f"restart-{mode}", base=base / mode)
            deployment.quick_rejoin = False
            deployment.static_membership = mode == "static"
            results[mode] = restarts(deployment, args.restarts)
            deployment.stop()
    print(json.dumps({mode: {"seconds": values, "median": statistics.median(values)}
                      for mode, values in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

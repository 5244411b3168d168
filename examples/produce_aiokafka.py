"""Send touchpoints to leadstream with aiokafka: a producer to copy.

    python examples/produce_aiokafka.py --bootstrap localhost:9092 [--topic touchpoints] FILE.ndjson

What matters, and why:

* **Key by person.** The key decides the partition, and Kafka keeps order only within one. Use
  the identity the touchpoint carries (the email, else the CRM id, else the cookie id), so one
  person's touchpoints arrive in the order you sent them. leadstream itself does not need the
  order (it decides in event time) but your retries and duplicates stay close together.
* **A stable ``event_id``** per touchpoint (your system's own id): a record you send twice is then
  a duplicate leadstream ignores, so retrying after an error is always safe.
* **Batching**: ``linger_ms`` lets the producer put many records in one request; ``acks="all"``
  waits until the record is written to every in-sync replica.
* **Idempotence** (``--idempotent``, ``enable_idempotence=True``) stops the *broker* from writing a
  retried batch twice. It needs a broker that supports it: Apache Kafka does; the embedded broker
  of ``leadstream run`` does not answer aiokafka's request for it (README, "The embedded broker";
  librdkafka's works: examples/produce_confluent.py) — leadstream's dedupe by
  ``event_id`` covers you either way.
* **Errors**: await every send's result; a record that failed is reported with its ``event_id``
  and the script exits non-zero, so whoever runs it can send the file again.

Input: NDJSON, one touchpoint per line, as in README "Touchpoints (input)".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError


def key_of(touchpoint: dict[str, Any]) -> bytes | None:
    """The person's identity as the record key (the email lower-cased, as leadstream reads it)."""
    for field in ("email", "crm_id", "lead_id", "anonymous_id"):
        value = touchpoint.get(field)
        if isinstance(value, str) and value:
            return (value.strip().lower() if field == "email" else value).encode()
    return None


async def produce(bootstrap: str, topic: str, lines: list[bytes], *,
                  idempotent: bool = False) -> list[str]:
    """Send every line; return the event ids that failed (empty: all are in Kafka)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                enable_idempotence=idempotent)
    await producer.start()
    failed: list[str] = []
    try:
        pending = []
        for line in lines:
            touchpoint = json.loads(line)
            future = await producer.send(topic, line, key=key_of(touchpoint))
            pending.append((touchpoint.get("event_id", "?"), future))
        for event_id, future in pending:
            try:
                await future
            except KafkaError as exc:
                print(f"not sent: {event_id}: {exc}", file=sys.stderr)
                failed.append(event_id)
    finally:
        await producer.stop()
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="NDJSON, one touchpoint per line")
    parser.add_argument("--bootstrap", default="localhost:9092")
    parser.add_argument("--topic", default="touchpoints")
    parser.add_argument("--idempotent", action="store_true",
                        help="enable_idempotence (Apache Kafka; not the embedded broker)")
    args = parser.parse_args()
    lines = [line for line in args.file.read_bytes().splitlines() if line.strip()]
    failed = asyncio.run(produce(args.bootstrap, args.topic, lines, idempotent=args.idempotent))
    print(f"sent {len(lines) - len(failed)} of {len(lines)} touchpoints to {args.topic}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

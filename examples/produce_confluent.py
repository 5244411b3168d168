"""Send touchpoints to leadstream with confluent-kafka (librdkafka): a producer to copy.

    python examples/produce_confluent.py --bootstrap localhost:9092 [--topic touchpoints] \\
        [--no-idempotence] FILE.ndjson

The same rules as the aiokafka example (examples/produce_aiokafka.py):

* **Key by person** (the email lower-cased, else the CRM id, lead id or cookie id): one person's
  touchpoints stay in one partition, in the order you sent them.
* **A stable ``event_id``** per touchpoint: a record sent twice is a duplicate leadstream
  ignores, so retrying is always safe.
* **Batching**: ``linger.ms`` gathers records into one request; ``acks=all`` waits for every
  in-sync replica.
* **Idempotence** is on (``enable.idempotence=true``): the broker writes a retried batch once,
  and librdkafka keeps the order of retried batches. ``--no-idempotence`` turns it off for a
  broker without it.
* **Errors**: ``produce()`` only queues; the delivery callback says per record whether it was
  written. A full local queue (``BufferError``) is waited out with ``poll()``. Every failed
  ``event_id`` is reported and the script exits non-zero, so the file can be sent again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer


def key_of(touchpoint: dict[str, Any]) -> bytes | None:
    """The person's identity as the record key (the email lower-cased, as leadstream reads it)."""
    for field in ("email", "crm_id", "lead_id", "anonymous_id"):
        value = touchpoint.get(field)
        if isinstance(value, str) and value:
            return (value.strip().lower() if field == "email" else value).encode()
    return None


def produce(bootstrap: str, topic: str, lines: list[bytes], *, idempotent: bool = True,
            timeout_s: float = 60.0) -> list[str]:
    """Send every line; return the event ids that failed (empty: all are in Kafka)."""
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "linger.ms": 20,
        "enable.idempotence": idempotent,
        "message.timeout.ms": int(timeout_s * 1000),
    })
    failed: list[str] = []
    delivered: list[str] = []

    def report(event_id: str):  # one callback per record, run inside poll() / flush()
        def done(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                print(f"not sent: {event_id}: {error}", file=sys.stderr)
                failed.append(event_id)
            else:
                delivered.append(event_id)
        return done

    for line in lines:
        touchpoint = json.loads(line)
        event_id = str(touchpoint.get("event_id", "?"))
        while True:
            try:
                producer.produce(topic, value=line, key=key_of(touchpoint),
                                 on_delivery=report(event_id))
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.5)
        producer.poll(0)
    left = producer.flush(timeout_s)
    if left:
        print(f"not sent: {left} records still queued after {timeout_s:.0f} s", file=sys.stderr)
        failed.extend(["?"] * left)
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="NDJSON, one touchpoint per line")
    parser.add_argument("--bootstrap", default="localhost:9092")
    parser.add_argument("--topic", default="touchpoints")
    parser.add_argument("--no-idempotence", action="store_true",
                        help="enable.idempotence=false, for a broker without it")
    args = parser.parse_args()
    lines = [line for line in args.file.read_bytes().splitlines() if line.strip()]
    failed = produce(args.bootstrap, args.topic, lines, idempotent=not args.no_idempotence)
    print(f"sent {len(lines) - len(failed)} of {len(lines)} touchpoints to {args.topic}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

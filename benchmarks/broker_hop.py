"""The broker's own latency: one raw aiokafka produce → consume hop, no leadstream, over time.

    .venv/bin/python benchmarks/broker_hop.py [--rate 2500] [--seconds 60] [--linger-ms 1]
                                              [--noise-rate 0] [--hops 1]
    .venv/bin/python benchmarks/broker_hop.py --scan 200000 [--fetch-max-wait-ms 100]

Paces ``--rate`` records/s (~300-byte values, keyed round the partitions) to a new topic of 8
partitions on a new embedded broker and prints, per 10 s of sending, the median and p99 from
produce to a consumer seeing it. ``--noise-rate N`` also writes N records/s with linger 0 (one
small batch each) to another topic, to tell a slowdown of the partitions written from one of
the whole broker. ``--hops N`` chains N hops: a relay (consumer and producer, in this process)
reads each topic and sends every record on to the next, as a pipeline stage does with nothing to
do; every handover of the pipeline crosses the broker at least three times before it is read.
``latency.py`` uses :func:`raw_hop` as its baselines, with one hop and with three.

``--scan N`` writes N one-record batches to a one-partition topic in 5 rounds and, after each,
times a fetch of its last 50 records.

Why this exists: on Tansu 0.6.0 a fetch takes longer the more batches its partition holds, so a
producer with a short linger (many one-record batches) makes every hop slower as the run goes on.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from leadstream.broker import EmbeddedBroker

VALUE_PAD = b" " * 280  # ~300-byte records, like a touchpoint


async def _create(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    finally:
        await admin.close()


async def _pace(producer: AIOKafkaProducer, topic: str, rate: float, count: int,
                stamp: bool) -> None:
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        value = str(time.time()).encode() + VALUE_PAD if stamp else VALUE_PAD
        await producer.send(topic, value, key=b"%d" % i)


async def raw_hop(bootstrap: str, rate: float, count: int, linger_ms: float, partitions: int,
                  fetch_max_wait_ms: int = 100, topic: str = "latency-hop",
                  noise_rate: float = 0.0, hops: int = 1,
                  relay_linger_ms: float = 0.0) -> list[tuple[float, float]]:
    """(time sent, latency in s) of ``count`` records paced at ``rate`` through one produce →
    consume hop on a new ``topic``; with ``noise_rate``, another topic gets that many one-record
    batches per second meanwhile. The consumer's default fetch wait is the worker's on the
    embedded broker (100 ms): Tansu answers an empty fetch when finding the offset takes longer
    than the wait, so a shorter one stalls the consumer sooner.

    With ``hops`` > 1 the records cross that many topics: a relay per topic sends each record it
    fetches on to the next one at once, through one producer with ``relay_linger_ms`` (the
    worker's producer linger, 0 by default)."""
    if hops < 1:
        raise ValueError(f"hops must be at least 1, not {hops}")
    chain = [topic] + [f"{topic}-{n}" for n in range(2, hops + 1)]
    await _create(bootstrap, chain + [f"{topic}-noise"] if noise_rate else chain, partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms)
    noise = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    relay_producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=relay_linger_ms)

    def consumer_of(name: str) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(name, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", fetch_max_wait_ms=fetch_max_wait_ms)

    relay_consumers = [consumer_of(name) for name in chain[:-1]]
    consumer = consumer_of(chain[-1])
    clients = [producer, noise, *([relay_producer] if relay_consumers else []), *relay_consumers,
               consumer]
    for client in clients:
        await client.start()
    samples: list[tuple[float, float]] = []

    async def relay(source: AIOKafkaConsumer, target: str) -> None:
        while True:
            for messages in (await source.getmany(timeout_ms=20)).values():
                for m in messages:
                    await relay_producer.send(target, m.value, key=m.key)

    async def read() -> None:
        while len(samples) < count:
            for messages in (await consumer.getmany(timeout_ms=20)).values():
                now = time.time()
                for m in messages:
                    sent = float(m.value[:-len(VALUE_PAD)])
                    samples.append((sent, now - sent))

    relays = [asyncio.create_task(relay(source, target))
              for source, target in zip(relay_consumers, chain[1:])]
    reader = asyncio.create_task(read())
    noisy = (asyncio.create_task(_pace(noise, f"{topic}-noise", noise_rate,
                                       int(noise_rate * count / rate), stamp=False))
             if noise_rate else None)
    try:
        await _pace(producer, topic, rate, count, stamp=True)
        await _drain(reader, samples, stall_s=20.0, relays=relays)
        if noisy:
            await noisy
    finally:
        for task in [reader, *relays, *([noisy] if noisy else [])]:
            task.cancel()
        for client in clients:
            await client.stop()
    return samples


async def _drain(reader: asyncio.Task[None], samples: list[tuple[float, float]],
                 stall_s: float, relays: list[asyncio.Task[None]]) -> None:
    """Wait for the consumer to see every record; a slow broker may take minutes to catch up, so
    give up only when nothing new arrives for ``stall_s``. A relay only ends by failing: raise
    its error rather than wait for the stall."""
    seen, last_progress = -1, time.monotonic()
    while not reader.done():
        for relay in relays:
            if relay.done():
                relay.result()
                raise RuntimeError("a relay of the chain stopped")
        if len(samples) != seen:
            seen, last_progress = len(samples), time.monotonic()
        elif time.monotonic() - last_progress > stall_s:
            raise TimeoutError(f"the hop's consumer saw {seen} records, then none for {stall_s} s")
        await asyncio.sleep(0.5)
    reader.result()


async def scan(bootstrap: str, batches: int, rounds: int,
               fetch_max_wait_ms: int) -> list[tuple[int, float | None]]:
    """(batches in the partition, ms to fetch its last 50 records, or None when the consumer got
    nothing in 5 s) after each of ``rounds`` rounds of one-record batches."""
    await _create(bootstrap, ["latency-scan"], 1)
    # a batch cannot grow past one ~300-byte record
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, max_batch_size=512)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                fetch_max_wait_ms=fetch_max_wait_ms)
    await producer.start()
    await consumer.start()
    partition = TopicPartition("latency-scan", 0)
    consumer.assign([partition])
    rows: list[tuple[int, float | None]] = []
    try:
        for round_ in range(1, rounds + 1):
            sends = [await producer.send("latency-scan", VALUE_PAD)
                     for _ in range(batches // rounds)]
            await asyncio.gather(*sends)
            written = round_ * (batches // rounds)
            consumer.seek(partition, written - 50)
            start = time.perf_counter()
            got = await consumer.getmany(partition, timeout_ms=5000, max_records=50)
            took = 1000 * (time.perf_counter() - start)
            rows.append((written, took if got else None))
    finally:
        await producer.stop()
        await consumer.stop()
    return rows


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def over_time(samples: list[tuple[float, float]], window: float = 5.0, q: float = 0.5) -> str:
    """Latency percentile ``q`` per window of send time: a flat line keeps up, a rising one falls
    behind (a backlog grows), which percentiles over the whole run do not tell."""
    start = min(sent for sent, _ in samples)
    windows: dict[int, list[float]] = {}
    for sent, latency in samples:
        windows.setdefault(int((sent - start) // window), []).append(1000 * latency)
    values = (f"{percentile(windows[w], q):.0f}" for w in sorted(windows))
    return f"p{100 * q:.0f} ms per {window:.0f} s of sending: " + ", ".join(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=2500.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--linger-ms", type=float, default=1.0)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--fetch-max-wait-ms", type=int, default=100)
    parser.add_argument("--noise-rate", type=float, default=0.0, metavar="PER_SECOND")
    parser.add_argument("--scan", type=int, default=0, metavar="BATCHES")
    parser.add_argument("--hops", type=int, default=1, help="hops in a chain (relayed at once)")
    parser.add_argument("--relay-linger-ms", type=float, default=0.0,
                        help="linger of the relays' producer (the worker's is 0)")
    args = parser.parse_args()
    if args.scan:
        with EmbeddedBroker() as broker:
            rows = asyncio.run(scan(broker.bootstrap_servers, args.scan, 5,
                                    args.fetch_max_wait_ms))
        print(f"one partition, one-record batches, fetch wait {args.fetch_max_wait_ms} ms:")
        for written, took in rows:
            answer = f"{took:.1f} ms" if took is not None else "nothing within 5 s"
            print(f"{written:>9} batches: fetch of the last 50 records {answer}")
        return 0
    with EmbeddedBroker() as broker:
        samples = asyncio.run(raw_hop(broker.bootstrap_servers, args.rate,
                                      int(args.rate * args.seconds), args.linger_ms,
                                      args.partitions, args.fetch_max_wait_ms,
                                      noise_rate=args.noise_rate, hops=args.hops,
                                      relay_linger_ms=args.relay_linger_ms))
    print(f"{args.hops} hop(s) in a chain at {args.rate:.0f}/s, linger {args.linger_ms:g} ms, "
          f"{args.partitions} partitions, fetch wait {args.fetch_max_wait_ms} ms, "
          f"noise {args.noise_rate:.0f}/s on another topic:")
    print(over_time(samples, window=10.0, q=0.5))
    print(over_time(samples, window=10.0, q=0.99))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``POST /touchpoints``: touchpoints from tools that can only call a webhook (README, "HTTP
ingest").

The body is a JSON array of touchpoints (``Content-Type: application/json``) or NDJSON (one per
line, any other content type), at most ``web.ingest_max_bytes``.
Each record is checked as the ingest agent checks it (``InputDecoder``: schema, size, hygiene);
the valid ones are produced to the first touchpoint topic, keyed by the person's lead id, and the
answer (``202``) comes only once Kafka has every one of them. Invalid ones are answered with the
DLQ's kind and reason and are not produced (the caller has them; nothing goes to the DLQ). If
Kafka does not take them, the answer is ``503`` and the caller sends the batch again: records
that did arrive are duplicates then, which the workers ignore by ``event_id``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from faust.web import View

from leadstream.core.messages import Link
from leadstream.exceptions import RejectedMessage
from leadstream.streams.encoding.inputs import InputDecoder

if TYPE_CHECKING:
    from leadstream.streams.pipeline import Pipeline

__all__ = ["register_ingest", "split_body", "BodyError"]

Handler = Callable[..., Awaitable[Any]]


class BodyError(ValueError):
    """A body that is neither a JSON array nor NDJSON."""


def split_body(body: bytes, content_type: str) -> list[bytes]:
    """The records of a body: with ``Content-Type: application/json`` a JSON array's elements
    (each serialised again), otherwise NDJSON's non-blank lines, each kept as sent (a line may
    itself be a JSON array: it is then one record, rejected as ``not_an_object``)."""
    if content_type.split(";")[0].strip().lower() != "application/json":
        return [line for line in body.split(b"\n") if line.strip()]
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(f"Content-Type application/json, but the body is not JSON: {exc}") from None
    if not isinstance(items, list):
        raise BodyError("Content-Type application/json needs a JSON array of touchpoints "
                        "(or send NDJSON as application/x-ndjson)")
    return [orjson.dumps(item) for item in items]


def register_ingest(pipeline: Pipeline, requires_token: Callable[[Handler], Handler]) -> None:
    app = pipeline.app
    settings = pipeline.settings
    decoder = InputDecoder(settings.hygiene, settings.max_message_bytes)
    topic = settings.topics.touchpoints[0]
    limit = settings.web.ingest_max_bytes
    counted = pipeline.metrics.http_ingest_records

    @app.page("/touchpoints")
    class TouchpointsView(View):
        @requires_token
        async def post(self, request: Any) -> Any:
            if (request.content_length or 0) > limit:
                return self._too_large()
            body = await request.content.read(limit + 1)
            if len(body) > limit:
                return self._too_large()
            try:
                raws = split_body(body, request.headers.get("Content-Type", ""))
            except BodyError as exc:
                return self.json({"error": "bad_request", "detail": str(exc)}, status=400)
            results: list[dict[str, Any]] = []
            valid: list[tuple[int, bytes, bytes]] = []
            for index, raw in enumerate(raws):
                try:
                    message = decoder.touchpoint(raw)
                except RejectedMessage as rejected:
                    results.append({"index": index, "status": "rejected", "kind": rejected.kind,
                                    "reason": rejected.reason})
                    continue
                touch = message.touchpoint if isinstance(message, Link) else message
                valid.append((index, touch.lead_id.encode(), raw))
                results.append({"index": index, "status": "accepted",
                                "event_id": touch.event_id})
            try:
                sent = [await app.producer.send(topic, key, raw, None, None, None)
                        for _, key, raw in valid]
                await asyncio.gather(*sent)
            except Exception as exc:  # noqa: BLE001 - any failure to hand over is the same answer
                counted.labels(outcome="failed").inc(len(valid))
                return self.json({"error": "unavailable",
                                  "detail": f"Kafka did not take the records ({type(exc).__name__}); "
                                            "send the batch again (duplicates are ignored by "
                                            "event_id)"}, status=503)
            accepted = len(valid)
            counted.labels(outcome="accepted").inc(accepted)
            counted.labels(outcome="rejected").inc(len(results) - accepted)
            return self.json({"accepted": accepted, "rejected": len(results) - accepted,
                              "results": results}, status=202)

        def _too_large(self) -> Any:
            return self.json({"error": "too_large",
                              "detail": f"the body is larger than web.ingest_max_bytes ({limit})"},
                             status=413)

"""Make Faust's pre-commit flush wait for every buffered table changelog record.

Faust (faust-streaming 0.15) writes table changes with ``send_soon`` into a ``ProducerBuffer``
that a background task hands to aiokafka one by one. Before committing offsets the consumer calls
``producer.flush()``, which calls ``ProducerBuffer.flush()``; that returns as soon as no message
was handed over within 0.1 s (``flush_atmost``'s ``wait_for(..., timeout=0.1)``), and it does not
wait for the message the background task is handing over at that moment. The offsets can then be
committed while changelog records are still in the buffer: after a kill -9 the state change is
lost although its input counts as processed. Found by the crash torture (a visitor link applied
twice in different orders). This wraps the buffer so ``flush()`` returns only when the buffer is
empty and nothing is in hand; aiokafka's own flush (called right after by Faust) then covers
every record.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["make_flush_durable"]


def make_flush_durable(app: Any) -> None:
    """Patch ``app.producer.buffer`` (before the app starts)."""
    buffer = app.producer.buffer
    in_hand = 0
    send_pending = buffer._send_pending
    partial_flush = buffer.flush

    async def counted_send(fut: Any) -> None:
        nonlocal in_hand
        in_hand += 1
        try:
            await send_pending(fut)
        finally:
            in_hand -= 1

    async def flush() -> None:
        while True:
            await partial_flush()
            if not buffer.size and not in_hand:
                return
            await asyncio.sleep(0.005)

    buffer._send_pending = counted_send
    buffer.flush = flush

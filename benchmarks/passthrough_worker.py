"""A Faust pass-through worker: the baseline of benchmarks/throughput.py.

Same Faust settings as leadstream (transport, codecs, partitions, commit interval), but the agent
only forwards each record: whatever leadstream costs beyond this is leadstream's own work.
Settings come from the same LEADSTREAM__* environment as a real worker.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import faust

from leadstream.config import load_settings
from leadstream.streams.pipeline import faust_settings
from leadstream.streams.prepare import prepare


def main() -> int:
    settings = load_settings()
    asyncio.run(prepare(settings))
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = faust.App(settings.app_id, **faust_settings(settings))
    raw: dict[str, Any] = dict(key_serializer="raw", value_serializer="raw",
                               partitions=settings.topics.partitions)
    source = app.topic(*settings.topics.touchpoints, **raw)
    sink = app.topic(settings.topics.handover, **raw)

    @app.agent(source, concurrency=1)
    async def forward(stream: Any) -> None:
        async for event in stream.events():
            await sink.send(key=event.key, value=event.value)

    faust.Worker(app, loglevel=settings.log.level, quiet=True, redirect_stdouts=False).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A Faust pass-through on the batch lane: the framework cost once Faust's per-record path is gone.

Same app settings as leadstream; the touchpoint topic is handled by a batch handler that forwards
every record as an output of the fetch's :class:`FetchCommit` (see streams/lane/).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import faust
from leadstream.config import load_settings
from leadstream.streams.pipeline import faust_settings
from leadstream.streams.prepare import prepare
from leadstream.streams.lane import BatchLane, FetchCommit, upstream


def main() -> int:
    settings = load_settings()
    asyncio.run(prepare(settings))
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = faust.App(settings.app_id, **faust_settings(settings))
    raw: dict[str, Any] = dict(key_serializer="raw", value_serializer="raw", partitions=settings.topics.partitions)
    source = app.topic(*settings.topics.touchpoints, **raw)
    sink = settings.topics.handover
    lane = BatchLane()
    upstream.attach_lane(app, lane)

    async def forward(tp: Any, records: list[Any], commit: FetchCommit) -> None:
        for r in records:
            commit.output(sink, r.key, r.value)

    lane.subscribe(app, source, forward)
    faust.Worker(app, loglevel=settings.log.level, quiet=True, redirect_stdouts=False).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Which topics take the batch lane, and the handler of each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from leadstream.streams.lane.commit import FetchCommit
from leadstream.streams.lane.progress import LaneProgress

if TYPE_CHECKING:
    import faust
    from faust.types import ProducerT, TopicT

__all__ = ["BatchHandler", "BatchLane", "InputRecord", "Partition"]


class Partition(Protocol):
    """A topic partition (Faust's ``TP`` and aiokafka's ``TopicPartition`` both are one)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...


class InputRecord(Protocol):
    """What a handler reads of a fetched record (aiokafka's ``ConsumerRecord`` is one)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def timestamp(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


BatchHandler = Callable[["Partition", list[InputRecord], FetchCommit], Awaitable[None]]
"""``handler(tp, records, commit)``: ``records`` are one partition's, in offset order. The handler
hands what they produce to ``commit`` (:class:`~leadstream.streams.lane.commit.FetchCommit`),
which every batch of one fetch shares and which carries it out in the commit order."""


class BatchLane:
    """Which topics take the batch lane, and their handlers (one handler per topic)."""

    def __init__(self) -> None:
        self._handlers: dict[str, BatchHandler] = {}
        self.progress = LaneProgress()

    def register(self, topic: str, handler: BatchHandler) -> None:
        if topic in self._handlers:
            raise ValueError(f"topic {topic!r} already has a batch handler")
        self._handlers[topic] = handler

    def subscribe(self, app: faust.App, topic: TopicT, handler: BatchHandler) -> None:
        """Subscribe the Faust app to ``topic`` (maybe of several names) and hand its batches to
        ``handler``; the app must consume through this lane (``upstream.attach_lane``)."""
        from leadstream.streams.lane.upstream import lane_of

        if lane_of(app) is not self:
            raise ValueError("the app does not consume through this batch lane")
        for name in topic.topics:
            self.register(name, handler)
        app.topics.add(topic)

    def commit_for(self, producer: ProducerT) -> FetchCommit:
        """A fetch's commit: the handlers of its batches share it."""
        return FetchCommit(producer)

    def handler_for(self, topic: str) -> BatchHandler | None:
        return self._handlers.get(topic)

"""The batch lane: lane topics reach their handler a fetched batch at a time, and one
:class:`FetchCommit` per fetch carries out what the handlers produced in the commit order.

==================  ======================================================================
``registry``        which topics take the lane, and their handlers
``commit``          :class:`FetchCommit`: first records → state → outputs → input offsets
``outbox``          records to Kafka as one batch per partition, queued behind busy ones
``table_buffer``    a fetch's writes to a RocksDB table and their changelog records
``progress``        per partition, up to where outputs are written (ingest's shortcut)
``offsets``         commit arithmetic: skipped offsets, the next offset to commit
``upstream``        the only module using Faust's, mode's or aiokafka's private names
==================  ======================================================================
"""

from leadstream.streams.lane.commit import FetchCommit, InMemory
from leadstream.streams.lane.outbox import Outbox, partition_for
from leadstream.streams.lane.progress import LaneProgress
from leadstream.streams.lane.registry import BatchHandler, BatchLane, InputRecord, Partition
from leadstream.streams.lane.table_buffer import TableBuffer

__all__ = [
    "BatchHandler",
    "BatchLane",
    "FetchCommit",
    "InMemory",
    "InputRecord",
    "LaneProgress",
    "Outbox",
    "Partition",
    "TableBuffer",
    "partition_for",
]

"""The reference CRM connector: ``lead-handover`` folded into relational tables (PostgreSQL, or
SQLite embedded), and CRM verdicts from a table sent back to ``lead-feedback``.

Rooms: ``events`` reads a handover record into a typed event; ``fold`` is the pure reference of
what the tables must hold after any delivery order; ``store`` writes events and consumer offsets
in one transaction (``dialects`` holds what differs between the databases, ``migrations`` the
numbered schema files); ``runner`` is the Kafka loop.
"""

from leadstream.connector.events import (
    ConsentEvent,
    EngagementEvent,
    ErasureEvent,
    HandoverRecordError,
    LeadEvent,
    MergeEvent,
    parse_handover,
)

__all__ = [
    "ConsentEvent",
    "EngagementEvent",
    "ErasureEvent",
    "HandoverRecordError",
    "LeadEvent",
    "MergeEvent",
    "parse_handover",
]

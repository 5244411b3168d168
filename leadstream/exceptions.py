"""The one exception tree of leadstream.

::

    LeadstreamError
    ├── ConfigError ............ a settings or model file is wrong; names file, field and why
    │   └── ModelError ......... the scoring model is invalid
    ├── BrokerError ............ the Kafka side failed in a way the app cannot absorb
    │   └── EmbeddedBrokerError  the embedded Tansu broker could not be found, started or reached
    ├── StateVersionError ...... a lead state written by a newer build; the worker stops
    └── RejectedMessage ........ an input record cannot be processed; it goes to the DLQ
        ├── InvalidTouchpoint .. bad JSON, wrong types, unknown type, missing identity, oversize
        ├── InvalidFeedback .... a CRM verdict that is malformed or impossible for the lead's stage
        └── InvalidCommand ..... an operator command (merge, erase) that is malformed

``StateVersionError`` is always fatal, also inside a message (a visitor's hand-over carries its
state): dead-lettering it would lose that history, so the worker stops and the input is processed
again by a build that can read it. ``RejectedMessage`` is never fatal: agents catch it and publish
a DLQ record carrying ``kind`` (a short, bounded code safe for metric labels) and ``reason`` (a
sentence for a human).
"""

from __future__ import annotations

__all__ = [
    "LeadstreamError",
    "ConfigError",
    "ModelError",
    "BrokerError",
    "EmbeddedBrokerError",
    "StateVersionError",
    "RejectedMessage",
    "InvalidTouchpoint",
    "InvalidFeedback",
    "InvalidCommand",
]


class LeadstreamError(Exception):
    """Base of every error leadstream raises on purpose."""


class ConfigError(LeadstreamError):
    """A configuration file or environment value is invalid.

    ``str(err)`` reads ``<file>[:<line>]: <field>: <why>`` so an operator can fix it without
    reading code.
    """

    def __init__(self, file: str, field: str, why: str, line: int | None = None) -> None:
        self.file = file
        self.field = field
        self.why = why
        self.line = line
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {field}: {why}")


class ModelError(ConfigError):
    """The scoring model file is invalid."""


class StateVersionError(LeadstreamError, ValueError):
    """A lead state in a format this build does not know (written by a newer one)."""


class BrokerError(LeadstreamError):
    """The Kafka-compatible broker could not be used."""


class EmbeddedBrokerError(BrokerError):
    """The embedded Tansu broker could not be found, started or reached."""


class RejectedMessage(LeadstreamError):
    """An input record that cannot be processed; it belongs in the DLQ with ``reason``."""

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"{kind}: {reason}")


class InvalidTouchpoint(RejectedMessage):
    """A touchpoint record failed decoding or validation."""


class InvalidFeedback(RejectedMessage):
    """A CRM feedback record is malformed or impossible for the lead's current stage."""


class InvalidCommand(RejectedMessage):
    """A ``lead-commands`` record that is malformed (unknown command, missing or bad identity)."""

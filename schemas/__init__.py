"""Message models at the edges (pydantic v2) and their generated JSON Schemas (``json/``)."""

from leadstream.schemas.dlq import DlqHeader, DlqRecord, DlqSource
from leadstream.schemas.feedback import FeedbackIn, parse_feedback
from leadstream.schemas.handover import HandoverEvent
from leadstream.schemas.touchpoints import (
    TOUCHPOINT_MODELS,
    Bant,
    Profile,
    TouchpointIn,
    parse_touchpoint,
)

__all__ = [
    "Bant",
    "DlqHeader",
    "DlqRecord",
    "DlqSource",
    "FeedbackIn",
    "HandoverEvent",
    "Profile",
    "TOUCHPOINT_MODELS",
    "TouchpointIn",
    "parse_feedback",
    "parse_touchpoint",
]

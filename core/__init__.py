"""The pure domain core: no Kafka, no Faust, no I/O.

``apply(state, message, model) -> (state, emitted)`` is the whole contract. Agents decode a
message, call :func:`apply`, write the returned state and publish what was emitted.
"""

from leadstream.core.apply import VERDICT_RULES, apply, next_deadline
from leadstream.core.emitted import Counted, Duplicate, Emitted, Rejected, Transition
from leadstream.core.identity import canonical_lead_id
from leadstream.core.messages import VERDICTS, Feedback, Message, Tick, Touchpoint
from leadstream.core.model import BehaviourRule, ModelSet, ScoringModel
from leadstream.core.scoring import behaviour_score
from leadstream.core.stages import Stage
from leadstream.core.state import LeadState

__all__ = [
    "VERDICTS",
    "VERDICT_RULES",
    "apply",
    "BehaviourRule",
    "Counted",
    "Duplicate",
    "Emitted",
    "Feedback",
    "LeadState",
    "Message",
    "ModelSet",
    "Rejected",
    "ScoringModel",
    "Stage",
    "Tick",
    "Touchpoint",
    "Transition",
    "behaviour_score",
    "canonical_lead_id",
    "next_deadline",
]

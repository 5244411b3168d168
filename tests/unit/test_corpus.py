"""Every file of the bad-input corpus is rejected by the parsers with the kind its name gives and a
reason a person can act on (the integration test sends the same files through a real worker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadstream.exceptions import RejectedMessage
from leadstream.schemas.feedback import parse_feedback
from leadstream.schemas.touchpoints import parse_touchpoint

CORPUS = Path(__file__).parents[1] / "corpus"
MAX_BYTES = 65536
AGENT_KINDS = {"unknown_lead", "impossible_verdict"}  # valid records the lead agent refuses


def corpus(folder: str) -> list[Path]:
    return sorted((CORPUS / folder).glob("*.bin"))


def expected_kind(path: Path) -> str:
    return path.stem.split("-", 2)[1]


def test_the_corpus_is_big_enough_and_covers_every_kind() -> None:
    assert len(corpus("touchpoints")) + len(corpus("feedback")) >= 50
    kinds = {expected_kind(p) for p in corpus("touchpoints")}
    assert kinds == {"invalid_json", "not_an_object", "missing_type", "unknown_type", "missing_identity",
                     "invalid_field", "implausible_time", "oversize"}


@pytest.mark.parametrize("path", corpus("touchpoints"), ids=lambda p: p.stem)
def test_bad_touchpoints_are_rejected_with_their_kind(path: Path) -> None:
    with pytest.raises(RejectedMessage) as caught:
        parse_touchpoint(path.read_bytes(), max_bytes=MAX_BYTES)
    assert caught.value.kind == expected_kind(path)
    _assert_readable(caught.value.reason)


@pytest.mark.parametrize("path", corpus("feedback"), ids=lambda p: p.stem)
def test_bad_feedback_is_rejected_with_its_kind(path: Path) -> None:
    if expected_kind(path) in AGENT_KINDS:
        parse_feedback(path.read_bytes(), max_bytes=MAX_BYTES)  # valid as a record
        return
    with pytest.raises(RejectedMessage) as caught:
        parse_feedback(path.read_bytes(), max_bytes=MAX_BYTES)
    assert caught.value.kind == expected_kind(path)
    _assert_readable(caught.value.reason)


def _assert_readable(reason: str) -> None:
    assert 10 <= len(reason) <= 600
    assert reason.isprintable()
    assert "Traceback" not in reason and "object at 0x" not in reason
    # the reason names what is wrong without echoing attacker-controlled content at length
    assert "DROP TABLE" not in reason and "<script>" not in reason

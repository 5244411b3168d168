"""dlq_id names the rejected input, so a record rejected again after a crash has the same id."""

from __future__ import annotations

from leadstream.streams.encoding.mappers import dlq_record


def _record(**changes: object) -> str:
    fields: dict[str, object] = dict(kind="unknown_lead", reason="no known lead", stage="leads",
                                     topic="app-lead-messages", partition=3, offset=120,
                                     timestamp_ms=None, key=b"L1", value=b"{}")
    fields.update(changes)
    return dlq_record(**fields).dlq_id  # type: ignore[arg-type]


def test_input_stages_name_the_record_by_its_position() -> None:
    ingest = dict(stage="ingest", kind="invalid_json", topic="touchpoints")
    assert _record(**ingest) == _record(**ingest, reason="other words", value=b"other")
    assert _record(**ingest) != _record(**ingest, offset=121)
    assert _record(**ingest) != _record(**ingest, partition=4)
    assert _record(**ingest) != _record(**{**ingest, "stage": "feedback"})


def test_the_lead_stage_names_the_rejected_message_not_its_internal_offset() -> None:
    """The lead stage reads the app's own re-keyed copy: its offsets differ from run to run and
    after a replay. The rejected message's own id (event, feedback or command id) does not."""
    first = _record(rejected_id="crm-verdict-17")
    assert first == _record(rejected_id="crm-verdict-17", offset=9_999, partition=5)
    assert first != _record(rejected_id="crm-verdict-18")
    assert first != _record(rejected_id="crm-verdict-17", kind="impossible_verdict")


def test_the_run_command_counts_each_rejected_record_once() -> None:
    """A record rejected at ingest is counted in leadstream_touchpoints_total (outcome dlq) and
    in leadstream_dlq_records_total: "accounted for" must count it once, or the run command
    stops waiting before the worker is done."""
    from leadstream.demo.runner import _accounted

    samples = {
        "leadstream_touchpoints_total": {
            frozenset({("type", "web_visit"), ("outcome", "scored")}): 90.0,
            frozenset({("type", "web_visit"), ("outcome", "duplicate")}): 2.0,
            frozenset({("type", "unknown"), ("outcome", "dlq")}): 5.0,
        },
        "leadstream_dlq_records_total": {
            frozenset({("stage", "ingest"), ("reason", "invalid_json")}): 5.0,
            frozenset({("stage", "leads"), ("reason", "too_late")}): 3.0,
            frozenset({("stage", "feedback"), ("reason", "unknown_lead")}): 4.0,
        },
    }
    assert _accounted(samples) == 90 + 2 + 5 + 3

"""The demo warns before a run long enough to reach the embedded broker's readable limit."""

from leadstream.demo.runner import DemoOptions, long_run_note


def test_default_run_has_no_note() -> None:
    assert long_run_note(DemoOptions()) is None


def test_an_hour_at_the_default_rate_has_no_note() -> None:
    # 1 h × 150/s / 8 partitions = 67,500 batches per partition: under half of ~150,000
    assert long_run_note(DemoOptions(duration=3600)) is None


def test_two_hours_at_the_default_rate_are_warned_about_with_the_batch_count() -> None:
    note = long_run_note(DemoOptions(duration=2 * 3600))
    assert note is not None
    assert "~135,000 batches" in note and "real Kafka" in note

"""The funnel report (core/report.py) and the campaign costs file (config/costs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadstream.config.costs import load_costs
from leadstream.core import report
from leadstream.core.messages import Feedback
from leadstream.core.model import ModelSet
from leadstream.exceptions import ConfigError
from tests.factories import T0, core_touchpoint, make_model
from tests.harness import run

MODEL = make_model()
MODELS = ModelSet.of(MODEL)
H = 3600.0


def _journey(lead: str, *, channel: str, campaign: str, verdicts: tuple[str, ...] = (),
             start: float = 0.0, amount: float | None = None) -> list:
    profile = {"form_id": "f", "profile": {"job_title": "CTO", "company_size": 800,
                                          "industry": "software", "country": "DE"}}
    out: list = [core_touchpoint("form_submit", lead_id=lead, at=start, payload=profile,
                                 channel=channel, campaign=campaign, event_id=f"{lead}-f")]
    out.append(core_touchpoint("demo_request", lead_id=lead, at=start + 5 * H,
                               event_id=f"{lead}-d"))
    at = start + 5 * H
    for i, verdict in enumerate(verdicts):
        at += 24 * H
        out.append(Feedback(feedback_id=f"{lead}-v{i}", lead_id=lead, verdict=verdict,
                            occurred_at=T0.timestamp() + at, amount=amount if verdict == "won" else None))
    return out


def _leads() -> dict:
    messages = (
        _journey("A", channel="paid_search", campaign="spring", verdicts=("accepted", "qualified", "won"),
                 amount=50_000.0)
        + _journey("B", channel="paid_search", campaign="spring", verdicts=("accepted",))
        + _journey("C", channel="referral", campaign="partners", verdicts=("rejected",))
        + [core_touchpoint("form_submit", lead_id="D", at=2 * H, channel="outbound_email",
                           campaign="abm", payload={"form_id": "f"}, event_id="D-f")]
        + [core_touchpoint("web_visit", lead_id=None, anonymous_id="v1", at=H)]
    )
    states, _ = run(messages, MODEL)
    return states


def _report(states: dict, by: str | None, costs: list[report.Cost] = ()) -> dict:
    partials: dict = {}
    for state in states.values():
        row = report.row_of(state, MODELS)
        if row is not None:
            report.add_row(partials, row, by)
    return report.finish(partials, by, costs)


def test_counts_conversion_and_time_between_stages() -> None:
    states = _leads()
    whole = _report(states, None)["groups"]["all"]
    assert whole["leads"] == 4  # the visitor is not a lead
    assert whole["reached"] == {"mgl": 4, "mql": 3, "sal": 2, "sql": 1, "won": 1}
    assert whole["stages"] == {"mgl": 1, "recycled": 1, "sal": 1, "won": 1}
    assert whole["conversion"] == {"mgl_to_mql": 0.75, "mql_to_sal": round(2 / 3, 4),
                                   "sal_to_sql": 0.5, "sql_to_won": 1.0}
    assert whole["median_hours"]["mgl_to_mql"] == 5.0
    assert whole["median_hours"]["mql_to_sal"] == 24.0
    assert whole["revenue"] == 50_000.0
    by_type = _report(states, "source_type")["groups"]
    assert {name: group["leads"] for name, group in by_type.items()} == {
        "nets": 2, "seeds": 1, "spears": 1}
    assert by_type["seeds"]["stages"] == {"recycled": 1}
    by_campaign = _report(states, "campaign")["groups"]
    assert set(by_campaign) == {"spring", "partners", "abm"}


def test_costs_give_cost_per_lead_mql_sql_and_won() -> None:
    costs = [report.Cost("spring", "2026-11", 3000.0, "EUR", "nets"),
             report.Cost("spring", "2026-10", 999.0, "EUR", "nets"),
             report.Cost("partners", "2026-11", 500.0, "EUR", "seeds")]
    states = _leads()
    by_campaign = report.finish(_partials(states, "campaign"), "campaign", costs,
                                months=("2026-11", "2026-11"))
    spring = by_campaign["groups"]["spring"]
    assert by_campaign["currency"] == "EUR"
    assert spring["cost"] == 3000.0  # October is outside the window
    assert (spring["cost_per_lead"], spring["cost_per_mql"], spring["cost_per_sql"],
            spring["cost_per_won"]) == (1500.0, 1500.0, 3000.0, 3000.0)
    assert spring["return"] == round((50_000 - 3000) / 3000, 4)
    assert by_campaign["groups"]["abm"]["cost"] is None  # no costs known for it
    by_type = report.finish(_partials(states, "source_type"), "source_type", costs)
    assert by_type["groups"]["nets"]["cost"] == 3999.0
    assert by_type["groups"]["seeds"]["cost_per_mql"] == 500.0


def _partials(states: dict, by: str | None) -> dict:
    partials: dict = {}
    for state in states.values():
        row = report.row_of(state, MODELS)
        if row is not None:
            report.add_row(partials, row, by)
    return partials


@settings(max_examples=50, deadline=None)
@given(split=st.lists(st.booleans(), min_size=5, max_size=5),
       by=st.sampled_from([None, *report.GROUPINGS]))
def test_partials_of_any_split_merge_into_the_whole(split: list[bool], by: str | None) -> None:
    """Workers hold different partitions: merged partials must give the same report."""
    states = _leads()
    names = sorted(states)
    parts = [_partials({n: states[n] for n, side in zip(names, split) if side}, by),
             _partials({n: states[n] for n, side in zip(names, split) if not side}, by)]
    assert report.finish(report.merge_partials(parts), by) == \
        report.finish(_partials(states, by), by)


def test_a_costs_file_in_csv_or_yaml(tmp_path: Path) -> None:
    csv_file = tmp_path / "costs.csv"
    csv_file.write_text("campaign,period,cost,currency,source_type\n"
                        "spring,2026-11,3000,EUR,\nabm-dach,2026-11,900.5,EUR,spears\n")
    costs = load_costs(csv_file, MODELS)
    assert [(c.campaign, c.month, c.cost, c.source_type) for c in costs] == [
        ("spring", "2026-11", 3000.0, "nets"), ("abm-dach", "2026-11", 900.5, "spears")]
    yaml_file = tmp_path / "costs.yaml"
    yaml_file.write_text("costs:\n  - {campaign: spring, period: 2026-12, cost: 10, currency: EUR}\n")
    assert load_costs(yaml_file, MODELS)[0].month == "2026-12"


@pytest.mark.parametrize(("text", "field", "line"), [
    ("campaign,period,cost,currency\nspring,November,3000,EUR\n", "period", 2),
    ("campaign,period,cost,currency\nspring,2026-11,-5,EUR\n", "cost", 2),
    ("campaign,period,cost,currency\na,2026-11,1,EUR\nb,2026-11,1,USD\n", "currency", None),
])
def test_a_bad_costs_file_names_file_row_and_field(tmp_path: Path, text: str, field: str,
                                                    line: int | None) -> None:
    path = tmp_path / "costs.csv"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_costs(path, MODELS)
    assert caught.value.file == str(path) and caught.value.field == field
    assert caught.value.line == line

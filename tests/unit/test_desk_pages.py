"""The desk's pages are pure functions of the API's answers: what a lead's data holds is shown
as text, never run (a company name is whatever a form said), and sign-in only ever leads back
into the desk."""

from __future__ import annotations

from leadstream.streams.ops.desk.pages import lead_page
from leadstream.streams.ops.desk.svg import bar_chart
from leadstream.streams.ops.desk.views import _safe_next

HOSTILE = '<script>alert("x")</script>'


def test_lead_data_is_escaped_everywhere_it_is_shown() -> None:
    lead = {"lead_id": "em-1", "stage": "mql", "score": 60.0, "grade": "A",
            "profile": {"company": HOSTILE}, "bant": {"need": HOSTILE},
            "routing": {"owner": HOSTILE}, "consent": {}, "history": [
                {"at": "2026-11-01T10:00:00Z", "from": "mgl", "to": "mql", "reason": HOSTILE}],
            "recent_touchpoints": [{"occurred_at": "x", "type": HOSTILE, "event_id": HOSTILE}],
            "scores": {"default": {"contributions": [{"rule": HOSTILE, "points": 3.0}]}},
            "aliases": [HOSTILE]}
    html = lead_page(HOSTILE, lead, why=HOSTILE, timeline=[], explained=True)
    assert "<script>alert" not in html
    assert html.count("&lt;script&gt;") >= 7
    assert "<script>alert" not in bar_chart([(HOSTILE, 1.0)], title=HOSTILE, chart_id="c")


def test_sign_in_only_returns_into_the_desk() -> None:
    assert _safe_next("/ui/lead?id=em-1") == "/ui/lead?id=em-1"
    for outside in (None, "", "https://evil.example/", "//evil.example/ui", "/uix/../..",
                    "/ui\\\\evil", "/leads/em-1"):
        assert _safe_next(outside) == "/ui", outside


def test_a_small_score_is_shown_as_a_number_not_a_share() -> None:
    lead = {"lead_id": "em-2", "stage": "mgl", "score": 0.4, "grade": "D", "profile": {},
            "bant": {}, "routing": {}, "consent": {}, "history": [], "recent_touchpoints": [],
            "scores": {}, "aliases": []}
    html = lead_page("em-2", lead, why=None, timeline=[], explained=True)
    assert "<dt>score</dt><dd>0.4</dd>" in html and "40%" not in html

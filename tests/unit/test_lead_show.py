"""``leadstream lead show`` without a worker: which id it asks for, and how it prints an answer."""

from __future__ import annotations

import pytest

from leadstream.core.identity import email_lead_id
from leadstream.exceptions import LeadstreamError
from leadstream.lead_show import fetch_lead, lead_id_for, render_lead


def test_an_email_becomes_the_lead_id_ingest_gives_it() -> None:
    assert lead_id_for(None, " Jane@Example.com ") == email_lead_id("jane@example.com")
    assert lead_id_for("crm-0815", None) == "crm-0815"
    for both_or_none in (("crm-0815", "jane@example.com"), (None, None)):
        with pytest.raises(LeadstreamError, match="not both"):
            lead_id_for(*both_or_none)


def test_a_merged_away_id_says_where_it_went() -> None:
    assert render_lead({"lead_id": "crm-1", "merged_into": "crm-2"}) == \
        "lead crm-1 was merged into crm-2"


def test_no_worker_is_a_clear_error() -> None:
    with pytest.raises(LeadstreamError, match="cannot reach a worker at http://127.0.0.1:9"):
        fetch_lead("http://127.0.0.1:9", "crm-1", None)

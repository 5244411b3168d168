"""``leadstream lead show``: one lead as a worker's API explains it, readable in a terminal.

Any worker answers (it forwards to the one that holds the lead). An email address is turned into
the lead id here, as ingest does (``core.identity``); it is not sent anywhere.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from leadstream.core.identity import email_lead_id
from leadstream.exceptions import LeadstreamError

__all__ = ["fetch_lead", "render_lead", "lead_id_for"]

_TOP = 8


def lead_id_for(lead_id: str | None, email: str | None) -> str:
    if (lead_id is None) == (email is None):
        raise LeadstreamError("give a lead id or --email, not both")
    return lead_id if lead_id is not None else email_lead_id(email or "")


def fetch_lead(base_url: str, lead_id: str, token: str | None) -> dict[str, Any]:
    """``GET /leads/{id}``; a clear error for an unknown lead, a refused token or no worker."""
    url = f"{base_url.rstrip('/')}/leads/{quote(lead_id, safe='')}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the operator's URL
            body: dict[str, Any] = json.loads(response.read())
            return body
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise LeadstreamError(f"no lead {lead_id!r} (ids: see README, 'Lead ids')") from None
        if exc.code == 401:
            raise LeadstreamError(f"{base_url} refused the API token (web.api_token)") from None
        raise LeadstreamError(f"{url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LeadstreamError(f"cannot reach a worker at {base_url}: {reason}") from None


def render_lead(body: dict[str, Any]) -> str:
    """The lead as lines of text: standing, each rule's contribution, lifecycle, origin."""
    if "merged_into" in body and "stage" not in body:
        return f"lead {body['lead_id']} was merged into {body['merged_into']}"
    lines = [f"lead {body['lead_id']}  stage {body['stage']}  (as of {body['as_of']})",
             f"  score {body['score']}  grade {body['grade']} (fit {body['fit_points']})  matrix "
             f"{body['matrix']}  temperature {body['temperature']}  BANT "
             f"{body['bant_status']['status']}"]
    for name, model in body["scores"].items():
        lines.append(f"  model {name} {model['version']}: score {model['score']}")
        for part in model["contributions"][:_TOP]:
            lines.append(f"    {part['rule']:<28} {part['points']:>+9.2f}  ({part['count']}x)")
        if len(model["contributions"]) > _TOP:
            lines.append(f"    … {len(model['contributions']) - _TOP} more rules")
    routing = body.get("routing") or {}
    if routing.get("owner") or routing.get("team"):
        lines.append(f"  owner {routing.get('owner')}  team {routing.get('team')}  "
                     f"(rule {routing.get('rule')})")
    for entry in body.get("history", []):
        lines.append(f"  {entry['at']}  {entry['from']} → {entry['to']}  ({entry['reason']})")
    attribution = body.get("attribution") or {}
    for kind in ("first_touch", "lead_created", "mql_touch"):
        touch = attribution.get(kind)
        if touch:
            origin = ", ".join(f"{k} {touch[k]}" for k in ("source", "campaign", "channel")
                               if touch.get(k))
            lines.append(f"  {kind.replace('_', ' ')}: {touch['type']} at {touch['occurred_at']}"
                         + (f" ({origin})" if origin else ""))
    if attribution.get("source_type"):
        lines.append(f"  source type {attribution['source_type']}")
    if body.get("account_id"):
        lines.append(f"  account {body['account_id']}")
    if body.get("aliases"):
        lines.append(f"  merged from {', '.join(body['aliases'])}")
    recent = body.get("recent_touchpoints", [])
    if recent:
        lines.append("  recent: " + ", ".join(f"{t['type']} {t['occurred_at']}" for t in recent))
    for name, view in (body.get("shadow") or {}).items():
        lines.append(f"  shadow model {name} {view['version']}: stage {view['stage']}, score "
                     f"{view['score']}, grade {view['grade']}")
    return "\n".join(lines)

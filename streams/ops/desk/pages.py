"""The desk's pages as HTML text: pure functions of the API's answers (no I/O here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from leadstream.core.explain import ScorePoint
from leadstream.core.model import ModelSet, ScoringModel
from leadstream.streams.ops.desk.sampler import Sample
from leadstream.streams.ops.desk.svg import bar_chart, line_chart

__all__ = ["funnel_main", "lead_page", "login_page", "model_main", "page"]

_FUNNEL = ("mgl", "mql", "sal", "sql", "won")
_STAGES = ("visitor", "mgl", "mql", "sal", "sql", "won", "lost", "recycled", "disqualified")
_NAV = (("funnel", "/ui", "Funnel"), ("lead", "/ui/lead", "Lead"), ("model", "/ui/model", "Model"))


def page(title: str, active: str, main: str, *, live: str | None = None) -> str:
    """The frame of every page; ``live``: the URL the script reloads ``<main>`` from."""
    nav = "".join(f'<a href="{href}"{" aria-current=page" if name == active else ""}>{label}</a>'
                  for name, href, label in _NAV)
    live_attrs = f' data-live="{escape(live)}" aria-live="polite"' if live else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)} · leadstream desk</title><link rel="icon" href="data:,">'
            f'<link rel="stylesheet" href="/ui/static/desk.css"></head>'
            f'<body><header><span class="brand">leadstream desk</span><nav aria-label="pages">'
            f'{nav}</nav></header><main id="main"{live_attrs}>{main}</main>'
            f'<script src="/ui/static/desk.js"></script></body></html>')


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], *, caption: str,
           table_id: str) -> str:
    th = "".join(f'<th scope="col">{escape(h)}</th>' for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(_cell(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return (f'<table id="{table_id}"><caption>{escape(caption)}</caption><thead><tr>{th}</tr>'
            f'</thead><tbody>{body}</tbody></table>')


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value)


def funnel_main(funnel: Mapping[str, Any], report: Mapping[str, Any], sample: Sample,
                mql_rate: list[tuple[float, float]], handover_rate: list[tuple[float, float]],
                ) -> str:
    stages = funnel.get("stages", {})
    grades = funnel.get("grades", {})
    groups: Mapping[str, Any] = report.get("groups", {})
    total = {stage: sum(g["reached"].get(stage, 0) for g in groups.values()) for stage in _FUNNEL}
    conversion = [(f"{a} → {b}", total[b] / total[a] if total[a] else 0.0)
                  for a, b in zip(_FUNNEL, _FUNNEL[1:], strict=False)]
    by_type = [(name, g["reached"].get("mql", 0)) for name, g in groups.items()]
    coverage = "" if funnel.get("complete", True) else (
        '<p class="warn" role="status">Not every worker answered: some partitions are missing '
        'from these numbers.</p>')
    minutes = max(len(mql_rate), 1) * 5 / 60
    return (
        f'<h1>Funnel</h1>{coverage}<p class="meta">as of {_iso(sample.at)} UTC · refreshes every '
        f'5 s · {sum(stages.values()):,} leads and visitors</p><div class="grid">'
        + bar_chart([(s, float(n)) for s, n in sorted(
                        stages.items(), key=lambda kv: (_order(kv[0]), kv[0]))],
                    title="Leads per stage now", chart_id="stages")
        + bar_chart([(s, float(total[s])) for s in _FUNNEL],
                    title="Leads that reached each funnel stage", chart_id="reached")
        + bar_chart([(step, round(rate * 100, 1)) for step, rate in conversion],
                    title="Stage-to-stage conversion, %", chart_id="conversion")
        + bar_chart([(g, float(n)) for g, n in sorted(grades.items())], title="Leads per grade",
                    chart_id="grades")
        + bar_chart(by_type, title="MQLs by source type", chart_id="by-source-type")
        + line_chart({"MQLs per minute": mql_rate, "handover events per minute": handover_rate},
                     title="MQLs and handover events, live", chart_id="live-rates",
                     x_labels=(f"{minutes:.1f} min ago", "now"))
        + bar_chart(sorted(((k, v) for k, v in sample.dlq.items() if v), key=lambda kv: -kv[1]),
                    title="DLQ records by kind, since the workers started "
                          "(leadstream dlq show lists them)", chart_id="dlq")
        + '</div>')


def _order(stage: str) -> int:
    return _STAGES.index(stage) if stage in _STAGES else len(_STAGES)


def lead_page(query: str, lead: Mapping[str, Any] | None, *, why: str | None,
              timeline: list[ScorePoint], explained: bool, error: str | None = None) -> str:
    form = ('<form class="lookup" method="post" action="/ui/lead" role="search">'
            '<label for="q">Lead id or email address</label>'
            f'<input id="q" name="q" value="{escape(query)}" autocomplete="off" '
            'placeholder="em-… or jana@example.com" required>'
            '<button type="submit">Look up</button></form>'
            '<p class="meta">An email address is hashed here into the lead id, as ingest does; '
            'it is not stored or logged.</p>')
    if error:
        return page("Lead", "lead", f'<h1>Lead</h1>{form}<p class="warn" role="alert">'
                    f'{escape(error)}</p>')
    if lead is None:
        return page("Lead", "lead", f"<h1>Lead</h1>{form}")
    if "merged_into" in lead:
        target = escape(str(lead["merged_into"]))
        return page("Lead", "lead", f'<h1>Lead</h1>{form}<p id="why">This id was merged into '
                    f'<a href="/ui/lead?q={target}">{target}</a>.</p>')
    primary = next(iter(lead.get("scores", {}).values()), {"contributions": []})
    contributions = [(c["rule"], float(c["points"])) for c in primary.get("contributions", [])]
    rules = sorted({r for p in timeline for r in p.points})
    series = {"score": [(p.at, round(p.score, 2)) for p in timeline]}
    for rule in rules[:6]:
        series[rule] = [(p.at, round(p.points.get(rule, 0.0), 2)) for p in timeline]
    span = (_iso(timeline[0].at), _iso(timeline[-1].at)) if timeline else ("", "")
    history = [(h.get("at"), f'{h.get("from")} → {h.get("to")}', h.get("reason"))
               for h in lead.get("history", [])]
    trail = [(t.get("occurred_at"), t.get("type"), t.get("event_id"))
             for t in lead.get("recent_touchpoints", [])]
    routing = lead.get("routing") or {}
    consent = lead.get("consent") or {}
    facts = [("stage", lead.get("stage")), ("score", lead.get("score")),
             ("grade", lead.get("grade")), ("matrix", lead.get("matrix")),
             ("temperature", lead.get("temperature")), ("owner", routing.get("owner")),
             ("team", routing.get("team")), ("account", lead.get("account_id")),
             ("source type", (lead.get("attribution") or {}).get("source_type")),
             ("touchpoints", lead.get("touchpoints")), ("merged ids", ", ".join(
                 lead.get("aliases") or []) or None)]
    note = "" if explained else (
        '<p class="meta">The lead has counted more touchpoints than it remembers one by one '
        '(the newest 1,024): the early part of the curve is missing.</p>')
    main = (
        f'<h1>Lead <code id="lead-id">{escape(str(lead["lead_id"]))}</code></h1>{form}'
        f'<p id="why" class="why">{escape(why or "")}</p>'
        '<dl class="facts">' + "".join(f"<dt>{escape(k)}</dt><dd>{escape(_cell(v))}</dd>"
                                       for k, v in facts) + '</dl><div class="grid">'
        + line_chart(series, title="Behaviour score over time, by rule (decay included)",
                     chart_id="score-timeline", x_labels=span)
        + bar_chart(contributions, title="Score at the newest touchpoint, by rule",
                    chart_id="contributions")
        + '</div>' + note
        + _table(("at", "transition", "reason"), history, caption="Lifecycle",
                 table_id="history")
        + _table(("occurred at", "type", "event id"), trail, caption="Recent touchpoints",
                 table_id="trail")
        + _table(("field", "value"), sorted((lead.get("profile") or {}).items()),
                 caption="Profile", table_id="profile")
        + _table(("fact", "value"), sorted((lead.get("bant") or {}).items()),
                 caption=f"BANT ({(lead.get('bant_status') or {}).get('status', 'open')})",
                 table_id="bant")
        + _table(("scope", "status"), sorted((k, v.get("status") if isinstance(v, dict) else v)
                                             for k, v in consent.items()),
                 caption="Consent", table_id="consent"))
    return page(f"Lead {lead['lead_id']}", "lead", main)


def _rules(model: ScoringModel) -> str:
    rows = [(r.id, r.type, ", ".join(f"{k}={v}" for k, v in r.match.items()) or None, r.points,
             r.half_life_days, r.daily_cap) for r in model.rules]
    lifecycle = model.lifecycle
    return (f'<h3>{escape(model.name)} <small>version {escape(str(model.version))}</small></h3>'
            f'<p class="meta">MQL at a behaviour score of {lifecycle.mql.min_score:g} with grade '
            f'{lifecycle.mql.min_grade} or better; hand-raisers: '
            f'{escape(", ".join(lifecycle.hand_raiser_types))}</p>'
            + _table(("rule", "type", "match", "points", "half-life (days)", "daily cap"), rows,
                     caption=f"Behaviour rules of {model.name}", table_id=f"rules-{model.name}"))


def model_main(models: ModelSet, shadows: Sequence[ModelSet], sample: Sample,
               primary_rate: list[tuple[float, float]],
               shadow_rates: Mapping[str, list[tuple[float, float]]]) -> str:
    rates = {f"{models.primary.name} (primary)": primary_rate,
             **{f"{name} (shadow)": rate for name, rate in shadow_rates.items()}}
    totals = [(f"{models.primary.name} (primary)", sample.mql),
              *((f"{name} (shadow)", sample.shadow_mql.get(name, 0.0))
                for name in shadow_rates)]
    minutes = max(len(primary_rate), 1) * 5 / 60
    return ('<h1>Model</h1><p class="meta">The active model drives the lifecycle; shadow models '
            'score the same traffic and publish only to their own topic.</p><div class="grid">'
            + line_chart(rates, title="MQLs per minute: primary and shadow models, live",
                         chart_id="mql-rates", x_labels=(f"{minutes:.1f} min ago", "now"))
            + bar_chart(totals, title="MQLs since the workers started", chart_id="mql-totals")
            + '</div><h2>Active</h2>' + "".join(_rules(m) for m in models.all)
            + ('<h2>Shadow</h2>' + "".join(_rules(s.primary) for s in shadows) if shadows else
               '<p class="meta">No shadow model (settings shadow_model_paths).</p>'))


def login_page(*, failed: bool, next_url: str) -> str:
    error = ('<p class="warn" role="alert">That token is not right.</p>' if failed else "")
    return page("Sign in", "", (
        f'<h1>Sign in</h1>{error}<form class="login" method="post" action="/ui/login">'
        '<label for="token">API token (web.api_token)</label>'
        '<input id="token" name="token" type="password" autocomplete="current-password" required>'
        f'<input type="hidden" name="next" value="{escape(next_url)}">'
        '<button type="submit">Sign in</button></form>'))

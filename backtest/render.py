"""The comparison as terminal text and as one self-contained HTML file.

The HTML report needs no network: its charts are SVG drawn here, its one script (sorting the
example table, and marking the page ready with the number of charts drawn) is inline.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["render_text", "render_html"]

_COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c")
_STAGES = ("mgl", "mql", "sal", "sql", "won", "lost", "recycled", "disqualified")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _when(at: float | None) -> str:
    return "-" if at is None else datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M")


def render_text(report: dict[str, Any], run: dict[str, Any]) -> str:
    models = report["models"]
    width = max(18, *(len(m["model"]) + 2 for m in models))
    reasons = sorted({r for m in models for r in m["handovers"]})
    label = max(24, *(len(r) + 4 for r in reasons))
    lines = [f"backtest: {run['records']:,} records, {run['applied']:,} applied, "
             f"{sum(run['input_rejected'].values()):,} rejected at input, "
             f"{run['outside_window']:,} outside the window; {run['seconds']:.1f} s with "
             f"{run['workers']} process(es), ticks {'on' if run['ticks'] else 'off'}",
             "", " " * label + "".join(m["model"].rjust(width) for m in models)]

    def row(name: str, values: Sequence[Any]) -> None:
        lines.append(name.ljust(label) + "".join(_fmt(v).rjust(width) for v in values))

    row("leads", [m["leads"] for m in models])
    row("MQL leads", [m["mql_leads"] for m in models])
    row("MQL transitions", [m["mql_transitions"] for m in models])
    row("MQL precision", [m["precision"] for m in models])
    for name in models[0]["mql_outcomes"]:
        row(f"  MQLs {name}", [m["mql_outcomes"][name] for m in models])
    for stage in _STAGES:
        row(f"at end: {stage}", [m["stages"].get(stage, 0) for m in models])
    for grade in "ABCD":
        row(f"grade {grade}", [m["grades"].get(grade, 0) for m in models])
    weeks = sorted({w for m in models for w in m["mqls_per_week"]})
    if weeks:
        lines.append("MQLs per week:")
        for week in weeks:
            row(f"  {week}", [m["mqls_per_week"].get(week, 0) for m in models])
    lines.append("handover events by kind and reason:")
    for reason in reasons:
        row(f"  {reason}", [m["handovers"].get(reason, 0) for m in models])
    for change in report["changes"]:
        counts = change["counts"]
        lines += ["", f"{change['candidate']} against {models[0]['model']}: "
                  + ", ".join(f"{n} MQL {name}" if name in ("earlier", "later") else
                              f"{n} {name} MQL{'s' if n != 1 else ''}"
                              for name, n in counts.items())]
        for name, outcomes in change["outcomes"].items():
            if outcomes:
                lines.append(f"  {name}: what sales said of them: "
                             + ", ".join(f"{k} {v}" for k, v in outcomes.items()))
        if change["examples"]:
            lines.append("  examples (lead, change, sales' outcome: current → candidate score, "
                         "top contributions):")
        for example in change["examples"][:8]:
            current, candidate = example["current"] or {}, example["candidate"] or {}
            lines.append(f"    {example['lead_id']}  {example['change']:<10} "
                         f"{example['outcome'] or '-':<12} {_fmt(current.get('score'))} → "
                         f"{_fmt(candidate.get('score'))}  "
                         + ", ".join(f"{r} {p}" for r, p in (candidate.get("top") or [])[:3]))
    return "\n".join(lines)


# -- HTML ----------------------------------------------------------------------------------------


def _line_chart(title: str, labels: list[str], series: list[tuple[str, list[float]]]) -> str:
    w, h, left, bottom = 720, 260, 48, 40
    top = max([1.0, *(v for _, values in series for v in values)])
    n = max(len(labels), 2)
    x = [left + i * (w - left - 16) / (n - 1) for i in range(len(labels))]

    def y(v: float) -> float:
        return h - bottom - v / top * (h - bottom - 16)

    parts = [f'<svg class="chart" role="img" aria-label="{html.escape(title)}" '
             f'viewBox="0 0 {w} {h}" width="{w}" height="{h}">',
             f'<line x1="{left}" y1="{h - bottom}" x2="{w - 8}" y2="{h - bottom}" stroke="#999"/>',
             f'<text x="4" y="{y(top) + 4:.1f}" font-size="11">{_fmt(round(top))}</text>',
             f'<text x="4" y="{h - bottom:.1f}" font-size="11">0</text>']
    step = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % step == 0:
            anchor = "start" if i == 0 else "end" if i == len(labels) - 1 else "middle"
            parts.append(f'<text x="{x[i]:.1f}" y="{h - bottom + 16}" font-size="10" '
                         f'text-anchor="{anchor}">{html.escape(label)}</text>')
    for k, (name, values) in enumerate(series):
        colour = _COLOURS[k % len(_COLOURS)]
        points = " ".join(f"{x[i]:.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline class="mark" fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{points}"><title>{html.escape(name)}</title></polyline>')
        parts.append(f'<text x="{left + 8 + 200 * k}" y="{h - 6}" font-size="12" '
                     f'fill="{colour}">■ {html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _bar_chart(title: str, labels: list[str], series: list[tuple[str, list[float]]]) -> str:
    w, h, left, bottom = 720, 260, 48, 40
    top = max([1.0, *(v for _, values in series for v in values)])
    group = (w - left - 16) / max(len(labels), 1)
    bar = group * 0.8 / max(len(series), 1)
    parts = [f'<svg class="chart" role="img" aria-label="{html.escape(title)}" '
             f'viewBox="0 0 {w} {h}" width="{w}" height="{h}">',
             f'<line x1="{left}" y1="{h - bottom}" x2="{w - 8}" y2="{h - bottom}" stroke="#999"/>',
             f'<text x="4" y="20" font-size="11">{_fmt(round(top))}</text>']
    for i, label in enumerate(labels):
        x0 = left + i * group
        parts.append(f'<text x="{x0 + group / 2:.1f}" y="{h - bottom + 16}" font-size="10" '
                     f'text-anchor="middle">{html.escape(label)}</text>')
        for k, (name, values) in enumerate(series):
            value = values[i]
            height = value / top * (h - bottom - 24)
            parts.append(
                f'<rect class="mark" x="{x0 + group * 0.1 + k * bar:.1f}" '
                f'y="{h - bottom - height:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{_COLOURS[k % len(_COLOURS)]}"><title>{html.escape(name)}: '
                f'{html.escape(label)} {_fmt(value)}</title></rect>')
    for k, (name, _) in enumerate(series):
        parts.append(f'<text x="{left + 8 + 200 * k}" y="{h - 6}" font-size="12" '
                     f'fill="{_COLOURS[k % len(_COLOURS)]}">■ {html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th, column) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var numeric = rows.every(function (r) { return !isNaN(parseFloat(r.cells[column].dataset.v)); });
    rows.sort(function (a, b) {
      var x = a.cells[column].dataset.v, y = b.cells[column].dataset.v;
      return numeric ? parseFloat(y) - parseFloat(x) : String(x).localeCompare(String(y));
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
var drawn = Array.prototype.filter.call(document.querySelectorAll('svg.chart'), function (svg) {
  return svg.querySelectorAll('.mark').length > 0 && svg.getBoundingClientRect().width > 0;
});
document.body.dataset.charts = String(drawn.length);
document.body.dataset.ready = 'yes';
"""


def render_html(report: dict[str, Any], run: dict[str, Any]) -> str:
    models = report["models"]
    names = [m["model"] for m in models]
    weeks = sorted({w for m in models for w in m["mqls_per_week"]})
    charts = [
        ("MQLs per week", _line_chart("MQLs per week", weeks,
                                      [(m["model"], [m["mqls_per_week"].get(w, 0) for w in weeks])
                                       for m in models])),
        ("Score distribution (leads at the end, by behaviour score)",
         _bar_chart("score distribution", list(models[0]["scores"]),
                    [(m["model"], list(m["scores"].values())) for m in models])),
        ("Where the leads end (stage flow)",
         _bar_chart("leads per stage", list(_STAGES),
                    [(m["model"], [m["stages"].get(s, 0) for s in _STAGES]) for m in models])),
        ("What sales said of each model's MQLs",
         _bar_chart("MQL outcomes", list(models[0]["mql_outcomes"]),
                    [(m["model"], list(m["mql_outcomes"].values())) for m in models])),
    ]
    for change in report["changes"]:
        charts.append((f"Leads that change: {change['candidate']} against {names[0]}",
                       _bar_chart("changes", list(change["counts"]),
                                  [(change["candidate"], list(change["counts"].values()))])))
    summary_rows = "".join(
        f"<tr><td>{html.escape(label)}</td>"
        + "".join(f"<td>{_fmt(m[key] if key else None)}</td>" for m in models) + "</tr>"
        for label, key in (("leads", "leads"), ("MQL leads", "mql_leads"),
                           ("MQL transitions", "mql_transitions"),
                           ("MQL precision (accepted or further, of those sales judged)",
                            "precision")))
    examples = []
    for change in report["changes"]:
        for example in change["examples"]:
            current, candidate = example["current"] or {}, example["candidate"] or {}
            why = ", ".join(f"{r} {p}" for r, p in candidate.get("top") or current.get("top") or [])
            examples.append(
                f"<tr><td data-v=\"{html.escape(example['lead_id'])}\">"
                f"{html.escape(example['lead_id'])}</td>"
                f"<td data-v=\"{example['change']}\">{example['change']}</td>"
                f"<td data-v=\"{html.escape(example['outcome'] or '-')}\">"
                f"{html.escape(example['outcome'] or '-')}</td>"
                f"<td data-v=\"{current.get('score', 0)}\">{_fmt(current.get('score'))}</td>"
                f"<td data-v=\"{candidate.get('score', 0)}\">{_fmt(candidate.get('score'))}</td>"
                f"<td data-v=\"{current.get('first_mql_at') or 0}\">"
                f"{_when(current.get('first_mql_at'))}</td>"
                f"<td data-v=\"{candidate.get('first_mql_at') or 0}\">"
                f"{_when(candidate.get('first_mql_at'))}</td>"
                f"<td data-v=\"{html.escape(why)}\">{html.escape(why)}</td></tr>")
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    sections = "".join(f"<section><h2>{html.escape(title)}</h2>{svg}</section>"
                       for title, svg in charts)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>leadstream backtest: {html.escape(' vs '.join(names))}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #111; }}
table {{ border-collapse: collapse; margin: 8px 0 24px; }}
td, th {{ border: 1px solid #ddd; padding: 4px 8px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
table.sortable th {{ cursor: pointer; background: #f4f4f5; }}
section {{ margin-bottom: 24px; }}
</style></head>
<body data-charts="0">
<h1>Backtest: {html.escape(' vs '.join(names))}</h1>
<p>{run['records']:,} records, {run['applied']:,} applied,
{sum(run['input_rejected'].values()):,} rejected at input; {run['seconds']:.1f} s with
{run['workers']} process(es); ticks {'on' if run['ticks'] else 'off'}.</p>
<table><tr><th></th>{head}</tr>{summary_rows}</table>
{sections}
<section><h2>Example leads that change (click a column to sort)</h2>
<table class="sortable"><thead><tr><th>lead</th><th>change</th><th>sales' outcome</th>
<th>score now</th><th>score candidate</th><th>MQL now</th><th>MQL candidate</th>
<th>why (the candidate's top contributions)</th></tr></thead>
<tbody>{''.join(examples)}</tbody></table></section>
<script>{_SCRIPT}</script>
</body></html>
"""

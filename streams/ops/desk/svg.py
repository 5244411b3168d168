"""Charts as SVG text, drawn on the server: no chart library, nothing to build, works offline.
Every mark carries its label and value as data attributes (the browser tests read them)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["bar_chart", "line_chart"]

_PALETTE = ("#1f6feb", "#d97706", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#4b5563",
            "#db2777")


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.1f}"


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, chart_id: str,
              width: int = 520, row: int = 26) -> str:
    """Horizontal bars, one per ``(label, value)``, longest scaled to the width."""
    label_w, value_w = 150, 70
    height = max(row * len(items), row) + 8
    top = max((v for _, v in items), default=0.0) or 1.0
    marks = []
    for i, (label, value) in enumerate(items):
        y = 4 + i * row
        w = max((width - label_w - value_w) * max(value, 0.0) / top, 0.0)
        marks.append(
            f'<text x="{label_w - 8}" y="{y + row * 0.62:.1f}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" '
            f'fill="{_PALETTE[0]}" data-label="{escape(label)}" data-value="{value:g}">'
            f'<title>{escape(label)}: {_num(value)}</title></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + row * 0.62:.1f}">{_num(value)}</text>')
    if not items:
        marks.append(f'<text x="{label_w}" y="{row * 0.62:.1f}">nothing yet</text>')
    return (f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
            f'<svg id="{chart_id}" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} '
            f'{height}" width="{width}" height="{height}" data-chart="bars" '
            f'data-marks="{len(items)}">{"".join(marks)}</svg></figure>')


def line_chart(series: dict[str, Sequence[tuple[float, float]]], *, title: str, chart_id: str,
               x_labels: tuple[str, str] = ("", ""), width: int = 640, height: int = 220,
               y_unit: str = "") -> str:
    """One line per series over a shared x axis (e.g. time); a legend names them."""
    pad_l, pad_r, pad_t, pad_b = 48, 12, 12, 28
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    y1 = max([*ys, 0.0]) or 1.0
    y0 = min([*ys, 0.0])
    sx = (width - pad_l - pad_r) / ((x1 - x0) or 1.0)
    sy = (height - pad_t - pad_b) / ((y1 - y0) or 1.0)

    def px(x: float, y: float) -> str:
        return f"{pad_l + (x - x0) * sx:.1f},{height - pad_b - (y - y0) * sy:.1f}"

    parts = [f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - pad_r}" '
             f'y2="{height - pad_b}" class="axis"/>',
             f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{height - pad_b}" class="axis"/>',
             f'<text x="{pad_l - 6}" y="{pad_t + 10}" text-anchor="end">{_num(y1)}{y_unit}</text>',
             f'<text x="{pad_l - 6}" y="{height - pad_b}" text-anchor="end">{_num(y0)}</text>',
             f'<text x="{pad_l}" y="{height - 8}">{escape(x_labels[0])}</text>',
             f'<text x="{width - pad_r}" y="{height - 8}" text-anchor="end">'
             f'{escape(x_labels[1])}</text>']
    legend = []
    for i, (name, points) in enumerate(series.items()):
        colour = _PALETTE[i % len(_PALETTE)]
        last = points[-1][1] if points else 0.0
        if points:
            parts.append(f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" '
                         f'points="{" ".join(px(x, y) for x, y in points)}" '
                         f'data-label="{escape(name)}" data-value="{last:g}" '
                         f'data-points="{len(points)}"><title>{escape(name)}</title></polyline>')
        legend.append(f'<li><span class="swatch" style="background:{colour}"></span>'
                      f'{escape(name)} <b>{_num(last)}</b></li>')
    return (f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
            f'<svg id="{chart_id}" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} '
            f'{height}" width="{width}" height="{height}" data-chart="lines" '
            f'data-marks="{len(series)}">{"".join(parts)}</svg>'
            f'<ul class="legend">{"".join(legend)}</ul></figure>')

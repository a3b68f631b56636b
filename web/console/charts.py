"""Charts drawn on the server as inline SVG: no script, no library, no CDN (the console's
Content Security Policy allows none). Colours are SVG presentation attributes, which the
policy allows, and each bar carries a ``<title>`` (the browser's tooltip) with its day and
value; the chart's ``aria-label`` says what it shows for a screen reader."""
from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, TOP, BOTTOM = 600, 150, 14, 18
BAR = "#1f57d6"


def bar_chart(label: str, days: Sequence[str], values: Sequence[float], shown: Sequence[str],
              first: str, last: str) -> Markup:
    """Bars for ``values`` (one a day); ``shown`` are the values as the page writes them;
    ``first`` and ``last`` label the axis."""
    top = max(values, default=0) or 1
    step = WIDTH / max(len(values), 1)
    gap = min(2.0, step / 4)
    plot = HEIGHT - TOP - BOTTOM
    bars = []
    for i, (day, value, text) in enumerate(zip(days, values, shown, strict=True)):
        height = plot * (value / top) if value > 0 else 0
        y = TOP + plot - height
        bars.append(f'<rect x="{i * step + gap / 2:.1f}" y="{y:.1f}" width="{step - gap:.1f}" '
                    f'height="{max(height, 0.0):.1f}" fill="{BAR}"><title>{escape(day)}: {escape(text)}</title></rect>')
    axis = TOP + plot
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
        '>'
        f'<line x1="0" y1="{axis}" x2="{WIDTH}" y2="{axis}" stroke="#56616c" stroke-width="1"/>'
        + "".join(bars)
        + f'<text x="0" y="{HEIGHT - 3}" font-size="12" fill="#3c4650">{escape(first)}</text>'
        f'<text x="{WIDTH}" y="{HEIGHT - 3}" font-size="12" fill="#3c4650" text-anchor="end">{escape(last)}</text>'
        f'<text x="0" y="11" font-size="12" fill="#3c4650">{escape(shown[values.index(top)] if top in values else "")}</text>'
        "</svg>"
    )

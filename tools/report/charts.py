"""Small line charts as inline SVG: no script, no library, nothing fetched.

One value a day; a day without one breaks the line. The axis says the lowest
and highest value and the first and last day; a dot marks each day, so a
single day's value is still seen.
"""

from html import escape

from meteolink.tools.report.tables import Chart
from meteolink.tools.report.words import number

WIDTH, HEIGHT = 360, 110
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 18, 22


def svg(chart: Chart, decimals: int, lang: str) -> str:
    present = [v for v in chart.values if v is not None]
    title = escape(chart.title)
    if not present:
        return ""
    low, high = min(present), max(present)
    if high == low:
        low, high = low - 1, high + 1
    n = len(chart.values)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h * (high - v) / (high - low)

    lines: list[list[str]] = [[]]
    dots = []
    for i, v in enumerate(chart.values):
        if v is None:
            if lines[-1]:
                lines.append([])
            continue
        point = f"{x(i):.1f},{y(v):.1f}"
        lines[-1].append(point)
        dots.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="1.8"/>')
    paths = "".join(
        f'<polyline points="{" ".join(p)}" fill="none" stroke="currentColor"/>'
        for p in lines
        if len(p) > 1
    )
    unit = escape(chart.unit)
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"'
        f' role="img" aria-label="{title}" data-points="{len(present)}">'
        f"<title>{title}</title>"
        f'<text x="{LEFT}" y="12" class="t">{title}, {unit}</text>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" class="axis"/>'
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}"'
        ' class="axis"/>'
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">'
        f"{number(high, decimals, lang)}</text>"
        f'<text x="{LEFT - 4}" y="{HEIGHT - BOTTOM}" text-anchor="end">'
        f"{number(low, decimals, lang)}</text>"
        f'<text x="{LEFT}" y="{HEIGHT - 6}">{chart.days[0].isoformat()}</text>'
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end">'
        f"{chart.days[-1].isoformat()}</text>"
        f'<g class="line">{paths}{"".join(dots)}</g></svg>'
    )

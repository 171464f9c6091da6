"""The report as one HTML file: inline CSS, inline SVG, nothing it would fetch.

It is mailed, archived and opened years later on a machine without a network:
no font, script, stylesheet or image comes from anywhere else (the test opens
it in a browser that would show any request). It prints on A4.
"""

from collections.abc import Iterable
from html import escape

from meteolink.tools.report import charts
from meteolink.tools.report.tables import Cell, Column, Section, Table, decimals
from meteolink.tools.report.words import number

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:75em;padding:0 1em;color:#222}
h1{font-size:1.5em;margin-bottom:.2em}
h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #bbb}
h3{font-size:1em;margin:1.2em 0 .3em}p.note{color:#555;max-width:60em}
table{border-collapse:collapse;margin:.4em 0 1em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:.15em .45em;text-align:left;vertical-align:top}
th{background:#f1f1f1;font-weight:600}td.n{text-align:right}
.charts{display:flex;flex-wrap:wrap;gap:.5em}svg.chart{font-size:10px;color:#1f5f99}
svg.chart text{fill:#444}svg.chart .t{font-weight:600}svg.chart .axis{stroke:#999}
svg.chart circle{fill:currentColor}pre{background:#f6f6f6;padding:.8em;overflow:auto}
@media print{h2{break-after:avoid}table{font-size:11px}}
"""


def _cell(value: Cell, column: Column, lang: str) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, float) and column.decimals is not None:
        return f'<td class="n">{number(value, column.decimals, lang)}</td>'
    if isinstance(value, int | float):
        return f'<td class="n">{value}</td>'
    return f"<td>{escape(value)}</td>"


def table(t: Table, lang: str, heading: bool) -> str:
    head = "".join(f"<th>{escape(c.title)}</th>" for c in t.columns)
    rows = "".join(
        "<tr>" + "".join(_cell(v, c, lang) for v, c in zip(row, t.columns, strict=True)) + "</tr>"
        for row in t.rows
    )
    caption = f"<h3>{escape(t.title)}</h3>" if heading else ""
    node = f' data-node="{t.node}"' if t.node is not None else ""
    return (
        f'{caption}<table class="{t.key}"{node}><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _section(s: Section, lang: str) -> str:
    parts = [f'<section id="{s.key}"><h2>{escape(s.title)}</h2>']
    if s.note:
        parts.append(f'<p class="note">{escape(s.note)}</p>')
    for i, t in enumerate(s.tables):
        parts.append(table(t, lang, heading=i > 0 or t.title != s.title))
    if s.code:
        parts.append(f'<pre class="calibration">{escape(s.code)}</pre>')
    if s.charts:
        parts.append('<div class="charts">')
        for c in s.charts:
            unit_decimals = 0 if c.unit == "dBm" else 2 if c.unit == "V" else decimals("snr")
            parts.append(charts.svg(c, unit_decimals, lang))
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def page(lang: str, title: str, lines: Iterable[str], sections: Iterable[Section]) -> str:
    """The whole file; lines: the paragraphs under the title (period, time zone, made by)."""
    intro = "".join(f"<p>{escape(line)}</p>" for line in lines)
    body = "".join(_section(s, lang) for s in sections)
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{escape(title)}</h1>{intro}{body}</body></html>\n"
    )

"""The report's tables as one CSV file, for a spreadsheet or a program.

The tables one after the other, each as: a line naming it (its key, the node a
per-station table is of, its title), its header line, its rows, an empty line.
Numbers are written with a point and the column's decimals whatever --lang is
(programs read them; the HTML is for people), separated by commas, UTF-8.
Text (station names from the config, titles) goes through spreadsheet_safe.text,
so a station named "=HYPERLINK(...)" opens as text, not as a formula; numbers are
never prefixed (a -12.5 °C minimum stays a number).
"""

import csv
from collections.abc import Iterable
from typing import IO

from meteolink.tools.report.tables import Cell, Column, Section
from meteolink.tools.spreadsheet_safe import text


def _cell(value: Cell, column: Column) -> str | int:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{column.decimals if column.decimals is not None else 6}f}"
    if isinstance(value, str):
        return text(value)
    return value


def write(out: IO[str], sections: Iterable[Section]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    for section in sections:
        for t in section.tables:
            writer.writerow([t.key, "" if t.node is None else t.node, text(t.title)])
            writer.writerow([text(c.title) for c in t.columns])
            for row in t.rows:
                writer.writerow([_cell(v, c) for v, c in zip(row, t.columns, strict=True)])
            writer.writerow([])

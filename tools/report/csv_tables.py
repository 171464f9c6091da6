"""The report's tables as one CSV file, for a spreadsheet or a program.

The tables one after the other, each as: a line naming it (its key, the node a
per-station table is of, its title), its header line, its rows, an empty line.
Numbers are written with a point and the column's decimals whatever --lang is
(programs read them; the HTML is for people), separated by commas, UTF-8.
"""

import csv
from collections.abc import Iterable
from typing import IO

from meteolink.tools.report.tables import Cell, Column, Section


def _cell(value: Cell, column: Column) -> str | int:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{column.decimals if column.decimals is not None else 6}f}"
    return value


def write(out: IO[str], sections: Iterable[Section]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    for section in sections:
        for t in section.tables:
            writer.writerow([t.key, "" if t.node is None else t.node, t.title])
            writer.writerow([c.title for c in t.columns])
            for row in t.rows:
                writer.writerow([_cell(v, c) for v, c in zip(row, t.columns, strict=True)])
            writer.writerow([])

"""CSV injection (CWE-1236) in `meteolink export` and `meteolink report`: station names from
the config open as text in a spreadsheet, never as formulas, and negative values stay numbers.

The rule is OWASP's "CSV Injection" page (owasp.org/www-community/attacks/CSV_Injection):
a cell that begins with =, +, -, @, TAB or CR is run as a formula by Excel and LibreOffice
Calc; such a text cell is written with a leading single quote. The two hostile names are
that page's own kinds of payload: a HYPERLINK formula and a DDE command.
"""

import csv
import datetime
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from meteolink.firmware import frames
from meteolink.gateway.store import Reading, Store
from meteolink.tools.spreadsheet_safe import text
from tests.support.tools import meteolink

HYPERLINK = '=HYPERLINK("http://evil","x")'
DDE = "-cmd|' /C calc'!A0"
MARKUP = "<b>Smiltene</b> & co"  # for the HTML report: shown as these characters, no <b>
NAMES = {1: HYPERLINK, 2: DDE, 3: MARKUP}
LOCATIONS = {1: "@SUM(1+1)", 2: "+1+cmd", 3: "\tTab street"}
T0 = datetime.datetime(2026, 1, 10, 12, tzinfo=datetime.UTC).timestamp()
# A frosty January: every temperature below zero, some with a single digit before the point.
TEMPERATURES = [-12.5, -30.0, -0.5, -7.25]


@pytest.mark.parametrize("first", ["=", "+", "-", "@", "\t", "\r"])
def test_each_formula_start_of_owasp_gets_a_quote(first: str) -> None:
    assert text(first + "1+1") == "'" + first + "1+1"
    assert text("a" + first) == "a" + first  # only the first character counts


@pytest.mark.parametrize("number", ["-12.5", "-30", "+3", "-0.5", "-1e-3", "-.5", "12.5"])
def test_a_number_written_as_text_stays_a_number(number: str) -> None:
    assert text(number) == number


@pytest.mark.parametrize("not_a_number", ["-inf", "-nan", "-1-1", "-1e", "-1.2.3", "- 1", "-"])
def test_what_only_looks_like_a_number_is_escaped(not_a_number: str) -> None:
    assert text(not_a_number) == "'" + not_a_number


def _store(directory: Path) -> Path:
    """Three stations with hostile names, a week of freezing readings; the config's path."""
    nodes = "".join(
        f"[nodes.{n}]\nname = {json.dumps(NAMES[n])}\nlocation = {json.dumps(LOCATIONS[n])}\n"
        "latitude = -33.8688\nlongitude = -70.6693\n\n"  # south and west: negative numbers
        for n in NAMES
    )
    config = directory / "gateway.toml"
    # A gateway's name is letters, digits, - and _: "-A1" is one, and a formula (minus cell A1).
    config.write_text(f'[gateway]\nname = "-A1"\n\n{nodes}', encoding="utf-8")
    store = Store(directory / "readings.db")
    readings: list[Reading] = []
    for day in range(7):
        for node in NAMES:
            for t in TEMPERATURES:
                seq = len(readings) + 1
                taken = T0 + 86400 * day + 600 * seq
                frame = frames.encode(node, seq, {"temperature": t, "humidity": 80.5})
                readings.append(Reading(node, seq, taken, taken, frame))
    store.commit(readings, {})
    store.close()
    return config


def test_export_csv_names_are_text_and_negative_values_numbers(tmp_path: Path) -> None:
    config = _store(tmp_path)
    out = tmp_path / "export.csv"
    proc = meteolink("export", "--config", str(config), "--data", str(tmp_path), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["node"] for r in rows} == {"1", "2", "3"}
    for r in rows:
        node = int(r["node"])
        assert r["name"] == text(NAMES[node])
        assert r["location"] == "'" + LOCATIONS[node]
        assert r["gateway"] == "'-A1"
        # Numbers as numbers: no quote before a negative value, and it reads back as written.
        assert r["latitude"] == "-33.8688" and r["longitude"] == "-70.6693"
        assert float(r["temperature"]) in TEMPERATURES
        assert r["temperature"].startswith("-")
        assert float(r["dew_point"]) < 0
    assert {r["name"] for r in rows} == {"'" + HYPERLINK, "'" + DDE, MARKUP}
    assert sorted({float(r["temperature"]) for r in rows}) == sorted(TEMPERATURES)
    # No cell of the file starts a formula, whoever opens it.
    for r in rows:
        for column, cell in r.items():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (column, cell)
            if cell.startswith("-"):
                float(cell)  # a negative number, nothing else starts with "-"


class _Page(HTMLParser):
    """The elements of a page and its text, as a browser's parser splits them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_report_csv_and_html_show_the_names_as_text(tmp_path: Path) -> None:
    config = _store(tmp_path)
    out = tmp_path / "january.html"
    proc = meteolink(
        "report",
        *("--config", str(config), "--data", str(tmp_path)),
        *("--from", "2026-01-10", "--to", "2026-01-17", "--out", str(out)),
    )
    assert proc.returncode == 0, proc.stderr
    with out.with_suffix(".csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    cells = [cell for row in rows for cell in row]
    for name in (HYPERLINK, DDE):
        assert "'" + name in cells  # the stations table's name column
        assert f"'{name} (" in "\n".join(cells)  # a per-station table's title
        assert name not in cells
    assert MARKUP in cells
    # The daily minima of the freezing week are numbers: "-30.00", never "'-30.00".
    minima = [c for c in cells if c.startswith("-")]
    assert "-30.00" in minima
    for c in minima:
        float(c)
    for cell in cells:
        assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell

    page = _Page()
    page.feed(out.read_text(encoding="utf-8"))
    shown = "".join(page.text)
    for name in NAMES.values():
        assert name in shown  # the HTML shows the name as written, unprefixed ...
    assert "b" not in page.tags  # ... and its markup is text, not an element

"""A node's status page from a store of known readings: in a real browser, from the real gateway.

The store holds a week of node 5 every ten minutes with holes of known size, a
spike flagged by quality control, a value out of its plausible range and a
colder night six days back; the gateway (`meteolink gateway`, [web] on loopback)
serves the page, and Debian's chromium (through /usr/bin/chromedriver, driven by
Selenium) renders it: the browser counts each line's vertices, so what is drawn
is what is checked, not the HTML text. The JSON and the figures are checked
against the readings the test wrote.
"""

import json
import math
import re
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from meteolink.firmware import frames
from meteolink.gateway.config import Config, NodeConfig
from meteolink.gateway.derived import dew_point
from meteolink.gateway.sequence import SequenceWindow
from meteolink.gateway.store import Reading, Store
from meteolink.gateway.web import node_page, svg
from meteolink.gateway.web.reader import GatewayState, Reader
from tests.support.browser import WebDriver, for_the_docs
from tests.support.gateway_process import GatewayProcess, reading
from tests.support.lines import Line
from tests.support.status_page import page_url
from tests.support.tools import wait_until

NODE = 5
INTERVAL = 600
MISSING = set(range(60, 70)) | {100, 101}  # ten in a row (the line breaks), then two (it does not)
SPIKE = 120  # 25 °C, flagged "step"
IMPLAUSIBLE = 30  # 99 °C: beyond the plausible 60, published apart and never drawn
COLD = -500  # six days back, -20 °C: the week's lowest
FIRST_SEQ = 5000

NODES_TOML = f"""
[nodes.{NODE}]
name = "skola"
location = "Roof of the school"
latitude = 57.3125
longitude = 25.269
altitude = 64.0
exposure = "outdoor"
sensor_height = 2.0
notes = "Beside the LVĢMC station in Zīlāni"
"""


def temperature(k: int) -> float:
    if k == SPIKE:
        return 25.0
    if k == IMPLAUSIBLE:
        return 99.0
    if k == COLD:
        return -20.0
    return round(4 + 3 * math.sin(k / 24), 2)


@dataclass
class Week:
    """What the test wrote: reading k (k from -864 to 143) taken at t0 + 600 k."""

    t0: float  # reading 0: the first of the last 24 hours when the page is asked within 300 s
    ks: list[int]

    def drawn(self, ks: list[int]) -> list[float]:
        return [temperature(k) for k in ks if k != IMPLAUSIBLE]


def fill_store(data: Path, now: float) -> Week:
    """A week of node 5 in a store at data/readings.db, with its counters row."""
    t0 = now - 86400 + 300
    ks = [k for k in range(-864, 144) if k not in MISSING]
    enc = frames.Encoder(NODE)
    readings = []
    for k in ks:
        enc.clear()
        enc.put(frames.TEMPERATURE, temperature(k))
        enc.put(frames.HUMIDITY, 80 + k % 5)
        enc.put(frames.BATTERY, 3.9)
        taken = t0 + INTERVAL * k
        qc = json.dumps({"temperature": ["step"]}) if k == SPIKE else None
        seq = FIRST_SEQ + k + 864
        frame = bytes(enc.encode(seq))
        readings.append(Reading(NODE, seq, taken + 1, taken, frame, -95 - k % 10, 7.5, 0, qc))
    window = SequenceWindow(
        highest=FIRST_SEQ + 143 + 864,
        since=FIRST_SEQ,
        seen=1,
        lost=len(MISSING),
        rejected=3,
        mic_failures=2,
        accepted=len(ks),
    )
    store = Store(data / "readings.db")
    store.commit(readings, {NODE: (0, window, "")})
    store.close()
    return Week(t0, ks)


# -- the page's data, without a browser ---------------------------------------------


@pytest.fixture
def week(tmp_path: Path) -> tuple[Reader, Config, Week, float]:
    now = 1_795_000_000.0  # 2026-11-18T09:46:40Z
    written = fill_store(tmp_path, now)
    config = Config(
        nodes={
            NODE: NodeConfig(
                name="skola",
                location="Roof of the school",
                latitude=57.3125,
                longitude=25.269,
                altitude=64.0,
                exposure="outdoor",
                sensor_height=2.0,
                notes="Beside the LVĢMC station",
            )
        }
    )
    store = Store(tmp_path / "readings.db", readonly=True)
    return Reader(store, config, GatewayState.offline(config)), config, written, now


def test_the_json_has_each_periods_figures_from_the_readings(
    week: tuple[Reader, Config, Week, float],
) -> None:
    reader, config, written, now = week
    data = node_page.as_json(reader, config, NODE, now)
    day = data["periods"]["24h"]["fields"]["temperature"]
    drawn = written.drawn([k for k in written.ks if k >= 0])
    assert day["readings"] == len(drawn) == 144 - len(MISSING) - 1
    assert (day["min"], day["max"]) == (min(drawn), 25.0)
    assert day["mean"] == pytest.approx(sum(drawn) / len(drawn), abs=0.001)
    assert day["flagged"] == {"step": 1} and day["implausible"] == 1
    assert day["max_time"] == _iso(written.t0 + INTERVAL * SPIKE)
    seven = data["periods"]["7d"]["fields"]["temperature"]
    assert seven["readings"] == len(written.drawn(written.ks))
    assert seven["min"] == -20.0
    assert data["periods"]["7d"]["link"]["rssi"]["min"] == -104
    assert data["station"]["altitude"] == 64.0 and data["station"]["exposure"] == "outdoor"
    assert [(g["missing"], g["after_seq"]) for g in data["counter_gaps"]] == [
        (2, FIRST_SEQ + 864 + 99),
        (10, FIRST_SEQ + 864 + 59),
    ]
    assert data["tallies"]["rejected"] == 3 and data["tallies"]["mic_failures"] == 2
    json.dumps(data)  # all of it JSON


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_a_node_without_readings_has_a_page_that_says_so(
    week: tuple[Reader, Config, Week, float],
) -> None:
    reader, config, _, now = week
    page = node_page.render(reader, config, 77, "lv", now)
    assert "Vēl nav mērījumu." in page and "<polyline" not in page
    assert node_page.as_json(reader, config, 77, now)["periods"]["7d"]["fields"] == {}


def test_a_week_in_latvian_has_latvian_words_and_decimal_commas(
    week: tuple[Reader, Config, Week, float],
) -> None:
    reader, config, _, now = week
    page = node_page.render(reader, config, NODE, "lv", now)
    assert '<html lang="lv">' in page
    for words in ("Gaisa temperatūra (°C)", "Pēdējās 7 dienas", "Sakari un baterija", "ārā"):
        assert words in page
    assert re.search(r"min -20,00 · maks 25,00 · vid\. \d+,\d\d °C", page)  # codespell:ignore


# -- in the browser, from the gateway ---------------------------------------------------


@pytest.fixture
def served(tmp_path: Path, line: Line, gateway: Callable[..., GatewayProcess]) -> tuple[str, Week]:
    """The week in a store, and the address of the gateway's status page serving it."""
    written = fill_store(tmp_path / "data", time.time())
    g = gateway(f'[[serial]]\nport = "{line.link}"\n\n[web]\nlisten = "127.0.0.1:0"\n' + NODES_TOML)
    return page_url(g), written


def _vertices(driver: WebDriver, field: str, period: str) -> list[int]:
    """The vertices the browser has for each line of a chart (SVGPolylineElement.points)."""
    found: list[int] = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(p => p.points.numberOfItems)",
        f'article[data-field="{field}"] figure[data-period="{period}"] polyline',
    )
    return found


def _screenshot(driver: WebDriver, path: Path) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(driver.get_window_size()["width"], min(int(height) + 120, 4000))
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000


def test_the_browser_draws_every_reading_of_a_day_and_breaks_the_line_at_a_gap(
    served: tuple[str, Week], chrome: Callable[..., WebDriver], tmp_path: Path
) -> None:
    url, written = served
    driver = chrome(lang="en")
    driver.get(f"{url}nodes/{NODE}")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Node 5 — skola"
    # the day: 144 slots, ten missing in a row (a break), two missing (no break), 99 °C not drawn
    assert _vertices(driver, "temperature", "24h") == [60 - 1, 144 - 70 - 2]
    # the week: more readings than pixel columns, so each 2-px column's lowest and highest
    week = _vertices(driver, "temperature", "7d")
    assert len(week) == 2 and sum(week) <= svg.PLOT_WIDTH
    readings = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(p => +p.dataset.readings)",
        'article[data-field="temperature"] figure[data-period="7d"] polyline',
    )
    assert readings == [len([k for k in written.ks if k < 60]) - 1, 144 - 70 - 2]
    # the flagged spike is a vertex of the downsampled line: the ring sits on its top vertex
    top, ring = driver.execute_script(
        """const f = document.querySelector(arguments[0]);
        const ys = [...f.querySelectorAll('polyline')].flatMap(p =>
            Array.from({length: p.points.numberOfItems}, (_, i) => p.points.getItem(i).y));
        return [Math.min(...ys), f.querySelector('circle.flag').cy.baseVal.value];""",
        'article[data-field="temperature"] figure[data-period="7d"]',
    )
    assert top == pytest.approx(ring, abs=0.06)
    # the day's figures, as printed
    drawn = written.drawn([k for k in written.ks if k >= 0])
    figures = driver.find_element(
        By.CSS_SELECTOR, 'article[data-field="temperature"] figure[data-period="24h"] .figures'
    )
    mean = sum(drawn) / len(drawn)
    assert figures.text == f"min {min(drawn):.2f} · max 25.00 · mean {mean:.2f} °C"
    assert float(figures.get_attribute("data-mean") or "nan") == pytest.approx(mean)
    gaps = driver.find_elements(By.CSS_SELECTOR, "section.gaps tr.gap")
    assert [g.get_attribute("data-missing") for g in gaps] == ["2", "10"]
    tallies = {
        e.get_attribute("data-tally"): e.find_element(By.TAG_NAME, "td").text
        for e in driver.find_elements(By.CSS_SELECTOR, "section.rejections tr[data-tally]")
    }
    assert tallies["replays"] == "3" and tallies["mic_failures"] == "2"
    _screenshot(driver, tmp_path / "status-node-desktop.png")
    for_the_docs(tmp_path / "status-node-desktop.png", "status-node.png")


def test_a_phone_in_latvian_gets_latvian_labels_and_no_sideways_scrolling(
    served: tuple[str, Week], chrome: Callable[..., WebDriver], tmp_path: Path
) -> None:
    url, _ = served
    driver = chrome(lang="lv", phone=True)
    driver.get(f"{url}nodes/{NODE}")
    assert driver.execute_script("return window.innerWidth") == 360
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "lv"
    headings = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "article.field h3")]
    assert "Gaisa temperatūra (°C)" in headings and "Relatīvais mitrums (%RH)" in headings
    caption = driver.find_element(
        By.CSS_SELECTOR, 'article[data-field="temperature"] figure[data-period="24h"] figcaption'
    )
    assert caption.text.startswith("Pēdējās 24 stundas · 131 mērījumi")
    overflow = driver.execute_script(
        "const d = document.documentElement; return [d.scrollWidth, d.clientWidth]"
    )
    assert overflow[0] <= overflow[1]
    widths = driver.execute_script(
        "return [...document.querySelectorAll('svg.chart')]"
        ".map(s => s.getBoundingClientRect().right)"
    )
    assert widths and max(widths) <= 360
    _screenshot(driver, tmp_path / "status-node-phone.png")


def test_the_json_endpoint_serves_the_same_data(served: tuple[str, Week]) -> None:
    url, written = served
    with urllib.request.urlopen(f"{url}api/nodes/{NODE}", timeout=10) as response:
        data: dict[str, Any] = json.load(response)
    day = data["periods"]["24h"]["fields"]["temperature"]
    assert day["readings"] == len(written.drawn([k for k in written.ks if k >= 0]))
    assert data["station"]["notes"] == "Beside the LVĢMC station in Zīlāni"


def test_the_latest_reading_lists_every_value_with_its_unit_and_flags(
    week: tuple[Reader, Config, Week, float],
) -> None:
    reader, config, _, now = week
    page = node_page.render(reader, config, NODE, "en", now)
    latest = page[page.index('<section class="latest">') : page.index('<section class="fields">')]
    rows = re.findall(r'<tr data-field="(\w+)"><th>[^<]*</th><td class="num">([^<]*)</td>', latest)
    k = 143  # the last reading written
    assert rows == [
        ("temperature", f"{temperature(k):.2f} °C"),
        ("humidity", f"{80 + k % 5:.2f} %RH"),
        # derived from the two (gateway/derived.py; its sources: tests/gateway/test_derived.py)
        ("dew_point", f"{round(dew_point(temperature(k), 80 + k % 5), 1):.1f} °C"),
        ("rssi", f"{-95 - k % 10} dBm"),
        ("snr", "7.5 dB"),
        ("battery", "3.90 V"),
    ]


def test_a_cold_boots_jump_in_the_counter_is_a_restart_not_missing_readings(
    tmp_path: Path,
) -> None:
    """docs/protocol.md §2: after a cold boot the counter resumes up to N ahead, on purpose,
    and the first frame says so (boot); the sequence window counts nothing lost for it."""
    now = 1_795_000_000.0
    enc = frames.Encoder(6)
    readings = []
    for i, (seq, flags) in enumerate([(1, 0), (2, 0), (3, 0), (200, frames.FLAG_BOOT), (203, 0)]):
        enc.clear()
        enc.put(frames.TEMPERATURE, 5.0)
        taken = now - 3600 + 600 * i
        readings.append(Reading(6, seq, taken, taken, bytes(enc.encode(seq, flags))))
    store = Store(tmp_path / "readings.db")
    store.commit(readings, {})
    config = Config(nodes={6: NodeConfig()})
    reader = Reader(store, config, GatewayState.offline(config))
    gaps = node_page.as_json(reader, config, 6, now)["counter_gaps"]
    assert [(g["after_seq"], g["before_seq"], g["missing"], g["restart"]) for g in gaps] == [
        (200, 203, 2, False),
        (3, 200, 0, True),
    ]
    page = node_page.render(reader, config, 6, "en", now)
    assert re.findall(r'<tr class="gap" data-missing="(\d+)">', page) == ["2", "0"]
    assert "node restarted: its counter jumped, nothing missing (3 → 200)" in page


def test_a_nodes_week_is_read_through_its_index_without_a_sort(
    week: tuple[Reader, Config, Week, float],
) -> None:
    """The query Reader.readings runs, as SQLite plans it: a search of readings_node_taken
    for the node and the span, already in order (bench/status_page.py has the times)."""
    reader, _, _, now = week
    seen: list[str] = []
    db = reader.store._db
    db.set_trace_callback(seen.append)
    try:
        assert len(list(reader.readings(NODE, now - 7 * 86400, now))) > 900
    finally:
        db.set_trace_callback(None)
    (sql,) = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    plan = " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert "USING INDEX readings_node_taken (node=? AND taken>? AND taken<?)" in plan
    assert "TEMP B-TREE" not in plan


def test_recent_rejections_are_listed_with_their_reason_on_the_nodes_page(
    tmp_path: Path, line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    """Issue 12: a node's page lists its recent rejections (MIC, replay) with their times,
    and the frames with a bad CRC the inputs heard; the JSON gives the node's the same."""
    key = bytes(range(16))
    g = gateway(
        f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n\n[web]\n'
        f'listen = "127.0.0.1:0"\n\n[nodes.7]\nkey = "{key.hex()}"\n'
    )
    line.send(reading(7, 1000, key=key), rssi=-90)
    wait_until(lambda: g.stored() == [(7, 1000)], "node 7's first reading stored")
    line.send(reading(7, 1001, key=bytes(16)), rssi=-91)  # forged: the wrong key
    line.send(reading(7, 3, key=key), rssi=-92)  # a counter long used: a replay
    damaged = bytearray(reading(7, 1002, key=key))
    damaged[-1] ^= 0xFF
    line.send(bytes(damaged), rssi=-93)
    line.send(reading(7, 1003, key=key), rssi=-94)
    wait_until(lambda: g.stored()[-1:] == [(7, 1003)], "node 7's later reading stored")
    url = page_url(g)

    with urllib.request.urlopen(f"{url}api/nodes/7", timeout=10) as response:
        data: dict[str, Any] = json.load(response)
    recent = [(r["reason"], r["seq"], r["rssi"]) for r in data["recent_rejections"]]
    assert recent == [("mic", None, -91), ("replay", 3, -92)]  # a forged counter: not shown

    with urllib.request.urlopen(f"{url}nodes/7", timeout=10) as response:
        page = response.read().decode()
    tables = re.findall(r'<table class="recent">(.*?)</table>', page, re.S)
    assert len(tables) == 2  # the node's rejections, then the inputs' CRC errors
    mine = re.findall(r'<tr data-reason="(\w+)">', tables[0])
    assert mine == ["replay", "mic"]  # the most recent first
    assert "MIC does not match the key" in tables[0]
    assert re.findall(r'<tr data-reason="(\w+)">', tables[1]) == ["crc"]
    assert "(-93 dBm)" in tables[1]


def test_coordinates_south_or_west_are_written_so_not_as_negative_degrees() -> None:
    conf = NodeConfig(latitude=-33.45, longitude=-70.66)
    html_text = node_page._station_html(1, conf, "en")
    assert "33.45000° S, 70.66000° W" in html_text
    assert "57.31250° N, 25.27050° E" in node_page._station_html(
        1, NodeConfig(latitude=57.3125, longitude=25.2705), "en"
    )

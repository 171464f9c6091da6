"""/api/overview and the reader under it: the same data as the page, from the store.

The reader tests need no gateway: a store filled through Store.commit and a
Reader over it read-only, as the per-node page and the benchmarks use it.
"""

import base64
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from meteolink.firmware import frames
from meteolink.gateway import config
from meteolink.gateway.config import NodeConfig
from meteolink.gateway.sequence import SequenceWindow
from meteolink.gateway.store import Reading, Store
from meteolink.gateway.web import overview
from meteolink.gateway.web.reader import GatewayState, Reader
from tests.support.broker import Broker
from tests.support.gateway_process import GatewayProcess, reading
from tests.support.lines import Line
from tests.support.status_page import get, page_url
from tests.support.tools import wait_until

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def stored(tmp_path: Path) -> tuple[Path, config.Config]:
    """A store with node 5's readings at T0 + 0, 600, 1800 (seq 3 never came) and node 6's
    one, out of order on arrival; node 5's window: 3 accepted, 1 lost."""
    cfg = config.Config(
        data=tmp_path,
        nodes={
            5: NodeConfig(name="Tukums", interval=600, latitude=56.97),
            6: NodeConfig(name="Talsi", interval=60),
        },
    )
    store = Store(tmp_path / "readings.db")
    readings = [
        Reading(5, 4, T0 + 1800, T0 + 1800, frames.encode(5, 4, {"temperature": -3.5}), -90, 6.0),
        Reading(5, 1, T0, T0, frames.encode(5, 1, {"temperature": -1.25, "battery": 3.3})),
        Reading(6, 9, T0 + 5, T0 + 5, frames.encode(6, 9, {"pm2_5": 12.5, "pm10": 30.0})),
        Reading(5, 2, T0 + 600, T0 + 600, frames.encode(5, 2, {"temperature": -2.0})),
    ]
    window = SequenceWindow(highest=4, since=1, lost=1, accepted=3)
    store.commit(readings, {5: (0, window, "")})
    store.close()
    return tmp_path / "readings.db", cfg


def test_the_reader_gives_a_nodes_readings_in_time_order(tmp_path: Path) -> None:
    path, cfg = stored(tmp_path)
    store = Store(path, readonly=True)
    reader = Reader(store, cfg, GatewayState.offline(cfg))
    assert reader.nodes() == [5, 6]
    rows = list(reader.readings(5, T0, T0 + 1800))  # [start, end): 1800 is out
    assert [(r[1], r[2], r[3]) for r in rows] == [(5, 1, T0), (5, 2, T0 + 600)]
    latest = reader.latest(5)
    assert latest is not None and latest.seq == 4
    msg = reader.message(latest)
    assert msg is not None
    assert (msg["temperature"], msg["name"], msg["time"]) == (
        -3.5,
        "Tukums",
        "2027-01-15T08:30:00Z",
    )
    first = reader.message(rows[0])
    assert first is not None and (first["temperature"], first["battery"]) == (-1.25, 3.3)
    stats = reader.stats(5)  # no gateway running: from the store's counters
    assert stats is not None and (stats.received, stats.lost) == (3, 1)
    store.close()


@pytest.mark.parametrize(
    ("silent", "status"),
    [(0, "ok"), (899, "ok"), (901, "stale"), (1799, "stale"), (1801, "offline"), (None, "never")],
)
def test_a_nodes_status_from_its_interval_and_offline_after(
    silent: float | None, status: str
) -> None:
    # interval 600 s, offline_after 3: late past 1.5 intervals, offline past 3.
    now = T0 + 10_000
    seen = None if silent is None else now - silent
    assert overview.status(seen, 600, 3, now) == status


def test_overview_data_from_the_store(tmp_path: Path) -> None:
    path, cfg = stored(tmp_path)
    store = Store(path, readonly=True)
    data = overview.data(Reader(store, cfg, GatewayState.offline(cfg)), T0 + 1800 + 1000)
    store.close()
    five, six = data["nodes"]
    assert five["values"] == {"temperature": -3.5}
    assert (five["status"], five["silent"], five["seq"]) == ("stale", 1000.0, 4)
    assert (five["rssi"], five["snr"], five["latitude"]) == (-90, 6.0, 56.97)
    assert (five["received"], five["lost"], five["loss_rate"]) == (3, 1, 0.25)
    assert six["status"] == "offline"  # interval 60 s, silent 2795 s
    # The codec's order, then the derived values: the station's air-quality band (each
    # pollutant's band is in the values, not a column of its own).
    assert data["fields"] == ["temperature", "pm2_5", "pm10", "aq_band"]
    assert data["units"]["pm2_5"] == "µg/m³"
    assert data["gateway"]["running"] is False


@pytest.fixture
def page(gateway: Callable[..., GatewayProcess], line: Line) -> tuple[GatewayProcess, str]:
    g = gateway(
        f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n\n'
        '[web]\nlisten = "127.0.0.1:0"\n\n[nodes.11]\nname = "Kuldīga <b>&</b>"\n'
    )
    line.send(reading(11, 3), rssi=-80, snr=9.0)
    wait_until(lambda: g.stored() == [(11, 3)], "node 11's reading stored")
    return g, page_url(g)


def test_api_overview_has_what_the_page_shows(page: tuple[GatewayProcess, str]) -> None:
    _, url = page
    answer = get(url + "api/overview")
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    data = json.loads(answer.body)
    (node,) = data["nodes"]
    assert node["name"] == "Kuldīga <b>&</b>"
    assert node["values"] == {"temperature": 2.3, "humidity": 80.0, "dew_point": -0.8}
    assert (node["battery"], node["rssi"], node["snr"]) == (3.1, -80, 9.0)
    assert node["status"] == "ok"
    assert data["gateway"]["readings_stored"] == 1
    (inp,) = data["gateway"]["inputs"]
    assert inp["name"].startswith("serial:") and inp["frames"] == 1
    html = get(url).body.decode()
    assert "Kuldīga &lt;b&gt;&amp;&lt;/b&gt;" in html  # a name is text, never markup
    assert "2.3 °C" in html and "-80 dBm" in html


def test_the_page_speaks_the_browsers_language_and_runs_only_its_own_script(
    page: tuple[GatewayProcess, str],
) -> None:
    _, url = page
    lv = get(url, headers={"Accept-Language": "lv-LV,lv;q=0.9,en;q=0.5"})
    assert lv.headers["vary"] == "Accept-Language"
    text = lv.body.decode()
    assert '<html lang="lv">' in text and "Gaisa temperatūra" in text and "2,3 °C" in text
    en = get(url, headers={"Accept-Language": "de-DE,de;q=0.9"}).body.decode()
    assert '<html lang="en">' in en and "Air temperature" in en
    # Without script the page still refreshes; with it, the CSP lets only that script run.
    assert '<noscript><meta http-equiv="refresh" content="60"></noscript>' in text
    (script,) = re.findall(r"<script>(.*?)</script>", text, re.S)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = lv.headers["content-security-policy"]
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp
    assert "http" not in text.split("<footer>")[0].replace('http-equiv="refresh"', "")  # no CDN


def test_a_nodes_page_lets_no_script_run(page: tuple[GatewayProcess, str]) -> None:
    """The node's page has no script of its own: its CSP allows none, so a name or note
    that ever slipped past the escaping could not run as one (CSP Level 3, script-src)."""
    _, url = page
    answer = get(url + "nodes/11")
    assert answer.status == 200
    text = answer.body.decode()
    assert "Kuldīga &lt;b&gt;&amp;&lt;/b&gt;" in text and "<script" not in text
    directives = {
        d.split()[0]: d.split()[1:]
        for d in answer.headers["content-security-policy"].split(";")
        if d.strip()
    }
    assert directives["default-src"] == ["'none'"]
    assert directives.get("script-src", ["'none'"]) == ["'none'"]


def test_unknown_paths_and_nodes_are_404(page: tuple[GatewayProcess, str]) -> None:
    _, url = page
    for path in ("nowhere", "api", "nodes/x", "api/overview/more", "favicon.ico"):
        answer = get(url + path)
        assert answer.status == 404, path
        assert answer.body.decode().count("\n") == 1


def test_every_word_the_pages_use_is_there_in_both_languages() -> None:
    from meteolink.gateway.web import words

    used = set()
    for module in ("overview.py", "site.py"):
        source = (Path(overview.__file__).parent / module).read_text("utf-8")
        used |= set(re.findall(r'word\(\s*"(\w+)"', source))
    used |= {"ok", "stale", "offline", "never", "connected", "retrying", "starting"}
    used |= {f"flag_{f}" for f in ("range", "step", "persistence", "consistency")}
    # Every reason an input refuses a message for, named for a person (gateway/web/overview.py).
    from meteolink.gateway import federation_input, lorawan_uplink

    reasons = {v for k, v in vars(lorawan_uplink).items() if k.isupper() and isinstance(v, str)}
    assert len(reasons) == 6 and len(federation_input.REASONS) == 4
    used |= {f"refused_{r}" for r in reasons | set(federation_input.REASONS)}
    assert used <= set(words.WORDS), used - set(words.WORDS)
    for english, latvian in words.WORDS.values():
        assert english and latvian


def test_each_upstreams_state_and_backlog(
    gateway: Callable[..., GatewayProcess], line: Line, broker: Broker
) -> None:
    g = gateway(
        f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n\n'
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{broker.port}"\n\n[web]\nlisten = "127.0.0.1:0"\n'
        "\n[nodes.12]\n"
    )
    url = page_url(g)

    def upstream() -> dict[str, object]:
        (up,) = json.loads(get(url + "api/overview").body)["gateway"]["upstreams"]
        assert isinstance(up, dict)
        return up

    line.send(reading(12, 1))
    wait_until(
        lambda: upstream()["state"] == "connected" and upstream()["last_success"] is not None,
        "the broker to confirm the first reading",
    )
    assert upstream()["backlog"] == 0
    assert upstream()["label"] == f"mqtt://127.0.0.1:{broker.port}"
    broker.stop()
    for seq in (2, 3, 4):
        line.send(reading(12, seq))
    wait_until(
        lambda: upstream()["state"] == "retrying" and upstream()["backlog"] == 3,
        "three readings waiting for the broker that went away",
    )
    assert upstream()["reason"]

"""/metrics scraped by a real Prometheus (Debian's), its values queried back through
Prometheus's HTTP API (/api/v1/query) and compared with what the test fed the gateway."""

import base64
import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from meteolink.firmware import frames
from tests.support.broker import free_port
from tests.support.gateway_process import GatewayProcess, reading
from tests.support.lines import Line
from tests.support.status_page import address, get, page_url
from tests.support.tools import find_tool, wait_until

USER, PASSWORD = "prometheus", "scrape-me"


class Prometheus:
    """prometheus on a loopback port, scraping one target every second."""

    def __init__(self, directory: Path, target: str) -> None:
        directory.mkdir()
        self.port = free_port()
        (directory / "password").write_text(PASSWORD)
        config = directory / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: meteolink\n    scrape_interval: 1s\n"
            f"    basic_auth:\n      username: {USER}\n"
            f"      password_file: {directory / 'password'}\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        self.log = (directory / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                find_tool("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def query(self, expr: str) -> list[dict[str, object]]:
        """The instant vector of expr, as Prometheus's HTTP API gives it ([] on no answer)."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr}
        )
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                answer = json.load(r)
        except OSError:
            return []  # not up yet
        assert answer["status"] == "success", answer
        result: list[dict[str, object]] = answer["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        if len(result) != 1:
            return None
        sample = result[0]["value"]
        assert isinstance(sample, list)
        return float(sample[1])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)
        self.log.close()


@pytest.fixture
def scraped(
    gateway: Callable[..., GatewayProcess], line: Line, tmp_path: Path
) -> Iterator[tuple[GatewayProcess, Prometheus]]:
    g = gateway(
        f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n\n'
        f'[web]\nlisten = "127.0.0.1:0"\nusername = "{USER}"\npassword = "{PASSWORD}"\n\n'
        '[nodes.7]\nname = "Sigulda"\n\n[nodes.8]\nname = "Ogre"\n'
    )
    host, port = address(page_url(g))
    prometheus = Prometheus(tmp_path / "prometheus", f"{host}:{port}")
    yield g, prometheus
    prometheus.stop()


def test_prometheus_scrapes_what_the_gateway_was_fed(
    scraped: tuple[GatewayProcess, Prometheus], line: Line
) -> None:
    g, prom = scraped
    # Node 7: readings 1..5 with 3 missing, one heard twice, at -101 dBm; node 8 one
    # reading with a 2.85 V battery; then noise and a frame with a broken CRC.
    for seq in (1, 2, 4, 5):
        line.send(reading(7, seq), rssi=-101, snr=-2.5)
    line.send(reading(7, 5), rssi=-101, snr=-2.5)
    line.send(frames.encode(8, 30, {"temperature": 4.0, "battery": 2.85}))
    bad = bytearray(reading(8, 31))
    bad[-1] ^= 0xFF
    line.send(bytes(bad))
    wait_until(lambda: len(g.stored()) == 5, "five readings stored")

    def scraped_value(expr: str, expected: float) -> None:
        wait_until(
            lambda: prom.value(expr) == expected,
            f"Prometheus to give {expr} = {expected} (last: {prom.value(expr)})",
            timeout=60,
        )

    scraped_value('up{job="meteolink"}', 1)  # scraped through basic auth
    scraped_value('meteolink_node_frames_accepted_total{node="7",name="Sigulda"}', 4)
    scraped_value('meteolink_node_frames_duplicate_total{node="7"}', 1)
    scraped_value('meteolink_node_frames_lost_total{node="7"}', 1)
    scraped_value('meteolink_node_rssi_dbm{node="7"}', -101)
    scraped_value('meteolink_node_snr_db{node="7"}', -2.5)
    scraped_value('meteolink_node_battery_volts{node="8",name="Ogre"}', 2.85)
    scraped_value('meteolink_node_online{node="8"}', 1)
    scraped_value("meteolink_readings_stored_total", 5)
    scraped_value('sum(meteolink_input_frames_total{input=~"serial:.*"})', 7)
    scraped_value('meteolink_input_frames_rejected_total{reason="crc"}', 1)
    # What Prometheus holds agrees with what the gateway says of itself.
    seen = prom.value('meteolink_node_last_seen_timestamp_seconds{node="8"}')
    assert seen is not None
    answer = get(page_url(g) + "api/overview", headers={"Authorization": _basic()})
    node8 = next(n for n in json.loads(answer.body)["nodes"] if n["node"] == 8)
    assert node8["battery"] == 2.85
    free = prom.value("meteolink_store_disk_free_bytes")
    size = prom.value("meteolink_store_disk_size_bytes")
    assert free is not None and size is not None and 0 < free <= size
    uptime = prom.value("meteolink_gateway_uptime_seconds")
    assert uptime is not None and uptime > 0
    assert prom.value("process_resident_memory_bytes") is not None


def _basic() -> str:
    return "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def test_the_metrics_follow_prometheus_naming(
    scraped: tuple[GatewayProcess, Prometheus],
) -> None:
    g, prom = scraped
    text = get(page_url(g) + "metrics", headers={"Authorization": _basic()}).body.decode()
    types = dict(
        line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE meteolink_")
    )
    assert types  # the families are there
    for name, kind in types.items():
        # https://prometheus.io/docs/practices/naming/: a counter ends in _total (the
        # client adds it to the samples), a unit is a base unit at the end of the name.
        assert name.startswith("meteolink_")
        if kind == "gauge":
            assert name.endswith(
                (
                    "_seconds",
                    "_bytes",
                    "_volts",
                    "_dbm",
                    "_db",
                    "_readings",
                    "_online",
                    "_connected",
                )
            ), name
    # Prometheus read every line of it: a target that failed to parse is down.
    wait_until(lambda: prom.value('up{job="meteolink"}') == 1, "the target up", timeout=60)

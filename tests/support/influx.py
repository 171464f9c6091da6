"""A real InfluxDB 1.x and a real VictoriaMetrics on loopback ports, started by the tests.

Both are Debian's packages (influxdb: `influxd`; victoria-metrics:
`victoria-metrics`), each run as the current user with its files in a
directory of the test's; a missing one fails the test (`make test` installs
it). Each can be stopped and started again on the same port and files: an
outage the upstream must ride out without losing a reading. Each answers
queries, so a test reads back what was written.
"""

import json
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.broker import free_port
from tests.support.tools import find_tool


def _http(url: str, data: bytes | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    """(status, body) of a GET, or a POST of data."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class _Server:
    """A database process on 127.0.0.1:port, its output in directory/server.log."""

    tool = ""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> None:
        """Start it; return once /ping answers."""
        with (self.directory / "server.log").open("ab") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.tool} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if _http(self.url + "/ping", timeout=1)[0] == 204:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.tool} not answering on {self.port}:\n{self.log()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None

    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text("utf-8", errors="replace") if path.exists() else ""


class InfluxDB(_Server):
    """influxd (1.x) with a config of its own: meta, data and wal under directory."""

    tool = "influxd"

    def command(self) -> list[str]:
        conf = self.directory / "influxdb.conf"
        d = self.directory
        conf.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{free_port()}"\n'  # the backup service's port
            f'[meta]\n  dir = "{d}/meta"\n'
            f'[data]\n  dir = "{d}/data"\n  wal-dir = "{d}/wal"\n  query-log-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            "[monitor]\n  store-enabled = false\n",
            "utf-8",
        )
        return [find_tool("influxd"), "-config", str(conf)]

    def query(self, q: str, db: str = "meteo") -> list[dict[str, Any]]:
        """Rows of an InfluxQL query, each a dict of column -> value; time in Unix seconds."""
        params = urllib.parse.urlencode({"db": db, "q": q, "epoch": "s"})
        status, body = _http(f"{self.url}/query?{params}")
        assert status == 200, body
        rows = []
        for result in json.loads(body)["results"]:
            assert "error" not in result, result
            for series in result.get("series", []):
                tags = series.get("tags", {})
                for values in series["values"]:
                    rows.append({**tags, **dict(zip(series["columns"], values, strict=True))})
        return rows

    def create_database(self, db: str = "meteo") -> None:
        body = urllib.parse.urlencode({"q": f"CREATE DATABASE {db}"}).encode()
        status, text = _http(f"{self.url}/query", body)
        assert status == 200, text


class VictoriaMetrics(_Server):
    """victoria-metrics with its storage under directory, retention long enough for any test."""

    tool = "victoria-metrics"

    def command(self) -> list[str]:
        return [
            find_tool("victoria-metrics"),
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.directory / 'storage'}",
            "-retentionPeriod=100y",
            "-search.disableCache",  # a test reads back what it has just written
        ]

    def export(self, match: str = '{__name__=~"meteolink_.*"}') -> list[dict[str, Any]]:
        """Every series matching, as /api/v1/export gives them (one JSON object a series):
        {"metric": {labels}, "values": [...], "timestamps": [ms, ...]}."""
        _http(f"{self.url}/internal/force_flush")
        params = urllib.parse.urlencode({"match[]": match, "start": "0"})
        status, body = _http(f"{self.url}/api/v1/export?{params}")
        assert status == 200, body
        return [json.loads(line) for line in body.decode().splitlines() if line.strip()]

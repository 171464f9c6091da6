"""Calibration, derived values and quality flags through the real gateway (issue 12).

`meteolink gateway` as systemd runs it, a node on a pseudo-terminal, a real
Mosquitto: what the broker, the store and `meteolink export` carry.
"""

import csv
import datetime
import io
import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from meteolink.firmware import frames
from meteolink.gateway.derived import BANDS, derive
from tests.support.broker import Broker, Subscriber
from tests.support.gateway_process import GatewayProcess
from tests.support.lines import Line
from tests.support.tools import meteolink, wait_until

CALIBRATED = """
[nodes.7]
name = "Cēsis skola"
altitude = 98.0
[[nodes.7.calibration]]
field = "temperature"
from = 2026-01-01
offset = -0.4
"""


def config(line: Line, broker: Broker, nodes: str, extra: str = "") -> str:
    return (
        f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n'
        f'\n[mqtt]\nurl = "{broker.url}"\n' + nodes + extra
    )


def states(sub: Subscriber) -> dict[str, dict[str, Any]]:
    """The state messages the broker delivered, by reading id (the last of each)."""
    out = {}
    for m in sub.on("/state"):
        msg = json.loads(m.payload)
        out[msg["id"]] = msg
    return out


def every_state(sub: Subscriber, rid: str) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in sub.on("/state") if json.loads(m.payload)["id"] == rid]


def exported(g: GatewayProcess, fmt: str) -> str:
    proc = meteolink("export", "--config", str(g.config), "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def exported_json(g: GatewayProcess) -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in map(json.loads, exported(g, "jsonl").splitlines())}


def forwarded_all(g: GatewayProcess) -> bool:
    """Whether the MQTT upstream's cursor has reached the newest reading: stopped now,
    the gateway sends nothing again at its next start (it forwards at least once)."""
    db = sqlite3.connect(f"file:{g.data / 'readings.db'}?mode=ro", uri=True)
    try:
        newest = db.execute("SELECT max(id) FROM readings").fetchone()[0]
        cursor = db.execute("SELECT max(last_id) FROM cursors").fetchone()[0]
    finally:
        db.close()
    return cursor is not None and cursor >= newest


def iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_calibrated_node_publishes_calibrated_and_derived_values_and_says_so(
    line: Line,
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    gateway: Callable[..., GatewayProcess],
) -> None:
    sub = subscribe("meteolink/+/state", "homeassistant/sensor/meteolink_7/+/config")
    g = gateway(config(line, broker, CALIBRATED))
    values = {"temperature": 21.37, "humidity": 50.0, "pressure": 1000.0}
    line.send(frames.encode(7, 1, values))
    wait_until(lambda: "7-1" in states(sub), "the reading at the broker")
    msg = states(sub)["7-1"]
    assert msg["temperature"] == 20.97  # 21.37 - 0.4
    assert msg["calibrated"] == {
        "temperature": {"raw": 21.37, "offset": -0.4, "factor": 1.0, "from": "2026-01-01T00:00:00Z"}
    }
    assert msg["humidity"] == 50.0 and msg["altitude"] == 98.0
    # Derived from the calibrated temperature, not the raw one.
    want = derive({"temperature": 20.97, "humidity": 50.0, "pressure": 1000.0}, 98.0)
    assert msg["dew_point"] == want["dew_point"]
    assert msg["sea_level_pressure"] == want["sea_level_pressure"]
    assert "qc" not in msg, "a first reading: nothing to flag"

    def announced() -> dict[str, dict[str, Any]]:
        """Each entity's config as it stands (an empty retained payload removes one)."""
        out: dict[str, dict[str, Any]] = {}
        for m in sub.on("/config"):
            field = m.topic.split("/")[3]
            if m.payload:
                out[field] = json.loads(m.payload)
            else:
                out.pop(field, None)
        return out

    wait_until(
        lambda: {"dew_point", "sea_level_pressure"} <= set(announced()),
        "Home Assistant told of the derived values",
    )
    dew, slp = announced()["dew_point"], announced()["sea_level_pressure"]
    assert (dew["device_class"], dew["unit_of_measurement"]) == ("temperature", "°C")
    assert (slp["device_class"], slp["unit_of_measurement"]) == ("atmospheric_pressure", "hPa")
    assert "aq_band" not in announced(), "no PM, no air-quality band"

    line.send(frames.encode(7, 2, {"pm2_5": 16.0, "pm10": 20.0}))
    wait_until(lambda: "aq_band" in announced(), "the air-quality bands announced")
    band = announced()["aq_band"]
    assert band["device_class"] == "enum" and band["options"] == list(BANDS)
    wait_until(lambda: "7-2" in states(sub), "the PM reading at the broker")
    assert states(sub)["7-2"]["aq_band"] == "moderate"  # PM2.5 16 µg/m³ (EEA: 15-50)
    g.stop()


def test_a_later_calibration_changes_what_comes_after_it_and_nothing_published_before(
    line: Line,
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    gateway: Callable[..., GatewayProcess],
) -> None:
    sub = subscribe("meteolink/+/state")
    g = gateway(config(line, broker, CALIBRATED))
    values = {"temperature": 21.37, "humidity": 50.0}
    line.send(frames.encode(7, 1, values))
    wait_until(lambda: "7-1" in states(sub), "the first reading at the broker")
    wait_until(lambda: forwarded_all(g), "the broker's confirmation recorded")
    g.stop()

    # A new calibration from a second after the first reading was taken (offset datetimes
    # are whole seconds): the technician adds it, then restarts the gateway.
    taken_1 = g.data / "readings.db"
    db = sqlite3.connect(f"file:{taken_1}?mode=ro", uri=True)
    (t1,) = db.execute("SELECT taken FROM readings WHERE seq = 1").fetchone()
    db.close()
    since = int(t1) + 1
    wait_until(lambda: time.time() > since + 1, "the new calibration's date to pass")
    later = f'[[nodes.7.calibration]]\nfield = "temperature"\nfrom = {iso(since)}\noffset = 0.6\n'
    g.config.write_text(g.config.read_text() + later)
    g.start()
    g.wait_open(2)
    line.send(frames.encode(7, 2, values))  # taken now: after the new date
    line.send(frames.encode(7, 3, {**values, "age": 600}))  # taken 10 minutes ago: before it
    wait_until(lambda: {"7-2", "7-3"} <= set(states(sub)), "the later readings at the broker")
    got = states(sub)
    assert got["7-2"]["temperature"] == 21.97  # 21.37 + 0.6
    assert got["7-2"]["calibrated"]["temperature"]["from"] == iso(since)
    assert got["7-3"]["temperature"] == 20.97, "taken before the new date: the old one"
    assert [m["temperature"] for m in every_state(sub, "7-1")] == [20.97], "never sent again"
    assert "a calibration from" in g.log() and "was added (offset 0.6, factor 1)" in g.log()
    wait_until(lambda: forwarded_all(g), "the broker's confirmations recorded")

    # Export calibrates each reading as it was taken: the same values as the broker's.
    out = exported_json(g)
    assert [out[r]["temperature"] for r in ("7-1", "7-2", "7-3")] == [20.97, 21.97, 20.97]

    # Now the technician corrects the first entry in place: history rewritten, loudly.
    g.stop()
    text = g.config.read_text().replace("offset = -0.4", "offset = -0.5")
    g.config.write_text(text)
    check = meteolink("gateway", "--config", str(g.config), "--check")
    assert check.returncode == 0, check.stderr
    said = (
        "warning: node 7: temperature: the calibration from 2026-01-01T00:00:00Z changed from"
        " offset -0.4, factor 1 to offset -0.5, factor 1: exports, pages and reports of its"
        " readings taken since 2026-01-01T00:00:00Z show the new values; MQTT messages"
        " already sent are not sent again"
    )
    assert said in check.stdout.splitlines()
    g.start()
    g.wait_open(3)
    line.send(frames.encode(7, 4, values))
    wait_until(lambda: "7-4" in states(sub), "a reading after the correction")
    log = g.log()
    assert log.count("changed from offset -0.4, factor 1 to offset -0.5, factor 1") == 1
    assert "WARNING" in log.split("changed from offset -0.4")[0].splitlines()[-1]
    assert exported_json(g)["7-1"]["temperature"] == 20.87, "export shows the correction"
    assert [m["temperature"] for m in every_state(sub, "7-1")] == [20.97], "the broker's stays"
    g.stop()
    check = meteolink("gateway", "--config", str(g.config), "--check")
    assert "warning:" not in check.stdout, "recorded at the start: said once"


QC = """
[nodes.11]
[nodes.12]
[nodes.13]
[nodes.14]

[quality]
temperature = [-45, 45]
[quality.step]
temperature = 1.0
[quality.persistence]
pressure = [0.1, 1]
"""


def test_a_reading_failing_each_check_carries_its_flags_in_store_mqtt_and_export(
    line: Line,
    broker: Broker,
    subscribe: Callable[..., Subscriber],
    gateway: Callable[..., GatewayProcess],
) -> None:
    sub = subscribe("meteolink/+/state")
    g = gateway(config(line, broker, QC))
    line.send(frames.encode(11, 1, {"temperature": 46.0, "humidity": 40.0}))  # range
    line.send(frames.encode(12, 1, {"temperature": 10.0, "humidity": 60.0}))
    line.send(frames.encode(12, 2, {"temperature": 20.0, "humidity": 60.0}))  # step: 10 °C
    line.send(frames.encode(13, 1, {"pressure": 1001.0, "age": 120}))
    line.send(frames.encode(13, 2, {"pressure": 1001.0}))  # persistence: 2 minutes unchanged
    line.send(frames.encode(14, 1, {"pm1": 20.0, "pm2_5": 10.0, "pm10": 30.0}))  # consistency
    flagged = {
        "11-1": {"temperature": ["range"]},
        "12-1": None,
        "12-2": {"dew_point": ["step"], "temperature": ["step"]},  # and what it derives
        "13-1": None,
        "13-2": {"pressure": ["persistence"]},
        "14-1": {
            "aq_band": ["consistency"],
            "aq_band_pm2_5": ["consistency"],
            "pm1": ["consistency"],
            "pm2_5": ["consistency"],
        },
    }
    wait_until(lambda: set(flagged) <= set(states(sub)), "every reading at the broker")

    db = sqlite3.connect(f"file:{g.data / 'readings.db'}?mode=ro", uri=True)
    stored = {f"{n}-{s}": qc for n, s, qc in db.execute("SELECT node, seq, qc FROM readings")}
    db.close()
    assert {rid: json.loads(qc) if qc else None for rid, qc in stored.items()} == flagged

    got = states(sub)
    assert {rid: got[rid].get("qc") for rid in flagged} == flagged
    assert got["11-1"]["implausible"] == {"temperature": 46.0}, "a range failure stays apart"
    assert got["12-2"]["temperature"] == 20.0, "flagged, never deleted"

    lines = exported_json(g)
    assert {rid: lines[rid].get("qc") for rid in flagged} == flagged
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(exported(g, "csv")))}
    assert rows["12-2"]["qc"] == "dew_point:step temperature:step"
    assert rows["14-1"]["qc"] == (
        "aq_band:consistency aq_band_pm2_5:consistency pm1:consistency pm2_5:consistency"
    )
    assert (
        rows["11-1"]["qc"] == "temperature:range" and rows["11-1"]["implausible"] == "temperature"
    )
    assert rows["12-1"]["qc"] == ""
    g.stop()

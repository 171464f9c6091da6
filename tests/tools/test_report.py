"""`meteolink report`: a simulated month through the real store, the files it writes, a browser.

The store is filled the way the gateway fills it (Store.commit, frames.encode) with a
month of October 2026 in Riga from the weather model `meteolink simulate` uses
(tools/weather.py; a cold snap forced at the start, so there are frost days, and the
clocks go back on 25 October, a 25-hour local day). Every figure the report prints
is checked against a computation here from the same stored values.
"""

import csv
import datetime
import json
import math
import random
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from meteolink.firmware import frames
from meteolink.gateway import config as gateway_config
from meteolink.gateway.calibration import Calibration
from meteolink.gateway.store import Reading, Store
from meteolink.tools import weather
from meteolink.tools.report import air_limits, comparison, period, reference
from tests.support.browser import for_the_docs
from tests.support.tools import meteolink

RIGA = ZoneInfo("Europe/Riga")
START = datetime.datetime(2026, 10, 1, tzinfo=RIGA).timestamp()  # 2026-09-30T21:00Z
END = datetime.datetime(2026, 11, 1, tzinfo=RIGA).timestamp()
INTERVAL = 600
GAP = (  # node 2 silent on 10 October 12:00-18:00 local
    datetime.datetime(2026, 10, 10, 12, tzinfo=RIGA).timestamp(),
    datetime.datetime(2026, 10, 10, 18, tzinfo=RIGA).timestamp(),
)
FLAGGED = {100: '{"temperature":["step"]}', 101: '{"temperature":["step"]}', 102: None}
IMPLAUSIBLE_SEQ = 102  # node 1's reading 102 says 75 °C: out of [quality]'s range
FACTOR, OFFSET, NOISE = 1.02, -0.6, 0.15  # the reference = FACTOR * node 1 + OFFSET + noise

CONFIG = """\
[gateway]
name = "pilot"

[nodes.1]
name = "Cēsis school roof"
latitude = 57.3119
longitude = 25.2706
altitude = 100

[nodes.2]
name = "Valmiera market"

[nodes.3]
name = "PM by hand"
"""


@dataclass
class Month:
    directory: Path
    config: Path
    # node -> [(taken, {field: value as stored}, qc text)] in the order taken
    readings: dict[int, list[tuple[float, dict[str, float | int], str | None]]]


def _local(t: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t, RIGA)


def _hand_made_pm() -> list[tuple[float, dict[str, float | int]]]:
    """Node 3, 1 to 5 October: days whose PM means are known by construction.

    day 1: PM10 60, PM2.5 30 all day; day 2: PM10 47, PM2.5 14; day 3: PM10 80 and
    PM2.5 80 for 12 hours only (under the 18 valid hours a day needs); day 4: PM10
    50, PM2.5 16; day 5: every hour 4 readings of 6 (under 75 %: no valid hour).
    """
    days = {1: (60.0, 30.0), 2: (47.0, 14.0), 3: (80.0, 80.0), 4: (50.0, 16.0), 5: (90.0, 90.0)}
    out = []
    for day, (pm10, pm25) in days.items():
        t0 = datetime.datetime(2026, 10, day, tzinfo=RIGA).timestamp()
        for i in range(144):
            if day == 3 and i >= 72:
                break
            if day == 5 and i % 6 >= 4:
                continue
            out.append((t0 + INTERVAL * i + 30, {"pm10": pm10, "pm2_5": pm25, "battery": 3.8}))
    return out


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Month:
    directory = tmp_path_factory.mktemp("report")
    place = weather.Climate.of_place("cesis")
    sky = weather.Weather(place, datetime.datetime(2026, 10, 1), random.Random(12), cold_snap=True)
    stations = {
        1: weather.Station(1, "weather", random.Random(1)),
        2: weather.Station(2, "air", random.Random(2)),
    }
    store = Store(directory / "readings.db")
    readings: dict[int, list[tuple[float, dict[str, float | int], str | None]]] = {}
    seq = dict.fromkeys((1, 2, 3), 0)
    batch = []
    steps = int((END - START) // INTERVAL)
    for step in range(steps):
        w = sky.at(step / 6)
        for node, station in stations.items():
            values = station.reading(w, 1 / 6, drain=0.5)
            taken = START + INTERVAL * step + node
            if node == 2 and GAP[0] <= taken < GAP[1]:
                continue
            seq[node] += 1
            qc = FLAGGED.get(seq[node]) if node == 1 else None
            if node == 1 and seq[node] == IMPLAUSIBLE_SEQ:
                values["temperature"] = 75.0
            frame = frames.encode(node, seq[node], values)
            rssi = -90 - step % 7 if node == 1 else None
            snr = 7.5 - step % 3 if node == 1 else None
            batch.append(Reading(node, seq[node], taken + 1, taken, frame, rssi, snr, qc=qc))
    for taken, values in _hand_made_pm():
        seq[3] += 1
        batch.append(Reading(3, seq[3], taken + 1, taken, frames.encode(3, seq[3], values)))
    for i in range(0, len(batch), 5000):
        store.commit(batch[i : i + 5000], {})
    store.close()
    for r in sorted(batch, key=lambda r: r.taken):
        values = frames.decode(r.frame).values()  # as stored: at the codec's resolution
        readings.setdefault(r.node, []).append((r.taken, values, r.qc))
    config = directory / "gateway.toml"
    config.write_text(CONFIG, encoding="utf-8")
    return Month(directory, config, readings)


def _usable(month: Month, node: int, name: str) -> Iterator[tuple[float, float]]:
    """(taken, value) of node's field as statistics may use it: not flagged, plausible."""
    for taken, values, qc in month.readings[node]:
        if name not in values or (qc and name in json.loads(qc)):
            continue
        if name == "temperature" and not -50 <= values[name] <= 60:
            continue
        yield taken, values[name]


def _reference_csv(month: Month, path: Path) -> int:
    """Hourly reference temperatures from node 1's own: FACTOR * the hour's mean + OFFSET +
    noise, for each local hour of October (the hour ending at the row's time). Written as
    a Latvian spreadsheet saves it: ';', decimal commas, local times with their offset."""
    hours: dict[int, list[float]] = defaultdict(list)
    for taken, value in _usable(month, 1, "temperature"):
        hours[math.ceil(taken / 3600)].append(value)
    rng = random.Random(5)
    lines = ["laiks;temperature;humidity"]
    for key in sorted(hours):
        end = key * 3600.0
        if len(hours[key]) < 5 or not START < end <= END:
            continue
        y = FACTOR * sum(hours[key]) / len(hours[key]) + OFFSET + rng.gauss(0, NOISE)
        stamp = _local(end).isoformat(timespec="minutes")
        lines.append(f"{stamp};{y:.2f};".replace(".", ","))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1


@dataclass
class Run:
    html: str
    tables: dict[tuple[str, str], list[dict[str, str]]]  # (key, node) -> rows by column title
    stdout: str


def _read_tables(path: Path) -> dict[tuple[str, str], list[dict[str, str]]]:
    out: dict[tuple[str, str], list[dict[str, str]]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    i = 0
    while i < len(rows):
        key, node = rows[i][0], rows[i][1]
        header = rows[i + 1]
        body = []
        i += 2
        while i < len(rows) and rows[i]:
            body.append(dict(zip(header, rows[i], strict=True)))
            i += 1
        out[key, node] = body
        i += 1
    return out


def _report(month: Month, name: str, *args: str) -> Run:
    out = month.directory / f"{name}.html"
    proc = meteolink(
        "report",
        "--config",
        str(month.config),
        "--data",
        str(month.directory),
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-31",
        "--out",
        str(out),
        *args,
    )
    assert proc.returncode == 0, proc.stderr
    html = out.read_text(encoding="utf-8")
    csv_path = Path(args[args.index("--csv") + 1]) if "--csv" in args else out.with_suffix(".csv")
    return Run(html, _read_tables(csv_path), proc.stdout)


@pytest.fixture(scope="module")
def english(month: Month) -> Run:
    ref = month.directory / "lvgmc.csv"
    _reference_csv(month, ref)
    return _report(month, "english", "--reference", str(ref))


def test_completeness_and_uptime_count_the_readings_and_the_silence(
    month: Month, english: Run
) -> None:
    rows = {r["Node"]: r for r in english.tables["stations", ""]}
    expected = (END - START) / INTERVAL  # 31 days and the extra hour of 25 October: 4470
    assert rows["1"]["Received"] == str(len(month.readings[1]))
    assert rows["1"]["Expected"] == "4470"
    assert rows["1"]["Completeness, %"] == "100.0"
    # Node 2: 36 readings missing; the gateway shows it offline 3 intervals into the gap.
    assert rows["2"]["Received"] == str(4470 - 36)
    assert float(rows["2"]["Completeness, %"]) == pytest.approx(100 * 4434 / expected, abs=0.05)
    offline = (GAP[1] - GAP[0] + INTERVAL) - 3 * INTERVAL
    uptime = 100 * (1 - offline / (END - START))
    assert float(rows["2"]["Uptime, %"]) == pytest.approx(uptime, abs=0.05)
    assert float(rows["1"]["Uptime, %"]) == 100.0
    # Node 1's two flagged readings and its 75 °C are left out and counted.
    assert rows["1"]["Values left out (QC)"] == "3"
    quality = english.tables["quality", ""]
    assert [(r["Node"], r["Field"], r["Values"]) for r in quality] == [
        ("1", "Air temperature", "3")
    ]


def _daily(month: Month, node: int, name: str) -> dict[str, list[float]]:
    days: dict[str, list[float]] = defaultdict(list)
    for taken, value in _usable(month, node, name):
        days[_local(taken).date().isoformat()].append(value)
    return days


@pytest.mark.parametrize("name", ["temperature", "humidity", "pressure", "battery"])
def test_daily_min_mean_max_are_the_local_days_of_the_stored_values(
    month: Month, english: Run, name: str
) -> None:
    days = _daily(month, 1, name)
    assert len(days) == 31
    assert len(days["2026-10-25"]) == 150  # the clocks went back: 25 hours
    table = english.tables["daily", "1"]
    assert [r["Date"] for r in table] == sorted(days)
    label = {
        "temperature": "Air temperature, °C",
        "humidity": "Relative humidity, %RH",
        "pressure": "Station pressure, hPa",
        "battery": "Battery, V",
    }[name]
    for row in table:
        values = days[row["Date"]]
        low, high, mean = min(values), max(values), sum(values) / len(values)
        assert float(row[f"{label} min"]) == pytest.approx(low, abs=1e-9)
        assert float(row[f"{label} max"]) == pytest.approx(high, abs=1e-9)
        digits = len(row[f"{label} mean"].split(".")[1])
        assert float(row[f"{label} mean"]) == pytest.approx(mean, abs=0.51 * 10**-digits)


def test_frost_days_and_the_coldest_night(month: Month, english: Run) -> None:
    """A frost day: the day's minimum temperature below 0 °C (ETCCDI index FD, as listed
    in WMO-TD No. 1500, Guidelines on Analysis of extremes in a changing climate, 2009)."""
    days = _daily(month, 1, "temperature")
    frost = sum(1 for values in days.values() if min(values) < 0)
    assert frost >= 1, "the forced cold snap should freeze at least one day"
    nights: dict[datetime.date, list[tuple[float, float]]] = defaultdict(list)
    for taken, value in _usable(month, 1, "temperature"):
        local = _local(taken)
        if local.hour >= 18:
            nights[local.date()].append((value, taken))
        elif local.hour < 6 and local.date() > datetime.date(2026, 10, 1):
            nights[local.date() - datetime.timedelta(days=1)].append((value, taken))
    night, lows = min(nights.items(), key=lambda kv: (min(kv[1])[0], kv[0]))
    low, at = min(lows)
    row = next(r for r in english.tables["frost", ""] if r["Node"] == "1")
    assert row["Frost days"] == str(frost)
    assert row["Days with temperature"] == "31"
    assert row["Coldest night"] == f"{night.isoformat()}/{night.day + 1:02d}"
    assert float(row["Lowest, °C"]) == pytest.approx(low, abs=1e-9)
    assert row["At"] == _local(at).strftime("%Y-%m-%d %H:%M")


def test_pm_exceedance_days_by_the_hand_made_days(english: Run) -> None:
    """Days 1, 2 and 4 are valid, 3 and 5 are not (Directive 2008/50/EC Annex XI A: 18 valid
    hours, an hour valid with 75 % of its readings). Limits: 2008/50/EC Annex XI B (PM10
    50 µg/m³), (EU) 2024/2881 Annex I (PM10 45, PM2.5 25), WHO 2021 AQG Table 0.1
    (PM10 45, PM2.5 15); a mean equal to the value (day 4's PM10 50) is no exceedance."""
    rows = {r["Pollutant"]: r for r in english.tables["pm", ""] if r["Node"] == "3"}
    pm10, pm25 = rows["PM10"], rows["PM2.5"]
    assert (pm10["Valid days"], pm10["Incomplete days"]) == ("3", "2")
    assert pm10["Days over the EU limit in law"] == "1 (allowed a year 35)"
    assert (pm10["Days over EU 2030"], pm10["Days over WHO 24-hour"]) == ("3", "3")
    assert float(pm10["Mean of valid days, µg/m³"]) == pytest.approx((60 + 47 + 50) / 3, abs=0.05)
    assert pm10["Highest daily mean, µg/m³"] == "60.0"
    assert pm25["Days over the EU limit in law"] == "no daily limit"
    assert (pm25["Days over EU 2030"], pm25["Days over WHO 24-hour"]) == ("1", "2")
    daily = {r["Date"]: r for r in english.tables["pm_daily", "3"]}
    assert daily["2026-10-03"]["PM10 valid hours"] == "12"
    assert daily["2026-10-03"]["PM10, µg/m³ mean"] == ""
    assert daily["2026-10-05"]["PM10 valid hours"] == "0"
    assert daily["2026-10-02"]["PM10, µg/m³ mean"] == "47.0"
    # The simulated air station counts its days too: the month, less nothing.
    station = {r["Pollutant"]: r for r in english.tables["pm", ""] if r["Node"] == "2"}
    assert station["PM10"]["Valid days"] == "31"


def test_which_eu_act_is_law_on_a_date() -> None:
    """Directive (EU) 2024/2881, Article 32 and Annex I: 2008/50/EC repealed from 12
    December 2026; the recast's own limit values from 1 January 2030."""
    assert air_limits.law_on(datetime.date(2026, 12, 11)) == "2008/50/EC"
    assert air_limits.law_on(datetime.date(2026, 12, 12)) == "2024/2881-transitional"
    assert air_limits.in_force(datetime.date(2029, 12, 31))["pm10"].daily == 50
    assert air_limits.in_force(datetime.date(2030, 1, 1))["pm10"].daily == 45
    assert air_limits.in_force(datetime.date(2030, 1, 1))["pm2_5"].daily == 25


def test_the_fitted_calibration_comes_back_within_its_uncertainty(
    month: Month, english: Run
) -> None:
    row = next(r for r in english.tables["reference", ""] if r["Node"] == "1")
    factor, factor_se = float(row["Factor"]), float(row["Factor ±"])
    offset, offset_se = float(row["Offset"]), float(row["Offset ±"])
    assert int(row["Hours"]) > 700
    # Honest: the truth within 3 standard errors; useful: the errors small.
    assert abs(factor - FACTOR) < 3 * factor_se and factor_se < 0.01
    assert abs(offset - OFFSET) < 3 * offset_se and offset_se < 0.1
    assert float(row["r"]) > 0.99
    assert float(row["RMSE"]) > NOISE * 0.8
    # What to paste: valid TOML for the gateway, from the day after --to as the report's
    # days are counted, local midnight in --tz (a bare TOML date would be 00:00 UTC, and
    # the first two hours of 1 November in Riga would keep the old calibration).
    pasted = tomllib.loads(english.stdout)
    (entry,) = pasted["nodes"]["1"]["calibration"]
    assert entry["field"] == "temperature"
    assert entry["from"] == datetime.datetime(2026, 11, 1, tzinfo=RIGA)
    config_file = month.directory / "pasted.toml"
    config_file.write_text(CONFIG + english.stdout, encoding="utf-8")
    (applied,) = gateway_config.load(config_file).nodes[1].calibrations
    assert applied.since == END
    assert entry["factor"] == pytest.approx(factor, abs=1e-4)
    assert entry["offset"] == pytest.approx(offset, abs=1e-3)
    assert "[[nodes.1.calibration]]" in english.html


def test_an_offset_alone_is_printed_when_the_factor_is_one(month: Month, tmp_path: Path) -> None:
    """Reference = station - 0.4 + noise: the factor is within 2 standard errors of 1, so
    the calibration is the mean difference, with no factor line."""
    rng = random.Random(9)
    lines = ["time,temperature"]
    hours: dict[int, list[float]] = defaultdict(list)
    for taken, value in _usable(month, 1, "temperature"):
        hours[math.ceil(taken / 3600)].append(value)
    truth = []
    for key in sorted(hours)[1:-1]:
        mean = sum(hours[key]) / len(hours[key])
        y = mean - 0.4 + rng.gauss(0, NOISE)
        truth.append(y - mean)
        stamp = datetime.datetime.fromtimestamp(key * 3600.0, datetime.UTC)
        lines.append(f"{stamp.isoformat().replace('+00:00', 'Z')},{y:.3f}")
    ref = tmp_path / "ref.csv"
    ref.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = _report(month, "offset", "--reference", str(ref), "--csv", str(tmp_path / "o.csv"))
    entry = tomllib.loads(run.stdout)["nodes"]["1"]["calibration"][0]
    assert "factor" not in entry
    row = next(r for r in _read_tables(tmp_path / "o.csv")["reference", ""] if r["Node"] == "1")
    se = float(row["Offset only ±"])
    assert abs(entry["offset"] - -0.4) < 3 * se and se < 0.02
    assert entry["offset"] == pytest.approx(float(row["Offset only"]), abs=1e-3)


def test_the_charts_have_a_point_a_day(english: Run) -> None:
    assert 'aria-label="Battery: Cēsis school roof" data-points="31"' in english.html
    assert 'aria-label="RSSI: Cēsis school roof" data-points="31"' in english.html
    assert 'aria-label="Battery: PM by hand" data-points="5"' in english.html  # 1-5 October
    assert 'aria-label="RSSI: Valmiera market"' not in english.html  # a UART: no RSSI


def test_a_latvian_report(month: Month) -> None:
    run = _report(month, "latviski", "--lang", "lv")
    assert '<html lang="lv">' in run.html
    assert "<h1>Laikapstākļu un gaisa kvalitātes pārskats</h1>" in run.html
    assert "Gaisa temperatūra, °C min" in run.html  # gateway/labels.py's words
    rows = {r["Mezgls"]: r for r in run.tables["stations", ""]}
    assert rows["2"]["Pilnīgums, %"] == "99.2"  # the CSV keeps the point for programs
    assert '<td class="n">99,2</td>' in run.html  # the page writes a decimal comma
    assert "Sala dienas" in run.html


READER_VARIANTS = {
    "iso-z.csv": "time,temperature\n2026-10-01T10:00:00Z,1.5\n2026-10-01T11:00:00Z,\n",
    "local.csv": "Time;Temperature\n2026-10-01 13:00;1,5\n2026-10-01 14:00;−0,5\n",
    "dotted.csv": "\ufefflaiks\ttemperature\n01.10.2026 13:00\t1,5\n01.10.2026 14:00\t-0,5\n",
}


@pytest.mark.parametrize("name", sorted(READER_VARIANTS))
def test_the_reference_reader_takes_what_spreadsheets_write(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(READER_VARIANTS[name], encoding="utf-8")
    ref = reference.read(path, RIGA, START, END)
    first = datetime.datetime(2026, 10, 1, 13, tzinfo=RIGA).timestamp()  # = 10:00Z
    assert ref.fields == ("temperature",)
    key = ref.hour_key(first)
    assert ref.hours[key] == {"temperature": 1.5}
    assert ref.hour_end(key) == first
    # A reading at 12:20 local falls in the hour ending 13:00, one at 13:00 too.
    assert ref.hour_key(first - 2400) == key == ref.hour_key(first)


ERRORS: dict[str, tuple[tuple[str, ...], str]] = {
    "bad date": (
        ("--from", "2026-13-01", "--to", "2026-10-31"),
        "--from '2026-13-01' is not a date (give 2026-11-01 or 2026-11-01T06:00)",
    ),
    "backwards": (
        ("--from", "2026-10-31", "--to", "2026-10-01"),
        "--to 2026-10-01 is not after --from 2026-10-31 (give a later --to)",
    ),
    "bad zone": (
        ("--from", "2026-10-01", "--to", "2026-10-31", "--tz", "Europe/Rigaa"),
        "--tz 'Europe/Rigaa' is not a time zone (give an IANA name such as Europe/Riga)",
    ),
    "empty period": (
        ("--from", "2025-01-01", "--to", "2025-01-31"),
        "no readings taken from 2025-01-01 to 2025-01-31 (Europe/Riga) in {data}/readings.db"
        " (give dates the store holds: `meteolink export` lists them)",
    ),
    "no reference file": (
        ("--from", "2026-10-01", "--to", "2026-10-31", "--reference", "{tmp}/none.csv"),
        "{tmp}/none.csv: no such file (give the reference CSV's path)",
    ),
    "bad number": (
        ("--from", "2026-10-01", "--to", "2026-10-31", "--reference", "{tmp}/bad.csv"),
        "{tmp}/bad.csv: line 3: temperature 'warm' is not a number (give e.g. -1.4 or -1,4)",
    ),
    "bad time": (
        ("--from", "2026-10-01", "--to", "2026-10-31", "--reference", "{tmp}/when.csv"),
        "{tmp}/when.csv: line 2: 'noon' is not a time (give 2026-11-01T13:00 or 01.11.2026 13:00)",
    ),
    "bad column": (
        ("--from", "2026-10-01", "--to", "2026-10-31", "--reference", "{tmp}/temp.csv"),
        "{tmp}/temp.csv: line 1: column 'temp' is not a meteolink field (name each column as"
        " `meteolink fields` lists them: temperature, pm2_5...)",
    ),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_each_mistake_is_one_line_and_status_2(month: Month, tmp_path: Path, case: str) -> None:
    (tmp_path / "bad.csv").write_text(
        "time,temperature\n2026-10-02T10:00Z,1.5\n2026-10-02T11:00Z,warm\n", encoding="utf-8"
    )
    (tmp_path / "when.csv").write_text("time,temperature\nnoon,1.5\n", encoding="utf-8")
    (tmp_path / "temp.csv").write_text("time,temp\n2026-10-02T10:00Z,1.5\n", encoding="utf-8")
    args, message = ERRORS[case]
    fill = {"tmp": str(tmp_path), "data": str(month.directory)}
    proc = meteolink(
        "report",
        "--config",
        str(month.config),
        "--data",
        str(month.directory),
        "--out",
        str(tmp_path / "r.html"),
        *(a.format(**fill) for a in args),
    )
    assert (
        proc.stderr.encode("latin-1").decode() == f"meteolink: report: {message.format(**fill)}\n"
    )
    assert proc.returncode == 2
    assert not (tmp_path / "r.html").exists()


def test_no_store_is_said(month: Month, tmp_path: Path) -> None:
    proc = meteolink(
        "report", "--config", str(month.config), "--data", str(tmp_path),
        "--from", "2026-10-01", "--to", "2026-10-31",
    )  # fmt: skip
    assert proc.stderr == (
        f"meteolink: report: {tmp_path}/readings.db: no store there (give the gateway's"
        " --data or --config)\n"
    )
    assert proc.returncode == 2


def test_a_store_that_cannot_be_read_is_one_line_not_a_traceback(
    month: Month, tmp_path: Path
) -> None:
    """A file with a readings table that is not meteolink's: said in one line, status 1."""
    import sqlite3

    db = sqlite3.connect(tmp_path / "readings.db")
    db.execute("CREATE TABLE readings (x)")
    db.commit()
    db.close()
    proc = meteolink(
        "report", "--config", str(month.config), "--data", str(tmp_path),
        "--from", "2026-10-01", "--to", "2026-10-31",
    )  # fmt: skip
    assert proc.stderr.startswith(f"meteolink: report: {tmp_path}/readings.db: cannot be read: ")
    assert proc.stderr.endswith(" (is it a meteolink store?)\n")
    assert len(proc.stderr.splitlines()) == 1
    assert proc.returncode == 1


# --- the page in a real browser -------------------------------------------------------
def _requests(driver: Any, url: str) -> list[str]:
    """The URLs the browser asked for while opening url, url itself left out."""
    driver.get_log("performance")  # what came before
    driver.get(url)
    asked = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            asked.append(message["params"]["request"]["url"])
    # The browser's own pages (a fresh profile's new tab: chrome://...) are no request
    # of the report's, and a data: URL is inside the file.
    return [
        u for u in asked if u != url and not u.startswith(("chrome:", "chrome-untrusted:", "data:"))
    ]


def test_the_page_opens_in_a_browser_and_asks_for_nothing(
    month: Month, english: Run, chrome: Callable[..., Any], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    page = month.directory / "english.html"
    report_browser = chrome(log_requests=True)
    assert _requests(report_browser, page.as_uri()) == []
    assert report_browser.title == "Weather and air quality report"
    svgs = report_browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(svgs) == 2 + 1 + 1  # battery and RSSI of node 1; battery of nodes 2 and 3
    assert all(s.size["height"] > 50 for s in svgs)
    stations = report_browser.find_elements(By.CSS_SELECTOR, "table.stations tbody tr")
    assert len(stations) == 3
    assert report_browser.save_screenshot(str(month.directory / "report.png"))
    for_the_docs(month.directory / "report.png", "report.png")
    # The check can fail: the same page with one image from elsewhere is caught.
    leaky = tmp_path / "leaky.html"
    leaky.write_text(
        english.html.replace("<body>", '<body><img src="http://127.0.0.1:9/x.png">'),
        encoding="utf-8",
    )
    assert _requests(report_browser, leaky.as_uri()) == ["http://127.0.0.1:9/x.png"]


def test_the_printed_calibration_applies_to_raw_values() -> None:
    """The report fits calibrated values; the config's entry applies to raw ones
    (gateway/calibration.py), so the fit is composed with the entry in force:
    reference = a * (f0 * raw + o0) + b."""
    fitted = comparison.Comparison(
        1, "temperature", 700, 0.0, 0.1, 0.99, 1.05, 0.001, -0.2, 0.01, -0.5, 0.01, 700.0
    )
    current = Calibration("temperature", 0.0, offset=0.3, factor=0.98)
    lines = comparison.calibration_lines(fitted, current, "2026-11-01")
    entry = tomllib.loads("\n".join(lines))["nodes"]["1"]["calibration"][0]
    assert entry["factor"] == pytest.approx(1.05 * 0.98, abs=1e-5)
    assert entry["offset"] == pytest.approx(1.05 * 0.3 - 0.2, abs=1e-3)


def test_a_date_in_to_is_included_a_date_time_is_the_end() -> None:
    month_ = period.period("2026-10-01", "2026-10-31")
    assert (month_.start, month_.end) == (START, END)
    assert len(month_.days) == 31 and month_.day_after() == datetime.date(2026, 11, 1)
    # 06:00 to 06:00 local (no offset given: --tz's): two local days touched, 24 hours.
    night = period.period("2026-10-01T06:00", "2026-10-02T06:00")
    assert night.days == (datetime.date(2026, 10, 1), datetime.date(2026, 10, 2))
    assert night.start == datetime.datetime(2026, 10, 1, 6, tzinfo=RIGA).timestamp()
    assert night.seconds == 86400
    utc = period.period("2026-10-01T00:00Z", "2026-10-01T12:00+00:00", "UTC")
    assert utc.days == (datetime.date(2026, 10, 1),)


def test_a_calibration_changed_within_the_period_is_fitted_from_the_raw_values(
    month: Month, tmp_path: Path
) -> None:
    """Node 1 was calibrated +1.0 °C from 16 October, half-way through the month; the
    reference reads raw - 0.4. Published values are raw for the first half and raw + 1.0
    for the second: the entry to paste must still be raw - 0.4, not the composition of
    the half-and-half mean difference with the +1.0 in force at the end."""
    config = tmp_path / "gateway.toml"
    config.write_text(
        CONFIG
        + '\n[[nodes.1.calibration]]\nfield = "temperature"\nfrom = 2026-10-16\noffset = 1.0\n',
        encoding="utf-8",
    )
    rng = random.Random(11)
    hours: dict[int, list[float]] = defaultdict(list)
    for taken, value in _usable(month, 1, "temperature"):
        hours[math.ceil(taken / 3600)].append(value)
    lines = ["time,temperature"]
    for key in sorted(hours)[1:-1]:
        y = sum(hours[key]) / len(hours[key]) - 0.4 + rng.gauss(0, NOISE)
        stamp = datetime.datetime.fromtimestamp(key * 3600.0, datetime.UTC)
        lines.append(f"{stamp.isoformat().replace('+00:00', 'Z')},{y:.3f}")
    ref = tmp_path / "ref.csv"
    ref.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "changed.html"
    proc = meteolink(
        "report",
        *("--config", str(config), "--data", str(month.directory)),
        *("--from", "2026-10-01", "--to", "2026-10-31", "--out", str(out)),
        *("--reference", str(ref)),
    )
    assert proc.returncode == 0, proc.stderr
    (entry,) = tomllib.loads(proc.stdout)["nodes"]["1"]["calibration"]
    assert "factor" not in entry
    assert entry["offset"] == pytest.approx(-0.4, abs=0.05)


def test_local_reference_times_through_the_night_the_clocks_go_back(tmp_path: Path) -> None:
    """A spreadsheet in local time without offsets writes 03:00 twice on 25 October 2026
    in Riga (EEST ends at 04:00, the clocks go back to 03:00: Directive 2000/84/EC,
    Article 3, 01:00 GMT on the last Sunday of October). The second 03:00 is the hour
    after the first, not the same hour again."""
    path = tmp_path / "local.csv"
    rows = [("02:00", "1,0"), ("03:00", "2,0"), ("03:00", "3,0"), ("04:00", "4,0")]
    path.write_text(
        "laiks;temperature\n" + "".join(f"2026-10-25 {t};{v}\n" for t, v in rows),
        encoding="utf-8",
    )
    ref = reference.read(path, RIGA, START, END)
    utc = {
        datetime.datetime.fromtimestamp(ref.hour_end(k), datetime.UTC).strftime("%H:%M"): v
        for k, v in ref.hours.items()
    }
    # 02:00 EEST, 03:00 EEST, 03:00 EET, 04:00 EET
    assert utc == {
        "23:00": {"temperature": 1.0},
        "00:00": {"temperature": 2.0},
        "01:00": {"temperature": 3.0},
        "02:00": {"temperature": 4.0},
    }

"""`meteolink plan`: airtime against The Things Network's calculator, a real config's frame,
the duty cycle against the node's own limiter, the battery estimate by hand, and every error."""

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from meteolink.firmware import catalogue, dutycycle, frames
from meteolink.tools import board_file, plan_cmd, power
from tests.support.tools import FIRMWARE, meteolink

KEY = "000102030405060708090a0b0c0d0e0f"
G1 = 868_100_000
# A LoRa node as docs/plan.md shows it: BME280 and battery, keyed, SF9, every 10 minutes.
NODE: dict[str, Any] = {
    "node": 17,
    "key": KEY,
    "interval_s": 600,
    "sensors": ["bme280", "battery"],
    "transport": "lora",
    "lora": {"freq_hz": G1, "sf": 9},
}


def write(tmp_path: Path, config: dict[str, Any], name: str = "node.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


def plan_json(*args: str) -> dict[str, Any]:
    proc = meteolink("plan", "--json", *args)
    assert (proc.returncode, proc.stderr) == (0, "")
    result: dict[str, Any] = json.loads(proc.stdout.encode("latin-1").decode())
    return result


def error(*args: str) -> str:
    """The one line a user mistake prints, with exit status 2 and nothing on stdout."""
    proc = meteolink("plan", *args)
    assert (proc.returncode, proc.stdout) == (2, "")
    lines = proc.stderr.encode("latin-1").decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("meteolink: plan: ")
    return lines[0]


def float_airtime_ms(n: int, sf: int, bw_khz: float, cr: int = 5) -> float:
    """Semtech's formula (SX1276 datasheet 4.1.1.7) in floats, apart from airtime.py; cr: 4/cr."""
    t_sym = float(1 << sf) / bw_khz
    de = 1 if t_sym > 16 else 0
    payload = 8 + max(math.ceil((8 * n - 4 * sf + 28 + 16) / (4 * (sf - 2 * de))) * cr, 0)
    return (8 + 4.25 + payload) * t_sym


# The Things Network's airtime calculator, 37 bytes at 125 kHz, CR 4/5, explicit header, CRC.
@pytest.mark.parametrize(("sf", "ms"), [(7, 82.176), (9, 267.264), (12, 1974.272)])
def test_airtime_is_the_things_networks_calculators(sf: int, ms: float) -> None:
    assert plan_cmd.airtime_us(37, sf, 125, 5) == round(ms * 1000)


def test_a_real_configs_frame_and_its_airtime(tmp_path: Path) -> None:
    r = plan_json("--board", "heltec-v3", "--config", str(write(tmp_path, NODE)))
    # The frame the node sends: the codec's own, with its MIC.
    values = {"temperature": 21.5, "humidity": 45, "pressure": 1013, "battery": 3.9}
    frame = frames.encode(17, 1, values, bytes.fromhex(KEY))
    assert r["frame"]["bytes"] == len(frame) == 22
    assert r["frame"]["fields"] == list(values)
    assert r["frame"]["mic"] is True
    values["status"] = 1
    assert r["frame"]["with_status_bytes"] == len(frames.encode(17, 1, values, bytes.fromhex(KEY)))
    assert [row["sf"] for row in r["rows"]] == [7, 8, 9, 10, 11, 12]
    assert [row["sf"] for row in r["rows"] if row["configured"]] == [9]
    for row in r["rows"]:
        assert row["airtime_ms"] == pytest.approx(float_airtime_ms(22, row["sf"], 125), abs=1e-9)
    sf9 = r["rows"][2]
    # 205.824 ms, 6 frames an hour, of 36 s: 3.43 %; 144 a day of TTN's 30 s: 98.8 %.
    assert sf9["airtime_ms"] == 205.824
    assert sf9["duty_cycle_used_percent"] == pytest.approx(100 * 0.205824 * 6 / 36)
    assert sf9["ttn_fair_use_percent"] == pytest.approx(100 * 0.205824 * 144 / 30)
    assert r["lora"]["sub_band"] == {
        "low_hz": 868_000_000,
        "high_hz": 868_600_000,
        "duty_cycle_percent": 1.0,
        "airtime_per_hour_s": 36.0,
    }


def test_a_node_without_a_key_sends_no_mic_and_another_bandwidth_is_planned(
    tmp_path: Path,
) -> None:
    config = dict(NODE, key=None, lora={"freq_hz": 869_525_000, "sf": 7, "bw_khz": 250})
    r = plan_json("--board", "pico", "--config", str(write(tmp_path, config)))
    assert (r["frame"]["bytes"], r["frame"]["mic"]) == (18, False)
    assert r["rows"][0]["airtime_ms"] == pytest.approx(float_airtime_ms(18, 7, 250))
    assert r["lora"]["sub_band"]["duty_cycle_percent"] == 10.0


# docs/lora.md's table of the intervals at which the node's limiter never delays a reading.
@pytest.mark.parametrize(
    ("size", "expected"),
    [(28, [8, 14, 26, 46, 102, 189]), (32, [8, 15, 28, 51, 110, 209])],
)
def test_the_shortest_interval_is_the_limiters_as_docs_lora_md_gives_it(
    size: int, expected: list[int]
) -> None:
    got = []
    for sf in plan_cmd.SFS:
        air = plan_cmd.airtime_us(size, sf, 125, 5)
        legal = plan_cmd.legal_interval_s(air, dutycycle.allowance_us(G1))
        got.append(plan_cmd.limiter_interval_s(G1, air, legal))
    assert got == expected


def test_the_shortest_interval_really_is_never_held_back() -> None:
    # SF12 in the 0.1 % sub-band: one interval short of it, the limiter holds a frame back.
    freq, air = 863_500_000, plan_cmd.airtime_us(22, 12, 125, 5)
    legal = plan_cmd.legal_interval_s(air, dutycycle.allowance_us(freq))
    shortest = plan_cmd.limiter_interval_s(freq, air, legal)
    assert shortest is not None and shortest >= legal == math.ceil(air * 3600 / 3_600_000)

    def held_back(interval: int) -> bool:
        dc = dutycycle.DutyCycle()
        for t in range(0, 12 * 3600, interval):
            if dc.wait_s(freq, air, t):
                return True
            dc.spend(freq, air, t)
        return False

    assert not held_back(shortest)
    assert held_back(shortest - 1)


def test_too_short_an_interval_is_warned_about(tmp_path: Path) -> None:
    config = dict(NODE, interval_s=60, lora={"freq_hz": G1, "sf": 12})
    proc = meteolink("plan", "--board", "heltec-v2", "--config", str(write(tmp_path, config)))
    assert proc.returncode == 0
    assert "warning: a frame every 60 s is too often at SF12" in proc.stdout


def test_the_battery_estimate_by_hand(tmp_path: Path) -> None:
    # A Pico: no boot (it light-sleeps), a measured sleep current, an SX1276 at 87 mA.
    config = dict(NODE, lora={"freq_hz": G1, "sf": 7})
    args = ["--board", "pico", "--config", str(write(tmp_path, config))]
    r = plan_json(*args, "--battery-mah", "2000", "--sleep-ua", "100", "--cutoff-v", "3.5")
    sf7 = r["rows"][0]
    air = 56.576  # 22 bytes at SF7
    awake = 0 + 100 + 10 + air  # boot, firmware, BME280 (no light sleep under 20 ms), radio
    charge = 100 * 25 + 10 * 25 + air * (87 + 25) + 10 * 0.714  # µA·s: mA x ms
    charge += (600_000 - awake) * 100 / 1000  # asleep, at the battery
    # The 3.3 V rail through the Pico's converter (85 %, from 3.7 V); the sleep current is
    # the battery's already.
    asleep_uas = (600_000 - awake) * 100 / 1000
    rail_ua = (charge - asleep_uas) / 600
    battery_ua = rail_ua * 3.3 / (3.7 * 0.85) + asleep_uas / 600
    assert sf7["awake_ms"] == pytest.approx(awake)
    assert sf7["average_ua"] == pytest.approx(battery_ua)
    usable = 2000 * 0.9  # 90 % above 3.5 V
    years = usable * 1000 / battery_ua / 8766
    years /= 1 + 0.24 * years
    assert sf7["battery_years"] == pytest.approx(years)
    assert r["battery"]["usable_mah"] == pytest.approx(usable)
    assert r["battery"]["upper_bound"] is False
    # Twice the capacity, more than nearly twice the life (self-discharge costs more).
    twice = plan_json(*args, "--battery-mah", "4000", "--sleep-ua", "100", "--cutoff-v", "3.5")
    assert 1.5 * years < twice["rows"][0]["battery_years"] < 2 * years


def test_every_assumption_is_shown_with_its_source(tmp_path: Path) -> None:
    config = dict(NODE, ack=True, sensors=["bme280", "scd41", "pms5003", "battery"])
    path = str(write(tmp_path, config))
    r = plan_json("--board", "lilygo-t3-v1.6", "--config", path, "--battery-mah", "3000")
    battery = r["battery"]
    assert battery["upper_bound"] is True  # the board's own sleep current is not known
    shown = {a["what"]: a for a in battery["assumptions"]}
    for what in ("cut-off", "boot per wake", "regulator", "radio receiving", "5 V boost module"):
        assert shown[what]["source"], what
    assert shown["cut-off"]["value"] == 3.3
    assert shown["boot per wake"]["value"] == 300
    assert all(a["source"] for a in battery["assumptions"])
    loads = {ld["what"]: ld for ld in r["rows"][2]["loads"]}
    assert loads["pms5003"] == {"what": "pms5003", "ms": 30000, "ma": 100, "rail": "5 V"}
    assert loads["waiting on the sensors"]["ms"] == 30000
    assert "ack (+ MCU)" in loads
    # The text shows the same, with the upper bound said.
    proc = meteolink("plan", "--board", "lilygo-t3-v1.6", "--config", path, "--battery-mah", "3000")
    text = proc.stdout.encode("latin-1").decode()
    assert "battery life (at most)" in text
    assert "cut-off: 3.3 V (assumed:" in text
    assert "boot per wake: 300 ms (assumed:" in text
    assert "give it as --sleep-ua" in text
    assert max(len(line) for line in text.splitlines()) <= plan_cmd.WIDTH


def test_boot_time_and_cut_off_are_options(tmp_path: Path) -> None:
    path = str(write(tmp_path, NODE))
    base = plan_json("--board", "heltec-v3", "--config", path, "--battery-mah", "2000")
    quick = plan_json(
        "--board", "heltec-v3", "--config", path, "--battery-mah", "2000", "--boot-ms", "150"
    )
    assert quick["rows"][2]["awake_ms"] == pytest.approx(base["rows"][2]["awake_ms"] - 150)
    assert quick["rows"][2]["battery_years"] > base["rows"][2]["battery_years"]
    high = plan_json(
        "--board", "heltec-v3", "--config", path, "--battery-mah", "2000", "--cutoff-v", "3.7"
    )
    assert high["battery"]["usable_mah"] == pytest.approx(2000 * 0.62)
    shown = {a["what"]: a for a in high["battery"]["assumptions"]}
    assert shown["cut-off"] == {
        "what": "cut-off",
        "value": 3.7,
        "unit": "V",
        "source": "given (--cutoff-v)",
    }


def test_without_a_capacity_the_current_is_planned_and_the_life_asked_for(tmp_path: Path) -> None:
    proc = meteolink("plan", "--board", "heltec-v3", "--config", str(write(tmp_path, NODE)))
    assert proc.returncode == 0
    assert "give --battery-mah" in proc.stdout
    assert "battery life" not in proc.stdout.splitlines()[4]  # the table's head


def test_the_sim_board_plans_airtime_only(tmp_path: Path) -> None:
    r = plan_json("--board", "sim", "--config", str(write(tmp_path, NODE)))
    assert r["battery"] is None
    assert "average_ua" not in r["rows"][0]


def test_the_drivers_waits_are_the_power_tables() -> None:
    def const(path: str, name: str) -> int:
        text = (FIRMWARE / path).read_text("utf-8")
        return int(re.search(rf"^{name} = const\((\d+)\)", text, re.M).group(1))  # type: ignore[union-attr]

    def high(path: str, name: str) -> int:
        text = (FIRMWARE / path).read_text("utf-8")
        table = re.search(rf'^{name} = b"([^"]+)"', text, re.M).group(1)  # type: ignore[union-attr]
        return int(table.split("\\x")[-1], 16)  # HIGH precision, the drivers' default

    waits = power.SENSORS
    assert waits["bme280"].measure_ms == const("bme280.py", "_MEASURE_MS")
    assert waits["sht4x"].measure_ms == high("sht4x.py", "_MAX_MS")
    assert waits["sht3x"].measure_ms == high("sht3x.py", "_WAIT_MS")
    assert waits["scd41"].measure_ms == const("scd4x.py", "_SINGLE_SHOT_MS")
    assert waits["sgp40"].measure_ms == const("sgp40.py", "_MEASURE_MS")
    assert const("sgp40.py", "_HEAT_UP_MS") + waits["sgp40"].measure_ms == power.SGP40_SAMPLE_MS
    assert waits["pms5003"].measure_ms == const("pms5003.py", "_WARMUP_MS")
    assert waits["sds011"].measure_ms == const("sds011.py", "_WARMUP_MS")
    assert const("sensors.py", "VOC_SAMPLE_MS") == power.SGP40_SAMPLE_S * 1000
    assert const("sensors.py", "_SENSOR_POWER_UP_MS") == plan_cmd.SENSOR_POWER_UP_MS
    assert const("port_esp32.py", "_LIGHTSLEEP_MIN_MS") == plan_cmd.LIGHTSLEEP_MIN_MS


def test_every_sensor_mcu_and_radio_has_its_figures() -> None:
    assert set(power.SENSORS) == set(catalogue.SENSORS)
    for name in board_file.known_boards():
        data = board_file.load_board(name).data
        if name == "sim":
            continue
        assert data["mcu"] in power.MCUS, name
        if data["radio"] is not None:
            assert data["radio"]["chip"] in power.RADIOS, name
            assert name in power.BOARDS, name


def test_the_cells_share_above_a_cut_off() -> None:
    assert power.usable_share(2.8) == 1.0
    assert power.usable_share(3.3) == pytest.approx(0.98)
    assert power.usable_share(3.45) == pytest.approx(0.925)
    assert power.usable_share(4.2) == 0.0


# Every user mistake: one line, what was wrong and what to do, exit status 2.


def test_a_missing_config_is_one_line(tmp_path: Path) -> None:
    line = error("--board", "heltec-v3", "--config", str(tmp_path / "nope.json"))
    assert "nope.json: no such file (give the node's config.json" in line


def test_an_invalid_config_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{node: 1")
    assert "not valid JSON" in error("--board", "heltec-v3", "--config", str(bad))
    wrong = write(tmp_path, dict(NODE, lora={"freq_hz": G1, "sf": 13}))
    line = error("--board", "heltec-v3", "--config", str(wrong))
    assert "config.json: lora.sf: expected an integer 7..12, got 13" in line


@pytest.mark.parametrize("transport", ["uart", "ble"])
def test_a_uart_or_ble_node_is_refused(tmp_path: Path, transport: str) -> None:
    config = {"node": 3, "transport": transport, "sensors": ["bme280"]}
    line = error("--board", "esp32-devkitc", "--config", str(write(tmp_path, config)))
    assert f'transport "{transport}": plan works out LoRa airtime' in line
    assert 'set "transport": "lora"' in line


def test_a_bridge_is_refused(tmp_path: Path) -> None:
    config = {"node": 1, "role": "bridge", "transport": "lora", "sensors": []}
    line = error("--board", "heltec-v3", "--config", str(write(tmp_path, config)))
    assert "a bridge listens all the time" in line


def test_a_board_without_a_radio_is_refused(tmp_path: Path) -> None:
    line = error("--board", "esp32-devkitc", "--config", str(write(tmp_path, NODE)))
    assert 'transport: "lora" needs a LoRa radio and board esp32-devkitc has none' in line


def test_an_unknown_board_is_one_line(tmp_path: Path) -> None:
    line = error("--board", "heltec-v9", "--config", str(write(tmp_path, NODE)))
    assert "unknown board 'heltec-v9'" in line


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--battery-mah", "0", "--battery-mah 0: give 1 to 1e+06 mAh"),
        ("--battery-mah", "nan", "--battery-mah nan: give 1 to 1e+06 mAh"),
        ("--battery-mah", "lots", "argument --battery-mah: invalid float value: 'lots'"),
        ("--cutoff-v", "5", "--cutoff-v 5: give 2.5 to 4.2 V"),
        ("--boot-ms", "-1", "--boot-ms -1: give 0 to 60000 ms"),
        ("--sleep-ua", "-3", "--sleep-ua -3: give 0 to 1e+06 µA"),
    ],
)
def test_a_wrong_option_is_one_line(tmp_path: Path, option: str, value: str, says: str) -> None:
    line = error("--board", "heltec-v3", "--config", str(write(tmp_path, NODE)), option, value)
    assert says in line


def test_the_options_are_required() -> None:
    line = error("--board", "heltec-v3")
    assert "the following arguments are required: --config" in line
    assert "meteolink plan --help" in line

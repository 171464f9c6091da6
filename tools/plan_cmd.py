"""`meteolink plan`: a LoRa node's airtime, duty cycle and battery life, before the mast.

From the node's config.json and its board (what `meteolink flash` takes): the frame the node
sends (encoded by the real encoder, with its MIC when the node has a key), its time on air at
SF7-SF12 at the configured bandwidth (firmware/airtime.py), the share of the EU868 sub-band's
duty cycle it uses and the shortest interval the node's own limiter never holds a frame back
at (firmware/dutycycle.py), the share of The Things Network's 30 s a day of fair use, and the
battery life for a given capacity (tools/power.py, the model `make bench` uses too), every
figure it rests on printed with its source or "assumed".

Only LoRa nodes: a UART or BLE node has no airtime to plan, and a bridge listens all the time
on USB power; both are refused with one line.
"""

import argparse
import json
import math
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meteolink.firmware import airtime, catalogue, dutycycle, frames
from meteolink.firmware import node_config as nodeconfig
from meteolink.tools import power
from meteolink.tools.board_file import Board, add_board_argument, check_pair, load_board
from meteolink.tools.cli import Command, CommandError

SFS = tuple(range(7, 13))
TTN_FAIR_USE_S = 30  # uplink airtime per node per day, The Things Network's fair use policy
PREAMBLE = 8  # symbols: what firmware/lora_link.py configures
# The least nap after switching the sensors' supply on (firmware/sensors.py), and the
# shortest nap that light-sleeps on an ESP32 (firmware/port_esp32.py); shorter ones run.
SENSOR_POWER_UP_MS = 10
LIGHTSLEEP_MIN_MS = 20


def _arguments(p: argparse.ArgumentParser) -> None:
    add_board_argument(p)
    p.add_argument(
        "--config", required=True, type=Path, metavar="FILE", help="the node's config.json"
    )
    p.add_argument(
        "--battery-mah",
        type=float,
        metavar="MAH",
        help="the capacity of the node's Li-ion cell in mAh, for the battery life",
    )
    p.add_argument(
        "--cutoff-v",
        type=float,
        metavar="VOLTS",
        help="the battery voltage below which the node stops (default: the board's regulator)",
    )
    p.add_argument(
        "--boot-ms",
        type=float,
        metavar="MS",
        help="the time from waking to main.py (default: 300 ms on an ESP32, 0 on an RP2040)",
    )
    p.add_argument(
        "--sleep-ua",
        type=float,
        metavar="UA",
        help="the whole node's current asleep, measured at the battery, in µA"
        " (instead of the datasheets' sum)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")


def _check_range(value: float | None, option: str, low: float, high: float, unit: str) -> None:
    if value is not None and not (low <= value <= high):  # also false for NaN
        raise CommandError(f"{option} {value:g}: give {low:g} to {high:g} {unit}".rstrip())


def load_config(path: Path) -> nodeconfig.Config:
    """The node's checked config.json, or one line saying what is wrong with it."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise CommandError(
            f"{path}: no such file (give the node's config.json, the one meteolink flash takes)"
        ) from None
    except OSError as e:
        raise CommandError(f"{path}: cannot read it ({e.strerror})") from None
    except UnicodeDecodeError:
        raise CommandError(f"config.json: (file): not UTF-8 text (in {path})") from None
    try:
        return nodeconfig.parse(text)
    except nodeconfig.ConfigError as e:
        raise CommandError(f"{e} (in {path})") from None


@dataclass(frozen=True)
class Frame:
    """The frame a node sends each cycle, as the real encoder builds it."""

    size: int  # bytes on air, every cycle
    with_status: int  # with the status field: after a reset, on low battery, a sensor fault
    fields: tuple[str, ...]
    mic: bool
    ack_size: int  # the gateway's acknowledgement, in ack mode


def frame_of(cfg: nodeconfig.Config) -> Frame:
    fids = sorted(
        {fid for s in cfg.sensors for fid, _ in catalogue.SENSORS[s.kind][catalogue.FIELDS]}
    )
    enc = frames.Encoder(cfg.node, cfg.key)
    for fid in fids:
        enc.put_raw(fid, frames.FIELDS[fid][4])  # the lowest raw value: every value is 2 bytes
    size = len(enc.encode(1))
    enc.put_raw(frames.STATUS, frames.RESET_POWER_ON)
    with_status = len(enc.encode(1))
    names = tuple(frames.field_name(fid) for fid in fids)
    ack = len(frames.encode_ack(cfg.node, 1, cfg.key))
    return Frame(size, with_status, names, cfg.key is not None, ack)


def airtime_us(size: int, sf: int, bw_khz: int, cr: int) -> int:
    """Time on air of `size` bytes as the node's radio sends them (explicit header, CRC on)."""
    return airtime.time_on_air_us(size, sf, bw_khz, cr, PREAMBLE)


def legal_interval_s(air_us: int, allowance_us: int) -> int:
    """The shortest whole interval at which frames of air_us stay within the sub-band's share."""
    return int(-(-air_us * dutycycle.WINDOW_S // allowance_us))


def limiter_interval_s(freq_hz: int, air_us: int, start: int) -> int | None:
    """The shortest whole interval from `start` at which the node's limiter never holds a
    frame back, sending on a steady schedule; None if no interval up to 10 x start is.

    The limiter's state depends on the frames of its last 22 buckets of 180 s, so a schedule
    that passes one warm-up (22 buckets) and then a whole period of its phase against the
    buckets (lcm(interval, 180) s) passes forever.
    """
    for interval in range(max(start, 1), 10 * max(start, 1) + 1):
        horizon = 22 * 180 + math.lcm(interval, 180) + interval
        dc = dutycycle.DutyCycle()
        for t in range(0, horizon, interval):
            if dc.wait_s(freq_hz, air_us, t) != 0:
                break
            dc.spend(freq_hz, air_us, t)
        else:
            return interval
    return None


@dataclass
class Options:
    battery_mah: float | None
    cutoff_v: float | None
    boot_ms: float | None
    sleep_ua: float | None


@dataclass
class Estimate:
    """One SF's current budget: the loads of a cycle, the sleep per rail, the result."""

    loads: list[power.Load]
    awake_ms: float
    sleep_ua: dict[str, float]
    battery_ua: float
    years: float | None


@dataclass
class Model:
    """The board's and sensors' figures for one node, and the assumptions shown with them."""

    mcu: power.Mcu
    radio: power.Radio
    tx: power.Figure
    board: power.BoardPower
    boot: power.Figure
    cutoff: power.Figure
    supply: power.Supply
    usable_mah: float | None
    sgp40: bool
    # The board switches the sensors' supply off while the node sleeps (not with an SGP40:
    # the node keeps it powered to sample it between cycles, firmware/node.py).
    switched: bool
    unknown: list[str] = field(default_factory=list)  # what is not counted: an upper bound


def _nap_ma(mcu: power.Mcu, ms: float) -> float:
    return mcu.nap_ma.value if ms >= LIGHTSLEEP_MIN_MS else mcu.active_ma.value


def model_of(board: Board, cfg: nodeconfig.Config, opts: Options) -> Model | None:
    """The figures for this board, or None when there are none (the sim board)."""
    mcu = power.MCUS.get(str(board.data["mcu"]))
    radio_data = board.data["radio"] or {}
    chip = str(radio_data.get("chip"))
    radio = power.RADIOS.get(chip)
    if mcu is None or radio is None:
        return None
    bp = power.BOARDS.get(board.name, power.OTHER_BOARD)
    boot = mcu.boot_ms
    if opts.boot_ms is not None:
        boot = power.Figure(opts.boot_ms, "given (--boot-ms)")
    cutoff = bp.cutoff_v
    if opts.cutoff_v is not None:
        cutoff = power.Figure(opts.cutoff_v, "given (--cutoff-v)")
    supply = power.Supply(bp.regulator_kind, power.CELL_MEAN_V.value, bp.regulator.value)
    usable = None
    if opts.battery_mah is not None:
        usable = opts.battery_mah * power.usable_share(cutoff.value)
    kinds = {s.kind for s in cfg.sensors}
    unknown: list[str] = []
    if opts.sleep_ua is None:
        if bp.own_ua is None:
            unknown.append("the board's own current asleep (its regulator, USB-serial chip, LEDs)")
        if bp.divider_ua is None and "battery" in kinds:
            unknown.append("its battery divider's current")
    return Model(
        mcu,
        radio,
        power.radio_tx(chip, cfg.lora.power_dbm),
        bp,
        boot,
        cutoff,
        supply,
        usable,
        "sgp40" in kinds,
        board.data["sensor_power"] is not None and "sgp40" not in kinds,
        unknown,
    )


def estimate(
    m: Model, cfg: nodeconfig.Config, air_ms: float, ack_ms: float, opts: Options
) -> Estimate:
    """The current budget of one cycle at a frame's airtime (air_ms), and the battery life."""
    active = m.mcu.active_ma.value
    # What the MCU does while awake, one after the other: their sum is the awake time.
    awake = [
        power.Load("boot", m.boot.value, active),
        power.Load("firmware", power.FIRMWARE_MS.value, active),
    ]
    rows = [catalogue.SENSORS[s.kind] for s in cfg.sensors]
    if m.switched:
        up = max([SENSOR_POWER_UP_MS] + [r[catalogue.POWER_MS] for r in rows])
        awake.append(power.Load("sensors' power-up", up, _nap_ma(m.mcu, up)))
    # Every sensor starts at once, drawing meanwhile; the MCU naps through the longest.
    sensing: list[power.Load] = []
    for s in cfg.sensors:
        sensor = power.SENSORS[s.kind]
        ms = float(sensor.measure_ms)
        if s.kind == "scd41" and m.switched:
            ms *= 2  # powered up each cycle: the first single shot is thrown away
        elif s.kind == "sgp40":
            ms = power.SGP40_SAMPLE_MS
        if ms:
            sensing.append(power.Load(s.kind, ms, sensor.measure_ma.value, sensor.rail))
    wait = max([0.0] + [load.ms for load in sensing])
    awake.append(power.Load("waiting on the sensors", wait, _nap_ma(m.mcu, wait)))
    awake.append(power.Load("transmitting (+ MCU)", air_ms, m.tx.value + active))
    if cfg.ack:
        listen = ack_ms + power.ACK_TURNAROUND_MS.value
        awake.append(power.Load("ack (+ MCU)", listen, m.radio.rx_ma.value + active))
    awake_ms = sum(load.ms for load in awake)
    loads = awake + sensing
    sleep = dict.fromkeys(power.RAILS, 0.0)
    if opts.sleep_ua is not None:
        sleep[power.RAIL_BATTERY] = opts.sleep_ua
    else:
        mcu_sleep = m.mcu.sleep_ua.value
        rail = m.mcu.sleep_rail
        if m.sgp40 and m.mcu.deep_sleep:  # it light-sleeps, sampling the SGP40 every 10 s
            mcu_sleep, rail = m.mcu.nap_ma.value * 1000, power.RAIL_3V3
        sleep[rail] += mcu_sleep
        sleep[power.RAIL_3V3] += m.radio.sleep_ua.value
        powered = not m.switched
        for s in cfg.sensors:
            sensor = power.SENSORS[s.kind]
            if powered or sensor.rail != power.RAIL_3V3:
                sleep[sensor.rail] += sensor.idle_ua.value
        if m.board.divider_ua is not None and any(s.kind == "battery" for s in cfg.sensors):
            sleep[power.RAIL_BATTERY] += m.board.divider_ua.value
        if m.board.own_ua is not None:
            sleep[power.RAIL_BATTERY] += m.board.own_ua.value
    if m.sgp40:
        samples = max(cfg.interval_s // power.SGP40_SAMPLE_S - 1, 0)
        loads.append(
            power.Load(
                "sgp40 samples",
                samples * power.SGP40_SAMPLE_MS,
                power.SENSORS["sgp40"].measure_ma.value,
            )
        )
        loads.append(power.Load("MCU, for those samples", samples * power.SGP40_WAKE.value, active))
    avg = {
        rail: power.average_ua(
            [load for load in loads if load.rail == rail], awake_ms, sleep[rail], cfg.interval_s
        )
        for rail in power.RAILS
    }
    boost = 5.0 / (power.CELL_MEAN_V.value * power.BOOST_EFFICIENCY.value)
    battery_ua = (
        m.supply.battery_ua(avg[power.RAIL_3V3])
        + avg[power.RAIL_5V] * boost
        + avg[power.RAIL_BATTERY]
    )
    years = None
    if m.usable_mah is not None:
        years = power.life_years(m.usable_mah, battery_ua, power.CELL_SELF_DISCHARGE.value)
    return Estimate(loads, awake_ms, sleep, battery_ua, years)


def plan(board: Board, cfg: nodeconfig.Config, opts: Options) -> dict[str, Any]:
    """Everything `meteolink plan` prints, as the JSON object --json prints."""
    lc = cfg.lora
    frame = frame_of(cfg)
    b = dutycycle.band(lc.freq_hz, lc.bw_khz * 1000)
    low, high, units, unit_us = dutycycle.BANDS[b]
    allowance_us = units * unit_us
    model = model_of(board, cfg, opts)
    rows = []
    for sf in SFS:
        air = airtime_us(frame.size, sf, lc.bw_khz, lc.cr)
        legal = legal_interval_s(air, allowance_us)
        limiter = limiter_interval_s(lc.freq_hz, air, legal)
        per_day = 86400 / cfg.interval_s
        row: dict[str, Any] = {
            "sf": sf,
            "configured": sf == lc.sf,
            "airtime_ms": air / 1000,
            "airtime_with_status_ms": airtime_us(frame.with_status, sf, lc.bw_khz, lc.cr) / 1000,
            "duty_cycle_used_percent": 100 * air * (3600 / cfg.interval_s) / allowance_us,
            "legal_interval_s": legal,
            "limiter_interval_s": limiter,
            "shortest_interval_s": None if limiter is None else max(limiter, 30),
            "ttn_fair_use_percent": 100 * air / 1e6 * per_day / TTN_FAIR_USE_S,
        }
        if model is not None:
            ack_ms = airtime_us(frame.ack_size, sf, lc.bw_khz, lc.cr) / 1000
            est = estimate(model, cfg, air / 1000, ack_ms, opts)
            row["awake_ms"] = est.awake_ms
            row["average_ua"] = est.battery_ua
            row["battery_years"] = est.years
            row["battery_days"] = None if est.years is None else est.years * 365.25
            if sf == lc.sf:
                row["loads"] = [
                    {"what": ld.what, "ms": ld.ms, "ma": ld.ma, "rail": ld.rail} for ld in est.loads
                ]
                row["asleep_ua"] = est.sleep_ua
        rows.append(row)
    out: dict[str, Any] = {
        "node": cfg.node,
        "board": board.name,
        "board_name": board.data["name"],
        "interval_s": cfg.interval_s,
        "ack": cfg.ack,
        "frame": {
            "bytes": frame.size,
            "with_status_bytes": frame.with_status,
            "fields": list(frame.fields),
            "mic": frame.mic,
            "ack_bytes": frame.ack_size,
        },
        "lora": {
            "freq_hz": lc.freq_hz,
            "sf": lc.sf,
            "bw_khz": lc.bw_khz,
            "cr": f"4/{lc.cr}",
            "preamble": PREAMBLE,
            "power_dbm": lc.power_dbm,
            "sub_band": {
                "low_hz": low,
                "high_hz": high,
                "duty_cycle_percent": 100 * allowance_us / (dutycycle.WINDOW_S * 1e6),
                "airtime_per_hour_s": allowance_us / 1e6,
            },
        },
        "rows": rows,
        "battery": _battery(model, cfg, opts),
    }
    return out


def _assumption(what: str, value: float | str, unit: str, source: str) -> dict[str, Any]:
    return {"what": what, "value": value, "unit": unit, "source": source}


def _fig(what: str, f: power.Figure, unit: str) -> dict[str, Any]:
    return _assumption(what, f.value, unit, f.source)


def _battery(m: Model | None, cfg: nodeconfig.Config, opts: Options) -> dict[str, Any] | None:
    """The battery part of the plan: what it rests on, each with its source."""
    if m is None:
        return None
    reg = m.board.regulator
    regulator = (
        "LDO" if m.board.regulator_kind == "ldo" else f"switching, {reg.value:.0%} efficient"
    )
    kinds = {s.kind for s in cfg.sensors}
    a = [
        _assumption("cell", power.CELL, "", f"{power.CELL_MEAN_V.value:g} V nominal"),
        _fig("cut-off", m.cutoff, "V"),
        _assumption(
            "capacity above the cut-off",
            round(100 * power.usable_share(m.cutoff.value), 1),
            "%",
            power.CELL_CURVE_SOURCE,
        ),
        _assumption("regulator", regulator, "", reg.source),
        _fig("boot per wake", m.boot, "ms"),
        _fig("firmware per wake", power.FIRMWARE_MS, "ms"),
        _fig("MCU running", m.mcu.active_ma, "mA"),
        _fig("MCU napping", m.mcu.nap_ma, "mA"),
        _fig("MCU asleep", m.mcu.sleep_ua, "µA"),
        _fig("radio transmitting", m.tx, "mA"),
    ]
    if cfg.ack:
        a.append(_fig("radio receiving", m.radio.rx_ma, "mA"))
        a.append(_fig("ack turnaround", power.ACK_TURNAROUND_MS, "ms"))
    a.append(_fig("radio asleep", m.radio.sleep_ua, "µA"))
    for s in cfg.sensors:
        sensor = power.SENSORS[s.kind]
        if s.kind == "battery":
            continue
        at = "" if sensor.rail == power.RAIL_3V3 else f" at {sensor.rail}"
        a.append(_fig(f"{s.kind} measuring{at}", sensor.measure_ma, "mA"))
        a.append(_fig(f"{s.kind} idle{at}", sensor.idle_ua, "µA"))
    if "sgp40" in kinds:
        a.append(_fig("MCU awake per SGP40 sample", power.SGP40_WAKE, "ms"))
    if any(power.SENSORS[k].rail == power.RAIL_5V for k in kinds):
        a.append(
            _assumption(
                "5 V boost module",
                round(100 * power.BOOST_EFFICIENCY.value),
                "% efficient",
                power.BOOST_EFFICIENCY.source,
            )
        )
    if "battery" in kinds and m.board.divider_ua is not None:
        a.append(_fig("battery divider", m.board.divider_ua, "µA"))
    if m.board.own_ua is not None:
        a.append(_fig("board asleep", m.board.own_ua, "µA"))
    if opts.sleep_ua is not None:
        a.append(_assumption("node asleep", opts.sleep_ua, "µA", "given (--sleep-ua)"))
    a.append(
        _assumption(
            "self-discharge",
            round(100 * power.CELL_SELF_DISCHARGE.value),
            "% a year",
            power.CELL_SELF_DISCHARGE.source,
        )
    )
    return {
        "capacity_mah": opts.battery_mah,
        "usable_mah": m.usable_mah,
        "cutoff_v": m.cutoff.value,
        "upper_bound": bool(m.unknown),
        "not_counted": m.unknown,
        "assumptions": a,
    }


def run(args: argparse.Namespace) -> int:
    _check_range(args.battery_mah, "--battery-mah", 1, 1_000_000, "mAh")
    _check_range(args.cutoff_v, "--cutoff-v", 2.5, 4.2, "V")
    _check_range(args.boot_ms, "--boot-ms", 0, 60_000, "ms")
    _check_range(args.sleep_ua, "--sleep-ua", 0, 1_000_000, "µA")
    board = load_board(args.board)
    cfg = load_config(args.config)
    if cfg.role == "bridge":
        raise CommandError(
            f"{args.config}: a bridge listens all the time on USB power: plan works out a"
            " sending node's airtime and battery (give a node's config.json)"
        )
    if cfg.transport != "lora":
        raise CommandError(
            f'{args.config}: transport "{cfg.transport}": plan works out LoRa airtime, the duty'
            ' cycle and a LoRa node\'s battery (set "transport": "lora" to plan one)'
        )
    check_pair(board, cfg)
    result = plan(board, cfg, Options(args.battery_mah, args.cutoff_v, args.boot_ms, args.sleep_ua))
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write("".join(line + "\n" for line in table(result)))
    return 0


WIDTH = 100  # the prose is wrapped to this; the table is narrower


def _wrap(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False
    )


def _life(days: float) -> str:
    if days < 60:
        return f"{days:.0f} days"
    if days < 730:
        return f"{days / 30.44:.0f} months"
    return f"{days / 365.25:.1f} years"


def _current(ua: float) -> str:
    if ua >= 1000:
        return f"{ua / 1000:.2f} mA"
    return f"{ua:.0f} µA" if ua >= 100 else f"{ua:.1f} µA"


def table(r: dict[str, Any]) -> list[str]:
    """The plan as a technician reads it: the frame, the table, what it rests on."""
    lora, frame, battery = r["lora"], r["frame"], r["battery"]
    band = lora["sub_band"]
    mic = "with its MIC" if frame["mic"] else "no key, so no MIC"
    lines = _wrap(
        f"node {r['node']} on {r['board_name']} ({r['board']}): LoRa"
        f" {lora['freq_hz'] / 1e6:g} MHz, {lora['bw_khz']} kHz, CR {lora['cr']}, SF{lora['sf']},"
        f" {lora['power_dbm']} dBm; a frame every {r['interval_s']} s"
        + (", acknowledged" if r["ack"] else "")
    )
    lines += _wrap(
        f"frame: {frame['bytes']} bytes ({', '.join(frame['fields']) or 'no values'}; {mic});"
        f" {frame['with_status_bytes']} bytes with a status (after a reset, on low battery, on a"
        " sensor fault)"
    )
    lines += _wrap(
        f"sub-band {band['low_hz'] / 1e6:g}-{band['high_hz'] / 1e6:g} MHz:"
        f" {band['duty_cycle_percent']:g} % duty cycle, {band['airtime_per_hour_s']:g} s of"
        " airtime an hour"
    )
    lines.append("")
    head = ["SF", "airtime", "duty cycle", "min. interval", "TTN fair use"]
    with_current = battery is not None
    with_life = battery is not None and battery["capacity_mah"] is not None
    if with_current:
        head.append("current")
    if with_life:
        head.append("battery life" + (" (at most)" if battery["upper_bound"] else ""))
    body = []
    for row in r["rows"]:
        shortest = row["shortest_interval_s"]
        cells = [
            f"SF{row['sf']}" + (" *" if row["configured"] else ""),
            f"{row['airtime_ms']:.1f} ms",
            f"{row['duty_cycle_used_percent']:.2f} %",
            "over 10x" if shortest is None else f"{shortest} s",
            f"{row['ttn_fair_use_percent']:.0f} %",
        ]
        if with_current:
            cells.append(_current(row["average_ua"]))
        if with_life:
            cells.append(_life(row["battery_days"]))
        body.append(cells)
    widths = [max(len(cells[i]) for cells in [head, *body]) for i in range(len(head))]
    for cells in [head, *body]:
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        lines.append("  ".join([cells[0].ljust(widths[0]), *rest]))
    lines.append("")
    notes = [
        "* the configured SF.",
        "airtime: one frame's time on air.",
        f"duty cycle: the share of the sub-band's {band['airtime_per_hour_s']:g} s an hour that a"
        f" frame every {r['interval_s']} s takes.",
        "min. interval: the shortest at which the node's duty-cycle limiter never holds a frame"
        " back (30 s at least, the config's minimum).",
        f"TTN fair use: the share of The Things Network's {TTN_FAIR_USE_S} s of airtime a day per"
        " node (meteolink frames are not LoRaWAN: a yardstick of a fair neighbour).",
    ]
    if with_current:
        notes.append("current: the average drawn from the battery.")
    for note in notes:
        lines += _wrap(note)
    conf = next(row for row in r["rows"] if row["configured"])
    limiter = conf["limiter_interval_s"]
    if limiter is None or r["interval_s"] < limiter:
        lines += _wrap(
            f"warning: a frame every {r['interval_s']} s is too often at SF{lora['sf']}: the"
            " node's limiter will hold frames back and drop some. Choose a longer interval_s or"
            " a lower sf."
        )
    lines.append("")
    if battery is None:
        lines += _wrap(f"battery: no current figures for board {r['board']} (docs/plan.md).")
        return lines
    return lines + _battery_lines(r, conf, battery)


def _battery_lines(r: dict[str, Any], conf: dict[str, Any], battery: dict[str, Any]) -> list[str]:
    if battery["capacity_mah"] is None:
        lines = _wrap("battery life: give --battery-mah, the capacity of the node's cell in mAh.")
    else:
        lines = _wrap(
            f"battery: {battery['capacity_mah']:g} mAh, {power.CELL};"
            f" {battery['usable_mah']:.0f} mAh above the cut-off of {battery['cutoff_v']:g} V."
        )
    if battery["upper_bound"]:
        lines += _wrap(
            f"not counted, not known for board {r['board']}:"
            f" {' and '.join(battery['not_counted'])}; so the battery life is an upper bound."
            " Measure the node's current asleep at the battery and give it as --sleep-ua."
        )
    lines.append(f"one cycle at SF{conf['sf']}, awake {conf['awake_ms']:.0f} ms:")
    for ld in conf["loads"]:
        at = "" if ld["rail"] == power.RAIL_3V3 else f" at {ld['rail']}"
        lines.append(f"  {ld['what']:24}{ld['ms']:10.1f} ms  {ld['ma']:g} mA{at}")
    asleep = [f"{ua:.1f} µA at {rail}" for rail, ua in conf["asleep_ua"].items() if ua]
    lines.append(f"  then asleep: {', '.join(asleep) or 'nothing'}")
    lines.append("what this rests on (docs/plan.md; options change the ones they name):")
    for a in battery["assumptions"]:
        value = a["value"] if isinstance(a["value"], str) else f"{a['value']:g}"
        unit = f" {a['unit']}" if a["unit"] else ""
        lines += _wrap(f"{a['what']}: {value}{unit} ({a['source']})", "  ")
    return lines


COMMANDS = [
    Command(
        "plan",
        "a LoRa node's airtime, duty cycle and battery life from its config.json",
        _arguments,
        run,
    )
]

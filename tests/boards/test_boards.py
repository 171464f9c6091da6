"""Every board file (boards/*.json except sim.json) against the hardware rules of its MCU.

A wrong pin in a board file shows up on the node as a board that does not boot (a flash
pin), a bus that says "bad SCL pin" (RP2040), a battery that always reads 0 (an ADC2 pin
while the radio is on), or a radio that never raises its interrupt. These tests find
those before a technician does.

Sources of the rules, all from the chip makers:
- ESP32 datasheet, "Pin Description" and "Strapping Pins": GPIO 6-11 are the SPI flash
  interface; GPIO 34-39 are input-only with no pull-up/pull-down; ADC1 is GPIO 32-39 and
  ADC2 (the rest) is unusable while the Wi-Fi/Bluetooth radio runs. GPIO 20, 24 and 28-31
  do not exist. ESP32-PICO-D4 datasheet: GPIO 16/17 connect the in-package flash;
  ESP32-WROVER(-E) datasheet: GPIO 16/17 connect the PSRAM.
- ESP32-S3 datasheet, "Pin Overview": GPIO 22-25 do not exist; GPIO 26-32 are the SPI
  flash/PSRAM interface; GPIO 33-37 are too on chips with octal flash or PSRAM; ADC1 is
  GPIO 1-10.
- RP2040 datasheet, section 1.4.3 "GPIO Functions" (the F1 SPI / F2 UART / F3 I2C columns
  are the table RP2040_FUNCTIONS below); Pico and Pico W datasheets, "Raspberry Pi Pico
  pinout" (GPIO 23, 24, 25 and 29 are board-internal).
- Semtech SX1261/2 datasheet, 13.3.6 SetDIO3AsTCXOCtrl: the TCXO voltages.

METEOLINK_BOARDS_DIR=/some/dir runs the same checks on the board files in another
directory: a way to check a new board file before it goes into boards/.
"""

import copy
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.tools import ROOT

REPO_BOARDS = ROOT / "boards"
BOARDS_DIR = Path(os.environ.get("METEOLINK_BOARDS_DIR", str(REPO_BOARDS)))
BOARD_FILES = sorted(p for p in BOARDS_DIR.glob("*.json") if p.name != "sim.json")
DOC = ROOT / "docs" / "boards.md"

# --- the schema ------------------------------------------------------------------------
# A kind is a string naming a scalar type, a dict (an object with exactly those keys) or a
# tuple of alternatives (None, a literal string, or an object).
I2C = {"id": "int", "scl": "gpio", "sda": "gpio", "freq": "int"}
UART = {"id": "int", "tx": "gpio", "rx": "gpio"}
LINK = {"id": "int", "tx": "gpio", "rx": "gpio", "baud": "int"}
SPI = {"id": "int", "sck": "gpio", "mosi": "gpio", "miso": "gpio"}
RADIO = {
    "chip": "str",
    "package": "str",
    "cs": "gpio",
    "reset": "gpio",
    "dio0": "gpio?",
    "dio1": "gpio?",
    "busy": "gpio?",
    "dio2_rf_switch": "bool",
    "dio3_tcxo_millivolts": "int?",
    "ant_switch": "gpio?",
}
BATTERY = {"pin": "gpio", "ratio": "number", "enable": "gpio?", "enable_level": "level"}
POWER = {"pin": "gpio", "level": "level"}
SCHEMA: dict[str, Any] = {
    "name": "str",
    "mcu": "str",
    "port": "str",
    "arch": "str",
    "firmware": "str",
    "i2c": I2C,
    "uart": UART,
    "link": ("usb", LINK),
    "spi": (None, SPI),
    "radio": (None, RADIO),
    "battery": (None, BATTERY),
    "sensor_power": (None, POWER),
    "maintenance_pin": "gpio",
    "vbus_pin": "gpio|name?",
    "led": "gpio|name?",
    "ble": "bool",
    "notes": "str",
}


def _is_int(v: Any) -> bool:
    return type(v) is int  # bool is an int to isinstance(), never a pin or an id


SCALARS: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str) and v.strip() != "",
    "int": _is_int,
    "int?": lambda v: v is None or _is_int(v),
    "bool": lambda v: type(v) is bool,
    "number": lambda v: _is_int(v) or type(v) is float,
    "level": lambda v: _is_int(v) and v in (0, 1),
    "gpio": _is_int,
    "gpio?": lambda v: v is None or _is_int(v),
    "gpio|name?": lambda v: v is None or _is_int(v) or (isinstance(v, str) and v != ""),
}


def _schema(value: Any, kind: Any, where: str, out: list[str]) -> None:
    if isinstance(kind, tuple):
        for alt in kind:
            if alt is None and value is None:
                return
            if isinstance(alt, str) and value == alt:
                return
            if isinstance(alt, dict) and isinstance(value, dict):
                _schema(value, alt, where, out)
                return
        out.append(f"{where}: {value!r} is none of {kind!r}")
    elif isinstance(kind, dict):
        if not isinstance(value, dict):
            out.append(f"{where}: expected an object, got {value!r}")
            return
        if set(value) != set(kind):
            missing, extra = sorted(set(kind) - set(value)), sorted(set(value) - set(kind))
            out.append(f"{where or 'board'}: wrong keys (missing {missing}, unknown {extra})")
            return
        for key, sub in kind.items():
            _schema(value[key], sub, f"{where}.{key}" if where else key, out)
    elif not SCALARS[kind](value):
        out.append(f"{where}: {value!r} is not a {kind}")


# --- the chips -------------------------------------------------------------------------
@dataclass(frozen=True)
class Mcu:
    port: str
    arch: str  # mpy-cross -march
    gpios: frozenset[int]  # the GPIOs that exist
    reserved: dict[int, str]  # never usable on any board with this chip, and why
    input_only: frozenset[int]  # no output driver, no pull-up (ESP32 34-39)
    adc: frozenset[int]  # usable by the battery monitor with the radios running
    i2c_ids: frozenset[int]
    spi_ids: frozenset[int]
    uart_ids: frozenset[int]  # UART0 of the ESP32s is the REPL console


_ESP32_RESERVED = {pin: "SPI flash" for pin in range(6, 12)} | {
    # Conservative on purpose: a board file must be right for every module of its board
    # (DevKitC comes with WROOM or WROVER), and the LILYGO T3's ESP32-PICO-D4 wires them
    # to its flash.
    16: "in-package flash (ESP32-PICO-D4) or PSRAM (WROVER)",
    17: "in-package flash (ESP32-PICO-D4) or PSRAM (WROVER)",
}
MCUS = {
    "ESP32": Mcu(
        port="esp32",
        arch="xtensawin",
        gpios=frozenset([*range(20), 21, 22, 23, 25, 26, 27, *range(32, 40)]),
        reserved=_ESP32_RESERVED,
        input_only=frozenset(range(34, 40)),
        adc=frozenset(range(32, 40)),  # ADC1 only: ADC2 belongs to the Wi-Fi/BT driver
        i2c_ids=frozenset({0, 1}),
        spi_ids=frozenset({1, 2}),
        uart_ids=frozenset({1, 2}),
    ),
    "ESP32-S3": Mcu(
        port="esp32",
        arch="xtensawin",
        gpios=frozenset([*range(22), *range(26, 49)]),
        reserved={pin: "SPI flash/PSRAM" for pin in range(26, 33)},
        input_only=frozenset(),
        adc=frozenset(range(1, 11)),  # ADC1
        i2c_ids=frozenset({0, 1}),
        spi_ids=frozenset({1, 2}),
        uart_ids=frozenset({1, 2}),
    ),
    "RP2040": Mcu(
        port="rp2",
        arch="armv6m",
        gpios=frozenset(range(30)),
        reserved={},
        input_only=frozenset(),
        adc=frozenset(range(26, 30)),
        i2c_ids=frozenset({0, 1}),
        spi_ids=frozenset({0, 1}),
        uart_ids=frozenset({0, 1}),  # the REPL is on USB
    ),
}
# On chips with octal flash or PSRAM (the ..._S3-SPIRAM_OCT firmware) 33-37 are taken too.
OCTAL_RESERVED = {pin: "octal flash/PSRAM" for pin in range(33, 38)}


@dataclass(frozen=True)
class Firmware:
    mcu: str
    ble: bool  # has a Bluetooth LE radio
    names: frozenset[str]  # pin names (not GPIO numbers) MicroPython defines
    # Board-internal pins: {gpio: (what it is, the role a board file may give it or None)}
    internal: dict[int, tuple[str, str | None]]


FIRMWARES = {
    "ESP32_GENERIC": Firmware("ESP32", True, frozenset(), {}),
    "ESP32_GENERIC_S3": Firmware("ESP32-S3", True, frozenset(), {}),
    "RPI_PICO": Firmware(
        "RP2040",
        False,
        frozenset(),
        {
            23: ("the SMPS power-save control", None),
            24: ("the VBUS sense", "vbus_pin"),
            25: ("the LED", "led"),
            29: ("the VSYS/3 sense", "battery.pin"),
        },
    ),
    "RPI_PICO_W": Firmware(
        "RP2040",
        True,
        # ports/rp2/boards/RPI_PICO_W/pins.csv: the CYW43's own GPIOs
        frozenset({"LED", "WL_GPIO0", "WL_GPIO1", "WL_GPIO2"}),
        {
            23: ("the CYW43 power (WL_ON)", None),
            24: ("the CYW43 SPI data and IRQ", None),
            25: ("the CYW43 SPI chip select", None),
            29: ("the CYW43 SPI clock (shared with VSYS/3)", None),
        },
    ),
}
FIRMWARE_NAME = re.compile(r"^([A-Z0-9_]+)(?:-([A-Z0-9_]+))?$")  # BOARD or BOARD-VARIANT

# RP2040 datasheet 1.4.3, the F1 (SPI), F2 (UART) and F3 (I2C) columns. MicroPython's
# MOSI is the SPI's TX, MISO its RX.
RP2040_FUNCTIONS: dict[int, tuple[str, str, str]] = {
    0: ("SPI0 RX", "UART0 TX", "I2C0 SDA"),
    1: ("SPI0 CSn", "UART0 RX", "I2C0 SCL"),
    2: ("SPI0 SCK", "UART0 CTS", "I2C1 SDA"),
    3: ("SPI0 TX", "UART0 RTS", "I2C1 SCL"),
    4: ("SPI0 RX", "UART1 TX", "I2C0 SDA"),
    5: ("SPI0 CSn", "UART1 RX", "I2C0 SCL"),
    6: ("SPI0 SCK", "UART1 CTS", "I2C1 SDA"),
    7: ("SPI0 TX", "UART1 RTS", "I2C1 SCL"),
    8: ("SPI1 RX", "UART1 TX", "I2C0 SDA"),
    9: ("SPI1 CSn", "UART1 RX", "I2C0 SCL"),
    10: ("SPI1 SCK", "UART1 CTS", "I2C1 SDA"),
    11: ("SPI1 TX", "UART1 RTS", "I2C1 SCL"),
    12: ("SPI1 RX", "UART0 TX", "I2C0 SDA"),
    13: ("SPI1 CSn", "UART0 RX", "I2C0 SCL"),
    14: ("SPI1 SCK", "UART0 CTS", "I2C1 SDA"),
    15: ("SPI1 TX", "UART0 RTS", "I2C1 SCL"),
    16: ("SPI0 RX", "UART0 TX", "I2C0 SDA"),
    17: ("SPI0 CSn", "UART0 RX", "I2C0 SCL"),
    18: ("SPI0 SCK", "UART0 CTS", "I2C1 SDA"),
    19: ("SPI0 TX", "UART0 RTS", "I2C1 SCL"),
    20: ("SPI0 RX", "UART1 TX", "I2C0 SDA"),
    21: ("SPI0 CSn", "UART1 RX", "I2C0 SCL"),
    22: ("SPI0 SCK", "UART1 CTS", "I2C1 SDA"),
    23: ("SPI0 TX", "UART1 RTS", "I2C1 SCL"),
    24: ("SPI1 RX", "UART1 TX", "I2C0 SDA"),
    25: ("SPI1 CSn", "UART1 RX", "I2C0 SCL"),
    26: ("SPI1 SCK", "UART1 CTS", "I2C1 SDA"),
    27: ("SPI1 TX", "UART1 RTS", "I2C1 SCL"),
    28: ("SPI1 RX", "UART0 TX", "I2C0 SDA"),
    29: ("SPI1 CSn", "UART0 RX", "I2C0 SCL"),
}
# The signal each bus role needs on the RP2040, "{}" standing for the bus id.
RP2040_ROLE_SIGNAL = {
    "i2c.sda": "I2C{} SDA",
    "i2c.scl": "I2C{} SCL",
    "spi.sck": "SPI{} SCK",
    "spi.mosi": "SPI{} TX",
    "spi.miso": "SPI{} RX",
    "uart.tx": "UART{} TX",
    "uart.rx": "UART{} RX",
    "link.tx": "UART{} TX",
    "link.rx": "UART{} RX",
}

# Roles whose pin the MCU drives (I2C lines are open-drain outputs), and the maintenance
# button, which needs the internal pull-up.
OUTPUT_ROLES = frozenset(
    {
        "i2c.scl",
        "i2c.sda",
        "uart.tx",
        "link.tx",
        "spi.sck",
        "spi.mosi",
        "radio.cs",
        "radio.reset",
        "radio.ant_switch",
        "battery.enable",
        "sensor_power.pin",
        "led",
    }
)
# The one legitimate double use: on the Heltec V2 one P-MOSFET, gated by GPIO21, switches
# both Vext and the battery divider, so both roles name the pin (with the same level).
SHARED_OK = frozenset({frozenset({"battery.enable", "sensor_power.pin"})})

RADIO_PACKAGES = {
    "sx1261": "lora-sx126x",
    "sx1262": "lora-sx126x",
    "sx1272": "lora-sx127x",
    "sx1276": "lora-sx127x",
    "sx1277": "lora-sx127x",
    "sx1278": "lora-sx127x",
    "sx1279": "lora-sx127x",
}
TCXO_MILLIVOLTS = frozenset({1600, 1700, 1800, 2200, 2400, 2700, 3000, 3300})


def pins(board: dict[str, Any]) -> list[tuple[str, int | str]]:
    """Every pin the board file names, as (role, pin); nulls left out."""
    out: list[tuple[str, int | str]] = []
    for group, keys in (
        ("i2c", ("scl", "sda")),
        ("uart", ("tx", "rx")),
        ("link", ("tx", "rx")),
        ("spi", ("sck", "mosi", "miso")),
        ("radio", ("cs", "reset", "dio0", "dio1", "busy", "ant_switch")),
        ("battery", ("pin", "enable")),
        ("sensor_power", ("pin",)),
    ):
        section = board[group]
        if isinstance(section, dict):
            out += [(f"{group}.{k}", section[k]) for k in keys if section[k] is not None]
    out += [(k, board[k]) for k in ("maintenance_pin", "vbus_pin", "led") if board[k] is not None]
    return out


def _platform(board: dict[str, Any]) -> list[str]:
    out: list[str] = []
    mcu = MCUS.get(board["mcu"])
    if mcu is None:
        return [f"mcu: {board['mcu']!r} is none of {sorted(MCUS)}"]
    if board["port"] != mcu.port:
        out.append(f"port: {board['mcu']} runs the {mcu.port!r} port, not {board['port']!r}")
    if board["arch"] != mcu.arch:
        out.append(f"arch: mpy-cross -march for {board['mcu']} is {mcu.arch!r}")
    m = FIRMWARE_NAME.match(board["firmware"])
    fw = FIRMWARES.get(m.group(1)) if m else None
    if fw is None:
        out.append(f"firmware: {board['firmware']!r} is not one of {sorted(FIRMWARES)}[-VARIANT]")
    elif fw.mcu != board["mcu"]:
        out.append(f"firmware: {board['firmware']} is for {fw.mcu}, not {board['mcu']}")
    elif board["ble"] and not fw.ble:
        out.append(f"ble: {board['firmware']} boards have no Bluetooth LE radio")
    return out


def _buses(board: dict[str, Any], mcu: Mcu) -> list[str]:
    out: list[str] = []
    ids = {"i2c": mcu.i2c_ids, "spi": mcu.spi_ids, "uart": mcu.uart_ids, "link": mcu.uart_ids}
    for group, allowed in ids.items():
        section = board[group]
        if isinstance(section, dict) and section["id"] not in allowed:
            out.append(f"{group}.id: {board['mcu']} has {group} ids {sorted(allowed)}")
    link = board["link"]
    if isinstance(link, dict):
        if link["id"] == board["uart"]["id"]:
            out.append(f"link.id: UART{link['id']} is already the sensor UART")
        if not 300 <= link["baud"] <= 4_000_000:
            out.append(f"link.baud: {link['baud']} is outside 300..4000000")
    if not 10_000 <= board["i2c"]["freq"] <= 400_000:
        out.append(f"i2c.freq: {board['i2c']['freq']} Hz is outside 10 kHz..400 kHz")
    return out


def _gpios(board: dict[str, Any], mcu: Mcu, fw: Firmware) -> list[str]:
    out: list[str] = []
    reserved = dict(mcu.reserved)
    if board["firmware"].endswith("-SPIRAM_OCT"):
        reserved |= OCTAL_RESERVED
    by_pin: dict[int | str, list[str]] = {}
    for role, pin in pins(board):
        by_pin.setdefault(pin, []).append(role)
        if isinstance(pin, str):
            if role not in ("vbus_pin", "led") or pin not in fw.names:
                out.append(f"{role}: {pin!r} is not a pin name of {board['firmware']}")
            continue
        if pin not in mcu.gpios:
            out.append(f"{role}: {board['mcu']} has no GPIO{pin}")
            continue
        if pin in reserved:
            out.append(f"{role}: GPIO{pin} is the {reserved[pin]}")
        if pin in fw.internal:
            what, allowed_role = fw.internal[pin]
            if role != allowed_role:
                out.append(f"{role}: GPIO{pin} is {what} on {board['firmware']} boards")
        if pin in mcu.input_only:
            if role in OUTPUT_ROLES:
                out.append(f"{role}: GPIO{pin} is input-only")
            elif role == "maintenance_pin":
                out.append(f"{role}: GPIO{pin} has no internal pull-up for a button")
    for pin, roles in by_pin.items():
        if len(roles) > 1 and frozenset(roles) not in SHARED_OK:
            out.append(f"GPIO{pin} is used twice: {', '.join(roles)}")
    battery, power = board["battery"], board["sensor_power"]
    if (
        battery
        and power
        and battery["enable"] == power["pin"]
        and battery["enable_level"] != power["level"]
    ):
        out.append("battery.enable and sensor_power share a pin but not its active level")
    if battery:
        pin = battery["pin"]
        if isinstance(pin, int) and pin in mcu.gpios and pin not in mcu.adc:
            out.append(f"battery.pin: GPIO{pin} is not an ADC pin usable with the radios on")
        if not 1.0 < battery["ratio"] <= 10.0:
            out.append(f"battery.ratio: {battery['ratio']} is not a divider (Vbat / Vpin)")
    if board["mcu"] == "RP2040":
        out += _rp2040_functions(board)
    return out


def _rp2040_functions(board: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for role, pin in pins(board):
        template = RP2040_ROLE_SIGNAL.get(role)
        if template is None or not isinstance(pin, int) or pin not in RP2040_FUNCTIONS:
            continue
        want = template.format(board[role.split(".")[0]]["id"])
        if want not in RP2040_FUNCTIONS[pin]:
            have = " / ".join(RP2040_FUNCTIONS[pin])
            out.append(f"{role}: GP{pin} is {have}, not {want}")
    return out


def _radio(board: dict[str, Any]) -> list[str]:
    radio = board["radio"]
    if radio is None:
        return []
    out: list[str] = []
    if board["spi"] is None:
        out.append("radio: a radio needs the spi bus")
    package = RADIO_PACKAGES.get(radio["chip"])
    if package is None:
        out.append(f"radio.chip: {radio['chip']!r} is none of {sorted(RADIO_PACKAGES)}")
    elif radio["package"] != package:
        out.append(f"radio.package: the {radio['chip']} driver is {package!r}")
    if package == "lora-sx126x":
        for key in ("busy", "dio1"):
            if radio[key] is None:
                out.append(f"radio.{key}: an {radio['chip']} needs its {key.upper()} pin")
        if radio["dio0"] is not None:
            out.append(f"radio.dio0: an {radio['chip']} has no DIO0")
        mv = radio["dio3_tcxo_millivolts"]
        if mv is not None and mv not in TCXO_MILLIVOLTS:
            out.append(f"radio.dio3_tcxo_millivolts: {mv} is none of {sorted(TCXO_MILLIVOLTS)}")
    elif package == "lora-sx127x":
        if radio["dio0"] is None:
            out.append(f"radio.dio0: an {radio['chip']} signals TX/RX done on DIO0")
        if radio["busy"] is not None:
            out.append(f"radio.busy: an {radio['chip']} has no BUSY pin")
        if radio["dio2_rf_switch"] or radio["dio3_tcxo_millivolts"] is not None:
            out.append(f"radio: DIO2 RF switch and DIO3 TCXO are SX126x features, not {package}")
    return out


def problems(board: Any) -> list[str]:
    """What is wrong with a board file, as messages; [] when nothing is."""
    out: list[str] = []
    _schema(board, SCHEMA, "", out)
    if out:  # the other rules read the fields: a broken schema stops here
        return out
    out += _platform(board)
    if out:
        return out
    mcu = MCUS[board["mcu"]]
    fw = FIRMWARES[board["firmware"].split("-")[0]]
    return out + _buses(board, mcu) + _gpios(board, mcu, fw) + _radio(board)


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --- the tests -------------------------------------------------------------------------
def test_there_are_board_files() -> None:
    assert BOARD_FILES, f"no board files in {BOARDS_DIR}"


@pytest.mark.parametrize("path", BOARD_FILES, ids=lambda p: p.stem)
def test_board_file_keeps_the_rules_of_its_mcu(path: Path) -> None:
    found = problems(load(path))
    assert not found, f"{path}:\n  " + "\n  ".join(found)


@pytest.mark.parametrize("path", BOARD_FILES, ids=lambda p: p.stem)
def test_the_wiring_document_describes_the_board(path: Path) -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert f"boards/{path.name}" in doc


def test_rp2040_function_table_has_the_datasheets_period() -> None:
    """Guards the table against a typing slip: its columns repeat with a fixed period.

    SPI: SPI0 on GPIO 0-7 and 16-23, SPI1 between; RX, CSn, SCK, TX in turn.
    UART: UART0 on 0-3, 12-19 and 28-29, UART1 between; TX, RX, CTS, RTS in turn.
    I2C: I2C0 and I2C1 alternate in pairs; SDA on even, SCL on odd GPIOs.
    """
    for gpio, (spi, uart, i2c) in RP2040_FUNCTIONS.items():
        assert spi == f"SPI{gpio // 8 % 2} {('RX', 'CSn', 'SCK', 'TX')[gpio % 4]}"
        assert uart == f"UART{(gpio + 4) // 8 % 2} {('TX', 'RX', 'CTS', 'RTS')[gpio % 4]}"
        assert i2c == f"I2C{gpio // 2 % 2} {('SDA', 'SCL')[gpio % 2]}"
    assert sorted(RP2040_FUNCTIONS) == list(range(30))


# Each wrong file is a good one with one mistake a person could make; the rules must
# catch every one, or they prove nothing about the files above.
MISTAKES: list[tuple[str, tuple[str, ...], Any, str]] = [
    ("esp32-devkitc", ("i2c", "sda"), 7, "GPIO7 is the SPI flash"),
    ("esp32-devkitc", ("uart", "tx"), 34, "uart.tx: GPIO34 is input-only"),
    ("esp32-devkitc", ("uart", "rx"), 16, "GPIO16 is the in-package flash"),
    ("esp32-devkitc", ("link", "id"), 2, "already the sensor UART"),
    ("esp32-devkitc", ("uart", "id"), 0, "uart.id: ESP32 has uart ids [1, 2]"),
    ("esp32-devkitc", ("maintenance_pin",), 36, "no internal pull-up"),
    ("esp32-devkitc", ("led",), 20, "ESP32 has no GPIO20"),
    ("esp32-devkitc", ("i2c", "scl"), 19, "GPIO19 is used twice: i2c.scl, uart.tx"),
    ("esp32-devkitc", ("arch",), "armv6m", "arch: mpy-cross -march for ESP32"),
    ("lilygo-t3-v1.6", ("battery", "pin"), 13, "not an ADC pin"),
    ("lilygo-t3-v1.6", ("radio", "package"), "lora-sx126x", "the sx1276 driver is"),
    ("lilygo-t3-v1.6", ("radio", "dio0"), None, "signals TX/RX done on DIO0"),
    ("lilygo-t3-v1.6", ("radio", "cs"), True, "radio.cs: True is not a gpio"),
    ("lilygo-t3-v1.6", ("spi",), None, "a radio needs the spi bus"),
    ("heltec-v2", ("sensor_power", "level"), 1, "not its active level"),
    ("heltec-v2", ("battery", "ratio"), 0.3125, "is not a divider"),
    ("heltec-v2", ("firmware",), "ESP32_GENERIC_S3", "is for ESP32-S3, not ESP32"),
    ("heltec-v3", ("radio", "busy"), None, "needs its BUSY pin"),
    ("heltec-v3", ("radio", "dio3_tcxo_millivolts"), 1900, "dio3_tcxo_millivolts: 1900"),
    ("heltec-v3", ("uart", "tx"), 23, "ESP32-S3 has no GPIO23"),
    ("heltec-v3", ("uart", "rx"), 30, "GPIO30 is the SPI flash/PSRAM"),
    ("heltec-v3", ("firmware",), "ESP32_GENERIC_S3-SPIRAM_OCT", "octal flash/PSRAM"),
    ("heltec-v3", ("battery", "pin"), 11, "GPIO11 is used twice"),
    ("pico", ("i2c", "sda"), 0, "i2c.sda: GP0 is SPI0 RX / UART0 TX / I2C0 SDA, not I2C1 SDA"),
    ("pico", ("spi", "miso"), 5, "not SPI0 RX"),
    ("pico", ("uart", "id"), 0, "uart.tx: GP8 is SPI1 RX / UART1 TX / I2C0 SDA, not UART0 TX"),
    ("pico", ("maintenance_pin",), 23, "the SMPS power-save control"),
    ("pico", ("led",), "LED", "'LED' is not a pin name of RPI_PICO"),
    ("pico", ("ble",), True, "no Bluetooth LE radio"),
    ("pico", ("port",), "esp32", "RP2040 runs the 'rp2' port"),
    ("pico", ("board_id",), 1, "wrong keys (missing [], unknown ['board_id'])"),
    ("pico-w", ("battery", "pin"), 29, "CYW43 SPI clock"),
    ("pico-w", ("vbus_pin",), 24, "CYW43 SPI data"),
    ("pico-w", ("vbus_pin",), "WL_GPIO3", "not a pin name of RPI_PICO_W"),
]


@pytest.mark.parametrize(
    ("stem", "path", "value", "message"),
    MISTAKES,
    ids=[f"{m[0]}-{'.'.join(m[1])}={m[2]!r}" for m in MISTAKES],
)
def test_a_wrong_board_file_is_caught(
    stem: str, path: tuple[str, ...], value: Any, message: str
) -> None:
    board = copy.deepcopy(load(REPO_BOARDS / f"{stem}.json"))
    assert problems(board) == [], "the good file must pass before the mistake is made"
    target = board
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    found = problems(board)
    assert any(message in p for p in found), found

"""The sim board's port: what machine and esp32 give a real node.

A sim node is one MicroPython unix process per wake, as an ESP32 reboots
into main.py on every wake from deep sleep. Its working directory is the
node's flash. Everything else about its world comes from a JSON file named
by the METEOLINK_SIM environment variable:

    {"link": "/dev/pts/7",              the serial line of the uart transport
     "air": {"temperature": 21.5, "humidity": 45.0, "pressure": 1013.25,
             "co2": 600, "pm1": 4.0, "pm2_5": 7.5, "pm10": 11.0, "voc": 0},
     "battery_v": 2.9,                   at the battery, before the divider
     "absent": ["scd41"], "silent": [], "corrupt": [],
     "chips": {"bme280": {"temperature": 19.5}},   one chip's own reading
     "maintenance_pin": false, "usb_power": false,
     "radio": {"ether": "127.0.0.1:47000", "name": "node-7"}}

The radio is the chip the board file names, at its registers (sim/sx127x.py,
sim/sx126x.py), on machine.SPI and machine.Pin of the sim board's own
(sim/machine.py), its pins numbered as the board file numbers them. Its
antenna is on the ether hub (sim/ether.py, `python -m sim.ether_hub`): the
one the world's "radio" names ("ether" or "port"; sim/ether.py reads the
rest of that entry: "name", "position", "loss_db"), else the one at
$METEOLINK_LORA_ETHER, else 127.0.0.1:47000.

RTC memory is the file <world>.rtc: deep sleep writes it and exits; the next
process reads it. Deleting it is pulling the battery. A process that ends
without going to sleep (a crash, a hang killed by the test) leaves it marked
awake, and the next wake reports a watchdog reset, which is what the
hardware watchdog would have done.
"""

import json
import os
import sys
import time

import catalogue
import frames

import sim.machine  # the sim board's machine (Pin, SPI) before any driver imports it
from sim import clock

TYPE_CHECKING = False  # mypy takes this name as True; MicroPython has no typing module
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from sim.adc import ADC
    from sim.bluetooth import BLE
    from sim.i2c import I2C
    from sim.uart import UART

_world: "dict[str, Any] | None" = None


def world() -> "dict[str, Any]":
    global _world
    if _world is None:
        path = os.getenv("METEOLINK_SIM")
        if not path:
            raise OSError("sim: set METEOLINK_SIM to the sim world's JSON file")
        with open(path) as f:
            _world = json.load(f)
        _world["_path"] = path
    return _world


def _rtc_path() -> str:
    return str(world()["_path"]) + ".rtc"


def _read_rtc() -> "dict[str, Any] | None":
    try:
        with open(_rtc_path()) as f:
            rtc: dict[str, Any] = json.load(f)
            return rtc
    except OSError:
        return None


def _write_rtc(state: str, memory: bytes | bytearray, clock_ms: int) -> None:
    tmp = _rtc_path() + ".new"
    with open(tmp, "w") as f:
        json.dump({"state": state, "clock_ms": clock_ms, "memory": bytes(memory).hex()}, f)
    os.rename(tmp, _rtc_path())


_cause = -1
_memory = b""


def _wake() -> None:
    """Work out why this process started, once, and mark the node awake."""
    global _cause, _memory
    if _cause >= 0:
        return
    rtc = _read_rtc()
    if rtc is None:
        _cause = frames.RESET_POWER_ON
    else:
        clock.set_base(rtc["clock_ms"])
        _memory = bytes.fromhex(rtc["memory"])
        _cause = frames.RESET_SLEEP if rtc["state"] == "asleep" else frames.RESET_WATCHDOG
    _write_rtc("awake", _memory, clock.ticks_ms())


def reset_cause() -> int:
    _wake()
    return _cause


def load() -> bytes | None:
    _wake()
    return _memory or None


def save(memory: bytes | bytearray) -> None:
    """Write RTC memory: it holds whatever happens to the process next."""
    global _memory
    _memory = bytes(memory)
    _write_rtc("awake", _memory, clock.ticks_ms())


def sleep_until_next_cycle(ms: int) -> None:
    """As an ESP32's deep sleep: write RTC memory, let ms of sim time pass,
    and end this process (the next wake is a new one). Never returns."""
    _write_rtc("asleep", _memory, clock.ticks_ms() + ms)
    sys.exit(0)


keepalive: "Callable[[], None] | None" = None  # node.py sets it, as on the boards


def nap(ms: int) -> None:
    if keepalive is not None:
        keepalive()
    if _wdt is not None:
        _wdt.check(ms)
    clock.skip(ms)


def counter_hint() -> tuple[int, int] | None:
    return None  # the sim's RTC memory file survives its "watchdog resets"


def ticks_ms() -> int:
    return clock.ticks_ms()


def ticks_diff(a: int, b: int) -> int:
    return a - b  # sim time does not wrap


def now_s() -> int:
    return clock.ticks_ms() // 1000


class _WDT:
    """Bites when more than `timeout` ms of sim time pass without a feed."""

    def __init__(self, timeout: int) -> None:
        self.timeout = timeout
        self.fed = clock.ticks_ms()

    def check(self, ahead: int = 0) -> None:
        if clock.ticks_ms() + ahead - self.fed > self.timeout:
            print("sim: watchdog reset")
            sys.exit(3)  # RTC stays marked awake: the next wake says WATCHDOG

    def feed(self) -> None:
        self.check()
        self.fed = clock.ticks_ms()


_wdt: _WDT | None = None


def watchdog(timeout_ms: int) -> _WDT:
    global _wdt
    _wdt = _WDT(timeout_ms)
    return _wdt


def _faults(kind: str) -> tuple[bool, bool]:
    w = world()
    return kind in w.get("silent", ()), kind in w.get("corrupt", ())


def pin_held(pin: object) -> bool:
    """The maintenance button, held at boot."""
    return bool(world().get("maintenance_pin"))


def usb_power(pin: object) -> bool:
    return bool(world().get("usb_power"))


class Link:
    """The uart transport's serial line: a pseudo-terminal in raw mode."""

    def __init__(self, path: str) -> None:
        import select

        self._f = open(path, "r+b")
        self._poll = select.poll()
        self._poll.register(self._f, select.POLLIN)

    def write(self, buf: bytes | bytearray | memoryview) -> int:
        n: int = self._f.write(buf)
        return n

    def flush(self) -> None:
        """As machine.UART.flush(): writes here are complete when they return."""

    def any(self) -> int:
        """As machine.UART.any(): nonzero when a read would return bytes."""
        return 1 if self._poll.poll(0) else 0

    def read(self, n: int) -> bytes | None:
        """As machine.UART.read() with timeout 0: what is there, or None."""
        # MicroPython's FileIO.read(n) blocks until it has all n bytes, so
        # take one byte at a time while the line has any.
        out = bytearray()
        while len(out) < n and self.any():
            out += self._f.read(1)
        return bytes(out) if out else None


def link(cfg: object) -> Link:
    path = world().get("link")
    if not path:
        raise OSError('sim: the world file has no "link" for the uart transport')
    return Link(path)


def sleep_ms(ms: int) -> None:
    time.sleep_ms(ms)


# The sim board's parts: for each sensor in the catalogue, the emulated chip
# of the module named as its driver's (sim/scd4x.py for scd4x.py), which
# says in PART which chip class it is and which of the world's air
# quantities it measures. An I2C chip answers at the catalogue's address.

# What each sim board part was built as, for a test or a bench to look at.
parts: "dict[str, Any]" = {}


def _make(row: "catalogue.Row", *args: int) -> "Any":
    kind = row[catalogue.KIND]
    w = world()
    air = w.get("air", {})
    cls, quantities = __import__("sim." + row[catalogue.MODULE], None, None, ["PART"]).PART
    kwargs = {q: air[q] for q in quantities if q in air}
    kwargs.update(w.get("chips", {}).get(kind, {}))  # what this one chip reads differently
    chip = cls(*args, **kwargs)
    silent, corrupt = _faults(kind)
    chip.silent = silent
    chip.corrupt = corrupt
    parts[kind] = chip
    return chip


def _wired() -> "list[str]":
    """The parts on the board: the world's "wired" list, else what config.json
    names (the technician wired what was configured), less the "absent" ones."""
    w = world()
    kinds = w.get("wired")
    if kinds is None:
        with open("config.json") as f:
            kinds = [
                s if isinstance(s, str) else s["type"] for s in json.load(f).get("sensors", [])
            ]
    absent = w.get("absent", ())
    return [k for k in kinds if k not in absent]


def i2c(cfg: object) -> "I2C":
    from sim.i2c import I2C

    bus = I2C()
    wired = _wired()
    for row in catalogue.CATALOGUE:
        address = row[catalogue.ADDRESS]
        if row[catalogue.BUS] == "i2c" and address is not None and row[catalogue.KIND] in wired:
            bus.attach(_make(row, address))
    return bus


def uart(cfg: object, baudrate: int) -> "UART":
    from sim.uart import UART

    wired = _wired()
    for row in catalogue.CATALOGUE:  # one UART, one sensor on it
        if row[catalogue.BUS] == "uart" and row[catalogue.KIND] in wired:
            return UART(_make(row))
    return UART(None)


def adc(pin: object) -> "ADC":
    from sim.adc import ADC

    with open("board.json") as f:
        ratio = json.load(f)["battery"]["ratio"]
    chip = ADC(volts=world().get("battery_v", 3.0) / ratio)
    parts["battery"] = chip
    return chip


def pin_out(pin: object, value: int) -> None:
    """Drive an output pin; logged to the world's "pins" file when it names one."""
    path = world().get("pins")
    if path:
        with open(path, "a") as f:
            f.write("%s=%d\n" % (pin, value))


def ble() -> "BLE":
    from sim.bluetooth import BLE

    path = world().get("ble")
    if not path:
        raise OSError('sim: the world file has no "ble" file for the ble transport')
    return BLE(path)


# The radio: the chip model the board file's "radio" names (sim/sx127x.py for
# an SX1276/77/78/79, sim/sx126x.py for an SX1261/62), on the sim board's SPI
# bus, its pins wired as the board file numbers them, its antenna on the air.

antenna: "Any" = None  # the radio's Antenna (sim/ether.py's contract); made on first use
_radio: "Any" = None


def _antenna() -> "Any":
    """The radio's antenna on the ether hub the world's "radio" names (or
    $METEOLINK_LORA_ETHER's); OSError, saying how to start one, when no hub
    answers."""
    global antenna
    if antenna is None:
        from sim import ether

        antenna = ether.Antenna()
    return antenna


def radio() -> "Any":
    """The board's radio chip model, made (and wired) once per process."""
    global _radio
    if _radio is None:
        with open("board.json") as f:
            cfg = json.load(f).get("radio")
        if not cfg:
            raise OSError("sim: board.json has no radio")
        chip = str(cfg["chip"]).lower()
        family = "sx127x" if chip.startswith("sx127") else "sx126x"
        name = "SX12" + family[4:]  # SX127x, SX126x
        cls = getattr(__import__("sim." + family, None, None, [name]), name)
        if family == "sx126x":  # a TCXO powered from DIO3, as on the Heltec V3, or a crystal
            _radio = cls(_antenna(), chip, tcxo=bool(cfg.get("dio3_tcxo_millivolts")))
        else:
            _radio = cls(_antenna(), chip)
        for key, role in (("cs", "nss"), ("reset", "reset"), ("dio0", "dio0"), ("dio1", "dio1")):
            if cfg.get(key) is not None:
                sim.machine.wire(cfg[key], _radio, role)
        if cfg.get("busy") is not None:
            sim.machine.wire(cfg["busy"], _radio, "busy")
        parts["radio"] = _radio
    return _radio


def pin(n: "int | str") -> "sim.machine.Pin":
    """machine.Pin(n): a radio pin when the board file names n in its "radio"."""
    radio()
    return sim.machine.Pin(n)


def spi(cfg: object) -> "sim.machine.SPI":
    """machine.SPI: it reaches the radio while the radio's NSS pin is low."""
    radio()
    return sim.machine.SPI(cfg.get("id", 0) if isinstance(cfg, dict) else 0)

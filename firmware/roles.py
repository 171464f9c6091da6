"""The node's three roles, declared once: a port, a link, a sensor.

Only the type checker reads this file. node.py and sensors.py import it
under TYPE_CHECKING, which is False on the node, so it is never
imported there and `meteolink flash` never copies it: the contracts cost
the node nothing.

Each contract is a typing.Protocol: whatever has the functions and
attributes satisfies it, a module as well as a class. The end of this file
holds every port and link up against its contract, and every sensor driver
holds itself to Sensor at the end of its own file (so that adding a sensor
touches no file but its own and the catalogue's row): a port missing a
function, a link whose send() takes other arguments or a driver without
stop() fails `make typecheck`, which checks the firmware against both the
ESP32 and the RP2040 stubs.

- Port: all node.py, sensors.py and bridge.py know of the hardware.
  port_esp32 and port_rp2 (with buses.py, which they share), and the sim
  board's sim/port.py.
- Link: moves a frame to the gateway and listens for its acknowledgement.
  uart_link.UartLink, lora_link.LoRaLink, ble_link.BleLink.
- Sensor: one chip's driver, as the cycle (sensors.py) drives it. The
  sensor catalogue (catalogue.CATALOGUE) names each driver's module and
  class, and the attributes that hold its values after read(); the
  catalogue's test checks that the class sets them.
"""

from collections.abc import Callable
from typing import Any, Protocol

import ble_link
import frames
import lora_link
import port_esp32
import port_rp2
import uart_link
import uart_sensor
from battery import ADC

from sim import port as sim_port

Board = dict[str, Any]
"""A board file's JSON (boards/*.json, docs/boards.md), or one of its entries."""

Bytes = bytes | bytearray | memoryview  # a buffer to send or write
WBuf = bytearray | memoryview  # a buffer a bus reads into


class I2C(Protocol):
    """What the I2C drivers use of machine.I2C (each driver declares its own
    part, which the end of this file checks against this)."""

    def readfrom_mem_into(self, __addr: int, __memaddr: int, __buf: WBuf) -> None: ...
    def writeto_mem(self, __addr: int, __memaddr: int, __buf: Bytes) -> None: ...
    def writeto(self, __addr: int, __buf: Bytes, __stop: bool = True) -> int: ...
    def readfrom_into(self, __addr: int, __buf: WBuf, __stop: bool = True) -> None: ...


class Watchdog(Protocol):
    def feed(self) -> None: ...


class Port(Protocol):
    """What differs between the boards the firmware runs on.

    Ticks are milliseconds that wrap (every 2**30 ms on the boards): compare
    them with ticks_diff(), never subtract them.
    """

    keepalive: "Callable[[], None] | None"
    """Set by node.py: feeds the watchdog, but only while the cycle is within
    its time budget. nap() calls it before it sleeps."""

    def reset_cause(self) -> int:
        """Why the node is running: one of frames.RESET_*."""
        ...

    def counter_hint(self) -> tuple[int, int] | None:
        """(counter, reservation) kept where a reset does not reach, if any."""
        ...

    def load(self) -> bytes | bytearray | None:
        """The retained bytes saved before the last sleep or reset, if any."""
        ...

    def save(self, memory: bytes | bytearray) -> None:
        """Keep memory (retained.py's bytes) through sleep and watchdog resets."""
        ...

    def sleep_until_next_cycle(self, ms: int) -> None:
        """Sleep between two cycles, ms long; what the node keeps differs.

        ESP32: deep sleep, and the chip wakes by rebooting into main.py: this
        never returns. RP2040: light sleep, RAM kept: it returns, and
        node.main() runs the next cycle. The sim board: as the ESP32 (the
        process ends; the next wake is a new one).
        """
        ...

    def nap(self, ms: int) -> None:
        """Wait ms with the CPU stopped where the board can (sensors keep
        converting, RAM is kept); calls keepalive first."""
        ...

    def sleep_ms(self, __ms: int) -> None:
        """A short wait with the CPU running (polling a link, a BLE advert)."""
        ...

    def ticks_ms(self) -> int: ...
    def ticks_diff(self, __a: int, __b: int) -> int: ...

    def now_s(self) -> int:
        """Seconds of the clock that keeps counting through sleep (the RTC)."""
        ...

    def watchdog(self, timeout_ms: int) -> Watchdog: ...
    def pin_held(self, pin: int) -> bool: ...
    def usb_power(self, pin: int | str | None) -> bool: ...
    def pin(self, n: int) -> object: ...
    def pin_out(self, n: int, value: int) -> object: ...
    def i2c(self, cfg: Board) -> I2C: ...
    def uart(self, cfg: Board, baudrate: int) -> uart_sensor.UART: ...
    def link(self, cfg: Board | str) -> uart_link.Line: ...
    def spi(self, cfg: Board) -> object: ...
    def adc(self, pin: int) -> ADC: ...
    def ble(self) -> ble_link.BLE: ...


class Link(Protocol):
    """A transport: sends a node's frames, hears the acknowledgements."""

    def send(self, frame: Bytes, max_wait_s: int | None = None) -> bool:
        """Send one frame; False when it was dropped (the duty cycle, a BLE
        advert too short for it). max_wait_s: the longest wait for a radio's
        duty cycle, None for the link's own setting, 0 to send now or never."""
        ...

    def poll_ack(
        self, node: int, seq: int, key: "frames.Key | None", timeout_ms: int = ...
    ) -> bool:
        """True when an acknowledgement of (node, seq) was heard within timeout_ms."""
        ...

    def sleep(self) -> None:
        """The link's lowest-power state until the next send()."""
        ...


class Sensor(Protocol):
    """One sensor's driver, as the cycle drives it.

    The driver takes its bus (and address), never makes one, and checks in
    its constructor that the chip is there (OSError otherwise). Its values
    are int attributes in the frame's units, None before the first reading;
    the catalogue names them.
    """

    def compensate(
        self, temperature: int | None, humidity: int | None, pressure: int | None
    ) -> None:
        """Before start(): what the node knows of the air (centi-°C,
        centi-%RH from its first temperature sensor; deci-hPa from the last
        cycle's pressure), None what it does not. A chip that corrects for
        the air takes what it needs (the SCD41 the pressure, the SGP40
        temperature and humidity); the others ignore it."""
        ...

    def start(self) -> int:
        """Start a measurement; returns the ms until read() may run."""
        ...

    def read(self) -> bool:
        """Fetch the measurement into the value attributes; OSError if it fails.

        False when the datasheet says to throw this reading away (the SCD41's
        first after power-up): the cycle calls start() and read() again.
        """
        ...

    def stop(self) -> None:
        """The chip's low-power state until the next start()."""
        ...


# Every port and link against its contract (see the module docstring). Each
# sensor driver holds itself to Sensor at its end, so adding one touches no
# file but its own.

_esp32: Port = port_esp32
_rp2: Port = port_rp2
_sim: Port = sim_port


def _uartlink(x: uart_link.UartLink) -> Link:
    return x


def _loralink(x: lora_link.LoRaLink) -> Link:
    return x


def _blelink(x: ble_link.BleLink) -> Link:
    return x

"""What ESP32 and RP2040 share: buses and pins from a board file's entries, and ticks.

The port modules (port_esp32, port_rp2) re-export these; node.py and
sensors.py reach them as port.i2c(), port.uart(), ... like the sim's
(roles.Port is the contract).
"""

import time

import machine
from micropython import const

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    import bluetooth

# Ticks wrap (every 2**30 ms on these ports): compare them with ticks_diff.
# The stubs type a tick as an opaque class so that ms and µs ticks cannot be
# mixed up; on the node it is a small int, which is what the node stores.
ticks_ms: "Callable[[], int]" = time.ticks_ms  # type: ignore[assignment]
ticks_diff = time.ticks_diff
sleep_ms = time.sleep_ms  # a short wait with the CPU running (polling a link)


def pin_held(pin: int) -> bool:
    """A button to ground (BOOT on most ESP32 boards) held down at boot."""
    return machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0


def usb_power(pin: int | str | None) -> bool:
    return pin is not None and machine.Pin(pin, machine.Pin.IN).value() == 1


def pin(n: int | str) -> machine.Pin:
    return machine.Pin(n)


def pin_out(n: int, value: int) -> machine.Pin:
    p = machine.Pin(n, machine.Pin.OUT)
    p.value(value)
    return p


def i2c(cfg: "dict[str, Any]") -> machine.I2C:
    return machine.I2C(
        cfg["id"], scl=machine.Pin(cfg["scl"]), sda=machine.Pin(cfg["sda"]), freq=cfg["freq"]
    )


def uart(cfg: "dict[str, Any]", baudrate: int) -> machine.UART:
    return machine.UART(
        cfg["id"],
        baudrate=baudrate,
        tx=machine.Pin(cfg["tx"]),
        rx=machine.Pin(cfg["rx"]),
        timeout=0,
    )


def link(cfg: "dict[str, Any] | str") -> machine.UART:
    if cfg == "usb":
        raise OSError("the USB console is the REPL: write frames with sys.stdout.buffer")
    assert isinstance(cfg, dict)
    return uart(cfg, cfg["baud"])


def spi(cfg: "dict[str, Any]") -> machine.SPI:
    return machine.SPI(
        cfg["id"],
        baudrate=cfg.get("baudrate", 2000000),
        sck=machine.Pin(cfg["sck"]),
        mosi=machine.Pin(cfg["mosi"]),
        miso=machine.Pin(cfg["miso"]),
    )


def ble() -> "bluetooth.BLE":
    import bluetooth

    return bluetooth.BLE()

"""The ESP32 (and ESP32-S3) port: reset cause, deep sleep, RTC memory, buses.

node.py talks to the hardware only through a port module: this one, port_rp2
or the sim's (sim/port.py). roles.Port is their contract, and `make
typecheck` holds each of the three up against it.
"""

import time

import frames
import machine
from buses import ble as ble
from buses import i2c as i2c
from buses import link as link
from buses import pin as pin
from buses import pin_held as pin_held
from buses import pin_out as pin_out
from buses import sleep_ms as sleep_ms
from buses import spi as spi
from buses import ticks_diff as ticks_diff
from buses import ticks_ms as ticks_ms
from buses import uart as uart
from buses import usb_power as usb_power
from micropython import const

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from collections.abc import Callable

# Naps shorter than this busy-wait: entering and leaving light sleep costs
# about a millisecond and the peripherals' clocks.
_LIGHTSLEEP_MIN_MS = const(20)


def reset_cause() -> int:
    cause = machine.reset_cause()
    if cause == machine.DEEPSLEEP_RESET:
        return frames.RESET_SLEEP
    if cause == machine.PWRON_RESET:
        return frames.RESET_POWER_ON
    if cause == machine.WDT_RESET:
        return frames.RESET_WATCHDOG
    if cause == machine.SOFT_RESET:
        return frames.RESET_SOFT
    # HARD_RESET covers the reset pin and, on this port, a brown-out.
    return frames.RESET_PIN


def counter_hint() -> tuple[int, int] | None:
    return None  # RTC memory itself survives a watchdog reset on the ESP32


def load() -> bytes | None:
    data = machine.RTC().memory()
    return data or None


def save(memory: bytes | bytearray) -> None:
    machine.RTC().memory(memory)


def sleep_until_next_cycle(ms: int) -> None:
    """Deep sleep: the chip wakes by rebooting into main.py. Never returns.

    RTC memory (save()) is all that is kept, and the RTC's clock (now_s()).
    """
    machine.deepsleep(ms)


# node.py sets it: feeds the watchdog within the cycle's budget.
keepalive: "Callable[[], None] | None" = None


def nap(ms: int) -> None:
    """Wait with the CPU stopped (sensors keep converting, RAM kept)."""
    if keepalive is not None:
        keepalive()
    if ms >= _LIGHTSLEEP_MIN_MS:
        machine.lightsleep(ms)
    elif ms > 0:
        time.sleep_ms(ms)


def now_s() -> int:
    # The RTC keeps counting through deep sleep (not through power-off).
    return time.time()


def watchdog(timeout_ms: int) -> machine.WDT:
    return machine.WDT(timeout=timeout_ms)


def adc(pin: int) -> machine.ADC:
    a = machine.ADC(machine.Pin(pin))
    a.atten(machine.ADC.ATTN_11DB)  # full range, ~0.15..2.45 V calibrated
    return a

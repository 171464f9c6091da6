"""The ESP32 (and ESP32-S3) port: reset cause, deep sleep, RTC memory, buses.

node.py talks to the hardware only through a port module: this one, port_rp2
or the sim's (sim/port.py); the three have the same functions.
"""

import time

import frames
import machine
from micropython import const

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


def deepsleep(ms: int) -> None:
    """Sleep; the chip wakes by rebooting into main.py. Never returns."""
    machine.deepsleep(ms)


keepalive = None  # node.py sets it: feeds the watchdog within the cycle's budget


def nap(ms: int) -> None:
    """Wait with the CPU stopped (sensors keep converting, RAM kept)."""
    if keepalive is not None:
        keepalive()
    if ms >= _LIGHTSLEEP_MIN_MS:
        machine.lightsleep(ms)
    elif ms > 0:
        time.sleep_ms(ms)


# Ticks wrap (every 2**30 ms on these ports): compare them with ticks_diff.
ticks_ms = time.ticks_ms
ticks_diff = time.ticks_diff
sleep_ms = time.sleep_ms  # a short wait with the CPU running (polling a link)


def now_s() -> int:
    # The RTC keeps counting through deep sleep (not through power-off).
    return time.time()


def watchdog(timeout_ms: int) -> machine.WDT:
    return machine.WDT(timeout=timeout_ms)


def pin_held(pin: int) -> bool:
    """A button to ground (BOOT on most boards) held down at boot."""
    return machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0


def usb_power(pin: int | str | None) -> bool:
    return pin is not None and machine.Pin(pin, machine.Pin.IN).value() == 1


def i2c(cfg: dict) -> machine.I2C:  # type: ignore[type-arg]
    return machine.I2C(
        cfg["id"], scl=machine.Pin(cfg["scl"]), sda=machine.Pin(cfg["sda"]), freq=cfg["freq"]
    )


def uart(cfg: dict, baudrate: int) -> machine.UART:  # type: ignore[type-arg]
    return machine.UART(cfg["id"], baudrate=baudrate, tx=cfg["tx"], rx=cfg["rx"], timeout=0)


def link(cfg: dict | str) -> machine.UART:  # type: ignore[type-arg]
    if cfg == "usb":
        raise OSError("the USB console is the REPL: write frames with sys.stdout.buffer")
    assert isinstance(cfg, dict)
    return uart(cfg, cfg["baud"])


def adc(pin: int) -> machine.ADC:
    a = machine.ADC(machine.Pin(pin))
    a.atten(machine.ADC.ATTN_11DB)  # full range, ~0.15..2.45 V calibrated
    return a


def pin_out(pin: int, value: int) -> machine.Pin:
    p = machine.Pin(pin, machine.Pin.OUT)
    p.value(value)
    return p


def spi(cfg: dict) -> machine.SPI:  # type: ignore[type-arg]
    return machine.SPI(
        cfg["id"],
        baudrate=cfg.get("baudrate", 2000000),
        sck=machine.Pin(cfg["sck"]),
        mosi=machine.Pin(cfg["mosi"]),
        miso=machine.Pin(cfg["miso"]),
    )


def ble() -> object:
    import bluetooth

    return bluetooth.BLE()


def pin(n: int | str) -> machine.Pin:
    return machine.Pin(n)

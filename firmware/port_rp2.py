"""The RP2040 port (Pico, Pico W): the same functions as port_esp32.

The RP2040 has no deep sleep that keeps a timer running in MicroPython, so
the node light-sleeps between cycles and never reboots: its RAM, and so the
retained bytes, stay in the running program. Only a reset loses them, and
then four watchdog scratch registers (which survive every reset but
power-off) keep the frame counter, so a watchdog reset does not cost a
counter jump.

The watchdog's longest timeout is 8388 ms: every sleep and nap is cut into
pieces shorter than that, each after a call to keepalive(), which node.py
sets: it feeds the watchdog between cycles, and within a cycle only while
the cycle is inside its time budget.
"""

import time

import frames
import machine
from micropython import const

_WATCHDOG_SCRATCH0 = const(0x4005800C)  # RP2040 datasheet 4.7.6; 4..7 are the bootrom's
_SCRATCH_MAGIC = const(0x4D4C0001)
WDT_MAX_MS = const(8388)
_PIECE_MS = const(4000)

_memory: bytes | bytearray | None = None
keepalive = None


def reset_cause() -> int:
    cause = machine.reset_cause()
    if cause == machine.WDT_RESET:
        return frames.RESET_WATCHDOG
    if cause == machine.PWRON_RESET:
        return frames.RESET_POWER_ON
    return frames.RESET_PIN


def load() -> bytes | bytearray | None:
    return _memory


def counter_hint() -> tuple[int, int] | None:
    """(counter, reservation) kept in the watchdog scratch registers, if valid."""
    m = machine.mem32
    if m[_WATCHDOG_SCRATCH0] != _SCRATCH_MAGIC:
        return None
    seq = m[_WATCHDOG_SCRATCH0 + 4]
    reserved = m[_WATCHDOG_SCRATCH0 + 8]
    if m[_WATCHDOG_SCRATCH0 + 12] != (seq ^ reserved ^ _SCRATCH_MAGIC) & 0xFFFFFFFF:
        return None
    return seq, reserved


def save(memory: bytes | bytearray) -> None:
    global _memory
    _memory = memory  # the node's own buffer: kept, not copied
    seq = memory[4] << 24 | memory[5] << 16 | memory[6] << 8 | memory[7]
    reserved = memory[8] << 24 | memory[9] << 16 | memory[10] << 8 | memory[11]
    m = machine.mem32
    m[_WATCHDOG_SCRATCH0] = _SCRATCH_MAGIC
    m[_WATCHDOG_SCRATCH0 + 4] = seq
    m[_WATCHDOG_SCRATCH0 + 8] = reserved
    m[_WATCHDOG_SCRATCH0 + 12] = (seq ^ reserved ^ _SCRATCH_MAGIC) & 0xFFFFFFFF


def nap(ms: int) -> None:
    while ms > 0:
        if keepalive is not None:
            keepalive()  # before each piece: a piece never outlasts the timeout
        piece = ms if ms < _PIECE_MS else _PIECE_MS
        if piece >= 10:
            machine.lightsleep(piece)
        else:
            time.sleep_ms(piece)
        ms -= piece


def deepsleep(ms: int) -> None:
    """Light sleep between cycles: returns, and node.py loops."""
    nap(ms)


# Ticks wrap (every 2**30 ms on these ports): compare them with ticks_diff.
ticks_ms = time.ticks_ms
ticks_diff = time.ticks_diff
sleep_ms = time.sleep_ms  # a short wait with the CPU running (polling a link)


def now_s() -> int:
    return time.time()


def watchdog(timeout_ms: int) -> machine.WDT:
    return machine.WDT(timeout=min(timeout_ms, WDT_MAX_MS))


def pin_held(pin: int) -> bool:
    return machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0


def usb_power(pin: int | str | None) -> bool:
    return pin is not None and machine.Pin(pin, machine.Pin.IN).value() == 1


def i2c(cfg: dict) -> machine.I2C:  # type: ignore[type-arg]
    return machine.I2C(
        cfg["id"], scl=machine.Pin(cfg["scl"]), sda=machine.Pin(cfg["sda"]), freq=cfg["freq"]
    )


def uart(cfg: dict, baudrate: int) -> machine.UART:  # type: ignore[type-arg]
    return machine.UART(
        cfg["id"],
        baudrate=baudrate,
        tx=machine.Pin(cfg["tx"]),
        rx=machine.Pin(cfg["rx"]),
        timeout=0,
    )


def link(cfg: dict | str) -> machine.UART:  # type: ignore[type-arg]
    if cfg == "usb":
        raise OSError("the USB console is the REPL: write frames with sys.stdout.buffer")
    assert isinstance(cfg, dict)
    return uart(cfg, cfg["baud"])


def adc(pin: int) -> machine.ADC:
    return machine.ADC(machine.Pin(pin))


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

"""The RP2040 port (Pico, Pico W): the same functions as port_esp32 (roles.Port).

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

_WATCHDOG_SCRATCH0 = const(0x4005800C)  # RP2040 datasheet 4.7.6; 4..7 are the bootrom's
_SCRATCH_MAGIC = const(0x4D4C0001)
WDT_MAX_MS = const(8388)
_PIECE_MS = const(4000)

_memory: bytes | bytearray | None = None
keepalive: "Callable[[], None] | None" = None  # node.py sets it (the module docstring)


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


def sleep_until_next_cycle(ms: int) -> None:
    """Light sleep, RAM kept: returns, and node.main() runs the next cycle.

    The RP2040 has no deep sleep with a timer wake in MicroPython (the
    module docstring); the naps feed the watchdog between cycles.
    """
    nap(ms)


def now_s() -> int:
    return time.time()


def watchdog(timeout_ms: int) -> machine.WDT:
    return machine.WDT(timeout=min(timeout_ms, WDT_MAX_MS))


def adc(pin: int) -> machine.ADC:
    return machine.ADC(machine.Pin(pin))

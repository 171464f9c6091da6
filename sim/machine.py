"""The sim board's `machine`: the unix port's, plus Pin and SPI wired to chip models.

The unix port's machine module has no Pin and no SPI, and a built-in
module cannot be given attributes, so importing this module puts itself in
sys.modules["machine"], with everything of the built-in one: a driver's
`from machine import Pin` (micropython-lib's lora drivers) then gets these.
sim/port.py imports it first thing.

Pins are numbered as the board file numbers them. wire(n, chip, role)
connects GPIO n to a chip model (sim/sx127x.py, sim/sx126x.py):

- role "nss": writing the pin calls chip.select(level == 0), and while it is
  low the SPI bus carries the chip's transfers;
- role "reset": driving it low calls chip.reset() (NRESET pulsed);
- any output of the chip ("dio0", "dio1", "dio2", "busy"): reading the pin
  reads chip.level(role), and Pin.irq(handler, Pin.IRQ_RISING) is called on
  its rising edges (chip.on_rise), scheduled as MicroPython runs a soft IRQ.

Any other pin is a plain GPIO that reads back what was written.
"""

import sys

TYPE_CHECKING = False  # mypy takes this name as True; MicroPython has no typing module
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_builtin: "Any" = None  # the unix port's own machine: idle(), Signal, mem8, ...
try:
    import machine

    _builtin = machine
except ImportError:  # CPython
    pass

_schedule: "Any" = None  # micropython.schedule: a soft IRQ handler runs from it
try:
    import micropython

    _schedule = micropython.schedule
except (ImportError, AttributeError):  # CPython
    pass

if _builtin is not None and _builtin is not sys.modules.get(__name__):
    for _name in dir(_builtin):
        if not _name.startswith("__"):
            globals()[_name] = getattr(_builtin, _name)


def idle() -> None:
    """Wait for an interrupt: on the unix port, yield a moment."""
    if _builtin is not None:
        _builtin.idle()


_wires: "dict[int | str, tuple[Any, str]]" = {}  # GPIO -> (chip, role)
_levels: "dict[int | str, int]" = {}  # what each output pin drives


def wire(pin: "int | str", chip: "Any", role: str) -> None:
    """Connect a GPIO of the board to a chip: its NSS, NRESET or an output of the chip."""
    _wires[pin] = (chip, role)


def unwire() -> None:
    """Disconnect every chip (a test that builds a new board)."""
    _wires.clear()
    _levels.clear()


class Pin:
    """machine.Pin: the same constructor, modes, value(), irq()."""

    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id: "int | str", mode: int = -1, pull: int = -1, *, value: "Any" = None):
        self.id = id
        self._handler: Callable[[Pin], None] | None = None
        self._hooked = False
        self.init(mode, pull, value=value)

    def init(self, mode: int = -1, pull: int = -1, *, value: "Any" = None) -> None:
        if mode != -1:
            self.mode = mode
        if value is not None:
            self.value(value)

    def _wire(self) -> "tuple[Any, str] | tuple[None, str]":
        return _wires.get(self.id, (None, ""))

    def value(self, x: "Any" = None) -> int:
        chip, role = self._wire()
        if x is None:
            if chip is not None and role not in ("nss", "reset"):
                return int(chip.level(role))
            return _levels.get(self.id, 0)
        level = 1 if x else 0
        before = _levels.get(self.id)
        _levels[self.id] = level
        if chip is not None and level != before:
            if role == "nss":
                chip.select(level == 0)
            elif role == "reset" and level == 0:
                chip.reset()
        return level

    def __call__(self, x: "Any" = None) -> int:
        return self.value(x)

    def on(self) -> None:
        self.value(1)

    def off(self) -> None:
        self.value(0)

    def irq(
        self,
        handler: "Callable[[Pin], None] | None" = None,
        trigger: int = 1,  # IRQ_RISING
        **kwargs: "Any",
    ) -> None:
        """Call handler(pin) on rising edges of a chip's output (the only edges the sim has)."""
        self._handler = handler if trigger & Pin.IRQ_RISING else None
        chip, role = self._wire()
        if chip is not None and handler is not None and not self._hooked:
            self._hooked = True
            chip.on_rise(role, self._rose)

    def _rose(self, role: str) -> None:
        handler = self._handler
        if handler is None:
            return
        if _schedule is not None:
            try:
                _schedule(handler, self)
                return
            except RuntimeError:  # the queue is full: run it now
                pass
        handler(self)

    def __repr__(self) -> str:
        return "Pin(%s)" % (self.id,)


class SPI:
    """machine.SPI: the bus carries bytes to and from the chips whose NSS is low."""

    MSB = 0
    LSB = 1

    def __init__(self, id: "Any" = 0, *args: "Any", **kwargs: "Any") -> None:
        self.id = id

    def init(self, *args: "Any", **kwargs: "Any") -> None:
        pass

    def deinit(self) -> None:
        pass

    def _transfer(self, out: "bytes | bytearray | memoryview") -> bytes:
        miso = b"\xff" * len(out)  # nobody driving MISO: pulled up
        for pin, (chip, role) in _wires.items():
            if role == "nss" and _levels.get(pin, 1) == 0:
                miso = chip.transfer(bytes(out))
        return miso

    def write(self, buf: "bytes | bytearray | memoryview") -> None:
        self._transfer(buf)

    def read(self, nbytes: int, write: int = 0x00) -> bytes:
        return self._transfer(bytes([write]) * nbytes)

    def readinto(self, buf: "bytearray | memoryview", write: int = 0x00) -> None:
        got = self._transfer(bytes([write]) * len(buf))
        for i in range(len(buf)):
            buf[i] = got[i]

    def write_readinto(
        self, write_buf: "bytes | bytearray | memoryview", read_buf: "bytearray | memoryview"
    ) -> None:
        got = self._transfer(bytes(write_buf))  # a copy: the two may be one buffer
        for i in range(len(read_buf)):
            read_buf[i] = got[i]


sys.modules["machine"] = sys.modules[__name__]

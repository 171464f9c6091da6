"""An emulated I2C bus with the interface of MicroPython's machine.I2C.

Chips attach to the bus at their address. A transaction the chip does not
acknowledge raises OSError(ENODEV), as on an ESP32 when nothing answers:
the driver sees exactly what it would see on a board whose sensor is
missing, unplugged, or busy converting (Sensirion chips NACK reads then).
"""

_ENODEV = 19  # errno of "no device at this address" on MicroPython ports


class Chip:
    """One emulated chip. Subclasses answer whole write and read transactions.

    write() gets the bytes of one write transaction; read() returns n bytes
    for one read transaction. Either returns None to not acknowledge.
    `silent` makes the chip stop answering altogether, like one that has
    lost power or hung.
    """

    def __init__(self, address: int) -> None:
        self.address = address
        self.silent = False

    def write(self, data: bytes) -> bool:
        return False

    def read(self, n: int) -> bytes | None:
        return None


class RegisterChip(Chip):
    """A chip with a register file and an auto-incrementing pointer (Bosch style).

    The first byte of a write sets the pointer; further bytes are stored
    from it on, each through on_write() so a chip can act on a control
    register. A read returns registers from the pointer on.
    """

    def __init__(self, address: int, size: int = 256) -> None:
        super().__init__(address)
        self.regs = bytearray(size)
        self.pointer = 0

    def write(self, data: bytes) -> bool:
        if not data:
            return True  # an address-only probe, as scan() sends
        self.pointer = data[0]
        for b in data[1:]:
            self.on_write(self.pointer, b)
            self.pointer = (self.pointer + 1) % len(self.regs)
        return True

    def on_write(self, reg: int, value: int) -> None:
        self.regs[reg] = value

    def read(self, n: int) -> bytes | None:
        out = bytearray(n)
        for i in range(n):
            out[i] = self.on_read(self.pointer)
            self.pointer = (self.pointer + 1) % len(self.regs)
        return bytes(out)

    def on_read(self, reg: int) -> int:
        return self.regs[reg]


class I2C:
    """Stands in for machine.I2C: same methods, same errors."""

    def __init__(self, *chips: Chip) -> None:
        self._chips: dict[int, Chip] = {}
        for chip in chips:
            self.attach(chip)

    def attach(self, chip: Chip) -> None:
        self._chips[chip.address] = chip

    def _chip(self, addr: int) -> Chip:
        chip = self._chips.get(addr)
        if chip is None or chip.silent:
            raise OSError(_ENODEV)
        return chip

    def scan(self) -> list[int]:
        return sorted(a for a, c in self._chips.items() if not c.silent and c.write(b""))

    def writeto(self, addr: int, buf: bytes | bytearray | memoryview, stop: bool = True) -> int:
        if not self._chip(addr).write(bytes(buf)):
            raise OSError(_ENODEV)
        return len(buf)

    def readfrom_into(self, addr: int, buf: bytearray | memoryview, stop: bool = True) -> None:
        data = self._chip(addr).read(len(buf))
        if data is None:
            raise OSError(_ENODEV)
        buf[:] = data

    def readfrom(self, addr: int, nbytes: int, stop: bool = True) -> bytes:
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf)
        return bytes(buf)

    def writeto_mem(self, addr: int, memaddr: int, buf: bytes | bytearray | memoryview) -> None:
        self.writeto(addr, bytes([memaddr]) + bytes(buf))

    def readfrom_mem_into(self, addr: int, memaddr: int, buf: bytearray | memoryview) -> None:
        self.writeto(addr, bytes([memaddr]), False)
        self.readfrom_into(addr, buf)

    def readfrom_mem(self, addr: int, memaddr: int, nbytes: int) -> bytes:
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)

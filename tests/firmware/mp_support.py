# Helpers for the MicroPython driver scripts (mp_*.py), run on the unix port.
import gc
import json
from binascii import hexlify


class ReplayBus:
    """An I2C bus that answers each command (one or two bytes) with fixed bytes.

    For datasheet examples, and to measure a driver's own allocation: with
    log=None it allocates nothing (the sim bus copies bytes at every
    transaction, so it cannot be used for that).
    """

    def __init__(self, replies, log=None):
        self.replies = replies
        self.cmd = 0
        self.log = log

    def writeto(self, addr, buf, stop=True):
        # A 16-bit command, or a one-byte one (the SHT4x's).
        self.cmd = buf[0] if len(buf) == 1 else buf[0] << 8 | buf[1]
        if self.log is not None:
            self.log.append(hexlify(bytes(buf)).decode())
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        r = self.replies[self.cmd]
        for i in range(len(buf)):
            buf[i] = r[i]


def emit(case, **kw):
    """One JSON line for pytest (tests/support/micropython.py reads it): the
    case's name and what it found. A case may print several lines."""
    kw["case"] = case
    print(json.dumps(kw))


def hexs(b):
    return hexlify(b).decode()


def allocated(fn, *args):
    """Bytes of heap fn(*args) allocates, with the collector held off meanwhile."""
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    fn(*args)
    used = gc.mem_alloc() - before
    gc.enable()
    return used


def measure(driver):
    """start(), the nap the node takes for the time it returns, read()."""
    import sim.clock

    sim.clock.skip(driver.start())
    driver.read()


def error_of(fn):
    """The message of the OSError or ValueError fn raises, or None."""
    try:
        fn()
    except (OSError, ValueError) as e:
        return str(e)
    return None

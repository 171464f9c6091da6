# Helpers for the MicroPython driver scripts (mp_*.py), run on the unix port.
import json
from binascii import hexlify


class ReplayBus:
    """An I2C bus that answers each 16-bit command with fixed bytes.

    For datasheet examples, and to measure a driver's own allocation: with
    log=None it allocates nothing (the sim bus copies bytes at every
    transaction, so it cannot be used for that).
    """

    def __init__(self, replies, log=None):
        self.replies = replies
        self.cmd = 0
        self.log = log

    def writeto(self, addr, buf, stop=True):
        self.cmd = buf[0] << 8 | buf[1]
        if self.log is not None:
            self.log.append(hexlify(bytes(buf)).decode())
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        r = self.replies[self.cmd]
        for i in range(len(buf)):
            buf[i] = r[i]


def emit(name, **kw):
    """One JSON line for pytest, keyed by the case's name."""
    kw["name"] = name
    print(json.dumps(kw))


def error_of(fn):
    """The message of the OSError or ValueError fn raises, or None."""
    try:
        fn()
    except (OSError, ValueError) as e:
        return str(e)
    return None

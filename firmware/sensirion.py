"""The integrity check shared by Sensirion's I2C sensors (SHT4x, SCD4x, SGP40).

Every 16-bit word a Sensirion chip sends, and every argument word sent to
it, is followed by a CRC-8: polynomial 0x31 (x^8 + x^5 + x^4 + 1), initial
value 0xFF, no reflection, no final XOR. The datasheets' check value:
crc8(0xBE, 0xEF) == 0x92.
"""

from micropython import const

_POLY = const(0x31)


def crc8(buf: bytes | bytearray | memoryview, start: int = 0, n: int = 2) -> int:
    """CRC-8 of buf[start:start + n]. Allocates nothing."""
    crc = 0xFF
    for i in range(start, start + n):
        crc ^= buf[i]
        for _ in range(8):
            crc = ((crc << 1) ^ _POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def check_words(buf: bytes | bytearray | memoryview, n: int, chip: str) -> None:
    """Check the CRC of each of the n words (3 bytes each) at the start of buf.

    Raises OSError naming the chip: a corrupted reply is never converted.
    """
    for i in range(0, 3 * n, 3):
        if crc8(buf, i) != buf[i + 2]:
            raise OSError(chip + ": CRC mismatch")


def word(buf: bytes | bytearray | memoryview, i: int) -> int:
    """The i-th 16-bit big-endian word of a reply (3 bytes per word)."""
    return buf[3 * i] << 8 | buf[3 * i + 1]

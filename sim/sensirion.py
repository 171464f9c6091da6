"""Reply framing of emulated Sensirion chips: 16-bit words, each with its CRC-8.

The CRC is computed here from its definition, independently of the
firmware's sensirion.py, so a mistake in one is caught by the other.
"""


def crc8(data: bytes) -> int:
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc << 1) ^ 0x31 if crc & 0x80 else crc << 1
        crc &= 0xFF
    return crc


def words(*values: int, corrupt: bool = False) -> bytes:
    """Big-endian words, each followed by its CRC; corrupt flips the last CRC."""
    out = bytearray()
    for v in values:
        pair = bytes(((v >> 8) & 0xFF, v & 0xFF))
        out += pair
        out.append(crc8(pair))
    if corrupt and out:
        out[-1] ^= 0xFF
    return bytes(out)

"""Frames on a serial line: COBS records between zero bytes (docs/protocol.md).

Runs unchanged on MicroPython and CPython, and does no I/O: the UART
transport on the node and the serial input of the gateway move the bytes.

On the wire every record is written as 0x00, COBS(record), 0x00. COBS
leaves no zero inside a record, so a receiver that starts mid-stream, or
meets noise or a cut record, is back in step at the next zero byte. The
leading zero ends whatever partial record the receiver still holds.

A record is a frame, or, from a LoRa bridge, a frame behind the radio's
reception metadata: RADIO_RECORD, RSSI (int16, dBm), SNR (int8, 0.25 dB).
"""

try:
    from micropython import const  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # CPython

    def const(x: int) -> int:  # type: ignore[misc, unused-ignore]
        return x


try:  # CPython: the codec inside the meteolink package
    from meteolink.firmware.frames import FrameError  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # the node: firmware files sit at the top of its filesystem
    from frames import FrameError  # type: ignore[import-not-found, no-redef, unused-ignore]

RADIO_RECORD = const(0xE1)  # a frame version nibble is 1..13: never 0xE
_RADIO_HEADER = const(4)
MAX_RECORD = const(160)  # the longest frame, 147 bytes, behind radio metadata
# COBS adds one byte per 254; the encoded record is at most this long.
MAX_ENCODED = const(MAX_RECORD + MAX_RECORD // 254 + 1)


def cobs_encode_into(src: bytes | bytearray | memoryview, n: int, dst: bytearray) -> int:
    """Write 0x00, COBS(src[:n]), 0x00 into dst and return the length.

    dst needs n + n // 254 + 3 bytes. Allocates nothing.
    """
    dst[0] = 0
    code_pos = 1
    code = 1
    o = 2
    for i in range(n):
        b = src[i]
        if b:
            dst[o] = b
            o += 1
            code += 1
            if code == 0xFF:
                dst[code_pos] = code
                code_pos = o
                o += 1
                code = 1
        else:
            dst[code_pos] = code
            code_pos = o
            o += 1
            code = 1
    dst[code_pos] = code
    dst[o] = 0
    return o + 1


def cobs_encode(data: bytes | bytearray | memoryview) -> bytes:
    """The bytes that carry one record on the wire, delimiters included."""
    dst = bytearray(len(data) + len(data) // 254 + 3)
    return bytes(dst[: cobs_encode_into(data, len(data), dst)])


def cobs_decode(data: bytes | bytearray | memoryview) -> bytes:
    """The record inside one COBS block sequence (no delimiters)."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise FrameError("cobs", "zero byte inside a COBS record")
        end = i + code
        if end > n:
            raise FrameError("cobs", "COBS record cut inside a block")
        out += data[i + 1 : end]
        i = end
        if code < 0xFF and i < n:
            out.append(0)
    return bytes(out)


def radio_record(frame: bytes | bytearray | memoryview, rssi: int, snr: float) -> bytes:
    """A LoRa bridge's record: frame behind its RSSI (dBm) and SNR (dB)."""
    q = round(snr * 4)
    if not -32768 <= rssi <= 32767 or not -128 <= q <= 127:
        raise FrameError("radio", "RSSI %s dBm or SNR %s dB out of range" % (rssi, snr))
    head = bytearray(_RADIO_HEADER)
    head[0] = RADIO_RECORD
    head[1] = (rssi >> 8) & 0xFF
    head[2] = rssi & 0xFF
    head[3] = q & 0xFF
    return bytes(head) + bytes(frame)


def split_record(record: bytes) -> tuple[bytes, int | None, float | None]:
    """(frame, rssi, snr) of a record; rssi and snr are None for a bare frame."""
    if not record or record[0] != RADIO_RECORD:
        return record, None, None
    if len(record) < _RADIO_HEADER:
        raise FrameError("radio", "radio metadata cut short")
    rssi = record[1] << 8 | record[2]
    if rssi & 0x8000:
        rssi -= 0x10000
    q = record[3] - 256 if record[3] & 0x80 else record[3]
    return record[_RADIO_HEADER:], rssi, q / 4


class Deframer:
    """Splits a byte stream into records.

    feed() takes whatever a read returned and gives back, in order, every
    record completed by it, or a FrameError for a malformed one: bad COBS, or
    more than MAX_ENCODED bytes without a zero (noise, a flood), which are
    dropped up to the next zero byte. Memory stays bounded whatever arrives.
    """

    def __init__(self, max_encoded: int = MAX_ENCODED) -> None:
        self._max = max_encoded
        self._buf = bytearray()
        self._dropping = False

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        out: list[bytes | FrameError] = []
        start = 0
        n = len(data)
        while start < n:
            z = data.find(b"\x00", start)
            end = n if z < 0 else z
            if not self._dropping:
                if len(self._buf) + end - start > self._max:
                    self._dropping = True
                    self._buf = bytearray()
                    out.append(
                        FrameError(
                            "overflow",
                            "more than %d bytes without a delimiter: dropped to the next"
                            % self._max,
                        )
                    )
                else:
                    self._buf += data[start:end]
            if z < 0:
                break
            if not self._dropping and self._buf:
                try:
                    out.append(cobs_decode(self._buf))
                except FrameError as e:
                    out.append(e)
            self._buf = bytearray()
            self._dropping = False
            start = z + 1
        return out

    def pending(self) -> int:
        """Bytes held of a record not yet ended by a zero byte."""
        return len(self._buf)

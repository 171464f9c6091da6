"""The meteolink frame codec, format version 1 (docs/protocol.md).

One module for the node and the gateway: it runs unchanged on MicroPython and
CPython. It does no I/O. Bytes in, Frame out; values in, bytes out.

On the node, Encoder builds frames into a buffer it allocated once, from
integers the drivers already hold in fixed point (put_raw), so the hot path
allocates next to nothing. On the gateway, decode() may allocate freely.
"""

try:
    from micropython import const  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # CPython

    def const(x: int) -> int:  # type: ignore[misc, unused-ignore]
        return x


import array
import hashlib
import struct

VERSION = const(1)

# Header flags, the low nibble of byte 0.
FLAG_MIC = const(0x01)  # a 4-byte message integrity code precedes the CRC
FLAG_ACK_REQUEST = const(0x02)  # the node asks the gateway to acknowledge
FLAG_BOOT = const(0x04)  # first frame since a cold boot: the counter jumped
FLAG_ACK = const(0x08)  # gateway -> node acknowledgement of `seq`

HEADER_SIZE = const(6)  # version/flags, node id (2), sequence counter (3)
MIC_SIZE = const(4)
CRC_SIZE = const(2)
KEY_SIZE = const(16)
MAX_NODE = const(0xFFFE)  # 0 and 0xFFFF are reserved
MAX_SEQ = const(0xFFFFFF)
FIELD_LIMIT = const(63)  # ids 0..62, seven to a bitmap byte
_BITMAP_MAX = const(9)
MIN_FRAME = const(9)  # header, an empty bitmap, CRC
MAX_FRAME = const(147)  # header, 9 bitmap bytes, 63 values, MIC, CRC

# The field table: id -> (name, unit, signed, scale, lowest raw, highest raw).
# Every value travels as a 2-byte big-endian integer, raw = round(value * scale),
# so a decoder can step over an id it does not know. New quantities take a
# free id; the format does not change. The same table is in docs/protocol.md.
TEMPERATURE = const(0)
HUMIDITY = const(1)
PRESSURE = const(2)
PM1 = const(3)
PM2_5 = const(4)
PM10 = const(5)
CO2 = const(6)
VOC_INDEX = const(7)
BATTERY = const(8)
WIND_SPEED = const(9)
WIND_DIRECTION = const(10)
GUST = const(11)
RAIN = const(12)
STATUS = const(13)
AGE = const(14)
ILLUMINANCE = const(15)
UV_INDEX = const(16)
SOLAR_RADIATION = const(17)
SOIL_MOISTURE = const(18)
SOIL_TEMPERATURE = const(19)
NOISE = const(20)
NOX_INDEX = const(21)
SNOW_DEPTH = const(22)
WATER_LEVEL = const(23)
NO2 = const(24)
O3 = const(25)

FIELDS = (
    ("temperature", "°C", True, 100, -6000, 12500),
    ("humidity", "%RH", False, 100, 0, 10000),
    ("pressure", "hPa", False, 10, 3000, 11000),
    ("pm1", "µg/m³", False, 10, 0, 50000),
    ("pm2_5", "µg/m³", False, 10, 0, 50000),
    ("pm10", "µg/m³", False, 10, 0, 50000),
    ("co2", "ppm", False, 1, 0, 40000),
    ("voc_index", "", False, 1, 0, 500),
    ("battery", "V", False, 1000, 0, 20000),
    ("wind_speed", "m/s", False, 100, 0, 10000),
    ("wind_direction", "°", False, 1, 0, 359),
    ("gust", "m/s", False, 100, 0, 10000),
    ("rain", "mm", False, 10, 0, 65535),
    ("status", "", False, 1, 0, 65535),
    ("age", "s", False, 0.25, 0, 65535),
    ("illuminance", "lx", False, 1, 0, 65535),
    ("uv_index", "", False, 10, 0, 200),
    ("solar_radiation", "W/m²", False, 1, 0, 2000),
    ("soil_moisture", "%", False, 10, 0, 1000),
    ("soil_temperature", "°C", True, 100, -6000, 12500),
    ("noise", "dB(A)", False, 10, 0, 1500),
    ("nox_index", "", False, 1, 0, 500),
    ("snow_depth", "mm", False, 1, 0, 10000),
    ("water_level", "m", True, 1000, -32768, 32767),
    ("no2", "ppb", False, 1, 0, 10000),
    ("o3", "ppb", False, 1, 0, 10000),
)

# Whether each field's raw integer is signed (16-bit two's complement), for every id
# a bitmap can set (those FIELDS does not know are unsigned): decode() reads this.
_SIGNED = tuple(f[2] for f in FIELDS) + (False,) * (7 * _BITMAP_MAX - len(FIELDS))

# Bits of the `status` field. Bits 5..15 are reserved: senders leave them 0.
STATUS_RESET_MASK = const(0x07)  # reset cause of this wake, RESET_* below
STATUS_LOW_BATTERY = const(0x08)  # the node runs its low-battery schedule
STATUS_SENSOR_FAULT = const(0x10)  # a configured sensor failed this cycle
RESET_SLEEP = const(0)  # woke from deep sleep on its timer (normal)
RESET_POWER_ON = const(1)
RESET_WATCHDOG = const(2)
RESET_BROWN_OUT = const(3)
RESET_SOFT = const(4)
RESET_PIN = const(5)  # the reset pin, or a cause the port cannot tell


class MeteolinkError(Exception):
    """Root of every meteolink error.

    MicroPython cannot derive a class from two built-in exceptions, so the
    codec's errors derive from this root only, not also from ValueError.
    """


class FrameError(MeteolinkError):
    """The bytes are not a valid frame. `reason` is a short code from
    docs/protocol.md: truncated, length, version, flags, node, bitmap, crc,
    mic, no_mic."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Truncated(FrameError):
    """The frame ends before its header says it should: cut short in transit."""

    def __init__(self, need: int, have: int) -> None:
        super().__init__("truncated", "frame cut short: %d bytes, needs %d" % (have, need))
        self.need = need


class EncodeError(MeteolinkError):
    """The values or arguments given cannot be encoded. `reason` is one of
    field, range, node, seq, flags, key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def field_id(name: str) -> int:
    """The id of the field called `name`; EncodeError if there is none."""
    for i in range(len(FIELDS)):
        if FIELDS[i][0] == name:
            return i
    raise EncodeError("field", "unknown field %r" % name)


def field_name(fid: int) -> str:
    """The name of field `fid`; ids this table does not know are field_<id>."""
    return FIELDS[fid][0] if fid < len(FIELDS) else "field_%d" % fid


def to_value(fid: int, raw: int) -> float | int:
    """The value in the field's unit for a raw integer."""
    if fid >= len(FIELDS):
        return raw
    scale = FIELDS[fid][3]
    if scale == 1:
        return raw
    return raw / scale


# CRC-16, polynomial 0x755B, init 0xFFFF, not reflected, no final XOR.
# docs/protocol.md says why this polynomial and not the radio's own CCITT one.
_CRC_POLY = const(0x755B)
_CRC_INIT = const(0xFFFF)


def _crc_table() -> "array.array[int]":
    table = array.array("H", bytes(512))
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ _CRC_POLY) if c & 0x8000 else c << 1
        table[i] = c & 0xFFFF
    return table


_CRC_TABLE = _crc_table()


def crc16_py(data: bytes | bytearray | memoryview, n: int) -> int:
    """CRC of the first n bytes of data, in Python (runs on the node)."""
    c: int = _CRC_INIT
    t = _CRC_TABLE
    for i in range(n):
        c = ((c << 8) & 0xFFFF) ^ t[(c >> 8) ^ data[i]]
    return c


crc16 = crc16_py
try:  # CPython: crcmod's C extension gives the same CRC, faster
    import crcmod  # type: ignore[import-untyped, import-not-found, unused-ignore]

    _crcmod_fn = crcmod.mkCrcFun(0x10000 | _CRC_POLY, _CRC_INIT, False, 0)

    def crc16_c(data: bytes | bytearray | memoryview, n: int) -> int:
        """CRC of the first n bytes of data, through crcmod."""
        return int(_crcmod_fn(bytes(data[:n])))

    crc16 = crc16_c
except ImportError:
    pass


class Key:
    """A node's 16-byte key, with its HMAC pads computed once.

    MicroPython has hashlib.sha256 but no hmac module (and no sha256.copy()),
    so HMAC-SHA256 (RFC 2104) is written out here, once for both interpreters.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise EncodeError(
                "key",
                "a node key is %d bytes (%d hex digits), got %d bytes"
                % (KEY_SIZE, 2 * KEY_SIZE, len(key)),
            )
        ipad = bytearray(64)
        opad = bytearray(64)
        for i in range(64):
            b = key[i] if i < KEY_SIZE else 0
            ipad[i] = b ^ 0x36
            opad[i] = b ^ 0x5C
        self._ipad = bytes(ipad)
        self._opad = bytes(opad)

    def mac(self, data: bytes | bytearray | memoryview) -> bytes:
        """Full HMAC-SHA256 of data (32 bytes); the frame carries the first 4."""
        h = hashlib.sha256(self._ipad)
        h.update(data)
        inner = h.digest()
        h = hashlib.sha256(self._opad)
        h.update(inner)
        mac: bytes = h.digest()
        return mac


def _check_seq(seq: int) -> None:
    if not 0 <= seq <= MAX_SEQ:
        raise EncodeError("seq", "sequence counter %d is not in 0..%d" % (seq, MAX_SEQ))


def _as_key(key: "Key | bytes | None") -> "Key | None":
    if key is None or isinstance(key, Key):
        return key
    return Key(key)


class Encoder:
    """Builds one node's frames into a buffer allocated once.

    put_raw() takes the integer a driver already has in the field's raw
    units and allocates nothing; put() takes a value in the field's unit.
    encode() returns a memoryview of the shared buffer: it is overwritten by
    the next encode(), so send or copy it first.
    """

    def __init__(self, node: int, key: "Key | bytes | None" = None) -> None:
        if not 1 <= node <= MAX_NODE:
            raise EncodeError("node", "node id %d is not in 1..%d" % (node, MAX_NODE))
        self.node = node
        self._key = _as_key(key)
        self._buf = bytearray(MAX_FRAME)
        self._view = memoryview(self._buf)
        # A node sends the same fields every cycle, so its frames have one
        # length: the views of that length are made once and kept.
        self._mac_view = self._frame_view = self._view[:0]
        self._raw = array.array("i", bytes(4 * FIELD_LIMIT))
        self._bitmap = bytearray(_BITMAP_MAX)

    def clear(self) -> None:
        """Forget every value: start the next frame empty."""
        bm = self._bitmap
        for i in range(_BITMAP_MAX):
            bm[i] = 0

    def put(self, fid: int, value: float | int) -> None:
        """Set field fid from a value in its unit (°C, hPa, ...)."""
        if not 0 <= fid < len(FIELDS):
            raise EncodeError("field", "unknown field id %d" % fid)
        scaled = value * FIELDS[fid][3]
        if not -1e9 < scaled < 1e9:  # also false for NaN
            raise EncodeError("range", "%s %s is out of range" % (FIELDS[fid][0], value))
        self.put_raw(fid, round(scaled))

    def put_raw(self, fid: int, raw: int) -> None:
        """Set field fid from its raw fixed-point integer (value * scale)."""
        if not 0 <= fid < len(FIELDS):
            raise EncodeError("field", "unknown field id %d" % fid)
        spec = FIELDS[fid]
        if not spec[4] <= raw <= spec[5]:
            raise EncodeError(
                "range",
                "%s %s %s is outside %s..%s"
                % (
                    spec[0],
                    to_value(fid, raw),
                    spec[1],
                    to_value(fid, spec[4]),
                    to_value(fid, spec[5]),
                ),
            )
        self._raw[fid] = raw
        self._bitmap[fid // 7] |= 1 << (fid % 7)

    def encode(self, seq: int, flags: int = 0) -> memoryview:
        """The frame for the values put since clear(), with counter seq.

        flags may hold FLAG_ACK_REQUEST and FLAG_BOOT; FLAG_MIC is set when
        the encoder has a key.
        """
        _check_seq(seq)
        if flags & ~(FLAG_ACK_REQUEST | FLAG_BOOT):
            raise EncodeError("flags", "a node frame takes only ACK_REQUEST and BOOT flags")
        if self._key is not None:
            flags |= FLAG_MIC
        buf = self._buf
        buf[0] = VERSION << 4 | flags
        struct.pack_into(">HBH", buf, 1, self.node, seq >> 16, seq & 0xFFFF)
        bm = self._bitmap
        last = 0
        for i in range(_BITMAP_MAX):
            if bm[i]:
                last = i
        n = HEADER_SIZE
        for i in range(last + 1):
            buf[n] = (bm[i] | 0x80) if i < last else bm[i]
            n += 1
        raw = self._raw
        for i in range(last + 1):
            bits = bm[i]
            fid = 7 * i
            while bits:
                if bits & 1:
                    if FIELDS[fid][2]:
                        struct.pack_into(">h", buf, n, raw[fid])
                    else:
                        struct.pack_into(">H", buf, n, raw[fid])
                    n += 2
                bits >>= 1
                fid += 1
        return self._finish(n)

    def _finish(self, n: int) -> memoryview:
        buf = self._buf
        if self._key is not None:
            if len(self._mac_view) != n:
                self._mac_view = self._view[:n]
            mac = self._key.mac(self._mac_view)
            for i in range(MIC_SIZE):  # a slice would allocate twice
                buf[n + i] = mac[i]
            n += MIC_SIZE
        struct.pack_into(">H", buf, n, crc16(buf, n))
        n += CRC_SIZE
        if len(self._frame_view) != n:
            self._frame_view = self._view[:n]
        return self._frame_view


def encode(
    node: int,
    seq: int,
    values: dict[str, float | int],
    key: "Key | bytes | None" = None,
    flags: int = 0,
) -> bytes:
    """A frame for `values` ({field name: value in its unit}) as bytes."""
    enc = Encoder(node, key)
    for name, value in values.items():
        enc.put(field_id(name), value)
    return bytes(enc.encode(seq, flags))


def encode_ack(node: int, seq: int, key: "Key | bytes | None" = None) -> bytes:
    """The acknowledgement a gateway sends for node's frame `seq`."""
    enc = Encoder(node, key)
    _check_seq(seq)
    flags = FLAG_ACK | (FLAG_MIC if enc._key is not None else 0)
    buf = enc._buf
    buf[0] = VERSION << 4 | flags
    struct.pack_into(">HBHB", buf, 1, node, seq >> 16, seq & 0xFFFF, 0)
    return bytes(enc._finish(HEADER_SIZE + 1))


def header(data: bytes | bytearray | memoryview) -> tuple[int, int, int, int]:
    """(version, flags, node, seq) read from a frame's first HEADER_SIZE bytes.

    Nothing is checked but the length (Truncated when shorter): the CRC and
    the MIC are not, so the node id is only a claim. A gateway reads it to
    find the node's key before it decodes the whole frame with decode().
    """
    n = len(data)
    if n < HEADER_SIZE:
        raise Truncated(HEADER_SIZE, n)
    b0 = data[0]
    return b0 >> 4, b0 & 0x0F, data[1] << 8 | data[2], data[3] << 16 | data[4] << 8 | data[5]


class Frame:
    """A decoded frame.

    fields: [(field id, raw integer)] in id order; values() gives them by
    name in their units. mic: True when a MIC was checked against the key,
    None when the frame has none or no key was given.
    """

    def __init__(
        self,
        flags: int,
        node: int,
        seq: int,
        fields: list[tuple[int, int]],
        mic: bool | None,
    ) -> None:
        self.version = VERSION
        self.flags = flags
        self.node = node
        self.seq = seq
        self.fields = fields
        self.mic = mic

    def values(self) -> dict[str, float | int]:
        """{field name: value in its unit}, ids unknown here as field_<id>."""
        out = {}
        for fid, raw in self.fields:
            out[field_name(fid)] = to_value(fid, raw)
        return out

    def raw(self, fid: int) -> int | None:
        """The raw integer of field fid, or None when the field is absent."""
        for f, r in self.fields:
            if f == fid:
                return r
        return None


def decode(data: bytes | bytearray | memoryview, key: "Key | bytes | None" = None) -> Frame:
    """Check and decode one frame; raise FrameError saying what is wrong.

    With a key, the frame must carry a MIC made with it. Without one, a MIC
    is left unchecked (Frame.mic is None).
    """
    n = len(data)
    if n < MIN_FRAME:
        raise Truncated(MIN_FRAME, n)
    version = data[0] >> 4
    flags = data[0] & 0x0F
    if version != VERSION:
        raise FrameError(
            "version", "frame format version %d; this decoder reads version %d" % (version, VERSION)
        )
    node = data[1] << 8 | data[2]
    if node == 0 or node > MAX_NODE:
        raise FrameError("node", "node id %d is reserved" % node)
    seq = data[3] << 16 | data[4] << 8 | data[5]
    # The field bitmap: bit b of byte k marks field 7k+b; bit 7 says another
    # bitmap byte follows. The last byte is never empty, but for a lone one.
    ids = []
    pos = HEADER_SIZE
    base = 0
    while True:
        if pos >= n - CRC_SIZE:
            raise Truncated(pos + 1 + CRC_SIZE, n)
        b = data[pos]
        pos += 1
        bits = b & 0x7F
        fid = base
        while bits:  # the set bits only, lowest first
            if bits & 1:
                ids.append(fid)
            bits >>= 1
            fid += 1
        if not b & 0x80:
            if b == 0 and base:
                raise FrameError("bitmap", "field bitmap ends with an empty byte")
            break
        base += 7
        if base == 7 * _BITMAP_MAX:
            raise FrameError("bitmap", "field bitmap longer than %d bytes" % _BITMAP_MAX)
    if flags & FLAG_ACK and (ids or flags & (FLAG_ACK_REQUEST | FLAG_BOOT)):
        raise FrameError("flags", "an acknowledgement carries no fields, ACK_REQUEST or BOOT")
    has_mic = flags & FLAG_MIC
    end = pos + 2 * len(ids)
    need = end + (MIC_SIZE if has_mic else 0) + CRC_SIZE
    if n < need:
        raise Truncated(need, n)
    if n > need:
        raise FrameError("length", "%d bytes follow the end of the frame" % (n - need))
    want = data[n - 2] << 8 | data[n - 1]
    got = crc16(data, n - CRC_SIZE)
    if got != want:
        raise FrameError("crc", "CRC mismatch: frame says %04x, bytes give %04x" % (want, got))
    mic = None
    k_ = _as_key(key)
    if k_ is not None:
        if not has_mic:
            raise FrameError("no_mic", "frame has no MIC, but its node has a key")
        mac = k_.mac(memoryview(data)[:end])
        diff = 0
        for i in range(MIC_SIZE):
            diff |= mac[i] ^ data[end + i]
        if diff:
            raise FrameError("mic", "MIC does not match the node's key (forged, or wrong key)")
        mic = True
    fields = []
    off = pos
    for fid in ids:
        raw = data[off] << 8 | data[off + 1]
        off += 2
        if raw & 0x8000 and _SIGNED[fid]:
            raw -= 0x10000  # two's complement
        fields.append((fid, raw))
    return Frame(flags, node, seq, fields, mic)

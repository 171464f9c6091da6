"""The sim ether: the air between the sim board's radio chips.

A chip model (sim/sx127x.py, sim/sx126x.py) holds one antenna and uses
three calls of it, all starting "now" in real time:

    transmit(mod, payload, power_dbm) -> µs   put a packet on air; returns its time on air
    listen(mod)                               receive with mod from now on; None = deaf
    poll() -> Heard | None                    the next packet that ENDED while listening

mod is a tuple, the same for sending and receiving:

    (freq_hz, sf, bw_hz, cr, sync_word, implicit_header, invert_iq, crc_on,
     preamble_symbols, payload_len_if_implicit)

cr is the coding rate's denominator 5..8 (4/5..4/8), as lora_cfg's
"coding_rate"; invert_iq is the chip's inversion in that direction (a chip
passes its TX setting to transmit() and its RX setting to listen());
sync_word is the SX127x byte (0x12 private, 0x34 public) or the SX126x's
16 bits, whose nibbles carry that byte (0x1424 is 0x12): both are compared
in the 8-bit form. bw_hz is the bandwidth in Hz (7812.5 ... 500000).

A Heard has .payload (bytes), .rssi_dbm and .snr_db (floats), .crc_ok and
.header_ok (bools). A packet is heard when it ends, by a radio that listened
with matching settings for the whole of it; transmit() makes the radio deaf
(as listen(None)) until it listens again.

Two kinds of antenna keep that contract:

- LoopbackAntenna: two or more antennas in ONE process passing packets
  directly, for chip-model tests. What a receiver hears is set on it:
  its rssi_dbm, snr_db, crc_ok (defaults), or per packet with next_packet().
- Antenna: a client of the ether hub, which runs the physics for every
  radio of every process (delivery, timing, path loss, sensitivity,
  collisions, bad CRCs); docs/lora.md, "The sim ether".

Runs on the MicroPython unix port and CPython.
"""

import json
import os
import select
import socket
import struct
import time

try:
    import airtime  # firmware/ on the path (MicroPython)
except ImportError:  # CPython: the installed package's copy of the same file
    from meteolink.firmware import airtime  # type: ignore[import-not-found, no-redef, unused-ignore]

TYPE_CHECKING = False  # mypy takes this name as True; MicroPython has no typing module
if TYPE_CHECKING:
    from typing import Final

    Mod = tuple[int, int, float, int, int, bool, bool, bool, int, int]

if hasattr(time, "ticks_us"):  # MicroPython; on the unix port ticks_us is CLOCK_MONOTONIC

    def _ticks_us() -> int:
        return time.ticks_us()  # type: ignore[return-value, unused-ignore]

else:  # CPython: the same clock

    def _ticks_us() -> int:
        return time.monotonic_ns() // 1000  # type: ignore[attr-defined, no-any-return, unused-ignore]


# Times here are plain integers: the unix port's ticks_us wraps at 2^62 µs
# (ticks_add(0, -1) + 1), never in practice, so no ticks_diff is needed.
TS_MASK = 0x3FFFFFFF  # times on the wire: ticks_us modulo 2^30 (about 17.9 minutes)


# The tuple's fields, by index.
FREQ: "Final" = 0
SF: "Final" = 1
BW: "Final" = 2
CR: "Final" = 3
SYNC: "Final" = 4
IMPLICIT: "Final" = 5
INVERT_IQ: "Final" = 6
CRC: "Final" = 7
PREAMBLE: "Final" = 8
LENGTH: "Final" = 9


def mod(
    freq_hz: int = 868_100_000,
    sf: int = 7,
    bw_hz: float = 125_000,
    cr: int = 5,
    sync_word: int = 0x12,
    implicit_header: bool = False,
    invert_iq: bool = False,
    crc_on: bool = True,
    preamble: int = 8,
    payload_len: int = 0,
) -> "Mod":
    """A modulation tuple, by keyword (for tests and tools)."""
    return (
        freq_hz,
        sf,
        bw_hz,
        cr,
        sync_word,
        implicit_header,
        invert_iq,
        crc_on,
        preamble,
        payload_len,
    )


def sync_byte(sync_word: int) -> int:
    """The SX127x form of a sync word: an SX126x's 0xX4Y4 is 0xXY."""
    if sync_word > 0xFF:
        return ((sync_word >> 8) & 0xF0) | ((sync_word >> 4) & 0x0F)
    return sync_word


def bw_divisor(bw_hz: float) -> int:
    """d such that the bandwidth is 500 kHz / d (exact, whatever the rounding of bw_hz)."""
    return int(airtime.bw_divisor(bw_hz / 1000))


def time_on_air_us(m: "Mod", payload_len: int) -> int:
    """A packet's time on air, by Semtech's formula (firmware/airtime.py);
    low data rate optimisation as the datasheet mandates it."""
    return int(
        airtime.time_on_air_us(
            payload_len, m[SF], m[BW] / 1000, m[CR], m[PREAMBLE], not m[IMPLICIT], m[CRC]
        )
    )


def same_channel(a: "Mod", b: "Mod") -> bool:
    """Same frequency, spreading factor and bandwidth: the packets interfere.

    The same frequency is within a quarter of the bandwidth, the offset a
    LoRa receiver tolerates (SX1276 datasheet 4.1.5): each chip rounds 868.1 MHz to its own
    synthesiser step (61 Hz on an SX127x, 0.95 Hz on an SX126x), and
    neighbouring channels are a whole bandwidth or more apart."""
    if a[SF] != b[SF] or bw_divisor(a[BW]) != bw_divisor(b[BW]):
        return False
    return abs(a[FREQ] - b[FREQ]) * 4 <= a[BW]


def decodes(rx: "Mod", tx: "Mod", payload_len: int) -> bool:
    """True when a receiver set to rx demodulates a packet sent with tx.

    The channel, the sync word, the header mode and the IQ inversion must
    match. In implicit header mode nothing on air says how the payload is
    coded, so the coding rate, CRC setting and length must match too; in
    explicit mode the header carries them. The preamble length is not
    compared (a receiver set longer still locks on).
    """
    if not same_channel(rx, tx):
        return False
    if sync_byte(rx[SYNC]) != sync_byte(tx[SYNC]):
        return False
    if bool(rx[IMPLICIT]) != bool(tx[IMPLICIT]) or bool(rx[INVERT_IQ]) != bool(tx[INVERT_IQ]):
        return False
    if rx[IMPLICIT]:
        return rx[CR] == tx[CR] and bool(rx[CRC]) == bool(tx[CRC]) and rx[LENGTH] == payload_len
    return True


class Heard:
    """One packet as a receiver heard it."""

    def __init__(
        self,
        payload: bytes,
        rssi_dbm: float,
        snr_db: float,
        crc_ok: bool = True,
        header_ok: bool = True,
        end_us: "int | None" = None,
    ) -> None:
        self.payload = payload
        self.rssi_dbm = rssi_dbm
        self.snr_db = snr_db
        self.crc_ok = crc_ok
        self.header_ok = header_ok
        self.end_us = end_us  # ticks_us when the packet ended (None: not known)

    def __repr__(self) -> str:
        return "Heard(%r, rssi_dbm=%s, snr_db=%s, crc_ok=%s, header_ok=%s)" % (
            self.payload,
            self.rssi_dbm,
            self.snr_db,
            self.crc_ok,
            self.header_ok,
        )


def corrupt(payload: bytes, seed: int = 0) -> bytes:
    """The payload with one byte damaged (what a failed CRC stands for)."""
    if not payload:
        return payload
    out = bytearray(payload)
    i = seed % len(out)
    out[i] ^= 0x5A if (seed >> 8) & 1 else 0xA5
    return bytes(out)


class _Loopback:
    """The air shared by LoopbackAntennas: the antennas, nothing else."""

    def __init__(self) -> None:
        self.antennas: list[LoopbackAntenna] = []


class LoopbackAntenna:
    """An antenna that passes packets straight to the others of its air, in
    this process: for chip-model tests without a hub.

        a = LoopbackAntenna()
        b = LoopbackAntenna(a)       # b shares a's air
        b.rssi_dbm = -100            # what b hears from now on
        b.next_packet(crc_ok=False)  # ... except the next packet: a bad CRC

    Delivery and timing are the ether's (matching settings, heard when the
    packet ends, listening for the whole of it, deaf while transmitting);
    there is no path loss, sensitivity or collision here: a receiver hears
    every matching packet with the rssi_dbm, snr_db, crc_ok and header_ok
    set on it. A packet with crc_ok False arrives with a damaged payload.
    inject() puts a packet on air from no transmitter.
    """

    def __init__(self, peer: "LoopbackAntenna | None" = None) -> None:
        self._air: _Loopback = peer._air if peer is not None else _Loopback()
        self._air.antennas.append(self)
        self.rssi_dbm = -60.0
        self.snr_db = 9.5
        self.crc_ok = True
        self.header_ok = True
        self._script: list[tuple[float, float, bool, bool]] = []
        self._mod: Mod | None = None
        self._since = 0  # ticks_us when the current listen() began
        # Packets on their way to this antenna: (end_us, start_us, mod, payload)
        self._coming: list[tuple[int, int, Mod, bytes]] = []
        self._heard: list[Heard] = []
        self.sent = 0  # packets this antenna transmitted

    def next_packet(
        self,
        rssi_dbm: "float | None" = None,
        snr_db: "float | None" = None,
        crc_ok: bool = True,
        header_ok: bool = True,
    ) -> None:
        """How the next packet this antenna hears arrives (queued: one call per
        packet); rssi_dbm and snr_db None take the antenna's defaults."""
        self._script.append(
            (
                self.rssi_dbm if rssi_dbm is None else rssi_dbm,
                self.snr_db if snr_db is None else snr_db,
                crc_ok,
                header_ok,
            )
        )

    def transmit(self, mod: "Mod", payload: bytes, power_dbm: int) -> int:
        """Start sending payload now; returns its time on air in µs."""
        payload = bytes(payload)
        toa = time_on_air_us(mod, len(payload))
        self.listen(None)
        self.sent += 1
        self._send(mod, payload, toa)
        return toa

    def inject(self, payload: bytes, mod: "Mod | None" = None, toa_us: "int | None" = None) -> int:
        """A packet on air from no antenna, starting now: heard by this antenna
        (with mod None: whatever it listens with) after toa_us (default: the
        packet's time on air; 0 = ended already). Returns toa_us."""
        m = mod if mod is not None else self._mod
        if m is None:
            raise ValueError("inject: the antenna is not listening; give a mod")
        payload = bytes(payload)
        toa = time_on_air_us(m, len(payload)) if toa_us is None else toa_us
        now = _ticks_us()
        if self._mod is not None and decodes(self._mod, m, len(payload)):
            self._coming.append((now + toa, now, m, payload))
        return toa

    def _send(self, mod: "Mod", payload: bytes, toa: int) -> None:
        now = _ticks_us()
        for a in self._air.antennas:
            if a is not self and a._mod is not None and decodes(a._mod, mod, len(payload)):
                a._coming.append((now + toa, now, mod, payload))

    def listen(self, mod: "Mod | None") -> None:
        """Receive with mod from now on (None: deaf). Packets that ended while
        listening are kept for poll(); those still on air are lost."""
        if mod is not None:
            mod = tuple(mod)  # type: ignore[assignment]
        if mod == self._mod:
            return
        self._settle()
        self._coming = []
        self._mod = mod
        self._since = _ticks_us()

    def poll(self) -> "Heard | None":
        """The next packet that ended while this antenna listened, else None."""
        self._settle()
        if self._heard:
            return self._heard.pop(0)
        return None

    def _settle(self) -> None:
        # Packets whose end has passed are heard, in the order they ended.
        if not self._coming:
            return
        now = _ticks_us()
        self._coming.sort(key=lambda c: c[0])
        while self._coming and self._coming[0][0] <= now:
            end, _start, _mod, payload = self._coming.pop(0)
            if self._script:
                rssi, snr, crc_ok, header_ok = self._script.pop(0)
            else:
                rssi, snr, crc_ok, header_ok = (
                    self.rssi_dbm,
                    self.snr_db,
                    self.crc_ok,
                    self.header_ok,
                )
            if not header_ok:
                # A bad header ends reception: no payload (the chip flags it).
                self._heard.append(Heard(b"", rssi, snr, False, False, end))
                continue
            if not crc_ok:
                payload = corrupt(payload, end)
            self._heard.append(Heard(payload, rssi, snr, crc_ok, True, end))

    def close(self) -> None:
        """Leave the air."""
        if self in self._air.antennas:
            self._air.antennas.remove(self)


# -- the ether between processes: the hub's client -----------------------

# On the wire: freq u32, sf u8, bw f32 (Hz), cr u8, sync word u16, flags u8
# (1 implicit header, 2 IQ inverted, 4 CRC on), preamble u16, length u8.
_MOD_FORMAT = "<IBfBHBHB"
MOD_SIZE = 16
_F_IMPLICIT = 1
_F_INVERT_IQ = 2
_F_CRC = 4


def pack_mod(m: "Mod") -> bytes:
    flags = (_F_IMPLICIT if m[IMPLICIT] else 0) | (_F_INVERT_IQ if m[INVERT_IQ] else 0)
    flags |= _F_CRC if m[CRC] else 0
    return struct.pack(
        _MOD_FORMAT, m[FREQ], m[SF], m[BW], m[CR], m[SYNC], flags, m[PREAMBLE], m[LENGTH] & 0xFF
    )


def unpack_mod(data: bytes, offset: int = 0) -> "Mod":
    freq, sf, bw, cr, sync, flags, preamble, length = struct.unpack_from(_MOD_FORMAT, data, offset)
    return (
        freq,
        sf,
        bw,
        cr,
        sync,
        bool(flags & _F_IMPLICIT),
        bool(flags & _F_INVERT_IQ),
        bool(flags & _F_CRC),
        preamble,
        length,
    )


DEFAULT_PORT = 47000


def _world_radio() -> "dict[str, object]":
    # The "radio" entry of the sim world file ($METEOLINK_SIM), if any.
    path = os.getenv("METEOLINK_SIM")
    if not path:
        return {}
    try:
        with open(path) as f:
            radio = json.load(f).get("radio")
    except (OSError, ValueError):
        return {}
    return radio if isinstance(radio, dict) else {}


def hub_address(address: "str | int | None" = None) -> "tuple[str, int]":
    """(host, port) of the hub: address ("host:port", "port" or a port number),
    else the world file's radio "ether" (or "port"), else $METEOLINK_LORA_ETHER,
    else 127.0.0.1:47000."""
    if address is None:
        radio = _world_radio()
        address = radio.get("ether") or radio.get("port") or os.getenv("METEOLINK_LORA_ETHER")  # type: ignore[assignment]
    if address is None or address == "":
        return ("127.0.0.1", DEFAULT_PORT)
    text = str(address)
    if ":" in text:
        host, port = text.rsplit(":", 1)
        return (host or "127.0.0.1", int(port))
    return ("127.0.0.1", int(text))


def _sockaddr(address: "tuple[str, int]") -> "object":
    return socket.getaddrinfo(address[0], address[1])[0][-1]


class Antenna:
    """A radio's antenna on the sim ether between processes: a client of the
    hub (python -m sim.ether_hub), which runs the physics for every radio of
    every process. The contract is the module's (transmit, listen, poll).

        antenna = Antenna()            # address and name from the world file / env
        antenna = Antenna("127.0.0.1:47000", name="bridge", position=[0, 0])

    name identifies the radio in the hub's links and statistics (default:
    the world file's radio "name", else one the hub makes up); position
    (metres) places it for the distance model; loss_db is its loss on links
    without another setting (the world file's "position" and "loss_db" are
    the defaults). Raises OSError when no hub answers within timeout_ms.
    """

    def __init__(
        self,
        address: "str | int | None" = None,
        name: "str | None" = None,
        position: "list[float] | None" = None,
        timeout_ms: int = 2000,
        loss_db: "float | None" = None,
    ) -> None:
        radio = _world_radio()
        if name is None and radio.get("name"):
            name = str(radio["name"])
        if position is None and radio.get("position"):
            position = radio["position"]  # type: ignore[assignment]
        if loss_db is None and radio.get("loss_db") is not None:
            loss_db = float(radio["loss_db"])  # type: ignore[arg-type]
        self.address = hub_address(address)
        self._hub = _sockaddr(self.address)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(_sockaddr(("127.0.0.1", 0)))  # type: ignore[arg-type]
        self._poll = select.poll()
        self._poll.register(self._sock, select.POLLIN)
        self._mod: Mod | None = None
        self._heard: list[Heard] = []
        self._head = bytearray(5)
        self.sent = 0
        hello: dict[str, object] = {}
        if name:
            hello["name"] = name
        if position is not None:
            hello["position"] = list(position)
        if loss_db is not None:
            hello["loss_db"] = loss_db
        reply = self._ask(b"H" + json.dumps(hello).encode(), 0x57, timeout_ms)  # W
        if reply is None:
            self._sock.close()
            raise OSError(
                "sim ether: no hub answers at %s:%d; start one: python -m sim.ether_hub --port %d"
                % (self.address[0], self.address[1], self.address[1])
            )
        self.name = str(json.loads(reply[1:])["name"])

    def _ask(self, message: bytes, answer: int, timeout_ms: int) -> "bytes | None":
        # Send message until a datagram of kind answer comes back (UDP may drop).
        deadline = _ticks_us() + timeout_ms * 1000
        while True:
            self._sock.sendto(message, self._hub)  # type: ignore[arg-type]
            for _ in range(200):  # 200 ms, then ask again
                if not self._poll.poll(1):
                    if _ticks_us() >= deadline:
                        return None
                    continue
                data = self._sock.recv(1024)
                if data and data[0] == answer:
                    return data
                self._take(data)

    def _stamp(self, kind: int) -> bytearray:
        head = self._head
        struct.pack_into("<BI", head, 0, kind, _ticks_us() & TS_MASK)
        return head

    def transmit(self, mod: "Mod", payload: bytes, power_dbm: int) -> int:
        """Start sending payload now; returns its time on air in µs. The radio
        is deaf until it listens again."""
        n = len(payload)
        toa = time_on_air_us(mod, n)
        p = -128 if power_dbm < -128 else 127 if power_dbm > 127 else int(power_dbm)
        msg = bytes(self._stamp(0x54)) + pack_mod(mod) + struct.pack("<b", p) + bytes(payload)
        self._sock.sendto(msg, self._hub)  # type: ignore[arg-type]
        self._mod = None
        self.sent += 1
        return toa

    def listen(self, mod: "Mod | None") -> None:
        """Receive with mod from now on; None: deaf (sleep, standby)."""
        if mod is not None:
            mod = tuple(mod)  # type: ignore[assignment]
        if mod == self._mod:
            return
        self._mod = mod
        head = self._stamp(0x4C)
        msg = bytes(head) if mod is None else bytes(head) + pack_mod(mod)
        self._sock.sendto(msg, self._hub)  # type: ignore[arg-type]

    def poll(self) -> "Heard | None":
        """The next packet that ended while listening, else None."""
        while self._poll.poll(0):
            self._take(self._sock.recv(512))
        if self._heard:
            return self._heard.pop(0)
        return None

    def wait(self, timeout_ms: int) -> bool:
        """Block until a packet is heard or timeout_ms pass; True if one is."""
        if not self._heard and self._poll.poll(timeout_ms):
            self._take(self._sock.recv(512))
        return bool(self._heard)

    def _take(self, data: bytes) -> None:
        if len(data) < 14 or data[0] != 0x50:  # P
            return
        end30, rssi, snr, flags = struct.unpack_from("<IffB", data, 1)
        now = _ticks_us()
        end = now - (((now & TS_MASK) - end30) & TS_MASK)
        self._heard.append(
            Heard(bytes(data[14:]), rssi, snr, bool(flags & 1), bool(flags & 2), end)
        )

    def close(self) -> None:
        """Leave the ether."""
        try:
            self._sock.sendto(b"B", self._hub)  # type: ignore[arg-type]
        except OSError:
            pass
        self._poll.unregister(self._sock)
        self._sock.close()


def control(
    request: "dict[str, object]", address: "str | int | None" = None, timeout_ms: int = 2000
) -> "dict[str, object]":
    """Ask the hub: {"configure": {...}} (the settings of sim/ether_physics.py),
    {"stats": True}, {"events": n} (events from the nth on), {"reset": True},
    {"loss": [a, b, freq_hz]}; several at once. Returns its answer (a dict)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hub = _sockaddr(hub_address(address))
    poll = select.poll()
    poll.register(sock, select.POLLIN)
    try:
        message = b"C" + json.dumps(request).encode()
        deadline = _ticks_us() + timeout_ms * 1000
        while _ticks_us() < deadline:
            sock.sendto(message, hub)  # type: ignore[arg-type]
            if poll.poll(200):
                data = sock.recv(65536)
                if data[:1] == b"K":
                    reply: dict[str, object] = json.loads(data[1:])
                    if "error" in reply:
                        raise ValueError("sim ether hub: %s" % reply["error"])
                    return reply
        raise OSError("sim ether: no hub answers at %s:%d" % hub_address(address))
    finally:
        poll.unregister(sock)
        sock.close()

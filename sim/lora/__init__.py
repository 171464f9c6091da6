"""The sim board's stand-in for micropython-lib's `lora` package.

This emulates the DRIVER's API, not the chip's registers. Every other part
under sim/ answers at byte or register level so that the real driver runs
against it; here the real driver (micropython-lib's lora-sx127x and
lora-sx126x) cannot be fetched in this sandbox, whose only network is PyPI,
so there is no driver to run. What the firmware calls is therefore copied
in shape from the driver's documented API: the same class names (SX1276,
SX1277, SX1278, SX1279, SX1261, SX1262, RxPacket), constructor arguments,
lora_cfg keys, configure(), send(), recv(), sleep(), standby(),
get_time_on_air_us(), crc_errors and rx_crc_error. On a real node
`meteolink flash` installs the real driver (mip: lora-sync, lora-sx127x or
lora-sx126x) and the firmware imports it as `lora`; firmware/lora_link.py
imports this package instead only on the unix port (sys.platform "linux").

Packets travel between MicroPython processes over UDP on 127.0.0.1, the
"sim ether": a base port (ether(), or $METEOLINK_LORA_ETHER) and the
_SLOTS ports after it. Each modem binds the first free slot and sends each
packet to every other slot. A datagram is tagged with its modulation
(frequency, SF, bandwidth, sync word, header mode, IQ inversion, coding
rate and CRC setting in implicit mode), and a receiver configured otherwise
does not hear it, as a real radio would not. RSSI and SNR of what a modem
hears come from its attributes `rssi` (dBm) and `snr` (dB), stamped on each
RxPacket in the driver's units (snr in quarter-dB). `corrupt = True` makes
a modem's packets arrive with a failed payload CRC. Module-level `present =
False` makes constructors fail as the real ones do when no chip answers.

Time: send() moves sim.clock forward by the packet's time on air instead
of waiting it out; recv() waits in real time, which sim.clock counts too.
"""

import os
import select
import socket
import struct
import time

import sim.clock

TYPE_CHECKING = False  # mypy takes this name as True; MicroPython has no typing module
if TYPE_CHECKING:
    from typing import Any

present = True  # False: no chip answers on the bus

_MAGIC = 0xA5
_HEAD = 11  # magic, freq (u32), sf, bw index, sync word, flags, coding rate, length
_SLOTS = 8
_F_IMPLICIT = 0x01
_F_INVERT_IQ = 0x02
_F_CRC = 0x04
_F_BAD_CRC = 0x08

# The driver's bandwidth labels (lora_cfg["bw"]) and the exact bandwidth in
# Hz each stands for: the 32 MHz crystal divided down.
_BW_LABELS = ("7.8", "10.4", "15.6", "20.8", "31.25", "41.7", "62.5", "125", "250", "500")
_BW_HZ = (
    32e6 / 4096,
    32e6 / 3072,
    32e6 / 2048,
    32e6 / 1536,
    32e6 / 1024,
    32e6 / 768,
    32e6 / 512,
    32e6 / 256,
    32e6 / 128,
    32e6 / 64,
)

_base = 47800
try:
    _base = int(os.getenv("METEOLINK_LORA_ETHER") or _base)
except (AttributeError, ValueError):
    pass


def ether(port: int) -> None:
    """Use the sim ether at ports port .. port + 7 for modems created from now on."""
    global _base
    _base = port


def _addr(port: int) -> object:
    return socket.getaddrinfo("127.0.0.1", port)[0][-1]


def _slot() -> "tuple[socket.socket, int, list[object], Any]":
    """A socket on the first free port of the sim ether, its port, the other
    ports, and a poll object with the socket registered."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for port in range(_base, _base + _SLOTS):
        try:
            sock.bind(_addr(port))  # type: ignore[arg-type]
        except OSError:
            continue
        poll = select.poll()
        poll.register(sock, select.POLLIN)
        return sock, port, [_addr(p) for p in range(_base, _base + _SLOTS) if p != port], poll
    sock.close()
    raise OSError("sim ether: ports %d..%d all taken" % (_base, _base + _SLOTS - 1))


class RxPacket(bytearray):
    """A received packet: its payload bytes, plus reception metadata.

    rssi in dBm, snr in units of 0.25 dB (the driver's), ticks_ms when it
    was received (sim time).
    """

    def __init__(
        self,
        payload: bytes | bytearray | int,
        ticks_ms: int | None = None,
        snr: int | None = None,
        rssi: int | None = None,
        valid_crc: bool = True,
    ) -> None:
        super().__init__(payload)
        self.ticks_ms = ticks_ms
        self.snr = snr
        self.rssi = rssi
        self.valid_crc = valid_crc
        self.crc_error = not valid_crc


class _Modem:
    _SF_MIN = 6

    def __init__(self, lora_cfg: dict[str, object] | None) -> None:
        self._listening: tuple | None = None  # type: ignore[type-arg]  # start_recv()'s
        self.rssi = -80  # dBm of what this modem hears
        self.snr = 9.5  # dB
        self.corrupt = False
        self.crc_errors = 0
        self.rx_crc_error = False
        self.sent = 0
        self._freq_hz = 0
        self._sf = 7
        self._bw = 7  # index in _BW_LABELS: 125 kHz
        self._cr = 5
        self._preamble = 12
        self._implicit = False
        self._crc = True
        self._syncword = 0x12
        self._invert_tx = False
        self._invert_rx = False
        self._out = bytearray(_HEAD + 255)
        self._sock, self._port, self._peers, self._poll = _slot()
        if lora_cfg:
            self.configure(lora_cfg)

    def configure(self, lora_cfg: dict[str, object]) -> None:
        """Set the keys given, keep the others (the driver's semantics)."""
        c = lora_cfg
        if "freq_khz" in c:
            self._freq_hz = int(float(c["freq_khz"]) * 1000)  # type: ignore[arg-type]
        if "sf" in c:
            sf = int(c["sf"])  # type: ignore[call-overload]
            if not self._SF_MIN <= sf <= 12:
                raise ValueError("Invalid lora_cfg sf")
            self._sf = sf
        if "bw" in c:
            label = str(c["bw"])
            if label not in _BW_LABELS:
                raise ValueError("Invalid lora_cfg bw")
            self._bw = _BW_LABELS.index(label)
        if "coding_rate" in c:
            cr = int(c["coding_rate"])  # type: ignore[call-overload]
            if not 5 <= cr <= 8:
                raise ValueError("Invalid lora_cfg coding_rate")
            self._cr = cr
        if "preamble_len" in c:
            self._preamble = int(c["preamble_len"])  # type: ignore[call-overload]
        if "implicit_header" in c:
            self._implicit = bool(c["implicit_header"])
        if "crc_en" in c:
            self._crc = bool(c["crc_en"])
        if "syncword" in c:
            sw = int(c["syncword"])  # type: ignore[call-overload]
            # SX126x 16-bit sync words carry the SX127x byte in their nibbles
            # (0x1424 is 0x12): compare in the 8-bit form.
            self._syncword = ((sw >> 8) & 0xF0) | ((sw >> 4) & 0x0F) if sw > 0xFF else sw
        if "invert_iq_tx" in c:
            self._invert_tx = bool(c["invert_iq_tx"])
        if "invert_iq_rx" in c:
            self._invert_rx = bool(c["invert_iq_rx"])

    def get_time_on_air_us(self, payload_len: int) -> int:
        """Time on air by the SX1261/2 datasheet's form (6.1.4), in floats:
        written apart from firmware/airtime.py so each checks the other.
        (The SX126x's own SF5/SF6 modes are not modelled.)"""
        t_sym = (1 << self._sf) / _BW_HZ[self._bw]
        ldro = t_sym > 0.016
        bits = 8 * payload_len + (16 if self._crc else 0) - 4 * self._sf + 8
        bits += 0 if self._implicit else 20
        per = 4 * (self._sf - 2) if ldro else 4 * self._sf
        n = self._preamble + 4.25 + 8
        n += ((max(bits, 0) + per - 1) // per) * self._cr
        return round(n * t_sym * 1e6)

    def _flags(self) -> int:
        f = _F_IMPLICIT if self._implicit else 0
        f |= _F_CRC if self._crc else 0
        return f

    def send(self, packet: bytes | bytearray | memoryview, tx_at_ms: int | None = None) -> int:
        """Put packet on the sim ether; returns sim.clock.ticks_ms() when done."""
        n = len(packet)
        if n > 255:
            raise ValueError("packet too long")
        if not self._freq_hz:
            raise RuntimeError("sim lora: freq_khz not configured")
        if tx_at_ms is not None:
            sim.clock.skip(max(0, time.ticks_diff(tx_at_ms, sim.clock.ticks_ms())))
        out = self._out
        flags = self._flags() | (_F_INVERT_IQ if self._invert_tx else 0)
        if self.corrupt and self._crc:
            flags |= _F_BAD_CRC
        head = (_MAGIC, self._freq_hz, self._sf, self._bw, self._syncword, flags, self._cr, n)
        struct.pack_into(">BIBBBBBB", out, 0, *head)
        out[_HEAD : _HEAD + n] = packet
        if flags & _F_BAD_CRC and n:
            out[_HEAD] ^= 0x01  # the damage the CRC then fails to match
        view = memoryview(out)[: _HEAD + n]
        for peer in self._peers:
            self._sock.sendto(view, peer)  # type: ignore[arg-type]
        self.sent += 1
        sim.clock.skip(self.get_time_on_air_us(n) // 1000)
        self._drain()  # deaf while it transmitted
        return sim.clock.ticks_ms()

    def recv(
        self,
        timeout_ms: int | None = None,
        rx_length: int = 0xFF,
        rx_packet: RxPacket | None = None,
    ) -> RxPacket | None:
        """The next packet heard with this modem's settings, or None on timeout
        (None waits for ever, as the driver does). rx_packet is reused when
        the new packet has its length."""
        deadline = None if timeout_ms is None else time.ticks_add(time.ticks_ms(), timeout_ms)
        while True:
            left = -1 if deadline is None else max(0, time.ticks_diff(deadline, time.ticks_ms()))
            if self._poll.poll(left):
                pkt = self._accept(self._sock.recv(_HEAD + 256), rx_length, rx_packet)
                if pkt is not None:
                    return pkt
            if deadline is not None and time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                return None

    def start_recv(
        self, timeout_ms: int | None = None, continuous: bool = False, rx_length: int = 0xFF
    ) -> bool:
        """The driver's low-level receive: listen until poll_recv() gets a packet
        (or, with continuous, until standby()/sleep()). Returns False: no
        interrupt will come, the caller polls."""
        if continuous and timeout_ms is not None:
            raise ValueError("continuous receive takes no timeout")
        deadline = None if timeout_ms is None else time.ticks_add(time.ticks_ms(), timeout_ms)
        self._listening = (continuous, deadline, rx_length)
        return False

    def poll_recv(self, rx_packet: RxPacket | None = None) -> "RxPacket | bool":
        """An RxPacket heard since the last call; True while still receiving;
        False when not receiving (never started, timed out, stopped)."""
        state = self._listening
        if state is None:
            return False
        continuous, deadline, rx_length = state
        for _ in range(64):  # bounded: a flood cannot hold the caller here
            if not self._poll.poll(0):
                break
            pkt = self._accept(self._sock.recv(_HEAD + 256), rx_length, rx_packet)
            if pkt is not None:
                if not continuous:
                    self._listening = None
                return pkt
        if deadline is not None and time.ticks_diff(deadline, time.ticks_ms()) <= 0:
            self._listening = None
            return False
        return True

    def _accept(self, data: bytes, rx_length: int, rx_packet: RxPacket | None) -> RxPacket | None:
        if len(data) < _HEAD or data[0] != _MAGIC:
            return None
        _, freq, sf, bw, sw, flags, cr, n = struct.unpack_from(">BIBBBBBB", data, 0)
        want = self._flags() | (_F_INVERT_IQ if self._invert_rx else 0)
        if (freq, sf, bw, sw) != (self._freq_hz, self._sf, self._bw, self._syncword):
            return None
        if (flags ^ want) & (_F_IMPLICIT | _F_INVERT_IQ):
            return None
        if self._implicit and (cr != self._cr or (flags ^ want) & _F_CRC or n != rx_length):
            return None  # implicit mode: nothing on air says how to decode it
        bad = bool(flags & _F_BAD_CRC)
        if bad:
            self.crc_errors += 1
            if not self.rx_crc_error:
                return None
        payload = data[_HEAD : _HEAD + n]
        if rx_packet is not None and len(rx_packet) == n:
            rx_packet[:] = payload
            pkt = rx_packet
        else:
            pkt = RxPacket(payload)
        pkt.ticks_ms = sim.clock.ticks_ms()
        pkt.rssi = int(self.rssi)
        pkt.snr = round(self.snr * 4)
        pkt.valid_crc = not bad
        pkt.crc_error = bad
        return pkt

    def _drain(self) -> None:
        for _ in range(64):  # bounded: a flood cannot hold the radio here
            if not self._poll.poll(0):
                return
            self._sock.recv(_HEAD + 256)

    def standby(self) -> None:
        """Stop listening; what arrives meanwhile is not heard."""
        self._listening = None
        self._drain()

    def sleep(self) -> None:
        """Lowest power; woken by the next send() or recv()."""
        self._listening = None
        self._drain()

    def close(self) -> None:
        """Leave the sim ether (not in the driver's API)."""
        self._poll.unregister(self._sock)
        self._sock.close()


class SX1276(_Modem):
    """Same constructor as lora-sx127x's SX1276; spi and pins are not used."""

    def __init__(
        self,
        spi: object,
        cs: object,
        dio0: object = None,
        dio1: object = None,
        reset: object = None,
        lora_cfg: dict[str, object] | None = None,
        ant_sw: object = None,
    ) -> None:
        if not present:
            raise RuntimeError("Unexpected silicon version 0")
        super().__init__(lora_cfg)


SX1277 = SX1278 = SX1279 = SX1276


class SX1262(_Modem):
    """Same constructor as lora-sx126x's SX1262; spi and pins are not used."""

    _SF_MIN = 5

    def __init__(
        self,
        spi: object,
        cs: object,
        busy: object,
        dio1: object = None,
        dio2_rf_sw: bool = True,
        dio3_tcxo_millivolts: int | None = None,
        dio3_tcxo_start_time_us: int = 1000,
        reset: object = None,
        lora_cfg: dict[str, object] | None = None,
        ant_sw: object = None,
    ) -> None:
        if not present:
            raise RuntimeError("BUSY timeout")
        super().__init__(lora_cfg)


SX1261 = SX1262


def _khz(freq_hz: int) -> int:
    """A chip's frequency (an SX1276's 61 Hz steps) as these modems have it: whole kHz."""
    return (int(freq_hz) + 500) // 1000 * 1000


def _bw_index(bw_hz: float) -> int:
    """The index in _BW_HZ of the bandwidth nearest bw_hz."""
    best = 0
    for i, hz in enumerate(_BW_HZ):
        if abs(hz - bw_hz) < abs(_BW_HZ[best] - bw_hz):
            best = i
    return best


class Antenna:
    """This UDP sim ether as an Antenna (sim/ether.py's contract), for the
    register-level chip models (sim/sx127x.py) until the ether hub carries
    every radio: a chip on it and the modems above hear each other.

    A packet is sent to every other slot when it starts, and heard when it
    has ended (its time on air after it arrived) by an antenna that listened
    with matching settings all that time. What this antenna hears comes
    with its rssi_dbm and snr_db; corrupt = True makes the packets it sends
    arrive with a failed payload CRC.
    """

    def __init__(self, rssi_dbm: float = -80.0, snr_db: float = 9.5) -> None:
        self.rssi_dbm = rssi_dbm
        self.snr_db = snr_db
        self.corrupt = False
        self.sent = 0
        self._sock, self._port, self._peers, self._poll = _slot()
        self._out = bytearray(_HEAD + 255)
        self._mod: tuple | None = None  # type: ignore[type-arg]
        self._coming: list[Any] = []  # (end ticks_us, payload, bad)
        self._heard: list[Any] = []

    def transmit(self, mod: tuple, payload: bytes, power_dbm: int) -> int:  # type: ignore[type-arg]
        from sim.ether import sync_byte, time_on_air_us

        self.listen(None)
        n = len(payload)
        freq, sf, bw_hz, cr, sync, implicit, invert, crc = mod[:8]
        flags = (_F_IMPLICIT if implicit else 0) | (_F_INVERT_IQ if invert else 0)
        flags |= _F_CRC if crc else 0
        if self.corrupt and crc:
            flags |= _F_BAD_CRC
        head = (_MAGIC, _khz(freq), sf, _bw_index(bw_hz), sync_byte(sync), flags, cr, n)
        out = self._out
        struct.pack_into(">BIBBBBBB", out, 0, *head)
        out[_HEAD : _HEAD + n] = payload
        if flags & _F_BAD_CRC and n:
            out[_HEAD] ^= 0x01
        view = memoryview(out)[: _HEAD + n]
        for peer in self._peers:
            self._sock.sendto(view, peer)  # type: ignore[arg-type]
        self.sent += 1
        return int(time_on_air_us(mod, n))

    def listen(self, mod: "tuple | None") -> None:  # type: ignore[type-arg]
        if mod is not None:
            mod = tuple(mod)
        if mod == self._mod:
            return
        self._settle()
        self._coming = []
        self._mod = mod

    def poll(self) -> "Any":
        self._settle()
        return self._heard.pop(0) if self._heard else None

    def _settle(self) -> None:
        from sim.ether import Heard, mod, sync_byte, time_on_air_us

        now = time.ticks_us()
        for _ in range(64):  # bounded: a flood cannot hold the radio here
            if not self._poll.poll(0):
                break
            data = self._sock.recv(_HEAD + 256)
            rx = self._mod
            if rx is None or len(data) < _HEAD or data[0] != _MAGIC:
                continue
            _, freq, sf, bw, sw, flags, cr, n = struct.unpack_from(">BIBBBBBB", data, 0)
            if (freq, sf, bw, sw) != (_khz(rx[0]), rx[1], _bw_index(rx[2]), sync_byte(rx[4])):
                continue
            if bool(flags & _F_IMPLICIT) != bool(rx[5]) or bool(flags & _F_INVERT_IQ) != bool(
                rx[6]
            ):
                continue
            implicit = bool(flags & _F_IMPLICIT)
            crc = bool(flags & _F_CRC)
            if implicit and (cr != rx[3] or crc != bool(rx[7]) or n != rx[9]):
                continue
            tx = mod(freq, sf, _BW_HZ[bw], cr, sw, implicit, False, crc, rx[8], n)
            end = time.ticks_add(now, time_on_air_us(tx, n))
            self._coming.append((end, bytes(data[_HEAD : _HEAD + n]), bool(flags & _F_BAD_CRC)))
            self._coming.sort(key=lambda c: time.ticks_diff(c[0], now))
        while self._coming and time.ticks_diff(now, self._coming[0][0]) >= 0:
            _, payload, bad = self._coming.pop(0)
            self._heard.append(Heard(payload, self.rssi_dbm, self.snr_db, not bad, True))

    def close(self) -> None:
        """Leave the sim ether."""
        self._poll.unregister(self._sock)
        self._sock.close()

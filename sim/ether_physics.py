"""The sim ether's physics: what one receiver makes of one packet. No I/O.

The hub (sim/ether_hub.py) keeps the clock and the radios; for every packet
that ends it asks Physics.outcome() what each radio that listened with
matching settings for the whole of it heard. docs/lora.md, "The sim ether",
says the same in prose, with the sources.

Received power = transmit power - path loss of the link. The loss of a link
is, first found: set in dB for the link; the log-distance model at the
link's distance; the model at the distance between the two radios'
positions; the sum of the two radios' own loss_db, where either has one
(a node's "the bridge hears me at -97 dBm"); the default loss (everyone
hears everyone).

    PL(d) = PL(d0) + 10 n log10(d / d0)

(Rappaport, Wireless Communications, 2nd ed., 4.9.1, eq. 4.68), d0 = 1 m
and PL(d0) the free-space loss there, 20 log10(4 pi d0 f / c) (Friis):
31.2 dB at 868 MHz. n = 3.0 by default, within Rappaport's Table 4.2 range
for urban cellular radio (2.7 to 3.5). LoRaSim's model (Bor et al., "Do
LoRa Low-Power Wide-Area Networks Scale?", MSWiM 2016, from Petajajarvi et
al.'s measurements at 868 MHz, 2015) is d0 = 40 m, PL(d0) = 127.41 dB,
n = 2.08: set "path_loss" to those to use it.

A packet is heard only at or above the chip's sensitivity for its SF and
bandwidth (SX1276/77/78/79 datasheet, Rev. 7, Table 10: RFS_L125_HF,
RFS_L250_HF, RFS_L500_HF) and with an SNR at or above the demodulator's
limit (same datasheet, 4.1.1.2, Table 13). Other bandwidths, which the
table does not cover, use noise floor + that limit. Noise floor =
-174 dBm/Hz + 10 log10(BW) + noise figure (6 dB by default); SNR = received
power - noise floor.

Collisions: packets on the same channel (frequency, SF, bandwidth) that
overlap in time at a receiver, whatever their sync word or header mode.
The wanted packet survives when its power is at least capture_db (6 dB)
above the sum of the others' (the capture effect). Otherwise no packet of
the overlap is heard intact: the receiver stays locked on the one that
started first, which arrives with a bad CRC (payload damaged, crc_ok
False: what a radio reports for most collisions), and the others are lost.
When another packet captures the receiver, the wanted one is lost.

Bad CRCs: a share bad_crc of the packets heard arrive damaged with crc_ok
False. Each draw (and the fading, when fading_db > 0) comes from a hash of
(seed, sender, the sender's packet count, receiver): the same seed gives
the same damaged packets whatever the timing of the processes.

A packet sent without a CRC cannot fail it: the damage arrives unnoticed
(crc_ok True, payload wrong), as on a real radio.
"""

import math

from sim import ether

TYPE_CHECKING = False  # mypy takes this name as True; MicroPython has no typing module
if TYPE_CHECKING:
    from typing import Any

    from sim.ether import Heard, Mod

# Sensitivity (dBm), SF6..SF12, by bandwidth as 500 kHz / d: SX1276 datasheet
# Rev. 7, Table 10 (band 1, 862-1020 MHz).
SENSITIVITY_DBM = {
    4: (-118, -123, -126, -129, -132, -133, -136),  # 125 kHz
    2: (-115, -120, -123, -125, -128, -130, -133),  # 250 kHz
    1: (-111, -116, -119, -122, -125, -128, -130),  # 500 kHz
}
# Demodulator SNR limit (dB), SF6..SF12: datasheet 4.1.1.2, Table 13.
SNR_LIMIT_DB = (-5.0, -7.5, -10.0, -12.5, -15.0, -17.5, -20.0)

_C = 299_792_458.0  # m/s
_LN10 = math.log(10)

DEFAULTS = {
    "seed": 0,
    "bad_crc": 0.0,  # share of heard packets that arrive with a bad CRC
    "capture_db": 6.0,
    "noise_figure_db": 6.0,
    "fading_db": 0.0,  # standard deviation of a per-packet Gaussian fade
    "default_loss_db": 90.0,
    "path_loss": {"exponent": 3.0, "reference_m": 1.0, "reference_db": None},
}


def _log10(x: float) -> float:
    return math.log(x) / _LN10


def noise_floor_dbm(bw_hz: float, noise_figure_db: float = 6.0) -> float:
    """Thermal noise in the bandwidth, plus the receiver's noise figure."""
    return -174.0 + 10 * _log10(bw_hz) + noise_figure_db


def sensitivity_dbm(sf: int, bw_hz: float, noise_figure_db: float = 6.0) -> float:
    """The weakest packet a chip demodulates at this SF and bandwidth."""
    d = ether.bw_divisor(bw_hz)
    row = SENSITIVITY_DBM.get(d)
    if row is not None:
        return float(row[sf - 6])
    return noise_floor_dbm(bw_hz, noise_figure_db) + SNR_LIMIT_DB[sf - 6]


def free_space_loss_db(distance_m: float, freq_hz: float) -> float:
    """Friis: 20 log10(4 pi d f / c)."""
    return 20 * _log10(4 * math.pi * distance_m * freq_hz / _C)


def log_distance_loss_db(
    distance_m: float,
    freq_hz: float,
    exponent: float = 3.0,
    reference_m: float = 1.0,
    reference_db: "float | None" = None,
) -> float:
    """PL(d0) + 10 n log10(d / d0); PL(d0) the free-space loss when not given.
    Distances below d0 count as d0."""
    if reference_db is None:
        reference_db = free_space_loss_db(reference_m, freq_hz)
    d = distance_m if distance_m > reference_m else reference_m
    return reference_db + 10 * exponent * _log10(d / reference_m)


def _hash64(text: str) -> int:
    # FNV-1a, then splitmix64's finaliser: the same 64 bits on MicroPython and
    # CPython, unlike hash() (salted per process).
    m = 0xFFFFFFFFFFFFFFFF
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & m
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & m
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & m
    return h ^ (h >> 31)


def unit(text: str) -> float:
    """A number in [0, 1) fixed by text."""
    return (_hash64(text) >> 11) / 9007199254740992.0  # 53 bits / 2^53


class Transmission:
    """One packet on air: who sent it (name, and their nth packet), how, when."""

    def __init__(
        self,
        sender: str,
        n: int,
        mod: "Mod",
        payload: bytes,
        power_dbm: float,
        start_us: int,
        end_us: int,
    ) -> None:
        self.sender = sender
        self.n = n
        self.mod = mod
        self.payload = payload
        self.power_dbm = power_dbm
        self.start_us = start_us
        self.end_us = end_us
        self.aborted = False  # its sender started another before it ended

    def overlaps(self, other: "Transmission") -> bool:
        return self.start_us < other.end_us and other.start_us < self.end_us


class Physics:
    """The ether's settings and its rules: see the module's docstring.

    config (JSON-able), every key optional:
        seed, bad_crc, capture_db, noise_figure_db, fading_db, default_loss_db
        path_loss: {"exponent", "reference_m", "reference_db"}
        radios: {name: {"position": [x, y] or [x, y, z],    metres
                         "loss_db": dB}}                 on its links without a setting
        links: [{"a": name, "b": name, "loss_db": dB}       symmetric
                or {"a", "b", "distance_m": m}]
    """

    def __init__(self, config: "dict[str, Any] | None" = None) -> None:
        self.seed = 0
        self.bad_crc = 0.0
        self.capture_db = 6.0
        self.noise_figure_db = 6.0
        self.fading_db = 0.0
        self.default_loss_db = 90.0
        self.exponent = 3.0
        self.reference_m = 1.0
        self.reference_db: float | None = None
        self.positions: dict[str, list[float]] = {}
        self.own_loss: dict[str, float] = {}  # a radio's loss_db
        self.links: dict[str, dict[str, float]] = {}  # "a|b" (sorted) -> loss_db or distance_m
        self.configure(config or {})

    def configure(self, config: "dict[str, Any]") -> None:
        """Change the settings given; keep the others."""
        for key in ("seed", "bad_crc", "capture_db", "noise_figure_db", "fading_db"):
            if key in config:
                setattr(self, key, config[key])
        if "default_loss_db" in config:
            self.default_loss_db = float(config["default_loss_db"])
        if not 0 <= self.bad_crc <= 1:
            raise ValueError("bad_crc %s: a share, 0..1" % self.bad_crc)
        pl = config.get("path_loss")
        if pl:
            self.exponent = float(pl.get("exponent", self.exponent))
            self.reference_m = float(pl.get("reference_m", self.reference_m))
            if "reference_db" in pl:
                ref = pl["reference_db"]
                self.reference_db = None if ref is None else float(ref)
        for name, radio in (config.get("radios") or {}).items():
            if "position" in radio:
                self.place(name, radio["position"])
            if "loss_db" in radio:
                self.set_own_loss(name, radio["loss_db"])
        for link in config.get("links") or ():
            self.link(
                link["a"], link["b"], link.get("loss_db"), link.get("distance_m"), link.get("clear")
            )

    def place(self, name: str, position: "list[float] | None") -> None:
        """Put a radio at a position (metres), or take it off the map (None)."""
        if position is None:
            self.positions.pop(name, None)
        else:
            self.positions[name] = [float(x) for x in position]

    def set_own_loss(self, name: str, loss_db: "float | None") -> None:
        """A radio's loss on its links that have no other setting (None: none)."""
        if loss_db is None:
            self.own_loss.pop(name, None)
        else:
            self.own_loss[name] = float(loss_db)

    def link(
        self,
        a: str,
        b: str,
        loss_db: "float | None" = None,
        distance_m: "float | None" = None,
        clear: "bool | None" = None,
    ) -> None:
        """Set the loss of the link a-b in dB, or its distance; clear forgets both."""
        key = _key(a, b)
        if clear:
            self.links.pop(key, None)
        elif loss_db is not None:
            self.links[key] = {"loss_db": float(loss_db)}
        elif distance_m is not None:
            self.links[key] = {"distance_m": float(distance_m)}
        else:
            raise ValueError("link %s: give loss_db or distance_m" % key)

    def loss_db(self, a: str, b: str, freq_hz: float) -> float:
        """The path loss between radios a and b at freq_hz."""
        link = self.links.get(_key(a, b))
        if link is not None:
            if "loss_db" in link:
                return link["loss_db"]
            return self.model_db(link["distance_m"], freq_hz)
        pa = self.positions.get(a)
        pb = self.positions.get(b)
        if pa is not None and pb is not None:
            return self.model_db(_distance(pa, pb), freq_hz)
        la = self.own_loss.get(a)
        lb = self.own_loss.get(b)
        if la is not None or lb is not None:
            return (la or 0.0) + (lb or 0.0)
        return self.default_loss_db

    def model_db(self, distance_m: float, freq_hz: float) -> float:
        """The log-distance model with this ether's settings."""
        return log_distance_loss_db(
            distance_m, freq_hz, self.exponent, self.reference_m, self.reference_db
        )

    def rx_power_dbm(self, tx: Transmission, receiver: str) -> float:
        p = tx.power_dbm - self.loss_db(tx.sender, receiver, tx.mod[ether.FREQ])
        if self.fading_db:
            p += self.fading_db * self._gauss(
                "%d/%s/%d/%s/fade" % (self.seed, tx.sender, tx.n, receiver)
            )
        return p

    def _gauss(self, text: str) -> float:
        # Box-Muller from two hashed uniforms.
        u1 = 1.0 - unit(text + "/1")
        u2 = unit(text + "/2")
        return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)

    def outcome(
        self, tx: Transmission, receiver: str, others: "list[Transmission]"
    ) -> "tuple[str, Heard | None]":
        """What receiver, which listened to tx with matching settings for the
        whole of it, heard. others: every other packet on air at some time
        during tx (any channel; this picks the same-channel ones).

        Returns (outcome, Heard or None); outcome is one of
            "heard"      intact
            "captured"   intact, over weaker overlapping packets
            "bad-crc"    the configured share of damaged packets
            "collision"  overlapped, no capture, the receiver locked on it: bad CRC
            "lost"       overlapped, and the receiver was locked on another
            "weak"       below sensitivity or the SNR limit
            "aborted"    its sender started another packet before it ended
        """
        if tx.aborted:
            return "aborted", None
        m = tx.mod
        bw = m[ether.BW]
        sf = m[ether.SF]
        p = self.rx_power_dbm(tx, receiver)
        snr = p - noise_floor_dbm(bw, self.noise_figure_db)
        if p < sensitivity_dbm(sf, bw, self.noise_figure_db) or snr < SNR_LIMIT_DB[sf - 6]:
            return "weak", None
        rivals = []
        for o in others:
            if (
                o is not tx
                and o.sender != receiver
                and tx.overlaps(o)
                and ether.same_channel(m, o.mod)
            ):
                rivals.append((o, self.rx_power_dbm(o, receiver)))
        code = "heard"
        damaged = False
        if rivals:
            if p - _sum_dbm([q for _, q in rivals]) >= self.capture_db:
                code = "captured"
            else:
                everyone = [p] + [q for _, q in rivals]
                for _, q in rivals:
                    rest = list(everyone)
                    rest.remove(q)
                    if q - _sum_dbm(rest) >= self.capture_db:
                        return "lost", None  # o captured the receiver
                if all(tx.start_us < o.start_us for o, _ in rivals):
                    code = "collision"
                    damaged = True
                else:
                    return "lost", None
        draw = "%d/%s/%d/%s" % (self.seed, tx.sender, tx.n, receiver)
        if not damaged and self.bad_crc and unit(draw) < self.bad_crc:
            code = "bad-crc"
            damaged = True
        payload = tx.payload
        crc_ok = True
        if damaged:
            payload = ether.corrupt(payload, _hash64("%s/%d/%s" % (tx.sender, tx.n, receiver)))
            crc_ok = not m[ether.CRC]  # no CRC on air: nothing to fail
        return code, ether.Heard(payload, p, snr, crc_ok, True)


def _key(a: str, b: str) -> str:
    return "%s|%s" % (a, b) if a <= b else "%s|%s" % (b, a)


def _distance(a: "list[float]", b: "list[float]") -> float:
    s = 0.0
    for i in range(max(len(a), len(b))):
        d = (a[i] if i < len(a) else 0.0) - (b[i] if i < len(b) else 0.0)
        s += d * d
    return math.sqrt(s)


def _sum_dbm(powers: "list[float]") -> float:
    """The power of several signals together."""
    total = 0.0
    for q in powers:
        total += math.pow(10, q / 10)
    return 10 * _log10(total)

"""LoRa time on air, from Semtech's formula (SX1276/77/78/79 datasheet 4.1.1.7).

Runs unchanged on MicroPython and CPython: the node's duty-cycle limiter
charges every frame with it, and the tools print the same figures in
docs/lora.md.

    T_sym      = 2^SF / BW
    T_preamble = (n_preamble + 4.25) * T_sym
    n_payload  = 8 + max(ceil((8 PL - 4 SF + 28 + 16 CRC - 20 IH)
                              / (4 (SF - 2 DE))) * (CR + 4), 0)
    T_packet   = T_preamble + n_payload * T_sym

PL payload bytes, CRC 1 when the payload CRC is on, IH 1 in implicit header
mode, DE 1 with low data rate optimisation, CR + 4 the denominator of the
coding rate 4/5..4/8 (the `cr` argument here, 5..8, as micropython-lib's
lora_cfg["coding_rate"]). The SX126x datasheet (6.1.4) gives the same count
for SF7..SF12; its SF5/SF6 modes differ and are not modelled.

Every LoRa bandwidth is the 32 MHz crystal divided down: 500 kHz / d with d
in 1, 2, 4, 8, 12, 16, 24, 32, 48, 64 (7.8 kHz is really 7.8125 kHz, 10.4 is
10.41666 kHz). So T_sym = 2^SF * d / 500 kHz = 2^(SF + 1) * d µs exactly,
and counting symbols in quarters keeps everything in integers: the result is
the exact time on air in microseconds, no float and no rounding.
"""

try:
    from micropython import const  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # CPython

    def const(x: int) -> int:  # type: ignore[misc, unused-ignore]
        return x


SF_MIN = const(6)
SF_MAX = const(12)
MAX_PAYLOAD = const(255)  # the FIFO and the header's length byte
_LDRO_SYMBOL_US = const(16000)  # 4.1.1.6: mandated when T_sym exceeds 16 ms

# 500 kHz divided by d, for each LoRa bandwidth of RegModemConfig1 (4.4).
_DIVISORS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64)


def bw_divisor(bw_khz: float | int | str) -> int:
    """d such that the bandwidth is 500 kHz / d; ValueError if it is none.

    Takes the labels of either datasheet ("7.8" or 7.81, "41.7" or 41.67,
    125, 250, 500 ...) as a number or a string (micropython-lib's "bw").
    """
    bw = float(bw_khz)
    if bw > 0:
        d = round(500 / bw)
        # The labels are rounded to 3 significant digits: within 0.2 %.
        if d in _DIVISORS and abs(bw * d - 500) < 1:
            return d
    raise ValueError("%s kHz is not a LoRa bandwidth" % bw_khz)


def symbol_us(sf: int, bw_khz: float | int | str) -> int:
    """The symbol time 2^SF / BW in µs: an exact integer for every LoRa bandwidth."""
    _check_sf(sf)
    return (1 << (sf + 1)) * bw_divisor(bw_khz)


def ldro_needed(sf: int, bw_khz: float | int | str) -> bool:
    """True when low data rate optimisation is mandated: T_sym above 16 ms
    (SF11 and SF12 at 125 kHz, SF12 at 250 kHz, more at narrower bandwidths)."""
    return bool(symbol_us(sf, bw_khz) > _LDRO_SYMBOL_US)


def symbols_x4(
    payload_len: int,
    sf: int,
    cr: int = 5,
    preamble: int = 8,
    explicit: bool = True,
    crc: bool = True,
    ldro: bool = False,
) -> int:
    """Four times the number of symbols in a packet (the preamble's 4.25 makes
    quarters). Integers only: the node calls this for every frame it sends."""
    _check_sf(sf)
    if not 5 <= cr <= 8:
        raise ValueError("coding rate 4/%d: cr must be 5..8" % cr)
    if not 0 <= payload_len <= MAX_PAYLOAD:
        raise ValueError("payload of %d bytes: LoRa carries 0..255" % payload_len)
    if not 0 <= preamble <= 0xFFFF:
        raise ValueError("preamble of %d symbols: the register holds 0..65535" % preamble)
    if sf == 6 and explicit:
        # 4.1.1.2: SF6 exists only in implicit header mode on the SX127x.
        raise ValueError("SF6 needs implicit header mode")
    bits = 8 * payload_len - 4 * sf + 28 + (16 if crc else 0) - (0 if explicit else 20)
    per_symbol = 4 * (sf - 2 if ldro else sf)
    blocks = -(-bits // per_symbol)  # ceil, also for a negative numerator
    if blocks < 0:
        blocks = 0
    return 4 * preamble + 17 + 4 * (8 + blocks * cr)


def time_on_air_us(
    payload_len: int,
    sf: int = 7,
    bw_khz: float | int | str = 125,
    cr: int = 5,
    preamble: int = 8,
    explicit: bool = True,
    crc: bool = True,
    ldro: bool | None = None,
) -> int:
    """Time on air of one packet in µs, exact.

    ldro None applies the datasheet's rule (on when T_sym > 16 ms), as the
    micropython-lib drivers do when they configure the modem.
    """
    t_sym = symbol_us(sf, bw_khz)
    if ldro is None:
        ldro = t_sym > _LDRO_SYMBOL_US
    # t_sym is a multiple of 2^(SF + 1) >= 128, so the division is exact.
    return symbols_x4(payload_len, sf, cr, preamble, explicit, crc, ldro) * t_sym // 4


def _check_sf(sf: int) -> None:
    if not SF_MIN <= sf <= SF_MAX:
        raise ValueError("SF%d: the spreading factor must be 6..12" % sf)

"""An SX1276/77/78/79 LoRa transceiver at its SPI registers, for the sim board.

Written from Semtech's SX1276/77/78/79 datasheet, rev. 7 (May 2020), its
LoRa pages ("DS" below), so that micropython-lib's lora-sx127x driver runs on
it exactly as on a board: the sim board's machine.SPI and machine.Pin
(sim/machine.py, sim/port.py) call select(), transfer(), level() and
on_rise(); the air is an Antenna (sim/ether.py), the only way out.

What is modelled (DS 4.1 and 6.4):

- SPI access (DS 4.3): the first byte of a transaction is the address, bit 7
  set for a write; then any number of data bytes, the address going up by
  one after each (burst), except at RegFifo (0x00), where each byte is the
  next FIFO byte at RegFifoAddrPtr, which goes up by one (wrapping at 256).
- RegOpMode: LongRangeMode changes only in Sleep (a write in another mode
  keeps the old value); Sleep, Stdby, FSTx, FSRx (synthesiser only: deaf),
  Tx, RxContinuous, RxSingle, CAD. Tx sends RegPayloadLength bytes from
  RegFifoTxBaseAddr, sets TxDone after the time on air and returns to
  Stdby. RxSingle times out after the symbol timeout (RegModemConfig2 bits
  1-0 and RegSymbTimeoutLsb) with RxTimeout, and returns to Stdby after
  RxDone or RxTimeout; RxContinuous stays. Header and packet counters are
  reset in Sleep; the LoRa FIFO cannot be read or written in Sleep (reads
  0x00, writes are lost, RegFifoAddrPtr stays).
- The 256-byte FIFO, as the chip keeps it: entering Rx from another mode
  sets the receiver's write pointer (RegFifoRxByteAddr + 1) to
  RegFifoRxBaseAddr; each packet heard is written there, RegFifoRxCurrentAddr
  is where it starts, RegRxNbBytes its length, and the pointer moves past
  it, so in RxContinuous each packet follows the one before, wrapping at
  256. RegFifoAddrPtr is moved only by the host's writes and by its own FIFO
  accesses, never by the receiver. A packet with a payload CRC error is
  written like any other (RxDone and PayloadCrcError both set). Word of a
  packet that ended before the receive began (a Heard's end_us, when the
  Antenna gives one: the hub's comes after the packet) is not heard, nor is
  what the Antenna still holds when the chip stops receiving.
- RegIrqFlags (RxTimeout, RxDone, PayloadCrcError, ValidHeader, TxDone,
  CadDone, FhssChangeChannel, CadDetected), each cleared by writing 1;
  RegIrqFlagsMask: a masked interrupt is not raised at all (no flag, no DIO).
- DIO0..DIO2 mapped by RegDioMapping1 (DS table 18): DIO0 RxDone / TxDone /
  CadDone, DIO1 RxTimeout / FhssChangeChannel / CadDetected, DIO2
  FhssChangeChannel. A pin is high while its flag is set; on_rise handlers
  hear each rising edge.
- RegPktSnrValue (SNR x 4, two's complement) and RegPktRssiValue with DS
  5.5.5's formula: packet strength = -157 + PacketRssi on the HF port (-164
  on the LF port, below 525 MHz), + PacketSnr x 0.25 when the SNR is below 0.
  RegModemStat's RxCodingRate, RegHopChannel's CrcOnPayload. RegVersion 0x12.
- The modulation a transmission or a receive uses, handed to the Antenna:
  frequency from RegFrf (32 MHz / 2^19 steps, to the nearest Hz), SF and
  CRC on from RegModemConfig2, bandwidth (32 MHz divided down, to the
  nearest Hz), coding rate and implicit header from RegModemConfig1,
  RegSyncWord, RegPreamble, RegPayloadLength (implicit header), I/Q
  inversion from RegInvertIQ (DS and micropython-lib's driver: bit 6 inverts
  RX, bit 0 clear inverts TX). Output power from RegPaConfig and RegPaDac
  (DS 3.4.2: PA_BOOST 2 + OutputPower dBm, 5 + OutputPower with the +20 dBm
  setting; RFO 10.8 + 0.6 MaxPower - (15 - OutputPower) dBm).

What is not (a register of its own still reads back what was written):
the FSK/OOK modem (with LongRangeMode 0, or AccessSharedReg, addresses
0x0D-0x3F reach a page of plain memory, as do unlisted LoRa registers),
frequency hopping, CAD (CadDone at once, nothing detected), a packet's
arrival as it happens (the Antenna reports a packet when it has ended, so
ValidHeader comes with RxDone; an RxSingle hears a packet that ended before
its timeout, where the chip needs only the preamble by then), RegInvertIQ2,
LowDataRateOptimize and the band limits of the SX1277/78/79 (stored, not
checked), an Rx or Tx cut short (a transmission the host stops still goes
out whole; settings changed during a receive apply from the next one), the
instantaneous RSSI (RegRssiValue reads the noise floor), the +16/15 RSSI
correction and the temperature, image and RC calibrations.
"""

import time

TYPE_CHECKING = False  # mypy takes this name as True; MicroPython has no typing module
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Real time in µs: MicroPython's wrapping ticks, or CPython's monotonic clock.
_TICKS_US = getattr(time, "ticks_us", None)
_TICKS_ADD = getattr(time, "ticks_add", None)
_TICKS_DIFF = getattr(time, "ticks_diff", None)
_MONOTONIC_NS = getattr(time, "monotonic_ns", None)


def _ticks_us() -> int:
    if _TICKS_US is not None:
        return int(_TICKS_US())
    return int(_MONOTONIC_NS()) // 1000  # type: ignore[misc]


def _ticks_add(a: int, b: int) -> int:
    return int(_TICKS_ADD(a, b)) if _TICKS_ADD is not None else a + b


def _ticks_diff(a: int, b: int) -> int:
    return int(_TICKS_DIFF(a, b)) if _TICKS_DIFF is not None else a - b


# Registers, LoRa page (DS 6.4)
_FIFO = 0x00
_OP_MODE = 0x01
_FRF_MSB = 0x06
_PA_CONFIG = 0x09
_FIFO_ADDR_PTR = 0x0D
_FIFO_TX_BASE = 0x0E
_FIFO_RX_BASE = 0x0F
_FIFO_RX_CURRENT = 0x10
_IRQ_MASK = 0x11
_IRQ_FLAGS = 0x12
_RX_NB_BYTES = 0x13
_RX_HEADER_CNT = 0x14  # MSB, LSB at 0x15
_RX_PACKET_CNT = 0x16  # MSB, LSB at 0x17
_MODEM_STAT = 0x18
_PKT_SNR = 0x19
_PKT_RSSI = 0x1A
_RSSI = 0x1B
_HOP_CHANNEL = 0x1C
_MODEM_CONFIG1 = 0x1D
_MODEM_CONFIG2 = 0x1E
_SYMB_TIMEOUT_LSB = 0x1F
_PREAMBLE_MSB = 0x20
_PAYLOAD_LEN = 0x22
_MAX_PAYLOAD_LEN = 0x23
_FIFO_RX_BYTE_ADDR = 0x25
_MODEM_CONFIG3 = 0x26
_INVERT_IQ = 0x33
_SYNC_WORD = 0x39
_DIO_MAPPING1 = 0x40
_VERSION = 0x42
_PA_DAC = 0x4D

# Read-only registers of the LoRa page: writes to them are lost.
_READ_ONLY = (
    _FIFO_RX_CURRENT,
    _RX_NB_BYTES,
    0x14,
    0x15,
    0x16,
    0x17,
    _MODEM_STAT,
    _PKT_SNR,
    _PKT_RSSI,
    _RSSI,
    _HOP_CHANNEL,
    _FIFO_RX_BYTE_ADDR,
    0x28,
    0x29,
    0x2A,
    0x2C,
    _VERSION,
)

# RegOpMode
_LORA = 0x80
_ACCESS_SHARED = 0x40
_SLEEP = 0
_STDBY = 1
_FSTX = 2
_TX = 3
_FSRX = 4
_RX_CONT = 5
_RX_SINGLE = 6
_CAD = 7

# RegIrqFlags
RX_TIMEOUT = 0x80
RX_DONE = 0x40
PAYLOAD_CRC_ERROR = 0x20
VALID_HEADER = 0x10
TX_DONE = 0x08
CAD_DONE = 0x04
FHSS_CHANGE_CHANNEL = 0x02
CAD_DETECTED = 0x01

# What each DIO shows, by its RegDioMapping1 field (DS table 18, LoRa mode)
_DIO_SOURCES = {
    "dio0": (6, (RX_DONE, TX_DONE, CAD_DONE, 0)),
    "dio1": (4, (RX_TIMEOUT, FHSS_CHANGE_CHANNEL, CAD_DETECTED, 0)),
    "dio2": (2, (FHSS_CHANGE_CHANNEL, FHSS_CHANGE_CHANNEL, FHSS_CHANGE_CHANNEL, 0)),
}

# RegModemConfig1 bandwidth field -> the bandwidth, 32 MHz divided down
_BW_DIVIDER = (4096, 3072, 2048, 1536, 1024, 768, 512, 256, 128, 64)
_XTAL_HZ = 32_000_000

# Reset values of the LoRa page and the registers common to both pages (DS 6.4;
# RegInvertIQ as the chip has it in LoRa mode, after micropython-lib's driver).
_RESET = {
    _OP_MODE: 0x09,
    0x06: 0x6C,
    0x07: 0x80,
    0x08: 0x00,
    _PA_CONFIG: 0x4F,
    0x0A: 0x09,
    0x0B: 0x2B,
    0x0C: 0x20,
    _FIFO_TX_BASE: 0x80,
    _MODEM_STAT: 0x10,
    _MODEM_CONFIG1: 0x72,
    _MODEM_CONFIG2: 0x70,
    _SYMB_TIMEOUT_LSB: 0x64,
    0x21: 0x08,
    _PAYLOAD_LEN: 0x01,
    _MAX_PAYLOAD_LEN: 0xFF,
    _MODEM_CONFIG3: 0x04,
    0x31: 0xC3,
    _INVERT_IQ: 0x27,
    0x37: 0x0A,
    _SYNC_WORD: 0x12,
    0x3B: 0x1D,
    _VERSION: 0x12,
    0x4B: 0x09,
    _PA_DAC: 0x84,
    0x70: 0xD0,
}
_FSK_RESET = {0x3B: 0x82}  # RegImageCal: AutoImageCalOn, no calibration running

VARIANTS = ("sx1276", "sx1277", "sx1278", "sx1279")


class SX127x:
    """One SX1276/77/78/79 chip on an SPI bus, its DIO pins, and an Antenna."""

    noise_dbm = -117  # what RegRssiValue reads: the noise floor in 125 kHz

    def __init__(self, antenna: "Any", variant: str = "sx1276") -> None:
        if variant not in VARIANTS:
            raise ValueError("sx127x: %r is none of %s" % (variant, ", ".join(VARIANTS)))
        self.antenna = antenna
        self.variant = variant
        self._handlers: dict[str, list[Callable[[str], None]]] = {
            "dio0": [],
            "dio1": [],
            "dio2": [],
        }
        self.sent: list[bytes] = []  # what went on air, for a test to look at
        self.airtime_us = 0  # the time on air of the last packet sent, as the Antenna said
        self.reset()

    # --- the pins and the bus ---------------------------------------------------------------

    def reset(self) -> None:
        """NRESET pulsed: every register to its reset value, the radio deaf."""
        regs = self.regs = bytearray(0x80)
        for addr, value in _RESET.items():
            regs[addr] = value
        fsk = self.fsk = bytearray(0x40)
        for addr, value in _FSK_RESET.items():
            fsk[addr] = value
        self.fifo = bytearray(256)
        self._selected = False
        self._addr = -1  # no address byte yet in this transaction
        self._write = False
        self._rx_ptr = 0  # where the receiver writes the next byte (FifoRxByteAddrPtr)
        self._tx_end: int | None = None  # ticks_us when the packet on air ends
        self._rx_deadline: int | None = None  # RxSingle's timeout, ticks_us
        self._rx_since = 0  # ticks_us when this receive started
        self._levels = {"dio0": 0, "dio1": 0, "dio2": 0}
        self._listening = False
        self._deaf()

    def select(self, low: bool) -> None:
        """NSS: True when pulled low (a transaction starts), False when released."""
        self._advance()
        self._selected = bool(low)
        self._addr = -1
        self._edges()

    def transfer(self, out: "bytes | bytearray | memoryview") -> bytes:
        """Bytes clocked on MOSI while selected; what MISO carried back."""
        if not self._selected:
            return b"\xff" * len(out)  # not addressed: MISO floats, pulled up
        self._advance()
        miso = bytearray(len(out))
        for i, byte in enumerate(out):
            if self._addr < 0:
                self._addr = byte & 0x7F
                self._write = bool(byte & 0x80)
                continue  # MISO carries nothing of use during the address byte
            addr = self._addr
            if self._write:
                self._write_reg(addr, byte)
            else:
                miso[i] = self._read_reg(addr)
            if addr != _FIFO:
                self._addr = (addr + 1) & 0x7F
        self._edges()
        return bytes(miso)

    def level(self, pin: str) -> int:
        """The output level of "dio0", "dio1" or "dio2" now."""
        if pin not in self._levels:
            raise ValueError("sx127x has no output %r" % pin)
        self._advance()
        self._edges()
        return self._levels[pin]

    def on_rise(self, pin: str, handler: "Callable[[str], None]") -> None:
        """Call handler(pin) on each rising edge of a DIO pin."""
        if pin not in self._handlers:
            raise ValueError("sx127x has no output %r" % pin)
        self._handlers[pin].append(handler)

    # --- registers -----------------------------------------------------------------------

    def _lora(self) -> bool:
        return bool(self.regs[_OP_MODE] & _LORA)

    def _mode(self) -> int:
        return self.regs[_OP_MODE] & 0x07

    def _fsk_page(self, addr: int) -> bool:
        """0x0D-0x3F reach the FSK/OOK page outside LoRa mode, or with AccessSharedReg."""
        op = self.regs[_OP_MODE]
        return 0x0D <= addr <= 0x3F and (not op & _LORA or bool(op & _ACCESS_SHARED))

    def _read_reg(self, addr: int) -> int:
        regs = self.regs
        if addr == _FIFO:
            if not self._lora() or self._mode() == _SLEEP:
                return 0  # the FSK FIFO is not modelled; the LoRa FIFO sleeps
            ptr = regs[_FIFO_ADDR_PTR]
            regs[_FIFO_ADDR_PTR] = (ptr + 1) & 0xFF
            return self.fifo[ptr]
        if self._fsk_page(addr):
            return self.fsk[addr]
        if addr == _FIFO_RX_BYTE_ADDR:
            return (self._rx_ptr - 1) & 0xFF  # the last byte the receiver wrote
        if addr == _RSSI:
            return max(0, min(255, self.noise_dbm + self._rssi_offset()))
        return regs[addr]

    def _write_reg(self, addr: int, value: int) -> None:
        regs = self.regs
        if addr == _FIFO:
            if self._lora() and self._mode() != _SLEEP:
                ptr = regs[_FIFO_ADDR_PTR]
                self.fifo[ptr] = value
                regs[_FIFO_ADDR_PTR] = (ptr + 1) & 0xFF
            return
        if addr == _OP_MODE:
            self._set_op_mode(value)
            return
        if self._fsk_page(addr):
            self.fsk[addr] = value & ~0x20 if addr == 0x3B else value  # calibration: done
            return
        if addr == _IRQ_FLAGS:
            regs[_IRQ_FLAGS] &= ~value
            return
        if addr in _READ_ONLY:
            return
        regs[addr] = value

    def _set_op_mode(self, value: int) -> None:
        regs = self.regs
        old = regs[_OP_MODE]
        old_mode = old & 0x07
        if old_mode != _SLEEP:  # LongRangeMode is written only in Sleep
            value = (value & ~_LORA) | (old & _LORA)
        regs[_OP_MODE] = value
        mode = value & 0x07
        lora = bool(value & _LORA)
        was_rx = old_mode in (_RX_CONT, _RX_SINGLE) and bool(old & _LORA)
        is_rx = lora and mode in (_RX_CONT, _RX_SINGLE)
        if mode == _SLEEP:
            for a in (0x14, 0x15, 0x16, 0x17):
                regs[a] = 0
        if old_mode == _TX and mode != _TX:
            self._tx_end = None  # cut short: the Antenna cannot take it back
        if is_rx and (not was_rx or mode != old_mode):
            self._start_rx(mode)
        elif was_rx and not is_rx:
            self._stop_rx()
        if lora and mode == _TX and old_mode != _TX:
            self._start_tx()
        if lora and mode == _CAD:
            self._raise(CAD_DONE)  # nothing on the channel: CAD is not modelled
            regs[_OP_MODE] = (value & ~0x07) | _STDBY

    # --- the radio -----------------------------------------------------------------------

    def _raise(self, flags: int) -> None:
        """Set interrupt flags that RegIrqFlagsMask lets through."""
        self.regs[_IRQ_FLAGS] |= flags & ~self.regs[_IRQ_MASK]

    def frequency_hz(self) -> int:
        r = self.regs
        frf = (r[_FRF_MSB] << 16) | (r[_FRF_MSB + 1] << 8) | r[_FRF_MSB + 2]
        # F(XOSC) / 2^19 = 15625 / 256 Hz a step, to the nearest Hz: the driver's
        # 868.1 MHz is 868,099,976 Hz (the ether takes a quarter of the bandwidth).
        return (frf * 15625 + 128) // 256

    def _rssi_offset(self) -> int:
        """DS 5.5.5: -157 on the HF port (band 1, above 525 MHz), -164 on the LF port."""
        return 157 if self.frequency_hz() > 525_000_000 else 164

    def modulation(self, tx: bool) -> "tuple[Any, ...]":
        """The Antenna's mod tuple: (freq_hz, sf, bw_hz, cr, sync_word, implicit_header,
        invert_iq, crc_on, preamble_symbols, payload_len_if_implicit)."""
        r = self.regs
        c1 = r[_MODEM_CONFIG1]
        c2 = r[_MODEM_CONFIG2]
        sf = min(max(c2 >> 4, 6), 12)  # values above 12 are read as SF12
        bw_field = min(c1 >> 4, 9)
        div = _BW_DIVIDER[bw_field]
        bw_hz = (_XTAL_HZ + div // 2) // div
        cr = 4 + min(max((c1 >> 1) & 0x07, 1), 4)
        implicit = bool(c1 & 0x01)
        # RX inverted with bit 6 set, TX with bit 0 clear
        invert = not r[_INVERT_IQ] & 0x01 if tx else bool(r[_INVERT_IQ] & 0x40)
        crc_on = bool(c2 & 0x04)
        preamble = (r[_PREAMBLE_MSB] << 8) | r[_PREAMBLE_MSB + 1]
        length = r[_PAYLOAD_LEN] if implicit else 0
        return (
            self.frequency_hz(),
            sf,
            bw_hz,
            cr,
            r[_SYNC_WORD],
            implicit,
            invert,
            crc_on,
            preamble,
            length,
        )

    def symbol_us(self) -> int:
        r = self.regs
        sf = min(max(r[_MODEM_CONFIG2] >> 4, 6), 12)
        div = _BW_DIVIDER[min(r[_MODEM_CONFIG1] >> 4, 9)]
        return (div << sf) // 32  # 2^SF / (32 MHz / div), in µs

    def power_dbm(self) -> int:
        """The output power RegPaConfig and RegPaDac set (DS 3.4.2), rounded to a dBm."""
        pa = self.regs[_PA_CONFIG]
        out = pa & 0x0F
        if pa & 0x80:  # PA_BOOST
            return (5 if self.regs[_PA_DAC] & 0x07 == 0x07 else 2) + out
        max_power = (pa >> 4) & 0x07
        tenths = 108 + 6 * max_power - 10 * (15 - out)
        return (tenths + 5) // 10 if tenths >= 0 else -((-tenths + 4) // 10)

    def _start_tx(self) -> None:
        r = self.regs
        base = r[_FIFO_TX_BASE]
        n = r[_PAYLOAD_LEN]
        payload = bytes(self.fifo[(base + i) & 0xFF] for i in range(n))
        self._deaf()
        airtime = self.antenna.transmit(self.modulation(True), payload, self.power_dbm())
        self.sent.append(payload)
        self.airtime_us = int(airtime)
        self._tx_end = _ticks_add(_ticks_us(), self.airtime_us)

    def _start_rx(self, mode: int) -> None:
        self._rx_ptr = self.regs[_FIFO_RX_BASE]
        self._rx_deadline = None
        self._rx_since = _ticks_us()
        if mode == _RX_SINGLE:
            r = self.regs
            symbols = ((r[_MODEM_CONFIG2] & 0x03) << 8) | r[_SYMB_TIMEOUT_LSB]
            self._rx_deadline = _ticks_add(_ticks_us(), symbols * self.symbol_us())
        self.antenna.listen(self.modulation(False))
        self._listening = True

    def _stop_rx(self) -> None:
        self._rx_deadline = None
        if self._listening:
            self._deaf()

    def _deaf(self) -> None:
        """Stop receiving: what the antenna still holds ended after the chip stopped
        listening (or in the moment between), and is not heard."""
        self.antenna.listen(None)
        self._listening = False
        while self.antenna.poll() is not None:
            pass

    def _to_standby(self) -> None:
        r = self.regs
        r[_OP_MODE] = (r[_OP_MODE] & ~0x07) | _STDBY

    def _advance(self) -> None:
        """Bring the chip up to now: a transmission ended, packets heard, a timeout."""
        if not self._lora():
            return
        mode = self._mode()
        if mode == _TX and self._tx_end is not None:
            if _ticks_diff(_ticks_us(), self._tx_end) >= 0:
                self._tx_end = None
                self._raise(TX_DONE)
                self._to_standby()
            return
        if mode not in (_RX_CONT, _RX_SINGLE) or not self._listening:
            return
        late = self._rx_deadline is not None and _ticks_diff(_ticks_us(), self._rx_deadline) >= 0
        while True:
            heard = self.antenna.poll()
            if heard is None:
                break
            end = getattr(heard, "end_us", None)  # when the ether says (None: not known)
            if end is not None and _ticks_diff(end, self._rx_since) < 0:
                continue  # word of a packet that ended before this receive began
            if self._receive(heard) and mode == _RX_SINGLE:
                self._to_standby()
                self._stop_rx()
                return
        if late:  # nothing heard in time: RxSingle gives up
            self._raise(RX_TIMEOUT)
            self._to_standby()
            self._stop_rx()

    def _receive(self, heard: "Any") -> bool:
        """A packet that ended on air: into the FIFO, with its flags; False if lost."""
        r = self.regs
        implicit = bool(r[_MODEM_CONFIG1] & 0x01)
        payload = bytes(heard.payload)
        crc_ok = bool(heard.crc_ok)
        if implicit:
            # No header: the receiver takes RegPayloadLength bytes, whatever was sent.
            n = r[_PAYLOAD_LEN]
            if len(payload) != n:
                crc_ok = False
                payload = (payload + bytes(n))[:n]
            if not r[_MODEM_CONFIG2] & 0x04:
                crc_ok = True  # no CRC to fail
        else:
            if not heard.header_ok or len(payload) > r[_MAX_PAYLOAD_LEN]:
                return False  # a bad header: the modem goes back to searching
            self._raise(VALID_HEADER)
            self._count(_RX_HEADER_CNT)
        start = self._rx_ptr
        for i, b in enumerate(payload):
            self.fifo[(start + i) & 0xFF] = b
        self._rx_ptr = (start + len(payload)) & 0xFF
        r[_FIFO_RX_CURRENT] = start
        r[_RX_NB_BYTES] = len(payload)
        snr_q = round(heard.snr_db * 4)
        snr_q = max(-128, min(127, snr_q))
        r[_PKT_SNR] = snr_q & 0xFF
        rssi = heard.rssi_dbm - (snr_q / 4 if snr_q < 0 else 0)
        r[_PKT_RSSI] = max(0, min(255, round(rssi) + self._rssi_offset()))
        cr_field = (r[_MODEM_CONFIG1] >> 1) & 0x07
        r[_MODEM_STAT] = (cr_field << 5) | 0x10
        crc_on = bool(r[_MODEM_CONFIG2] & 0x04)
        r[_HOP_CHANNEL] = (r[_HOP_CHANNEL] & ~0x40) | (0x40 if crc_on else 0)
        self._raise(RX_DONE if crc_ok else RX_DONE | PAYLOAD_CRC_ERROR)
        if crc_ok:
            self._count(_RX_PACKET_CNT)
        return True

    def _count(self, msb: int) -> None:
        r = self.regs
        n = ((r[msb] << 8) | r[msb + 1]) + 1
        r[msb] = (n >> 8) & 0xFF
        r[msb + 1] = n & 0xFF

    def _edges(self) -> None:
        """Recompute the DIO levels; call the handlers of each pin that rose."""
        flags = self.regs[_IRQ_FLAGS] if self._lora() else 0
        mapping = self.regs[_DIO_MAPPING1]
        rose = []
        for pin, (shift, sources) in _DIO_SOURCES.items():
            level = 1 if flags & sources[(mapping >> shift) & 0x03] else 0
            if level and not self._levels[pin]:
                rose.append(pin)
            self._levels[pin] = level
        for pin in rose:
            for handler in self._handlers[pin]:
                handler(pin)

"""An emulated Semtech SX1261/SX1262 LoRa radio, at its SPI command interface.

Written from Semtech's SX1261/2 datasheet, rev 2.1 ("DS" below), so that
micropython-lib's real lora-sx126x driver runs against it as on a board.
The board wires it (sim/port.py): NSS writes go to select(), the SPI bus to
transfer(), the BUSY and DIO pins read level(), Pin.irq() on DIO1 lands in
on_rise(), NRESET pulses reset(). The air is an Antenna (sim/ether.py): the
chip hands it what it transmits and polls it for what it heard.

What is modelled (DS chapter 13 for the commands, 8.3 for the SPI framing):
- Framing: a command is the bytes clocked while NSS is low and runs when
  NSS rises. MISO carries the status byte (DS 13.5.1: chip mode in bits
  6:4, command status in bits 3:1) except where a Get command returns data.
  Opcodes not listed below, and wrong parameter counts, end with command
  status 0x4 "command processing error" and change nothing.
- BUSY (DS 8.3.1): high while a command is processed and while the chip
  wakes from sleep or resets, high all through sleep, low when ready. A
  command whose NSS falls while BUSY is high is not executed: `ignored`
  counts them (a driver that does not wait shows here).
- Modes: SetSleep (warm start keeps the configuration, cold start loses
  it), wake-up on the NSS falling edge, SetStandby(RC/XOSC), SetFs,
  SetTx and SetRx with their 24-bit timeouts in 15.625 µs steps (SetRx:
  0 single, 0xFFFFFF continuous), SetRxTxFallbackMode, reset.
- The 256-byte data buffer (DS 7.2): WriteBuffer/ReadBuffer wrap at 256,
  SetBufferBaseAddress. A packet received is written at the receive
  pointer, which SetBufferBaseAddress and each single-mode SetRx put at
  RxBaseAddr; in continuous mode each packet goes after the previous one.
  GetRxBufferStatus returns the last packet's length and start.
- IRQs (DS 13.3): TxDone, RxDone, PreambleDetected, HeaderValid, HeaderErr,
  CrcErr, Timeout. A flag is set only when SetDioIrqParams' IrqMask enables
  it; DIO1/2/3 are high while a flag of their mask is set; ClearIrqStatus.
- LoRa configuration: SetPacketType, SetRfFrequency (f = RfFreq * 32 MHz /
  2^25), SetModulationParams (SF5..12, bandwidth, coding rate, LDRO),
  SetPacketParams (preamble, header type, payload length, CRC, IQ), the
  sync word registers 0x0740/0x0741 and the other registers drivers touch
  (a register map of reset values; unknown addresses read 0).
- GetPacketStatus (DS 13.5.3): RssiPkt = -2 * (power in the channel, signal
  plus noise), SnrPkt = 4 * SNR (signed), SignalRssiPkt = -2 * signal power,
  from the Antenna's rssi_dbm (signal power) and snr_db.
- SetPaConfig + SetTxParams: the power handed to the Antenna, with the DS
  13.1.14.1 table of optimal settings; the OCP register it sets.
- SetDIO2AsRfSwitchCtrl (DIO2 high in TX), SetDIO3AsTcxoCtrl (its start-up
  delay keeps BUSY high when the oscillator starts), Calibrate and
  CalibrateImage (BUSY for their duration), SetRegulatorMode, GetStats,
  GetDeviceErrors/ClearDeviceErrors. A board with a TCXO (tcxo=True) can
  start its oscillator only once DIO3 powers it: before that, a command
  that needs it fails with XOSC_START_ERR, as on a Heltec V3 whose driver
  is not told about its TCXO; and the flag is raised at power-on and at
  every wake, which drivers are known to clear.

Not modelled: FSK and LR-FHSS packets, CAD, duty-cycled RX, continuous wave
and infinite preamble (their opcodes answer "processing error"), the RTC
wake-up from sleep, the real sensitivity and the errata's effects on the
air (DS 15): where a driver does not follow a workaround, `warnings` says
so instead of a packet being lost.

Time is real time (time.ticks_us). The chip catches up whenever it is
touched: a transmission ends, packets the Antenna heard are stored, a
receive times out. A packet heard is taken to have ended at that moment,
so a receive timeout keeps it when its header would have been detected
before the timeout (DS 13.1.4: the timer stops on the header).
"""

import math
import time

TYPE_CHECKING = False  # mypy takes this name as True; MicroPython has no typing module
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Opcodes (DS table 11-1 and chapter 13).
_SET_SLEEP = 0x84
_SET_STANDBY = 0x80
_SET_FS = 0xC1
_SET_TX = 0x83
_SET_RX = 0x82
_STOP_TIMER_ON_PREAMBLE = 0x9F
_SET_REGULATOR_MODE = 0x96
_CALIBRATE = 0x89
_CALIBRATE_IMAGE = 0x98
_SET_PA_CONFIG = 0x95
_SET_RX_TX_FALLBACK_MODE = 0x93
_WRITE_REGISTER = 0x0D
_READ_REGISTER = 0x1D
_WRITE_BUFFER = 0x0E
_READ_BUFFER = 0x1E
_SET_DIO_IRQ_PARAMS = 0x08
_GET_IRQ_STATUS = 0x12
_CLEAR_IRQ_STATUS = 0x02
_SET_DIO2_AS_RF_SWITCH_CTRL = 0x9D
_SET_DIO3_AS_TCXO_CTRL = 0x97
_SET_RF_FREQUENCY = 0x86
_SET_PACKET_TYPE = 0x8A
_GET_PACKET_TYPE = 0x11
_SET_TX_PARAMS = 0x8E
_SET_MODULATION_PARAMS = 0x8B
_SET_PACKET_PARAMS = 0x8C
_SET_BUFFER_BASE_ADDRESS = 0x8F
_SET_LORA_SYMB_NUM_TIMEOUT = 0xA0
_GET_STATUS = 0xC0
_GET_RSSI_INST = 0x15
_GET_RX_BUFFER_STATUS = 0x13
_GET_PACKET_STATUS = 0x14
_GET_DEVICE_ERRORS = 0x17
_CLEAR_DEVICE_ERRORS = 0x07
_GET_STATS = 0x10
_RESET_STATS = 0x00

# Parameter bytes of each write command: (fewest, most). SetModulationParams
# and SetPacketParams take 8 and 9 bytes in FSK; LoRa reads the first 4 and 6.
_PARAMS = {
    _SET_SLEEP: (1, 1),
    _SET_STANDBY: (1, 1),
    _SET_FS: (0, 0),
    _SET_TX: (3, 3),
    _SET_RX: (3, 3),
    _STOP_TIMER_ON_PREAMBLE: (1, 1),
    _SET_REGULATOR_MODE: (1, 1),
    _CALIBRATE: (1, 1),
    _CALIBRATE_IMAGE: (2, 2),
    _SET_PA_CONFIG: (4, 4),
    _SET_RX_TX_FALLBACK_MODE: (1, 1),
    _SET_DIO_IRQ_PARAMS: (8, 8),
    _CLEAR_IRQ_STATUS: (2, 2),
    _SET_DIO2_AS_RF_SWITCH_CTRL: (1, 1),
    _SET_DIO3_AS_TCXO_CTRL: (4, 4),
    _SET_RF_FREQUENCY: (4, 4),
    _SET_PACKET_TYPE: (1, 1),
    _SET_TX_PARAMS: (2, 2),
    _SET_MODULATION_PARAMS: (4, 8),
    _SET_PACKET_PARAMS: (6, 9),
    _SET_BUFFER_BASE_ADDRESS: (2, 2),
    _SET_LORA_SYMB_NUM_TIMEOUT: (1, 1),
    _CLEAR_DEVICE_ERRORS: (2, 2),
    _RESET_STATS: (6, 6),
    _WRITE_REGISTER: (3, 258),  # address, then data
    _WRITE_BUFFER: (1, 257),  # offset, then data
}
# Get commands: opcode, then the status, then this many bytes of data.
_GETS = {
    _GET_STATUS: 0,
    _GET_IRQ_STATUS: 2,
    _GET_RX_BUFFER_STATUS: 2,
    _GET_PACKET_STATUS: 3,
    _GET_DEVICE_ERRORS: 2,
    _GET_RSSI_INST: 1,
    _GET_STATS: 6,
    _GET_PACKET_TYPE: 1,
}

# Chip modes, as in the status byte (DS 13.5.1); sleep has no status.
MODE_SLEEP = 0
MODE_STDBY_RC = 2
MODE_STDBY_XOSC = 3
MODE_FS = 4
MODE_RX = 5
MODE_TX = 6

# Command status (DS 13.5.1, bits 3:1 of the status byte).
_CMD_OK = 0
_CMD_DATA_AVAILABLE = 2
_CMD_PROCESSING_ERROR = 4
_CMD_EXEC_FAILURE = 5
_CMD_TX_DONE = 6

# IRQ flags (DS table 13-29).
IRQ_TX_DONE = 1 << 0
IRQ_RX_DONE = 1 << 1
IRQ_PREAMBLE_DETECTED = 1 << 2
IRQ_HEADER_VALID = 1 << 4
IRQ_HEADER_ERR = 1 << 5
IRQ_CRC_ERR = 1 << 6
IRQ_TIMEOUT = 1 << 9

# OpError bits (DS table 13-85).
ERR_XOSC_START = 1 << 5

# Registers (DS table 12-1) with their reset values.
REG_SYNC_WORD_MSB = 0x0740
REG_SYNC_WORD_LSB = 0x0741
REG_IQ_POLARITY = 0x0736  # DS 15.4: bit 2 cleared for inverted IQ, set for standard
REG_OCP = 0x08E7
_RESET_REGISTERS = {
    0x06B8: 0x01,  # whitening (FSK)
    REG_IQ_POLARITY: 0x0D,
    REG_SYNC_WORD_MSB: 0x14,  # 0x1424: the private network sync word, SX127x's 0x12
    REG_SYNC_WORD_LSB: 0x24,
    0x0889: 0x04,  # TX modulation (DS 15.1)
    0x08AC: 0x94,  # RX gain: power saving (DS 9.6)
    0x08D8: 0xC8,  # TX clamp config (DS 15.2)
    REG_OCP: 0x18,  # 60 mA until SetPaConfig
    0x0911: 0x05,  # XTA trim
    0x0912: 0x05,  # XTB trim
}

_PACKET_TYPE_LORA = 1

# LoRa bandwidth codes (DS 13.4.5.2): 500 kHz / d, as in firmware/airtime.py.
_BW_DIVISOR = {
    0x06: 1,
    0x05: 2,
    0x04: 4,
    0x03: 8,
    0x0A: 12,
    0x02: 16,
    0x09: 24,
    0x01: 32,
    0x08: 48,
    0x00: 64,
}

# Standby with the 13 MHz RC oscillator, the crystal (or TCXO), and the
# fallback modes' codes (DS 13.1.2, 13.1.11).
_STDBY_RC = 0
_FALLBACK = {0x20: MODE_STDBY_RC, 0x30: MODE_STDBY_XOSC, 0x40: MODE_FS}

# BUSY times in µs, round figures from the datasheet: a command's own
# processing (DS 8.3.1 gives a few µs; mode changes take the longest,
# table 8-2), wake-up from sleep (warm and cold start, table 3-6), power-on
# reset with its calibration, and a full Calibrate (DS 13.1.12).
_BUSY_COMMAND_US = 5
_BUSY_MODE_US = 100
_BUSY_WARM_WAKE_US = 340
_BUSY_COLD_WAKE_US = 3500
_BUSY_RESET_US = 3500
_BUSY_CALIBRATE_US = 3500

_STEP_NUM = 15625  # timeouts and delays count 15.625 µs steps: 15625 / 1000 µs
_NOISE_FIGURE_DB = 6  # for GetRssiInst's floor: -174 dBm/Hz + 10 log10(BW) + NF

# PA optimal settings (DS table 13-21): (paDutyCycle, hpMax, deviceSel) ->
# (power argument they are specified with, output in dBm).
_PA_TABLE = {
    (0x04, 0x07, 0): (22, 22),
    (0x03, 0x05, 0): (22, 20),
    (0x02, 0x03, 0): (22, 17),
    (0x02, 0x02, 0): (22, 14),
    (0x06, 0x00, 1): (14, 15),
    (0x04, 0x00, 1): (14, 14),
    (0x01, 0x00, 1): (13, 10),
}


def _signed8(b: int) -> int:
    return b - 256 if b & 0x80 else b


def _byte(x: float, lo: int, hi: int) -> int:
    """x rounded half up, clamped to lo..hi, as one register byte."""
    n: int = math.floor(x + 0.5)
    return min(max(n, lo), hi) & 0xFF


def _now() -> int:
    t: int = time.ticks_us()  # type: ignore[assignment]  # ticks kept as int
    return t


def _after(t: int, deadline: int) -> bool:
    """True when ticks t is at or past deadline (ticks wrap)."""
    d: int = time.ticks_diff(t, deadline)
    return d >= 0


def _add(t: int, us: int) -> int:
    return int(time.ticks_add(t, us))  # type: ignore[type-var]  # ticks kept as int


class SX126x:
    """One SX1261 or SX1262 (variant "sx1261" or "sx1262") on an Antenna.

    tcxo: the board clocks the chip from a TCXO powered through DIO3 (the
    Heltec V3 does); False for a crystal.
    """

    def __init__(self, antenna: "Any", variant: str = "sx1262", *, tcxo: bool = False) -> None:
        if variant not in ("sx1261", "sx1262"):
            raise ValueError("SX126x variant %r: expected sx1261 or sx1262" % variant)
        self.antenna = antenna
        self.variant = variant
        self.tcxo = tcxo
        self.buffer = bytearray(256)
        self.ignored = 0  # commands sent while BUSY was high (not executed)
        self.counts: dict[int, int] = {}  # opcode: how many times it was executed
        self.rejected: list[int] = []  # opcodes answered "command processing error"
        self.warnings: list[str] = []  # datasheet advice a driver did not follow
        self._handlers: dict[str, list[Callable[[str], None]]] = {}
        self._levels = {"dio1": 0, "dio2": 0, "dio3": 0, "busy": 0}
        self._selected = False
        self._skip = False  # this transaction is not being executed (BUSY, waking)
        self._command = bytearray()
        self._reply = b""
        self._firing = False
        self._power_on()

    # -- the contract: the pins and the bus ------------------------------

    def select(self, low: bool) -> None:
        """NSS: True when pulled low (a transaction starts), False when released."""
        now = _now()
        self._advance(now)
        if low and not self._selected:
            self._selected = True
            self._command = bytearray()
            self._reply = b""
            if self.mode == MODE_SLEEP:
                self._wake(now)  # DS 13.1.1: the falling edge of NSS wakes the chip
                self._skip = True
            elif self._busy(now):
                self.ignored += 1
                self._skip = True
            else:
                self._skip = False
        elif not low and self._selected:
            self._selected = False
            if not self._skip and self._command:
                self._execute(bytes(self._command), now)
        self._edges(now)

    def transfer(self, out: "bytes | bytearray | memoryview") -> bytes:
        """Bytes clocked while selected; returns what MISO carried."""
        now = _now()
        self._advance(now)
        miso = bytearray(len(out))
        if self._selected and not self._skip:
            status = self._status()
            for i in range(len(out)):
                n = len(self._command)
                self._command.append(out[i])
                miso[i] = self._miso(n, status)
        self._edges(now)
        return bytes(miso)

    def level(self, pin: str) -> int:
        """The output level of "dio0" (none on this chip), "dio1", "dio2",
        "dio3" or "busy" now."""
        now = _now()
        self._advance(now)
        self._edges(now)
        return self._level(pin, now)

    def reset(self) -> None:
        """NRESET pulsed: everything to its reset value, BUSY high while the
        chip starts up and calibrates."""
        now = _now()
        self.antenna.listen(None)
        self._power_on()
        self._edges(now)

    def on_rise(self, pin: str, handler: "Callable[[str], None]") -> None:
        """handler(pin) on each rising edge of pin (Pin.irq(trigger=IRQ_RISING))."""
        self._handlers.setdefault(pin, []).append(handler)

    # -- state --------------------------------------------------------------

    def _power_on(self) -> None:
        now = _now()
        self.mode = MODE_STDBY_RC
        self.registers = dict(_RESET_REGISTERS)
        self._busy_until = _add(now, _BUSY_RESET_US)
        self._reset_config()
        self.errors = ERR_XOSC_START if self.tcxo else 0
        self.buffer[:] = bytes(256)
        self._selected = False
        self._sleep_config = 0

    def _reset_config(self) -> None:
        """What a cold start loses (DS 13.1.1)."""
        self.packet_type = 0  # GFSK
        self.rf_freq = 0
        self.mod_params = bytes((7, 0x04, 1, 0))  # SF7, 125 kHz, 4/5, no LDRO
        # Preamble 8, explicit header, 255 bytes, CRC on, standard IQ.
        self.packet_params = bytes((0, 8, 0, 0xFF, 1, 0))
        self.tx_base = 0
        self.rx_base = 0
        self.rx_pointer = 0
        self.rx_start = 0
        self.rx_length = 0
        self.irq = 0
        self.irq_mask = 0
        self.dio_masks = [0, 0, 0]
        self.dio2_rf_switch = False
        self.tcxo_delay_us = -1  # -1: DIO3 does not power a TCXO
        self.xosc_on = False
        self.pa_config = bytes(
            (0x04, 0x07, 0, 1) if self.variant == "sx1262" else (0x04, 0x00, 1, 1)
        )
        self.tx_power = 14
        self.fallback = MODE_STDBY_RC
        self.stop_timer_on_preamble = False
        self.regulator = 0  # LDO
        self.stats = [0, 0, 0]  # packets received, CRC errors, header errors
        self.packet_status = bytes(3)
        self._cmd_status = _CMD_OK
        self._tx_end = 0
        self._tx_timeout_end: int | None = None
        self._rx_single = False
        self._rx_deadline: int | None = None
        self._rx_mod: tuple[Any, ...] | None = None

    def _busy(self, now: int) -> bool:
        return self.mode == MODE_SLEEP or not _after(now, self._busy_until)

    def _hold_busy(self, now: int, us: int) -> None:
        until = _add(now, us)
        if not self._busy(now) or time.ticks_diff(until, self._busy_until) > 0:
            self._busy_until = until

    def _status(self) -> int:
        return (self.mode << 4) | (self._cmd_status << 1)

    def _level(self, pin: str, now: int) -> int:
        if pin == "busy":
            return 1 if self._busy(now) else 0
        if pin == "dio1":
            return 1 if self.irq & self.dio_masks[0] else 0
        if pin == "dio2":
            if self.dio2_rf_switch:
                return 1 if self.mode == MODE_TX else 0
            return 1 if self.irq & self.dio_masks[1] else 0
        if pin == "dio3":
            if self.tcxo_delay_us >= 0:
                return 1 if self.xosc_on else 0
            return 1 if self.irq & self.dio_masks[2] else 0
        if pin == "dio0":
            return 0  # the SX126x has no DIO0
        raise ValueError("SX126x has no pin %r" % pin)

    def _edges(self, now: int) -> None:
        """Call on_rise handlers for the pins that went high."""
        if self._firing:
            return
        self._firing = True
        try:
            for pin in self._levels:
                level = self._level(pin, now)
                if level and not self._levels[pin]:
                    for handler in self._handlers.get(pin, ()):
                        handler(pin)
                self._levels[pin] = level
        finally:
            self._firing = False

    def _flag(self, bits: int) -> None:
        """Raise IRQ flags: only those IrqMask enables are set (DS 13.3.1)."""
        self.irq |= bits & self.irq_mask

    # -- sleep, standby, oscillator -----------------------------------------

    def _wake(self, now: int) -> None:
        warm = bool(self._sleep_config & 0x04)
        if not warm:
            self._reset_config()
            self.buffer[:] = bytes(256)
        self.mode = MODE_STDBY_RC
        self._busy_until = _add(now, _BUSY_WARM_WAKE_US if warm else _BUSY_COLD_WAKE_US)
        if self.tcxo:
            self.errors |= ERR_XOSC_START  # DS 13.3.6: raised again at wake-up

    def _start_xosc(self, now: int) -> bool:
        """The crystal or TCXO running, for STDBY_XOSC, FS, TX and RX; False
        when it cannot start (a TCXO that DIO3 does not power)."""
        if self.xosc_on:
            return True
        if self.tcxo and self.tcxo_delay_us < 0:
            self.errors |= ERR_XOSC_START
            return False
        self.xosc_on = True
        if self.tcxo_delay_us > 0:
            self._hold_busy(now, self.tcxo_delay_us)
        return True

    def _enter(self, mode: int, now: int) -> None:
        """Leave whatever the chip was doing for mode (standby or FS)."""
        if self.mode == MODE_RX:
            self.antenna.listen(None)
        self.mode = mode
        if mode == MODE_STDBY_RC:
            self.xosc_on = False

    # -- the clock: TX ends, packets arrive, RX times out -------------------

    def _advance(self, now: int) -> None:
        if self.mode == MODE_TX:
            if self._tx_timeout_end is not None and _after(now, self._tx_timeout_end):
                self._flag(IRQ_TIMEOUT)
                self._enter(self.fallback, now)
            elif _after(now, self._tx_end):
                self._flag(IRQ_TX_DONE)
                self._cmd_status = _CMD_TX_DONE
                self._enter(self.fallback, now)
        elif self.mode == MODE_RX:
            while self.mode == MODE_RX:
                heard = self.antenna.poll()
                if heard is None:
                    break
                if not self._header_in_time(heard, now):
                    break  # it came too late: the timeout below ends the receive
                self._receive(heard)
            if (
                self.mode == MODE_RX
                and self._rx_deadline is not None
                and _after(now, self._rx_deadline)
            ):
                self._flag(IRQ_TIMEOUT)
                self._enter(self.fallback, now)

    def _header_in_time(self, heard: "Any", now: int) -> bool:
        """Whether a packet that ends now had its header before the RX
        timeout, which then stopped the timer (DS 13.1.4, 13.1.8)."""
        deadline = self._rx_deadline
        if deadline is None or self.stop_timer_on_preamble:
            return True
        t_sym = self.symbol_us()
        # The header is in the first 8 symbols after the preamble (DS 6.1.4).
        header_x4 = 4 * (self.preamble() + 8) + (25 if self.mod_params[0] < 7 else 17)
        start = _add(now, -(self.symbols_x4(len(heard.payload)) * t_sym // 4))
        return not _after(_add(start, header_x4 * t_sym // 4), _add(deadline, 1))

    def symbol_us(self) -> int:
        """2^SF / BW in µs: exact, every bandwidth is 500 kHz / d."""
        return (1 << (self.mod_params[0] + 1)) * _BW_DIVISOR.get(self.mod_params[1], 4)

    def preamble(self) -> int:
        return self.packet_params[0] << 8 | self.packet_params[1]

    def symbols_x4(self, n: int) -> int:
        """Four times the symbols of an n-byte packet at the current settings,
        from DS 6.1.4, whose SF5 and SF6 differ from the SX127x's: 6.25
        symbols after the preamble instead of 4.25, and no 8 extra bits."""
        sf, cr_code, ldro = self.mod_params[0], self.mod_params[2], self.mod_params[3] & 1
        implicit = self.packet_params[2] == 1
        crc = self.packet_params[4] == 1
        bits = 8 * n + (16 if crc else 0) - 4 * sf + (0 if implicit else 20)
        if sf >= 7:
            bits += 8
        per_symbol = 4 * (sf - 2 * ldro)
        blocks = max(-(-bits // per_symbol), 0)
        cr = 4 + (cr_code if 1 <= cr_code <= 4 else 1)
        return 4 * (self.preamble() + 8 + blocks * cr) + (25 if sf < 7 else 17)

    def _receive(self, heard: "Any") -> None:
        """One packet the Antenna heard: into the buffer, flags and status."""
        self._flag(IRQ_PREAMBLE_DETECTED)
        implicit = self.packet_params[2] == 1
        if not implicit and not heard.header_ok:
            self._flag(IRQ_HEADER_ERR)
            self.stats[2] += 1
            return  # no payload; the receive goes on (the driver restarts it)
        if not implicit:
            self._flag(IRQ_HEADER_VALID)
        payload = bytes(heard.payload)
        if implicit:
            n = self.packet_params[3]
            payload = (payload + bytes(n))[:n]
        start = self.rx_pointer
        for i in range(len(payload)):
            self.buffer[(start + i) & 0xFF] = payload[i]
        self.rx_start = start
        self.rx_length = len(payload)
        self.rx_pointer = (start + len(payload)) & 0xFF
        self.stats[0] += 1
        flags = IRQ_RX_DONE
        if not heard.crc_ok:
            flags |= IRQ_CRC_ERR
            self.stats[1] += 1
        signal = float(heard.rssi_dbm)
        snr = float(heard.snr_db)
        noise = signal - snr
        channel = 10 * math.log10(10 ** (signal / 10) + 10 ** (noise / 10))
        self.packet_status = bytes(
            (_byte(-2 * channel, 0, 255), _byte(4 * snr, -128, 127), _byte(-2 * signal, 0, 255))
        )
        self._flag(flags)
        self._cmd_status = _CMD_DATA_AVAILABLE
        if self._rx_single:
            self._enter(self.fallback, _now())

    # -- commands -----------------------------------------------------------

    def _miso(self, n: int, status: int) -> int:
        """MISO for the n-th byte of the transaction (0: the opcode)."""
        op = self._command[0]
        if n == 0:
            if op in _GETS:
                self._reply = bytes((status,)) + self._get(op)
            return status
        if op in _GETS:
            return self._reply[n - 1] if n - 1 < len(self._reply) else 0
        if op == _READ_BUFFER and n >= 3:
            return self.buffer[(self._command[1] + n - 3) & 0xFF]
        if op == _READ_REGISTER and n >= 4:
            return self._register((self._command[1] << 8 | self._command[2]) + n - 4)
        return status

    def _get(self, op: int) -> bytes:
        if op in (_GET_IRQ_STATUS, _GET_DEVICE_ERRORS):
            v = self.irq if op == _GET_IRQ_STATUS else self.errors
            return bytes((v >> 8, v & 0xFF))
        if op == _GET_RX_BUFFER_STATUS:
            return bytes((self.rx_length, self.rx_start))
        if op == _GET_PACKET_STATUS:
            return self.packet_status
        if op == _GET_RSSI_INST:
            d = _BW_DIVISOR.get(self.mod_params[1], 4)
            floor = -174 + 10 * math.log10(500_000 / d) + _NOISE_FIGURE_DB
            return bytes((_byte(-2 * floor, 0, 255),))
        if op == _GET_STATS:
            s = self.stats
            return bytes((s[0] >> 8, s[0] & 0xFF, s[1] >> 8, s[1] & 0xFF, s[2] >> 8, s[2] & 0xFF))
        if op == _GET_PACKET_TYPE:
            return bytes((self.packet_type,))
        return b""  # GetStatus: the status byte only

    def _register(self, addr: int) -> int:
        return self.registers.get(addr & 0xFFFF, 0)

    def _execute(self, cmd: bytes, now: int) -> None:
        op = cmd[0]
        args = cmd[1:]
        if op in _GETS or op in (_READ_REGISTER, _READ_BUFFER):
            self.counts[op] = self.counts.get(op, 0) + 1
            self._cmd_status = _CMD_OK
            self._hold_busy(now, _BUSY_COMMAND_US)
            return
        span = _PARAMS.get(op)
        if span is None or not span[0] <= len(args) <= span[1]:
            self.rejected.append(op)
            self._cmd_status = _CMD_PROCESSING_ERROR
            self._hold_busy(now, _BUSY_COMMAND_US)
            return
        self.counts[op] = self.counts.get(op, 0) + 1
        self._cmd_status = _CMD_OK
        self._hold_busy(now, _BUSY_COMMAND_US)
        if op == _WRITE_BUFFER:
            for i in range(1, len(args)):
                self.buffer[(args[0] + i - 1) & 0xFF] = args[i]
        elif op == _WRITE_REGISTER:
            addr = args[0] << 8 | args[1]
            for i in range(2, len(args)):
                self.registers[(addr + i - 2) & 0xFFFF] = args[i]
        elif op == _CLEAR_IRQ_STATUS:
            self.irq &= ~(args[0] << 8 | args[1])
        elif op == _SET_DIO_IRQ_PARAMS:
            self.irq_mask = args[0] << 8 | args[1]
            self.dio_masks = [
                args[2] << 8 | args[3],
                args[4] << 8 | args[5],
                args[6] << 8 | args[7],
            ]
        elif op == _SET_BUFFER_BASE_ADDRESS:
            self.tx_base, self.rx_base = args[0], args[1]
            self.rx_pointer = self.rx_base
        elif op == _SET_PACKET_TYPE:
            self.packet_type = args[0]
        elif op == _SET_RF_FREQUENCY:
            self.rf_freq = args[0] << 24 | args[1] << 16 | args[2] << 8 | args[3]
        elif op == _SET_MODULATION_PARAMS:
            self.mod_params = bytes(args[:4])
        elif op == _SET_PACKET_PARAMS:
            self.packet_params = bytes(args[:6])
        elif op == _SET_TX_PARAMS:
            self.tx_power = _signed8(args[0])
        elif op == _SET_PA_CONFIG:
            self.pa_config = bytes(args)
            # DS 13.1.14: the OCP follows the PA, 140 mA (HP) or 60 mA (LP), 2.5 mA steps.
            self.registers[REG_OCP] = 0x38 if args[2] == 0 else 0x18
        elif op == _SET_DIO2_AS_RF_SWITCH_CTRL:
            self.dio2_rf_switch = bool(args[0] & 1)
        elif op == _SET_DIO3_AS_TCXO_CTRL:
            delay = args[1] << 16 | args[2] << 8 | args[3]
            self.tcxo_delay_us = delay * _STEP_NUM // 1000
        elif op == _CLEAR_DEVICE_ERRORS:
            self.errors = 0
        elif op == _RESET_STATS:
            self.stats = [0, 0, 0]
        elif op == _SET_RX_TX_FALLBACK_MODE:
            self.fallback = _FALLBACK.get(args[0], MODE_STDBY_RC)
        elif op == _STOP_TIMER_ON_PREAMBLE:
            self.stop_timer_on_preamble = bool(args[0])
        elif op == _SET_REGULATOR_MODE:
            self.regulator = args[0] & 1
        elif op == _SET_LORA_SYMB_NUM_TIMEOUT:
            pass  # RX symbol timeouts are not modelled
        elif op in (_CALIBRATE, _CALIBRATE_IMAGE):
            self._hold_busy(now, _BUSY_CALIBRATE_US)
        elif op == _SET_SLEEP:
            self._enter(MODE_STDBY_RC, now)
            self._sleep_config = args[0]
            self.mode = MODE_SLEEP
        elif op == _SET_STANDBY:
            self._enter(MODE_STDBY_RC, now)
            if args[0] != _STDBY_RC:
                self._set_mode(MODE_STDBY_XOSC, now)
        elif op == _SET_FS:
            self._set_mode(MODE_FS, now)
        elif op == _SET_TX:
            self._set_tx(args[0] << 16 | args[1] << 8 | args[2], now)
        elif op == _SET_RX:
            self._set_rx(args[0] << 16 | args[1] << 8 | args[2], now)

    def _set_mode(self, mode: int, now: int) -> bool:
        """Standby XOSC or FS, or the start of TX and RX; False on failure."""
        if not self._start_xosc(now):
            self._cmd_status = _CMD_EXEC_FAILURE
            self._enter(MODE_STDBY_RC, now)
            return False
        self._enter(mode, now)
        self._hold_busy(now, _BUSY_MODE_US)
        return True

    def _lora(self) -> bool:
        if self.packet_type != _PACKET_TYPE_LORA:
            self._cmd_status = _CMD_EXEC_FAILURE  # FSK is not modelled
            return False
        return True

    def _set_tx(self, timeout: int, now: int) -> None:
        if not self._lora() or not self._set_mode(MODE_FS, now):
            return
        self._check_iq()
        n = self.packet_params[3]
        payload = bytes(self.buffer[(self.tx_base + i) & 0xFF] for i in range(n))
        toa = int(self.antenna.transmit(self.modulation(), payload, self.output_dbm()))
        self.mode = MODE_TX
        self._tx_end = _add(now, toa)
        self._tx_timeout_end = _add(now, timeout * _STEP_NUM // 1000) if timeout else None

    def _set_rx(self, timeout: int, now: int) -> None:
        if not self._lora() or not self._set_mode(MODE_FS, now):
            return
        self._check_iq()
        self._rx_single = timeout != 0xFFFFFF
        if self._rx_single:
            self.rx_pointer = self.rx_base
        self._rx_deadline = (
            _add(now, timeout * _STEP_NUM // 1000) if timeout not in (0, 0xFFFFFF) else None
        )
        self.mode = MODE_RX
        self.antenna.listen(self.modulation())

    def _check_iq(self) -> None:
        inverted = self.packet_params[5] == 1
        bit2 = bool(self._register(REG_IQ_POLARITY) & 0x04)
        if inverted == bit2:
            warning = "DS 15.4: register 0x0736 bit 2 is %d with %s IQ (should be %d)" % (
                bit2,
                "inverted" if inverted else "standard",
                not inverted,
            )
            if warning not in self.warnings:
                self.warnings.append(warning)

    # -- what goes on air ---------------------------------------------------

    def modulation(self) -> "tuple[Any, ...]":
        """The Antenna's mod tuple for the current settings (sim/ether.py):
        (freq_hz, sf, bw_hz, cr 5..8, sync_word, implicit_header, invert_iq,
        crc_on, preamble_symbols, payload_len_if_implicit).

        freq_hz is the synthesizer's, RfFreq * 32 MHz / 2^25, to the nearest
        Hz; bw_hz is 500 kHz / d rounded down (7812 for "7.8"). sync_word is
        the one-byte SX127x form 0xYZ when the registers hold 0xY4Z4 (DS
        6.1.1.2: 0x1424 is SX127x's 0x12, 0x3444 its 0x34), else the 16-bit
        value, which no SX127x can match.
        """
        sf, bw_code, cr_code = self.mod_params[0], self.mod_params[1], self.mod_params[2]
        d = _BW_DIVISOR.get(bw_code, 4)
        freq = (self.rf_freq * 32_000_000 + (1 << 24)) >> 25
        sync = self._register(REG_SYNC_WORD_MSB) << 8 | self._register(REG_SYNC_WORD_LSB)
        if sync & 0x0F0F == 0x0404:
            sync = (sync >> 8) & 0xF0 | (sync >> 4) & 0x0F
        pp = self.packet_params
        implicit = pp[2] == 1
        return (
            freq,
            sf,
            500_000 // d,
            4 + (cr_code if 1 <= cr_code <= 4 else 1),
            sync,
            implicit,
            pp[5] == 1,
            pp[4] == 1,
            pp[0] << 8 | pp[1],
            pp[3] if implicit else 0,
        )

    def output_dbm(self) -> int:
        """Output power from SetPaConfig and SetTxParams (DS 13.1.14)."""
        pd, hp, sel = self.pa_config[0], self.pa_config[1], self.pa_config[2]
        if self.variant == "sx1261" or sel == 1:
            lo, hi = -17, 15
        else:
            lo, hi = -9, 22
        row = _PA_TABLE.get((pd, hp, sel))
        power = self.tx_power
        if row is not None:
            power = row[1] + power - row[0]
        return min(max(power, lo), hi)

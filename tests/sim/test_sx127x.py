"""The SX1276 register model (sim/sx127x.py): at its registers on CPython, and
under micropython-lib's real lora-sx127x driver on the MicroPython unix port
(mp_sx127x.py), two radios passing packets through a LoopbackAntenna.
"""

import time
from collections.abc import Callable
from typing import Any

import pytest

from meteolink.firmware import airtime
from sim.ether import Heard, LoopbackAntenna, mod
from sim.sx127x import (
    PAYLOAD_CRC_ERROR,
    RX_DONE,
    RX_TIMEOUT,
    TX_DONE,
    VALID_HEADER,
    SX127x,
)
from tests.support.micropython import named
from tests.support.tools import ROOT

SCRIPT = ROOT / "tests" / "sim" / "mp_sx127x.py"

# --- at the registers (CPython) ----------------------------------------------------------


class Spi:
    """The host's side of the chip's SPI: one transaction per call."""

    def __init__(self, chip: SX127x) -> None:
        self.chip = chip

    def write(self, addr: int, *data: int) -> None:
        self.chip.select(True)
        self.chip.transfer(bytes([addr | 0x80, *data]))
        self.chip.select(False)

    def read(self, addr: int, n: int = 1) -> bytes:
        self.chip.select(True)
        got: bytes = self.chip.transfer(bytes([addr] + [0] * n))
        self.chip.select(False)
        return got[1:]

    def reg(self, addr: int) -> int:
        return self.read(addr)[0]

    def lora(self, mode: int = 1) -> None:
        """Into LoRa mode, as the datasheet says: Sleep first, then LongRangeMode."""
        self.write(0x01, 0x00)
        self.write(0x01, 0x80)
        self.write(0x01, 0x80 | mode)


def chip(antenna: Any = None) -> tuple[SX127x, Spi]:
    c = SX127x(antenna or LoopbackAntenna())
    return c, Spi(c)


def test_reset_values_and_version() -> None:
    _c, spi = chip()
    assert spi.reg(0x42) == 0x12
    assert spi.reg(0x01) == 0x09  # FSK/OOK, LowFrequencyModeOn, Stdby
    spi.write(0x42, 0x55)
    assert spi.reg(0x42) == 0x12, "RegVersion is read-only"
    spi.lora()
    assert [spi.reg(a) for a in (0x0E, 0x0F, 0x1D, 0x1E, 0x21, 0x23, 0x33, 0x39)] == [
        0x80,
        0x00,
        0x72,
        0x70,
        0x08,
        0xFF,
        0x27,
        0x12,
    ]
    assert spi.read(0x06, 3) == bytes([0x6C, 0x80, 0x00]), "434 MHz"


def test_long_range_mode_changes_only_in_sleep() -> None:
    _c, spi = chip()
    spi.write(0x01, 0x81)  # from Stdby: the mode changes, LongRangeMode does not
    assert spi.reg(0x01) == 0x01
    spi.write(0x01, 0x80)  # Sleep, still FSK: LongRangeMode was written in Stdby
    assert spi.reg(0x01) == 0x00
    spi.write(0x01, 0x81)  # in Sleep now: LoRa, Stdby
    assert spi.reg(0x01) == 0x81
    spi.write(0x01, 0x01)  # back to FSK from Stdby: ignored
    assert spi.reg(0x01) == 0x81


def test_burst_access_and_the_fifo_pointer() -> None:
    c, spi = chip()
    spi.lora()
    spi.write(0x06, 0xD9, 0x06, 0x66)  # burst: RegFrfMsb, Mid, Lsb
    assert spi.read(0x06, 3) == bytes([0xD9, 0x06, 0x66])
    assert c.frequency_hz() == 868_099_976, "the synthesiser's 61 Hz steps"
    spi.write(0x0D, 0xFE)
    spi.write(0x00, 1, 2, 3, 4)  # the FIFO address stays: each byte the next one
    assert spi.reg(0x0D) == 0x02, "RegFifoAddrPtr went up by one a byte, wrapping"
    assert bytes(c.fifo[0xFE:]) + bytes(c.fifo[:2]) == bytes([1, 2, 3, 4])
    spi.write(0x0D, 0xFE)
    assert spi.read(0x00, 4) == bytes([1, 2, 3, 4])
    assert spi.reg(0x0D) == 0x02
    spi.write(0x01, 0x80)  # Sleep: the LoRa FIFO cannot be reached
    spi.write(0x0D, 0xFE)
    spi.write(0x00, 9)
    assert c.fifo[0xFE] == 1 and spi.reg(0x0D) == 0xFE
    assert spi.read(0x00, 1) == b"\x00" and spi.reg(0x0D) == 0xFE
    c.select(False)
    assert c.transfer(b"\x42\x00") == b"\xff\xff", "not selected: the chip does not answer"


def test_tx_and_irq_flags_cleared_by_writing_one() -> None:
    air = LoopbackAntenna()
    rx = LoopbackAntenna(air)
    m = mod(sf=7, bw_hz=125_000, crc_on=True, preamble=8)
    rx.listen(m)
    c, spi = chip(air)
    spi.lora()
    spi.write(0x06, 0xD9, 0x06, 0x66)
    spi.write(0x1E, 0x74)  # SF7, CRC on
    spi.write(0x40, 0x40)  # DIO0: TxDone
    rises: list[str] = []
    c.on_rise("dio0", rises.append)
    spi.write(0x0E, 0x80)
    spi.write(0x0D, 0x80)
    spi.write(0x00, *b"hello")
    spi.write(0x22, 5)
    spi.write(0x01, 0x83)  # Tx
    assert c.sent == [b"hello"]
    assert c.airtime_us == airtime.time_on_air_us(5, 7, 125, 5, 8, True, True)
    assert spi.reg(0x01) & 0x07 == 3 and c.level("dio0") == 0
    time.sleep(c.airtime_us / 1e6 + 0.005)
    assert spi.reg(0x12) == TX_DONE, "TxDone after the time on air"
    assert spi.reg(0x01) == 0x81, "and back to Stdby"
    assert c.level("dio0") == 1 and rises == ["dio0"]
    heard = rx.poll()
    assert heard is not None and heard.payload == b"hello"
    spi.write(0x12, 0x00)
    assert spi.reg(0x12) == TX_DONE, "writing 0 leaves a flag"
    spi.write(0x12, TX_DONE)
    assert spi.reg(0x12) == 0 and c.level("dio0") == 0


def test_power_from_pa_config() -> None:
    c, spi = chip()
    spi.lora()
    for pa, dac, dbm in (
        (0x8C, 0x84, 14),  # PA_BOOST, OutputPower 12: 2 + 12
        (0x8F, 0x87, 20),  # the +20 dBm setting
        (0x7F, 0x84, 15),  # RFO, MaxPower 7: 10.8 + 4.2 - 0
        (0x00, 0x84, -4),  # RFO, MaxPower 0, OutputPower 0: 10.8 - 15
    ):
        spi.write(0x09, pa)
        spi.write(0x4D, dac)
        assert c.power_dbm() == dbm


def receiver(heard: dict[str, Any], rx_mode: int = 0x85) -> tuple[SX127x, Spi, LoopbackAntenna]:
    """A chip receiving (RxContinuous) at 868.1 MHz, SF7; its antenna hears `heard` next."""
    ant = LoopbackAntenna()
    c, spi = chip(ant)
    spi.lora()
    spi.write(0x06, 0xD9, 0x06, 0x66)
    spi.write(0x1E, 0x74)
    spi.write(0x01, rx_mode)
    ant.next_packet(**heard)
    return c, spi, ant


def test_packet_rssi_and_snr_registers() -> None:
    for rssi, snr, snr_reg, rssi_reg in (
        (-60.0, 9.5, 38, 97),  # -157 + 97 = -60
        (-110.0, -5.25, 0x100 - 21, 52),  # -157 + 52 + (-21 / 4) = -110.25
    ):
        _c, spi, air = receiver({"rssi_dbm": rssi, "snr_db": snr})
        air.inject(b"x" * 10, mod(sf=7, preamble=8), toa_us=0)
        assert spi.reg(0x12) == RX_DONE | VALID_HEADER
        assert (spi.reg(0x19), spi.reg(0x1A)) == (snr_reg, rssi_reg)


def test_rx_single_times_out_and_goes_to_standby() -> None:
    c, spi, _air = receiver({}, rx_mode=0x80)
    spi.write(0x1E, 0x74)
    spi.write(0x1F, 10)  # 10 symbols of 1.024 ms
    spi.write(0x40, 0x00)  # DIO1: RxTimeout
    spi.write(0x01, 0x86)
    assert spi.reg(0x01) == 0x86
    time.sleep(0.012)
    assert spi.reg(0x12) == RX_TIMEOUT and spi.reg(0x01) == 0x81
    assert c.level("dio1") == 1


def test_a_bad_crc_is_written_and_flagged() -> None:
    _c, spi, air = receiver({"crc_ok": False})
    air.inject(b"abcdef", mod(sf=7, preamble=8), toa_us=0)
    assert spi.reg(0x12) == RX_DONE | VALID_HEADER | PAYLOAD_CRC_ERROR
    assert (spi.reg(0x10), spi.reg(0x13), spi.reg(0x25)) == (0, 6, 5)
    assert spi.reg(0x16) << 8 | spi.reg(0x17) == 0, "not a valid packet"
    assert spi.reg(0x14) << 8 | spi.reg(0x15) == 1, "but a valid header"


def test_continuous_receive_writes_each_packet_after_the_last() -> None:
    _c, spi, air = receiver({})
    m = mod(sf=7, preamble=8)
    starts = []
    for n in (100, 100, 100):
        air.inject(bytes([n & 0xFF]) * n, m, toa_us=0)
        assert spi.reg(0x12) & RX_DONE
        spi.write(0x12, 0xFF)
        starts.append(spi.reg(0x10))
    assert starts == [0, 100, 200], "RegFifoRxCurrentAddr: one after the other"
    assert spi.reg(0x25) == (300 - 1) % 256, "wrapping at 256"
    assert spi.reg(0x0D) == 0, "RegFifoAddrPtr is the host's: the receiver leaves it"
    assert spi.reg(0x01) == 0x85, "still receiving"


class LateAntenna:
    """An antenna whose word of a packet comes late, as the hub's does (after the packet's
    end and a grace); the test queues what poll() returns."""

    def __init__(self) -> None:
        self.queue: list[Heard] = []
        self.listening: list[Any] = []

    def listen(self, m: Any) -> None:
        self.listening.append(m)

    def transmit(self, m: Any, payload: bytes, power_dbm: int) -> int:
        return 1000

    def poll(self) -> Heard | None:
        return self.queue.pop(0) if self.queue else None


def test_word_of_a_packet_from_before_the_receive_is_not_heard() -> None:
    ant = LateAntenna()
    _c, spi = chip(ant)
    spi.lora()
    before = time.monotonic_ns() // 1000
    time.sleep(0.002)
    spi.write(0x01, 0x85)  # RxContinuous
    assert ant.listening[-1] is not None
    ant.queue.append(Heard(b"old", -60.0, 9.5, True, True, before))
    assert spi.reg(0x12) == 0, "it ended before the chip listened: another receive's"
    ant.queue.append(Heard(b"new", -60.0, 9.5, True, True, time.monotonic_ns() // 1000))
    ant.queue.append(Heard(b"unknown end", -60.0, 9.5))
    assert spi.reg(0x12) == RX_DONE | VALID_HEADER
    assert spi.reg(0x13) == len(b"unknown end") and spi.reg(0x10) == 3
    ant.queue.append(Heard(b"after", -60.0, 9.5))
    spi.write(0x01, 0x81)  # Stdby: what the antenna still holds is not heard
    assert ant.listening[-1] is None and ant.queue == []


def test_a_masked_interrupt_is_not_raised() -> None:
    c, spi, air = receiver({})
    spi.write(0x11, RX_DONE | VALID_HEADER)
    air.inject(b"abc", mod(sf=7, preamble=8), toa_us=0)
    assert spi.reg(0x12) == 0 and c.level("dio0") == 0
    assert spi.reg(0x13) == 3, "the packet is in the FIFO all the same"


def test_the_modulation_handed_to_the_antenna() -> None:
    c, spi = chip()
    spi.lora()
    spi.write(0x06, 0xD9, 0x13, 0x33)  # 868.3 MHz
    spi.write(0x1D, 0x93)  # 500 kHz, 4/5, implicit header
    spi.write(0x1E, 0xC0)  # SF12, no CRC
    spi.write(0x20, 0x00, 0x0C)  # preamble 12
    spi.write(0x22, 17)
    spi.write(0x33, 0x66)  # RX inverted, TX inverted (bit 0 clear)
    spi.write(0x39, 0x34)
    assert c.modulation(False) == (868_299_988, 12, 500_000, 5, 0x34, True, True, False, 12, 17)
    spi.write(0x33, 0x27)
    assert c.modulation(True)[6] is False and c.modulation(False)[6] is False
    spi.write(0x1D, 0x08)  # 7.8 kHz (32 MHz / 4096), 4/8, explicit
    assert c.modulation(True)[2:4] == (7813, 8) and c.modulation(True)[9] == 0


def test_reset_pulse() -> None:
    c, spi = chip()
    spi.lora()
    spi.write(0x39, 0x34)
    c.reset()
    assert spi.reg(0x01) == 0x09 and c.regs[0x39] == 0x12


# --- under the real driver (MicroPython) ------------------------------------------------


@pytest.fixture(scope="module")
def run(micropython: Callable[..., str]) -> Callable[[str], dict[str, Any]]:
    def case(name: str) -> dict[str, Any]:
        return named(micropython(SCRIPT, name))[name]

    return case


def test_the_driver_configures_the_chip(run: Callable[[str], dict[str, Any]]) -> None:
    r = run("probe")
    assert r["version"] == 0x12 and r["op_mode"] == 0x89  # LoRa, Stdby
    assert r["frf"] == [0xD9, 0x06, 0x66]
    assert r["mod_tx"] == [868_099_976, 7, 125_000, 5, 0x12, False, False, True, 8, 0]
    assert r["mod_rx"] == r["mod_tx"]
    assert r["power"] == 14 and r["pa_config"] == 0x8C  # PA_BOOST
    assert r["config"] == [0x72, 0x74, 0x04]


def test_send_and_receive(run: Callable[[str], dict[str, Any]]) -> None:
    first, second = run("exchange")["packets"]
    for p in (first, second):
        assert p["got"] == p["sent"] and p["crc_error"] is False and p["tx_done"]
        assert p["chip_toa"] == p["driver_toa"], "the ether's time on air is the driver's"
        assert p["took_us"] >= p["driver_toa"], "send() returns after TxDone"
        assert p["a_mode"] == p["b_mode"] == 0x89, "both back to Stdby"
    assert (first["rssi"], first["snr"]) == (-60, 38)
    assert first["pkt_regs"] == [38, 97]
    # Below 0 dB the datasheet adds the SNR to the packet strength; the driver
    # reads -157 + PacketRssi only, so it reports 5 dB above the -110 dBm.
    assert second["pkt_regs"] == [0x100 - 21, 52]
    assert (second["rssi"], second["snr"]) == (-105, -21)
    assert second["b_counts"] == [0, 2, 0, 2], "two valid headers, two valid packets"


def test_receive_times_out(run: Callable[[str], dict[str, Any]]) -> None:
    r = run("timeout")
    for how in ("dio1", "no_dio1"):
        got = r[how]
        assert got["got"] is None and 150 <= got["ms"] < 400
        assert got["mode"] == 0x89
        assert got["symb_timeout"] == 147  # 150 ms of 1.024 ms symbols, rounded up
        # The driver counts a timeout it reads in RegIrqFlags as a CRC error;
        # when the chip times out between its reads of the flags and of the
        # mode, it stops on its own deadline without reading it.
        assert got["crc_errors"] in (0, 1)


def test_a_bad_packet_in_a_single_receive(run: Callable[[str], dict[str, Any]]) -> None:
    r = run("single_crc")
    assert r["first"] is True, "the bad packet: not handed over, still receiving"
    assert r["got"] == r["want"] and r["crc_errors"] == 1


def check(packets: list[dict[str, Any]]) -> list[int]:
    """The numbers of the packets delivered wrong: a good one not as sent, a bad one at all."""
    return [
        i
        for i, p in enumerate(packets)
        if (p["got"] != p["sent"] if p["good"] else p["got"] is not None)
    ]


def test_continuous_receive(run: Callable[[str], dict[str, Any]]) -> None:
    r = run("continuous")
    assert check(r["packets"]) == [] and r["crc_errors"] == 0
    assert r["mode"] == 0x8D, "still in RxContinuous"
    starts = [p["fifo"][2] for p in r["packets"]]
    ends = [p["fifo"][4] for p in r["packets"]]
    lengths = [len(p["sent"]) // 2 for p in r["packets"]]
    assert starts == [sum(lengths[:i]) % 256 for i in range(len(lengths))]
    assert ends == [(s + n - 1) % 256 for s, n in zip(starts, lengths, strict=True)]


def test_the_driver_alone_reads_stale_bytes_after_a_bad_crc(
    run: Callable[[str], dict[str, Any]],
) -> None:
    """The known problem of issue 10, on the model: lora-sx127x in continuous
    receive reads the FIFO from its own RegFifoAddrPtr. A packet that fails
    its CRC is not read, so the pointer stays behind the chip's, which
    writes each packet after the last, and every later packet comes out of
    the FIFO wrong."""
    r = run("continuous_crc_driver")
    wrong = check(r["packets"])
    first_bad = [p["good"] for p in r["packets"]].index(False)
    assert wrong == [i for i, p in enumerate(r["packets"]) if i > first_bad and p["good"]]
    assert r["crc_errors"] == 3


def test_the_bridge_delivers_every_good_packet_after_bad_ones(
    run: Callable[[str], dict[str, Any]],
) -> None:
    """firmware/lora_link.py's listen() and poll(), as the bridge runs them,
    with runs of bad packets, the FIFO wrapping, and a send in between:
    make_modem() moves RegFifoAddrPtr to RegFifoRxCurrentAddr before the
    driver reads a packet."""
    r = run("continuous_crc_link")
    assert len(r["packets"]) == 35
    assert check(r["packets"]) == []
    assert r["crc_errors"] == sum(not p["good"] for p in r["packets"])


def test_settings_must_match(run: Callable[[str], dict[str, Any]]) -> None:
    r = run("settings_must_match")
    heard = b"settings".hex()
    assert r["same"] == r["invert_iq_both"] == r["implicit"] == heard
    assert r["sync_word"] is r["invert_iq_tx"] is r["sf"] is r["freq"] is None


def test_sleep_and_the_reset_pin(run: Callable[[str], dict[str, Any]]) -> None:
    r = run("sleep_and_reset")
    assert r["mode_asleep"] == 0x88 and r["mode_standby"] == 0x89
    assert (r["fifo_asleep"], r["fifo_awake"]) == (0, 0x99)
    assert r["after_reset"] == [0x09, 0x12, 0x72, 0x70, 0x12]


def test_a_masked_interrupt_under_the_driver(run: Callable[[str], dict[str, Any]]) -> None:
    r = run("irq_mask")
    assert r["masked"] == {"poll": True, "flags": 0, "rises": []}
    assert r["unmasked_rises"] == ["dio0"]

# Runs under the MicroPython unix port (tests/sim/test_sx127x.py): the SX1276
# register model (sim/sx127x.py) under micropython-lib's real lora-sx127x
# driver, mip-installed, two radios on one LoopbackAntenna air in this
# process. One JSON line per case.
#   mp_sx127x.py CASE
import sim.machine  # the sim board's machine.Pin and machine.SPI, before the driver

# isort: split
import sys
import time

import lora
from machine import SPI, Pin

from sim.ether import LoopbackAntenna
from sim.sx127x import SX127x
from tests.firmware.mp_support import emit

CFG = {
    "freq_khz": 868100,
    "sf": 7,
    "bw": "125",
    "coding_rate": 5,
    "preamble_len": 8,
    "implicit_header": False,
    "crc_en": True,
    "output_power": 14,
    "tx_ant": "PA_BOOST",
}
# Two boards' pins: NSS, NRESET, DIO0, DIO1 (both radios on one SPI bus)
PINS = ((18, 14, 26, 35), (5, 4, 2, 15))
made = []


def radio(antenna, dio1=True, cfg=CFG, cls=None):
    nss, rst, d0, d1 = PINS[len(made)]
    chip = SX127x(antenna)
    sim.machine.wire(nss, chip, "nss")
    sim.machine.wire(rst, chip, "reset")
    sim.machine.wire(d0, chip, "dio0")
    sim.machine.wire(d1, chip, "dio1")
    cls = cls or lora.SX1276
    modem = cls(
        SPI(1),
        Pin(nss),
        dio0=Pin(d0),
        dio1=Pin(d1) if dio1 else None,
        reset=Pin(rst),
        lora_cfg=cfg,
    )
    made.append(chip)
    return chip, modem


class Pair:
    """Radio a (chip a, its driver ma) and radio b (chip b, driver mb, antenna ant_b)."""

    def __init__(self, **kw):
        air = LoopbackAntenna()
        self.ant_b = LoopbackAntenna(air)
        self.a, self.ma = radio(air, **kw)
        self.b, self.mb = radio(self.ant_b, **kw)


def packet(i, n=None):
    """A distinct payload: its number, then its length's worth of that number."""
    n = n or 9 + (i * 7) % 23
    return bytes([i & 0xFF] * n)


def wait_packet(modem, rx=None, ms=2000):
    """poll_recv() until a packet, or False (not receiving), or ms."""
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < ms:
        got = modem.poll_recv(rx)
        if got is not True:
            return got
        time.sleep_ms(1)
    return True


def regs(chip, *addrs):
    return [chip.regs[a] for a in addrs]


def case_probe():
    p = Pair()
    a = p.a
    emit(
        "probe",
        version=a.regs[0x42],
        op_mode=a.regs[0x01],
        mod_tx=list(a.modulation(True)),
        mod_rx=list(a.modulation(False)),
        power=a.power_dbm(),
        pa_config=a.regs[0x09],
        frf=regs(a, 0x06, 0x07, 0x08),
        config=regs(a, 0x1D, 0x1E, 0x26),
        dio_mapping=a.regs[0x40],
    )


def case_exchange():
    p = Pair()
    a, ma, b, mb, ant_b = p.a, p.ma, p.b, p.mb, p.ant_b
    out = []
    for rssi, snr in ((-60.0, 9.5), (-110.0, -5.25)):
        ant_b.next_packet(rssi, snr)
        mb.start_recv(timeout_ms=3000)
        payload = b"hello meteolink %d" % len(out)
        t0 = time.ticks_us()
        done = ma.send(payload)
        took = time.ticks_diff(time.ticks_us(), t0)
        got = wait_packet(mb)
        out.append(
            {
                "sent": payload.hex(),
                "got": bytes(got).hex() if got else None,
                "rssi": got.rssi,
                "snr": got.snr,
                "crc_error": got.crc_error,
                "pkt_regs": regs(b, 0x19, 0x1A),
                "took_us": took,
                "driver_toa": ma.get_time_on_air_us(len(payload)),
                "chip_toa": a.airtime_us,
                "tx_done": isinstance(done, int),
                "a_mode": a.regs[0x01],
                "b_mode": b.regs[0x01],
                "b_flags": b.regs[0x12],
                "b_counts": regs(b, 0x14, 0x15, 0x16, 0x17),
            }
        )
    emit("exchange", packets=out)


def case_timeout():
    # With DIO1 (RxTimeout on it) and without: the driver polls then.
    res = {}
    for dio1 in (True, False):
        made.clear()
        sim.machine.unwire()
        p = Pair(dio1=dio1)
        b, mb = p.b, p.mb
        before = mb.crc_errors
        t0 = time.ticks_ms()
        got = mb.recv(timeout_ms=150)
        res["dio1" if dio1 else "no_dio1"] = {
            "got": got,
            "ms": time.ticks_diff(time.ticks_ms(), t0),
            "mode": b.regs[0x01],
            "crc_errors": mb.crc_errors - before,
            "symb_timeout": ((b.regs[0x1E] & 3) << 8) | b.regs[0x1F],
        }
    emit("timeout", **res)


def case_single_crc():
    # A bad packet in a single receive: the driver counts it, resumes, and
    # takes the good one after it.
    p = Pair()
    _a, ma, mb, ant_b = p.a, p.ma, p.mb, p.ant_b
    ant_b.next_packet(crc_ok=False)
    mb.start_recv(timeout_ms=3000)
    ma.send(packet(1))
    first = mb.poll_recv()
    ma.send(packet(2))
    got = wait_packet(mb)
    emit(
        "single_crc",
        first=first if isinstance(first, bool) else bytes(first).hex(),
        got=bytes(got).hex() if got else None,
        want=packet(2).hex(),
        crc_errors=mb.crc_errors,
    )


def stream(modem, chip, ant_b, sender, goods, rx=None, poll=None):
    """Send packets, each good or bad (goods), polling the receiver after each.

    What was read after each packet, with the chip's FIFO registers then.
    """
    poll = poll or (lambda: wait_packet(modem, rx, 300))
    out = []
    for i, good in enumerate(goods):
        ant_b.next_packet(crc_ok=good)
        payload = packet(i)
        sender.send(payload)
        got = poll()
        if got is not None and not isinstance(got, bool):
            rx = got
        out.append(
            {
                "good": good,
                "sent": payload.hex(),
                "got": None if got is None or isinstance(got, bool) else bytes(got).hex(),
                # RegFifoAddrPtr, RegFifoRxBaseAddr, RegFifoRxCurrentAddr, RegRxNbBytes,
                # RegFifoRxByteAddr (the last byte the receiver wrote)
                "fifo": regs(chip, 0x0D, 0x0F, 0x10, 0x13) + [chip._read_reg(0x25)],  # noqa: RUF005
            }
        )
    return out


GOODS = (True, True, False, True, True, False, False, True, True, True)


def case_continuous():
    p = Pair()
    ma, b, mb, ant_b = p.ma, p.b, p.mb, p.ant_b
    mb.start_recv(continuous=True)
    good = stream(mb, b, ant_b, ma, (True,) * 12)
    emit("continuous", packets=good, crc_errors=mb.crc_errors, mode=b.regs[0x01])


def case_continuous_crc_driver():
    # The driver alone in continuous receive, with bad packets among good.
    p = Pair()
    ma, b, mb, ant_b = p.ma, p.b, p.mb, p.ant_b
    mb.start_recv(continuous=True)
    out = stream(mb, b, ant_b, ma, GOODS)
    emit("continuous_crc_driver", packets=out, crc_errors=mb.crc_errors)


def case_continuous_crc_link():
    # The bridge's receive: firmware/lora_link.py's LoRaLink.listen() and
    # poll() on the driver make_modem() gives, with bad packets among good
    # ones, the FIFO wrapping, and the bridge sending between.
    from dutycycle import DutyCycle
    from lora_link import LoRaLink, make_modem

    air = LoopbackAntenna()
    ant_b = LoopbackAntenna(air)
    _a, ma = radio(air)
    b = SX127x(ant_b)
    nss, rst, d0, d1 = PINS[1]
    for pin, role in ((nss, "nss"), (rst, "reset"), (d0, "dio0"), (d1, "dio1")):
        sim.machine.wire(pin, b, role)
    board = {"chip": "sx1276", "cs": nss, "reset": rst, "dio0": d0, "dio1": d1}
    mb = make_modem(board, SPI(1), Pin, 14, module="lora")
    clock = [10_000_000]
    link = LoRaLink(
        mb,
        freq_hz=868_100_000,
        sf=7,
        bw_khz=125,
        cr=5,
        limiter=DutyCycle(),
        max_wait_s=0,
        nap=lambda ms: None,
        clock=lambda: clock[0],
    )

    def poll():
        t0 = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), t0) < 300:
            got = link.poll()
            if got is not None:
                return got
            time.sleep_ms(1)
        return None

    link.listen()
    goods = GOODS + (False,) * 5 + (True,) * 6 + (False, True) * 4 + (True,) * 6
    out = stream(mb, b, ant_b, ma, goods[:20], poll=poll)
    clock[0] += 3600
    link.send(b"an ack from the bridge")  # the driver resumes the receive after it
    out += stream(mb, b, ant_b, ma, goods[20:], poll=poll)
    emit("continuous_crc_link", packets=out, crc_errors=mb.crc_errors, cls=type(mb).__name__)


def case_sleep_and_reset():
    p = Pair()
    a, ma = p.a, p.ma
    ma.sleep()
    mode_asleep = a.regs[0x01]
    # In Sleep the LoRa FIFO is out of reach: reads 0, writes lost.
    a.fifo[0x40] = 0x99
    a.regs[0x0D] = 0x40
    asleep = a._read_reg(0x00)
    ma.standby()
    mode_standby = a.regs[0x01]
    a.regs[0x0D] = 0x40
    awake = a._read_reg(0x00)
    Pin(PINS[0][1]).value(0)  # NRESET pulled low: the chip resets
    after = regs(a, 0x01, 0x42, 0x1D, 0x1E, 0x39)
    Pin(PINS[0][1]).value(1)
    emit(
        "sleep_and_reset",
        mode_asleep=mode_asleep,
        mode_standby=mode_standby,
        fifo_asleep=asleep,
        fifo_awake=awake,
        after_reset=after,
    )


def case_settings_must_match():
    res = {}
    for name, tx, rx in (
        ("same", {}, {}),
        ("sync_word", {"syncword": 0x34}, {}),
        ("invert_iq_tx", {"invert_iq_tx": True}, {}),
        ("invert_iq_both", {"invert_iq_tx": True}, {"invert_iq_rx": True}),
        ("sf", {"sf": 8}, {}),
        ("freq", {"freq_khz": 868300}, {}),
        ("implicit", {"implicit_header": True}, {"implicit_header": True}),
    ):
        made.clear()
        sim.machine.unwire()
        p = Pair()
        ma, _b, mb = p.ma, p.b, p.mb
        ma.configure(tx)
        mb.configure(rx)
        payload = b"settings"
        mb.start_recv(timeout_ms=600, rx_length=len(payload))
        ma.send(payload)
        got = wait_packet(mb)
        res[name] = bytes(got).hex() if got and not isinstance(got, bool) else None
    emit("settings_must_match", **res)


def case_irq_mask():
    # A masked interrupt is not raised: TxDone masked, the driver's send
    # never sees it and the DIO0 never rises (the driver writes the mask to
    # 0 in configure(); this writes it after).
    p = Pair()
    a, ma, _b = p.a, p.ma, p.b
    rises = []
    a.on_rise("dio0", rises.append)
    sim.machine.Pin(PINS[0][0]).value(0)
    SPI(1).write(bytes([0x11 | 0x80, 0x08]))  # RegIrqFlagsMask: TxDone
    sim.machine.Pin(PINS[0][0]).value(1)
    ma.prepare_send(b"masked")
    ma.start_send()
    time.sleep_ms(ma.get_time_on_air_us(6) // 1000 + 20)
    masked = {"poll": ma.poll_send(), "flags": a._read_reg(0x12), "rises": list(rises)}
    ma.standby()
    a._write_reg(0x11, 0)
    ma.send(b"unmasked")
    emit("irq_mask", masked=masked, unmasked_rises=rises)


CASES = {
    name[5:]: fn for name, fn in globals().items() if name.startswith("case_") and callable(fn)
}
CASES[sys.argv[1]]()

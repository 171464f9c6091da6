# Runs under the MicroPython unix port (tests/sim/test_sx126x.py) with
# micropython-lib's real lora, lora-sync and lora-sx126x packages, installed
# with mip, first on MICROPYPATH: the driver drives sim/sx126x.py's chip
# through the small Pin and SPI adapters below, which call the chip model's
# contract as the sim board's machine.Pin and machine.SPI do. One JSON line
# per case: what the driver returned and what the chip saw.
import sys
import time

import machine as _machine


class Pin:
    """A machine.Pin wired to one pin of the chip: an input reads the chip's
    level; NSS calls select(), NRESET's rising edge reset()."""

    IN = 1
    OUT = 2
    IRQ_RISING = 4
    IRQ_FALLING = 8

    def __init__(self, chip, name):
        self.chip = chip
        self.name = name
        self.out = 1

    def init(self, mode=-1, value=None, **kw):
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            if self.name in ("cs", "reset"):
                return self.out
            return self.chip.level(self.name)
        v = 1 if v else 0
        if self.name == "cs" and v != self.out:
            self.chip.select(not v)
        elif self.name == "reset" and v and not self.out:
            self.chip.reset()
        self.out = v

    def __call__(self, v=None):
        return self.value(v)

    def irq(self, handler=None, trigger=IRQ_RISING, hard=False):
        self.chip.on_rise(self.name, lambda name: handler(self))


class SPI:
    """A machine.SPI with one chip on it (its NSS is a Pin above)."""

    def __init__(self, chip):
        self.chip = chip

    def write(self, buf):
        self.chip.transfer(bytes(buf))

    def readinto(self, buf, write=0):
        buf[:] = self.chip.transfer(bytes((write,)) * len(buf))

    def write_readinto(self, out, into):
        into[:] = self.chip.transfer(bytes(out))


class Gate:
    """A chip's antenna whose packets reach the chip only while the gate is
    open. On a board a packet ends while the CPU idles and DIO1 wakes it;
    here the chip sees the end when touched, so a single receive polled in
    a tight loop would hand packets over at random points of the driver's
    code. The gate makes that point the test's choice: by default, during
    machine.idle(), where the sync driver waits for DIO1."""

    def __init__(self, inner):
        self.inner = inner
        self.open = False

    def transmit(self, mod, payload, power_dbm):
        return self.inner.transmit(mod, payload, power_dbm)

    def listen(self, mod):
        self.inner.listen(mod)

    def poll(self):
        return self.inner.poll() if self.open else None


during_idle = []  # functions machine.idle() calls, as time passing on the air


def _idle():
    _machine.idle()
    for f in during_idle:
        f()


class _Machine:
    Pin = Pin
    SPI = SPI
    idle = _idle


sys.modules["machine"] = _Machine  # before the driver imports machine

import lora  # noqa: E402
from lora.modem import ConfigError  # noqa: E402

from sim.ether import LoopbackAntenna  # noqa: E402
from sim.sx126x import MODE_RX, MODE_SLEEP, SX126x  # noqa: E402
from tests.firmware.mp_support import emit, hexs  # noqa: E402

# The Heltec V3's radio entry (boards/heltec-v3.json): SX1262, TCXO at 1.8 V
# on DIO3, DIO2 switching the antenna, a reset pin.
HELTEC_V3 = {"dio2_rf_sw": True, "dio3_tcxo_millivolts": 1800}
FAST = {"freq_khz": 868100, "sf": 7, "bw": "500", "coding_rate": 5, "preamble_len": 8}


class Antenna(LoopbackAntenna):
    """sim.ether's LoopbackAntenna, counting the receives started (listen()
    with a modulation) and keeping the power of each transmission."""

    def __init__(self, peer=None, rssi=-80.0, snr=9.5):
        super().__init__(peer)
        self.rssi_dbm = rssi
        self.snr_db = snr
        self.listens = 0
        self.powers = []

    def listen(self, mod):
        if mod is not None:
            self.listens += 1
        super().listen(mod)

    def transmit(self, mod, payload, power_dbm):
        self.powers.append(power_dbm)
        return super().transmit(mod, payload, power_dbm)


def board(peer=None, cfg=FAST, rssi=-80.0, snr=9.5, tcxo=True, **kw):
    """A chip and the real driver on it, as a board wires them, on the air of
    the chip peer (None: an air of its own)."""
    chip = SX126x(Antenna(peer.antenna if peer else None, rssi, snr), "sx1262", tcxo=tcxo)
    opts = dict(HELTEC_V3)
    opts.update(kw)
    modem = lora.SX1262(
        SPI(chip),
        Pin(chip, "cs"),
        Pin(chip, "busy"),
        dio1=Pin(chip, "dio1"),
        reset=Pin(chip, "reset"),
        lora_cfg=dict(cfg, output_power=14),
        **opts,
    )
    return chip, modem


def poll_until(modem, ms=2000):
    """poll_recv() until it hands over a packet (or ms pass): None or the packet."""
    end = time.ticks_add(time.ticks_ms(), ms)
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        got = modem.poll_recv()
        if got is not True and got is not False:
            return got
        if got is False:
            return None
    return None


def payload(i):
    """Packet i: 1..60 bytes, each naming i, so a stale or cut one shows."""
    n = 1 + (i * 7) % 60
    return bytes((i + k) & 0xFF for k in range(n))


def chip_state(chip):
    return {
        "ignored": chip.ignored,
        "rejected": chip.rejected,
        "warnings": chip.warnings,
        "errors": chip.errors,
    }


# -- bring-up: the driver's constructor on a Heltec V3 ----------------------
chip, modem = board()
emit(
    "init",
    mode=chip.mode,
    modulation=list(chip.modulation()),
    power=chip.output_dbm(),
    ocp=chip.registers[0x08E7],
    tcxo_delay_us=chip.tcxo_delay_us,
    dio2_rf_switch=chip.dio2_rf_switch,
    irq_mask=chip.irq_mask,
    dio1_mask=chip.dio_masks[0],
    opcodes=sorted(chip.counts),
    **chip_state(chip),
)

# The same board without the TCXO set up: the driver must notice.
chip_nt, modem_nt = board(dio3_tcxo_millivolts=None)
try:
    modem_nt.send(b"no clock")
    no_tcxo = None
except RuntimeError as e:
    no_tcxo = str(e)
emit("no_tcxo_config", error=no_tcxo, sent=chip_nt.antenna.sent, errors=chip_nt.errors)

# -- send: one driver sends, another receives -------------------------------
tx_chip, tx = board()
rx_chip, rx = board(tx_chip, rssi=-97.0, snr=7.5)
rx.start_recv(timeout_ms=2000)
sent_at = tx.send(b"hello sx1262")
got = poll_until(rx)
emit(
    "send_recv",
    sent_at=isinstance(sent_at, int),
    got=hexs(got) if got is not None else None,
    rssi=got.rssi if got is not None else None,
    snr=got.snr if got is not None else None,
    crc_error=got.crc_error if got is not None else None,
    tx_power=tx_chip.antenna.powers[-1],
    rx_mode_after=rx_chip.mode,
    tx=chip_state(tx_chip),
    rx=chip_state(rx_chip),
)

# The blocking recv() (the node's wait for an ack): a packet that starts
# after it is called, from a transmitter scheduled in the air.
chip, modem = board()


gate = Gate(chip.antenna)
chip.antenna = gate
inject_at = time.ticks_add(time.ticks_ms(), 30)
injected = []


def air_passes():
    """In the idle loop: the packet goes on air 30 ms after recv() is
    called, and the chip hears what has ended, as DIO1 would wake the CPU."""
    if not injected and time.ticks_diff(time.ticks_ms(), inject_at) >= 0:
        injected.append(gate.inner.inject(b"ack!", chip.modulation()))
    gate.open = True
    chip.level("dio1")
    gate.open = False


during_idle.append(air_passes)
got = modem.recv(timeout_ms=500)
emit("recv_blocking", got=hexs(got) if got else None, **chip_state(chip))
gate.open = True
during_idle.clear()

# A receive that hears nothing times out, and the driver applies the
# errata's fix after it (DS 15.3: 0x0902 = 0, 0x0944 bit 1 set).
t0 = time.ticks_ms()
got = modem.recv(timeout_ms=50)
emit(
    "recv_timeout",
    got=got,
    waited_ms=time.ticks_diff(time.ticks_ms(), t0),
    reg_0902=chip.registers.get(0x0902, 0),
    reg_0944=chip.registers.get(0x0944, 0),
    crc_errors=modem.crc_errors,
)

# -- continuous receive of many packets -------------------------------------
N = 200
chip, modem = board()
mod = chip.modulation()
modem.start_recv(continuous=True)
starts = []
bad = 0
lost = 0
for i in range(N):
    chip.antenna.inject(payload(i), mod)
    got = poll_until(modem)
    if got is None:
        lost += 1
    elif bytes(got) != payload(i):
        bad += 1
    starts.append(chip.rx_start)
emit(
    "continuous",
    n=N,
    lost=lost,
    garbled=bad,
    wrapped=sum(1 for i in range(1, N) if starts[i] < starts[i - 1]),
    distinct_starts=len(set(starts)),
    listens=chip.antenna.listens,
    mode=chip.mode == MODE_RX,
    crc_errors=modem.crc_errors,
    **chip_state(chip),
)

# -- bad CRCs on air, then good packets: every good one comes out whole ------
chip, modem = board()
mod = chip.modulation()
modem.start_recv(continuous=True)
plan = [True, False] + [True] * 5 + [False, False, False] + [True] * 30
plan += ([False] + [True] * 3) * 20
good_sent = 0
good_ok = 0
garbled = 0
spurious = 0
for i, ok in enumerate(plan):
    if not ok:
        chip.antenna.next_packet(crc_ok=False)
    chip.antenna.inject(payload(i) if ok else bytes(40 + i % 30), mod)
    if ok:
        got = poll_until(modem)
    else:  # until the chip has flagged it, then what the driver makes of it
        end = time.ticks_add(time.ticks_ms(), 2000)
        got = None
        while chip.stats[1] == plan[:i].count(False) and time.ticks_diff(end, time.ticks_ms()) > 0:
            got = modem.poll_recv()
        got = got if got is not True and got is not False else modem.poll_recv()
        got = got if got is not True and got is not False else None
    if ok:
        good_sent += 1
        if got is not None and bytes(got) == payload(i):
            good_ok += 1
        elif got is not None:
            garbled += 1
    elif got is not None:
        spurious += 1
emit(
    "bad_crc",
    packets=len(plan),
    bad=plan.count(False),
    good_sent=good_sent,
    good_ok=good_ok,
    garbled=garbled,
    spurious=spurious,
    crc_errors=modem.crc_errors,
    chip_crc=chip.stats[1],
    **chip_state(chip),
)

# The driver's own flag to hand over bad packets too: marked, never
# mistaken for good ones.
modem.rx_crc_error = True
chip.antenna.next_packet(crc_ok=False)
chip.antenna.inject(b"\x55" * 12, mod)
got = poll_until(modem)
emit("bad_crc_delivered", got=hexs(got) if got else None, crc_error=got.crc_error if got else None)
modem.rx_crc_error = False

# -- a bridge: continuous receive, an ack sent, receive resumed -------------
chip, modem = board()
peer_chip, peer = board(chip)
mod = chip.modulation()
modem.start_recv(continuous=True)
out = []
for i in range(10):
    chip.antenna.inject(payload(i), mod)
    got = poll_until(modem)
    out.append(got is not None and bytes(got) == payload(i))
    peer.start_recv(timeout_ms=1000)
    modem.send(b"ack %d" % i)  # the driver stops the receive, sends, resumes
    heard = poll_until(peer)
    out.append(heard is not None and bytes(heard) == b"ack %d" % i)
    modem.poll_recv()  # poll_send() already resumed; this must see nothing
emit(
    "bridge",
    ok=out.count(True),
    of=len(out),
    mode_rx=chip.mode == MODE_RX,
    **chip_state(chip),
)

# -- sleep and wake: the next operation wakes the chip ----------------------
chip, modem = board()
other_chip, other = board(chip)
modem.sleep()
asleep = chip.mode == MODE_SLEEP
busy_asleep = chip.level("busy")
other.start_recv(timeout_ms=1000)
modem.send(b"after sleep")
heard = poll_until(other)
emit(
    "sleep_wake",
    asleep=asleep,
    busy_asleep=busy_asleep,
    heard=hexs(heard) if heard else None,
    **chip_state(chip),
)

# -- packet status: strong and weak packets ---------------------------------
chip, modem = board()
mod = chip.modulation()
status = []
modem.start_recv(continuous=True)
for rssi, snr in ((-60.0, 10.0), (-97.0, 7.5), (-118.0, -3.0), (-125.5, -12.25)):
    chip.antenna.next_packet(rssi_dbm=rssi, snr_db=snr)
    chip.antenna.inject(b"status", mod)
    got = poll_until(modem)
    status.append([rssi, snr, got.rssi, got.snr, list(chip.packet_status)])
emit("packet_status", status=status)

# -- time on air: the driver's figure for every SF and bandwidth ------------
BWS = ("7.8", "10.4", "15.6", "20.8", "31.25", "41.7", "62.5", "125", "250", "500")
chip, modem = board()
toa = []
for sf in range(5, 13):
    for bw in BWS:
        for cr in (5, 8):
            try:
                modem.configure({"sf": sf, "bw": bw, "coding_rate": cr})
            except ConfigError as e:
                toa.append([sf, bw, cr, str(e)])
                continue
            ldro = chip.mod_params[3]
            toa.append(
                [sf, bw, cr, [modem.get_time_on_air_us(n) for n in (0, 1, 10, 28, 51, 255)], ldro]
            )
emit("time_on_air", toa=toa)

# The chip's own count (DS 6.1.4) agrees with the driver where the driver
# takes the bandwidth exactly: SF6 included (the chip model computes it).
agree = []
for sf in (6, 7, 9, 12):
    modem.configure({"sf": sf, "bw": "125", "coding_rate": 5})
    modem.start_recv(timeout_ms=1000)  # sends the packet parameters too
    modem.standby()
    for n in (0, 10, 51, 255):
        agree.append(
            [sf, n, modem.get_time_on_air_us(n), chip.symbols_x4(n) * chip.symbol_us() // 4]
        )
emit("chip_airtime", agree=agree)

# -- single receive: a packet that ends between the driver's two status reads
# poll_recv() reads the IRQ flags (GetIrqStatus), finds none, then asks
# is_idle() (GetIrqStatus again, for the mode). A single receive that ended
# in between has put the chip in standby: the driver takes it for a receive
# to resume, and start_recv() clears the RxDone it never read.


class Spy(SPI):
    """Opens the gate after the n-th GetIrqStatus (opcode 0x12) from now."""

    def __init__(self, chip, gate):
        super().__init__(chip)
        self.gate = gate
        self.n = -1

    def write_readinto(self, out, into):
        op = out[0]  # out and into are one buffer in the driver
        SPI.write_readinto(self, out, into)
        if op == 0x12 and self.n > 0:
            self.n -= 1
            if self.n == 0:
                self.gate.open = True


race = []
for opens_after in (1, 2):  # 1: between the two reads; 2: before a poll
    chip = SX126x(Antenna(), "sx1262", tcxo=True)
    gate = Gate(chip.antenna)
    chip.antenna = gate
    gate.open = True
    spy = Spy(chip, gate)
    modem = lora.SX1262(
        spy,
        Pin(chip, "cs"),
        Pin(chip, "busy"),
        dio1=Pin(chip, "dio1"),
        reset=Pin(chip, "reset"),
        lora_cfg=dict(FAST, output_power=14),
        **HELTEC_V3,
    )
    modem.start_recv(timeout_ms=300)
    gate.open = False
    toa = gate.inner.inject(b"in the gap", chip.modulation())
    time.sleep_us(toa + 1000)  # on air and over; the chip has not seen it yet
    spy.n = opens_after
    got = poll_until(modem, 1000)
    race.append(
        [opens_after, hexs(got) if got else None, chip.stats[0], chip.antenna.inner.listens]
    )
emit("single_receive_race", race=race)

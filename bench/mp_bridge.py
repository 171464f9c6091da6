# Runs under the MicroPython unix port (bench/lora_bridge.py): how many packets a
# second the bridge's loop (firmware/bridge.py, run() itself) handles on
# micropython-lib's real driver, and the heap it allocates per packet, beside a
# peer measured in the same run: the real driver's continuous receive alone
# (start_recv() once, then poll_recv() until the packet is there), no framing,
# no serial line.
#
# Both hear the same packets, put on the in-process air (sim.ether's
# LoopbackAntenna) already ended, one at a time, so neither waits for a time
# on air: what is measured is the work per packet, the chip model's SPI
# included. The bridge's 20 ms sleep between turns is replaced by the bench's
# hook, which puts the next packet on air (and stops the run): no sleeping.
#   mp_bridge.py CHIP N     sx1276 or sx1262; N packets after warm-up
import gc
import sys
import time

import sim.machine  # the sim board's machine.Pin and SPI, before the driver imports them

# isort: split
import bridge
import frames
from dutycycle import DutyCycle
from lora_link import LoRaLink, make_modem

from sim.ether import LoopbackAntenna
from sim.sx126x import SX126x
from sim.sx127x import SX127x

RADIOS = {
    "sx1276": {
        "chip": "sx1276",
        "cs": 18,
        "reset": 14,
        "dio0": 26,
        "dio1": 35,
        "busy": None,
        "dio2_rf_switch": False,
        "dio3_tcxo_millivolts": None,
    },
    "sx1262": {
        "chip": "sx1262",
        "cs": 8,
        "reset": 12,
        "dio0": None,
        "dio1": 14,
        "busy": 13,
        "dio2_rf_switch": True,
        "dio3_tcxo_millivolts": 1800,
    },
}
ROLES = (("cs", "nss"), ("reset", "reset"), ("dio0", "dio0"), ("dio1", "dio1"), ("busy", "busy"))
WARM = 20


def reading(seq):
    enc = frames.Encoder(7)
    enc.put(frames.TEMPERATURE, 21.5)
    enc.put(frames.HUMIDITY, 45.0)
    enc.put(frames.PRESSURE, 1013.2)
    enc.put(frames.BATTERY, 3.9)
    return bytes(enc.encode(seq))


def radio(chip_name, gpio):
    r = dict(RADIOS[chip_name])
    antenna = LoopbackAntenna()
    if chip_name == "sx1262":
        chip = SX126x(antenna, "sx1262", tcxo=True)
    else:
        chip = SX127x(antenna, chip_name)
    for key, role in ROLES:
        if r[key] is not None:
            r[key] = gpio
            sim.machine.wire(gpio, chip, role)
            gpio += 1
    m = make_modem(r, sim.machine.SPI(0), sim.machine.Pin)
    lk = LoRaLink(
        m,
        freq_hz=868_100_000,
        sf=7,
        bw_khz=125,
        cr=5,
        limiter=DutyCycle(),
        max_wait_s=0,
        nap=lambda ms: None,
        clock=lambda: 0,
    )
    return m, lk, antenna


class Done(Exception):
    pass


class Sink:
    """The serial line to the gateway: counts what is written, reads nothing."""

    def __init__(self):
        self.records = 0
        self.bytes = 0

    def write(self, buf):
        self.records += 1
        self.bytes += len(buf)
        return len(buf)

    def read(self, n):
        return None


class Port:
    """What bridge.run() uses of the node's port, with the bench in its sleep."""

    def __init__(self, antenna, packets, n):
        self.line = Sink()
        self.antenna = antenna
        self.packets = packets
        self.n = n
        self.sent = 0
        self.t0 = self.t1 = 0
        self.heap0 = self.heap1 = 0

    def link(self, name):
        return self.line

    def watchdog(self, ms):
        return self

    def feed(self):
        pass

    def sleep_ms(self, ms):
        # The end of one of the bridge's turns: the packet before was handled.
        if self.line.records < self.sent:
            return  # not yet (never happens with a packet already ended)
        if self.sent == WARM:
            gc.collect()
            gc.disable()
            self.heap0 = gc.mem_alloc()
            self.t0 = time.ticks_us()
        if self.sent == WARM + self.n:
            self.t1 = time.ticks_us()
            self.heap1 = gc.mem_alloc()
            gc.enable()
            raise Done
        self.antenna.inject(self.packets[self.sent % len(self.packets)], toa_us=0)
        self.sent += 1


class Node:
    def __init__(self, port, lk):
        self.port = port
        self.board = {"link": "bench"}
        self._link = lk

    def _lora(self):
        return self._link


def bench_bridge(chip_name, n, packets):
    _, lk, antenna = radio(chip_name, 100)
    port = Port(antenna, packets, n)
    done = False
    try:
        bridge.run(Node(port, lk))
    except Done:
        done = True
    assert done and port.line.records == WARM + n, port.line.records
    return time.ticks_diff(port.t1, port.t0) / n, (port.heap1 - port.heap0) / n


def bench_peer(chip_name, n, packets):
    sim.machine.unwire()  # the bridge's chip off the board: one chip, as the bridge had
    m, _, antenna = radio(chip_name, 200)
    m.start_recv(None, True)
    rx = None
    got = 0
    polls = 0
    for i in range(WARM + n):
        if i == WARM:
            gc.collect()
            gc.disable()
            heap0 = gc.mem_alloc()
            t0 = time.ticks_us()
        antenna.inject(packets[i % len(packets)], toa_us=0)
        while True:
            polls += 1
            pkt = m.poll_recv(rx)
            if not isinstance(pkt, bool):
                rx = pkt
                got += 1
                break
    t1 = time.ticks_us()
    heap1 = gc.mem_alloc()
    gc.enable()
    assert got == WARM + n
    assert polls == WARM + n  # one poll per packet, as the bridge's one turn
    return time.ticks_diff(t1, t0) / n, (heap1 - heap0) / n


chip_name, n = sys.argv[1], int(sys.argv[2])
packets = [reading(seq) for seq in range(8)]
us, heap = bench_bridge(chip_name, n, packets)
peer_us, peer_heap = bench_peer(chip_name, n, packets)
print("frame_bytes", len(packets[0]))
print("bridge_us", us)
print("bridge_heap", heap)
print("peer_us", peer_us)
print("peer_heap", peer_heap)

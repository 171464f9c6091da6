# A throwaway in-process air for the SX126x tests (tests/sim/test_sx126x.py,
# mp_sx126x.py), on the MicroPython unix port and CPython, until sim/ether.py
# brings the shared LoopbackAntenna. It keeps the Antenna contract of
# sim/ether.py: transmit(mod, payload, power_dbm) -> µs on air, listen(mod),
# poll() -> Heard or None. A packet is heard by every other antenna that
# listened with matching settings from its start to its end; its RSSI, SNR,
# CRC and header come from the air's `faults` queue (one dict per packet
# sent, then the defaults). inject() sends a packet from no chip at all.
import time


class Heard:
    def __init__(self, payload, rssi_dbm, snr_db, crc_ok, header_ok):
        self.payload = bytes(payload)
        self.rssi_dbm = rssi_dbm
        self.snr_db = snr_db
        self.crc_ok = crc_ok
        self.header_ok = header_ok


def time_on_air_us(mod, n):
    """SX126x DS 6.1.4: SF5/SF6 have 6.25 symbols after the preamble and no
    8 extra bits; SF7..12 the SX127x formula. LDRO when T_sym > 16 ms."""
    sf, bw_hz, cr = mod[1], mod[2], mod[3]
    implicit, crc, preamble = mod[5], mod[7], mod[8]
    d = 500_000 // bw_hz if 500_000 % bw_hz == 0 else round(500_000 / bw_hz)
    t_sym = (1 << (sf + 1)) * d
    ldro = 1 if t_sym > 16000 else 0
    bits = 8 * n + (16 if crc else 0) - 4 * sf + (0 if implicit else 20) + (8 if sf >= 7 else 0)
    blocks = max(-(-bits // (4 * (sf - 2 * ldro))), 0)
    x4 = 4 * (preamble + 8 + blocks * cr) + (25 if sf < 7 else 17)
    return x4 * t_sym // 4


def _matches(tx, rx):
    if rx is None:
        return False
    # freq, SF, BW, sync word, header mode and IQ; in implicit mode also CR,
    # CRC and length, which an explicit header would otherwise carry.
    same = tx[0:3] == rx[0:3] and tx[4:7] == rx[4:7]
    if same and tx[5]:
        same = tx[3] == rx[3] and tx[7] == rx[7] and tx[9] == rx[9]
    return same


class Air:
    def __init__(self):
        self.antennas = []
        self.faults = []  # dicts for the next packets: rssi, snr, crc_ok, header_ok
        self.sent = []  # (mod, payload, power_dbm) of every transmission

    def antenna(self, rssi=-80.0, snr=9.5):
        a = Antenna(self, rssi, snr)
        self.antennas.append(a)
        return a

    def inject(self, mod, payload, power_dbm=14):
        """A packet from a transmitter that is no chip, starting now."""
        return self._send(None, mod, payload, power_dbm)

    def _send(self, source, mod, payload, power_dbm):
        now = time.ticks_us()
        toa = time_on_air_us(mod, len(payload))
        self.sent.append((mod, bytes(payload), power_dbm))
        fault = self.faults.pop(0) if self.faults else {}
        end = time.ticks_add(now, toa)
        for a in self.antennas:
            if a is not source and _matches(mod, a.mod):
                heard = Heard(
                    payload,
                    fault.get("rssi", a.rssi),
                    fault.get("snr", a.snr),
                    fault.get("crc_ok", True),
                    fault.get("header_ok", True),
                )
                a.queue.append((end, heard))
        return toa


class Antenna:
    def __init__(self, air, rssi, snr):
        self.air = air
        self.rssi = rssi
        self.snr = snr
        self.mod = None
        self.queue = []
        self.listens = 0  # listen() calls with a modulation

    def transmit(self, mod, payload, power_dbm):
        self.listen(None)
        return self.air._send(self, mod, payload, power_dbm)

    def listen(self, mod):
        # Packets under way are lost: the radio did not hear their start.
        self.mod = mod
        self.queue = []
        if mod is not None:
            self.listens += 1

    def poll(self):
        if self.queue and time.ticks_diff(time.ticks_us(), self.queue[0][0]) >= 0:
            return self.queue.pop(0)[1]
        return None

"""The node: wake, warm up, read, encode, send, sleep (docs/firmware.md).

One cycle per wake. On an ESP32 every wake is a reboot out of deep sleep, so
run() does one cycle and never returns; on the RP2040 it loops, light
sleeping between cycles. Everything that must outlive the sleep is in the
retained bytes (retained.py); everything else is rebuilt on each wake.

A sensor that is absent or fails is left out of that cycle's frame, with
STATUS_SENSOR_FAULT set: it never stops the cycle. The watchdog is fed after
each completed cycle, and within a cycle only while the cycle is inside its
time budget (budget_ms(), from the config), so a cycle stuck in a driver or
a radio ends in a watchdog reset, which the next frame reports.
"""

import json
import sys

import config as configuration
import frames
import retained
from counter import Counter
from micropython import const

_DEBUG = const(False)
# A cycle's time budget beyond its sensors' waits, the duty-cycle wait and
# the ack windows: opening drivers, reading, encoding, a transmission at SF12.
_BUDGET_MS = const(30000)
_PM_WARM_UP_MS = const(30000)
_SCD41_COLD_MS = const(11530)  # power-up, the cold open and two 5 s shots
_ACK_WINDOW_MS = const(2000)
_ACK_POLL_MS = const(10)
_AGE_MAX_S = const(262140)  # the age field's range (protocol §1)
_MIN_SLEEP_MS = const(1000)
_LOW_BATTERY_HYSTERESIS_MV = const(100)
# The VOC index algorithm is specified for a sample every 1 s or, with the
# heater off between samples (Sensirion's low-power mode), every 10 s.
_VOC_SAMPLE_MS = const(10000)
_SENSOR_POWER_UP_MS = const(10)  # BME280 2 ms, SHT4x 1 ms (datasheets)
_SCD41_POWER_UP_MS = const(1000)  # SCD4x datasheet: power-up time

# sensor kind -> (module, class, [(frame field, driver attribute)])
_T = (frames.TEMPERATURE, "temperature")
_RH = (frames.HUMIDITY, "humidity")
_DRIVERS = {
    "bme280": ("bme280", "BME280", (_T, _RH, (frames.PRESSURE, "pressure"))),
    "sht4x": ("sht4x", "SHT4x", (_T, _RH)),
    "scd41": ("scd4x", "SCD4x", ((frames.CO2, "co2"),)),
    "sgp40": ("sgp40", "SGP40", ((frames.VOC_INDEX, "voc_index"),)),
    "pms5003": (
        "pms5003",
        "PMS5003",
        ((frames.PM1, "pm1"), (frames.PM2_5, "pm2_5"), (frames.PM10, "pm10")),
    ),
    "sds011": ("sds011", "SDS011", ((frames.PM2_5, "pm2_5"), (frames.PM10, "pm10"))),
    "battery": ("battery", "Battery", ((frames.BATTERY, "battery"),)),
}


def load_port():  # type: ignore[no-untyped-def]
    if sys.platform == "esp32":
        import port_esp32 as port
    elif sys.platform == "rp2":
        import port_rp2 as port  # type: ignore[no-redef]
    else:  # the unix port: the sim board
        from sim import port  # type: ignore[no-redef, unused-ignore]
    return port


class Slot:
    """A configured sensor: its driver, or None while it is absent."""

    def __init__(self, spec: "configuration.Sensor") -> None:
        self.kind = spec.kind
        self.address = spec.address
        module, cls, fields = _DRIVERS[spec.kind]
        self._module = module
        self._cls = cls
        self.fields = fields
        self.driver: object = None
        self.ready_at = 0
        self.pending = False


class Node:
    def __init__(self, port: object, board: dict, cfg: "configuration.Config") -> None:  # type: ignore[type-arg]
        self.port = port
        self.board = board
        self.cfg = cfg
        self.mem = retained.Retained(port.load())  # type: ignore[attr-defined]
        hint = port.counter_hint()  # type: ignore[attr-defined]
        self.counter = Counter(self.mem, cfg.checkpoint_every, hint=hint)
        if self.counter.cold:
            # Keep the new reservation in RTC memory at once: a node that
            # crashes in its first cycle must not jump (and write flash)
            # again on every watchdog reset.
            port.save(self.mem.seal())  # type: ignore[attr-defined]
        self.cause = port.reset_cause()  # type: ignore[attr-defined]
        self.key = frames.Key(cfg.key) if cfg.key else None
        self.enc = frames.Encoder(cfg.node, self.key)
        self.slots = [Slot(s) for s in cfg.sensors]
        self.link: object = None
        self.limiter: object = None
        self.awake_ms = 0
        self._i2c: object = None
        self._uart: object = None
        self._climate: Slot | None = None  # the sensor that compensates the SGP40
        # Which slot (1-based, in config order) set each field this cycle:
        # an earlier-listed sensor wins a field two sensors give.
        self._owner = bytearray(len(frames.FIELDS))
        self.wdt: object = None
        self.asleep = False  # between cycles: the naps feed the watchdog
        self._t0 = port.ticks_ms()  # type: ignore[attr-defined]
        # A board that switches the sensors' supply (Heltec's Vext): on at
        # wake, off before sleep. Sensors then start cold every cycle.
        self._power = board.get("sensor_power")
        self._powered = False
        self._voc = None
        for slot in self.slots:
            if slot.kind == "sgp40":
                self._voc = slot

    # Hardware, built on first use.

    def _bus(self, slot: Slot) -> object:
        port = self.port
        if slot.kind in ("pms5003", "sds011"):
            if self._uart is None:
                self._uart = port.uart(self.board["uart"], 9600)  # type: ignore[attr-defined]
            return self._uart
        if slot.kind == "battery":
            b = self.board["battery"]
            if b is None:
                raise OSError("battery: this board has no battery ADC")
            if b.get("enable") is not None:
                port.pin_out(b["enable"], b.get("enable_level", 1))  # type: ignore[attr-defined]
            return port.adc(b["pin"])  # type: ignore[attr-defined]
        if self._i2c is None:
            self._i2c = port.i2c(self.board["i2c"])  # type: ignore[attr-defined]
        return self._i2c

    def _open(self, slot: Slot) -> None:
        module = __import__(slot._module)
        cls = getattr(module, slot._cls)
        bus = self._bus(slot)
        if slot.kind == "battery":
            slot.driver = cls(bus, self.board["battery"]["ratio"])
        elif slot.kind == "sgp40":
            from voc_index import VocIndex

            slot.driver = cls(bus, slot.address, algorithm=VocIndex(_VOC_SAMPLE_MS / 1000))
        elif slot.kind == "scd41":
            cold = self.cause != frames.RESET_SLEEP or self._power is not None
            slot.driver = cls(bus, slot.address, cold=cold)
        elif slot.address is None:
            slot.driver = cls(bus)
        else:
            slot.driver = cls(bus, slot.address)

    # The cycle.

    def low_battery(self) -> bool:
        return bool(self.mem.flags & retained.FLAG_LOW_BATTERY)

    def _update_battery(self, mv: int) -> None:
        limit = self.cfg.low_battery_mv
        if not limit:
            return
        if mv < limit:
            self.mem.flags |= retained.FLAG_LOW_BATTERY
        elif mv >= limit + _LOW_BATTERY_HYSTERESIS_MV:
            self.mem.flags &= ~retained.FLAG_LOW_BATTERY

    def measure(self) -> int:
        """Start every sensor, read each when ready; return the status bits."""
        port = self.port
        enc = self.enc
        enc.clear()
        owner = self._owner
        for i in range(len(owner)):
            owner[i] = 0
        status: int = self.cause
        low = self.low_battery()
        if low:
            status |= frames.STATUS_LOW_BATTERY
        skip = self.cfg.low_battery_skip if low else ()
        self.sensor_power(True)
        t0 = port.ticks_ms()  # type: ignore[attr-defined]
        for slot in self.slots:
            slot.pending = False
            if slot.kind in skip:
                continue
            try:
                if slot.driver is None:
                    self._open(slot)
                if slot.kind == "scd41":
                    p = self.mem.get(">H", retained.PRESSURE)
                    if p:
                        slot.driver.set_pressure(p)  # type: ignore[attr-defined]
                elif slot.kind == "sgp40":
                    self._compensate(slot.driver)  # with the last cycle's reading
                wait = slot.driver.start()  # type: ignore[attr-defined]
            except (OSError, ImportError) as exc:
                # ImportError: the driver's file is not on the node (a
                # provisioning slip); the other sensors still report.
                status |= frames.STATUS_SENSOR_FAULT
                slot.driver = None
                if _DEBUG:
                    print("node:", slot.kind, exc)
                continue
            # Relative to t0: opening a driver takes time too (an SCD41's
            # 530 ms after a cold boot), so count from when start() returned.
            slot.ready_at = port.ticks_diff(port.ticks_ms(), t0) + wait  # type: ignore[attr-defined]
            slot.pending = True
        # Read in the order the sensors become ready, napping in between:
        # a PM fan's 30 s warm-up covers the SCD41's 5 s conversion.
        while True:
            nxt = None
            for slot in self.slots:
                if slot.pending and (nxt is None or slot.ready_at < nxt.ready_at):
                    nxt = slot
            if nxt is None:
                break
            nxt.pending = False
            elapsed = port.ticks_diff(port.ticks_ms(), t0)  # type: ignore[attr-defined]
            if nxt.ready_at > elapsed:
                port.nap(nxt.ready_at - elapsed)  # type: ignore[attr-defined]
            drv = nxt.driver
            try:
                # The SCD41's first reading after power-up is to be thrown
                # away (datasheet 3.10): measure once more, in this cycle.
                again = getattr(drv, "discard", False)
                drv.read()  # type: ignore[attr-defined]
                if again:
                    elapsed = port.ticks_diff(port.ticks_ms(), t0)  # type: ignore[attr-defined]
                    nxt.ready_at = elapsed + drv.start()  # type: ignore[attr-defined]
                    nxt.pending = True
                    continue
                rank = self.slots.index(nxt) + 1
                for fid, attr in nxt.fields:
                    value = getattr(drv, attr)
                    # A VOC index of 0 means "not valid yet" (the algorithm's
                    # start-up): left out, as protocol.md says.
                    if value is None or (fid == frames.VOC_INDEX and value == 0):
                        continue
                    if owner[fid] and owner[fid] < rank:
                        continue  # listed earlier, read sooner: kept
                    enc.put_raw(fid, value)
                    owner[fid] = rank
            except (OSError, frames.EncodeError) as exc:
                # A failed read, or a value outside the field's range, which
                # only a broken sensor gives: leave the fields out, say so.
                status |= frames.STATUS_SENSOR_FAULT
                if _DEBUG:
                    print("node:", nxt.kind, exc)
                continue
            if nxt.kind in ("bme280", "sht4x"):
                if nxt.kind == "bme280":
                    self.mem.put(">H", retained.PRESSURE, drv.pressure)  # type: ignore[attr-defined]
                if self._climate is None:
                    self._climate = nxt  # compensates the SGP40
            elif nxt.kind == "battery":
                self._update_battery(drv.battery)  # type: ignore[attr-defined]
        for slot in self.slots:
            if slot.driver is not None and slot.kind not in ("battery",):
                try:
                    slot.driver.stop()  # type: ignore[attr-defined]
                except OSError:
                    pass
        if status:
            enc.put_raw(frames.STATUS, status)
        return status

    def send(self) -> bool:
        """Send this cycle's frame; in ack mode, then what the backlog holds.

        True when the frame went out (and, in ack mode, was acknowledged).
        """
        flags = 0
        if self.counter.boot:
            flags |= frames.FLAG_BOOT
        if self.cfg.ack:
            flags |= frames.FLAG_ACK_REQUEST
        seq = self.counter.take()
        # Into RTC memory before the frame can leave: a crash from here on
        # must not send another frame with this counter.
        self.port.save(self.mem.seal())  # type: ignore[attr-defined]
        frame = self.enc.encode(seq, flags)
        if self.link is None:
            self.link = self._make_link()
        sent = bool(self.link.send(frame, None))  # type: ignore[attr-defined]
        if _DEBUG:
            print("node: frame", seq, bytes(frame).hex())
        if not self.cfg.ack:
            return sent
        if sent and self._acked(seq):
            self._resend_backlog()
            return True
        if self.cfg.backlog and len(frame) <= retained.BACKLOG_FRAME:
            self.mem.backlog_push(self.port.now_s(), frame, self.cfg.backlog)  # type: ignore[attr-defined]
        return False

    def _acked(self, seq: int) -> bool:
        """Wait up to the ack window for the gateway's acknowledgement of seq."""
        port = self.port
        t0 = port.ticks_ms()  # type: ignore[attr-defined]
        while True:
            left = _ACK_WINDOW_MS - port.ticks_diff(port.ticks_ms(), t0)  # type: ignore[attr-defined]
            if left <= 0:
                return False
            self.keepalive()
            # A radio listens for the whole window in one go: cut into
            # slices, a slow packet's preamble would be cut off.
            if self.link.poll_ack(self.cfg.node, seq, self.key, left):  # type: ignore[attr-defined]
                return True
            port.sleep_ms(_ACK_POLL_MS)  # type: ignore[attr-defined]

    def _resend_backlog(self) -> None:
        """The link is back: resend kept readings, oldest first, with their age.

        Each keeps its own counter; the gateway takes it as a late frame. The
        first one without an ack ends the round: the link is down again.
        Allocates (decode), but only on this rare path.
        """
        mem = self.mem
        now = self.port.now_s()  # type: ignore[attr-defined]
        while mem.backlog_len():
            taken, old = mem.backlog_entry(0)
            age = now - taken
            if age < 0:
                age = 0  # the clock went back (a power cut reset the RTC)
            if age > _AGE_MAX_S:
                mem.backlog_drop(0)  # too old for the age field: given up
                continue
            try:
                f = frames.decode(old, self.key)
            except frames.FrameError:
                mem.backlog_drop(0)
                continue
            enc = self.enc
            enc.clear()
            for fid, raw in f.fields:
                enc.put_raw(fid, raw)
            enc.put_raw(frames.AGE, (age + 2) // 4)
            frame = enc.encode(f.seq, frames.FLAG_ACK_REQUEST)
            # No duty-cycle wait for a resend: if the band is full, the
            # round ends and the reading waits for the next cycle.
            if not (self.link.send(frame, 0) and self._acked(f.seq)):  # type: ignore[attr-defined]
                return
            mem.backlog_drop(0)

    def _make_link(self) -> object:
        t = self.cfg.transport
        if t == "uart":
            from uart_link import UartLink

            return UartLink(self.port.link(self.board["link"]))  # type: ignore[attr-defined]
        if t == "lora":
            return self._lora()
        if t == "ble":
            from ble_link import BleLink

            # A busy wait, not a nap: light sleep powers the radio down.
            return BleLink(self.port.ble(), self.port.sleep_ms)  # type: ignore[attr-defined]
        raise OSError("transport %s is not built into this firmware yet" % t)

    def _lora(self) -> object:
        from dutycycle import DutyCycle
        from lora_link import LoRaLink, make_modem

        port = self.port
        radio = self.board.get("radio")
        if radio is None:
            raise OSError("this board has no LoRa radio: choose another transport")
        lc = self.cfg.lora
        # The limiter's history lives in RTC memory: deep sleep must not
        # reset it. After a cold boot it starts empty (see docs/lora.md).
        try:
            self.limiter = DutyCycle(self.mem.duty() if self.mem.valid else None)
        except ValueError:  # never written: this node used another transport before
            self.limiter = DutyCycle()
        modem = make_modem(radio, port.spi(self.board["spi"]), port.pin, lc.power_dbm)  # type: ignore[attr-defined]
        return LoRaLink(
            modem,
            freq_hz=lc.freq_hz,
            sf=lc.sf,
            bw_khz=lc.bw_khz,
            cr=lc.cr,
            limiter=self.limiter,
            max_wait_s=lc.max_wait_s,
            nap=port.nap,  # type: ignore[attr-defined]
            clock=port.now_s,  # type: ignore[attr-defined]
            on_spend=self.persist_duty,
        )

    def persist_duty(self) -> None:
        """The limiter's state into RTC memory, before the radio transmits: a
        crash after the transmission must not forget the airtime spent."""
        self.mem.duty()[:] = self.limiter.dump()  # type: ignore[attr-defined]
        self.port.save(self.mem.seal())  # type: ignore[attr-defined]

    def budget_ms(self) -> int:
        """The longest a good cycle of this config takes: the watchdog's limit."""
        kinds = [s.kind for s in self.slots]
        ms = _BUDGET_MS
        if "pms5003" in kinds or "sds011" in kinds:
            ms += _PM_WARM_UP_MS
        elif "scd41" in kinds:
            ms += _SCD41_COLD_MS
        if self.cfg.transport == "lora":
            ms += self.cfg.lora.max_wait_s * 1000
        if self.cfg.ack:
            ms += _ACK_WINDOW_MS * (1 + self.cfg.backlog)
        return ms

    def keepalive(self) -> None:
        """Feed the watchdog, but only while this cycle is within its budget."""
        wdt = self.wdt
        if wdt is None:
            return
        port = self.port
        if self.asleep or port.ticks_diff(port.ticks_ms(), self._t0) < self.budget_ms():  # type: ignore[attr-defined]
            wdt.feed()  # type: ignore[attr-defined]

    def interval_ms(self) -> int:
        ms = self.cfg.interval_s * 1000
        if self.low_battery():
            ms *= self.cfg.low_battery_factor
        return ms

    def cycle(self) -> int:
        """One wake's work; returns the ms to sleep until the next cycle."""
        port = self.port
        t0 = self._t0 = port.ticks_ms()  # type: ignore[attr-defined]
        self.asleep = False
        self.measure()
        self.send()
        self.cause = frames.RESET_SLEEP  # the next cycle woke from sleep
        self.awake_ms = port.ticks_diff(port.ticks_ms(), t0)  # type: ignore[attr-defined]
        self.mem.put(">H", retained.AWAKE_MS, min(self.awake_ms, 0xFFFF))
        if self.limiter is not None:
            self.mem.duty()[:] = self.limiter.dump()  # type: ignore[attr-defined]
        if self.link is not None:
            self.link.sleep()  # type: ignore[attr-defined]
        port.save(self.mem.seal())  # type: ignore[attr-defined]
        sleep = self.interval_ms() - self.awake_ms
        return sleep if sleep > _MIN_SLEEP_MS else _MIN_SLEEP_MS

    def _compensate(self, sgp40: object) -> None:
        climate = self._climate
        drv = climate.driver if climate is not None else None
        if drv is not None and drv.temperature is not None:  # type: ignore[attr-defined]
            sgp40.set_compensation(drv.temperature, drv.humidity)  # type: ignore[attr-defined]

    def sensor_power(self, on: bool) -> None:
        power = self._power
        if power is None or on == self._powered:
            return
        level = power["level"]
        self.port.pin_out(power["pin"], level if on else 1 - level)  # type: ignore[attr-defined]
        self._powered = on
        if on:
            slow = any(s.kind == "scd41" for s in self.slots)
            self.port.nap(_SCD41_POWER_UP_MS if slow else _SENSOR_POWER_UP_MS)  # type: ignore[attr-defined]
        else:
            # Unpowered chips are gone: open them again when power returns.
            for slot in self.slots:
                if slot.kind != "battery":
                    slot.driver = None
            self._i2c = self._uart = None

    def sampling(self) -> bool:
        """True when the node samples between cycles (a working VOC sensor),
        so it light-sleeps instead of deep sleeping, which would lose the
        VOC algorithm's state and its sampling rhythm."""
        voc = self._voc
        return (
            voc is not None
            and voc.driver is not None
            and "sgp40" not in (self.cfg.low_battery_skip if self.low_battery() else ())
        )

    def idle(self, ms: int, wdt: object) -> None:
        """Pass ms until the next cycle, sampling the SGP40 every 10 s."""
        port = self.port
        slot = self._voc
        assert slot is not None
        drv = slot.driver
        t0 = port.ticks_ms()  # type: ignore[attr-defined]
        while True:
            left = ms - port.ticks_diff(port.ticks_ms(), t0)  # type: ignore[attr-defined]
            if left <= 0:
                return
            port.nap(left if left < _VOC_SAMPLE_MS else _VOC_SAMPLE_MS)  # type: ignore[attr-defined]
            if left <= _VOC_SAMPLE_MS:
                return  # the cycle takes this sample
            try:
                self._compensate(drv)
                port.nap(drv.start())  # type: ignore[attr-defined]
                drv.read()  # type: ignore[attr-defined]
                drv.stop()  # type: ignore[attr-defined]  # heater off: Sensirion's low-power mode
            except OSError:
                pass  # the cycle's own read reports the fault
            wdt.feed()  # type: ignore[attr-defined]


def load_board(path: str = "board.json") -> dict:  # type: ignore[type-arg]
    with open(path) as f:
        board: dict = json.load(f)  # type: ignore[type-arg]
    return board


def maintenance(port: object, board: dict, cfg: "configuration.Config | None") -> bool:  # type: ignore[type-arg]
    """The window after a cold boot in which mpremote can always get in.

    True means: stay in the REPL (the button is held, or the config is
    bad). Otherwise wait cfg.maintenance_s (longer on USB power) for a
    Ctrl-C, which mpremote sends when it connects, and go on.
    """
    pin = board.get("maintenance_pin")
    if pin is not None and port.pin_held(pin):  # type: ignore[attr-defined]
        print("meteolink: maintenance button held: staying in the REPL")
        return True
    if cfg is None:
        return True
    seconds = cfg.maintenance_s
    if port.usb_power(board.get("vbus_pin")):  # type: ignore[attr-defined]
        seconds *= 6  # a technician with a laptop is likely there
    if seconds:
        print("meteolink: node %d starts in %d s (Ctrl-C: REPL)" % (cfg.node, seconds))
        import time

        time.sleep_ms(seconds * 1000)  # Ctrl-C raises KeyboardInterrupt here
    return False


def main() -> None:
    port = load_port()  # type: ignore[no-untyped-call]
    board = load_board()
    try:
        cfg = configuration.load()
    except configuration.ConfigError as exc:
        print("meteolink:", exc)
        cfg = None
    cold = port.reset_cause() != frames.RESET_SLEEP
    if cold and maintenance(port, board, cfg):
        return
    if cfg is None:
        return
    if cfg.role == "bridge":
        import bridge

        bridge.run(port, board, cfg)
        return
    try:
        node = Node(port, board, cfg)
    except frames.MeteolinkError as exc:  # the counter's file is damaged
        print("meteolink:", exc)
        return
    wdt = node.wdt = port.watchdog(node.budget_ms())
    port.keepalive = node.keepalive  # naps feed it within the cycle's budget
    while True:
        try:
            sleep = node.cycle()
        except Exception as exc:  # whatever it is: sleep, and try again next time
            # Awake in the REPL, the node would drain its battery until the
            # watchdog; asleep, it tries again next interval.
            print("meteolink: cycle failed:", exc)
            port.save(node.mem.seal())
            sleep = node.interval_ms()
        else:
            wdt.feed()  # after a completed cycle
        node.asleep = True
        if node.sampling():
            node.idle(sleep, wdt)
        else:
            node.sensor_power(False)
            port.deepsleep(sleep)  # ESP32 and sim: does not return

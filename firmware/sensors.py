"""The node's sensors: opening their drivers, powering, starting, reading.

A sensor that is absent or fails is left out of that cycle's frame, with
STATUS_SENSOR_FAULT set: it never stops the cycle. Every sensor is started
at once and read when it is ready, napping in between, so the longest wait
(a PM fan's warm-up) covers the others.
"""

import frames
import node_config as configuration
import retained
from micropython import const

_DEBUG = const(False)
_LOW_BATTERY_HYSTERESIS_MV = const(100)
# The VOC index algorithm is specified for a sample every 1 s or, with the
# heater off between samples (Sensirion's low-power mode), every 10 s.
VOC_SAMPLE_MS = const(10000)
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


class Sensors:
    """The configured sensors of one node, and the buses they are on."""

    def __init__(
        self,
        port: object,
        board: dict,  # type: ignore[type-arg]
        cfg: "configuration.Config",
        mem: "retained.Retained",
    ) -> None:
        self.port = port
        self.board = board
        self.cfg = cfg
        self.mem = mem
        self.cold = True  # this wake is a cold boot: chips may need a full start
        self.slots = [Slot(s) for s in cfg.sensors]
        self._i2c: object = None
        self._uart: object = None
        self._climate: Slot | None = None  # the sensor that compensates the SGP40
        # Which slot (1-based, in config order) set each field this cycle:
        # an earlier-listed sensor wins a field two sensors give.
        self._owner = bytearray(len(frames.FIELDS))
        # A board that switches the sensors' supply (Heltec's Vext): on at
        # wake, off before sleep. Sensors then start cold every cycle.
        self._power = board.get("sensor_power")
        self._powered = False
        self.voc: Slot | None = None
        for slot in self.slots:
            if slot.kind == "sgp40":
                self.voc = slot

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

            slot.driver = cls(bus, slot.address, algorithm=VocIndex(VOC_SAMPLE_MS / 1000))
        elif slot.kind == "scd41":
            cold = self.cold or self._power is not None
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

    def measure(self, enc: "frames.Encoder", cause: int) -> int:
        """Start every sensor, read each when ready, put their values in enc.

        cause: the reset cause for the status field. Returns the status bits.
        """
        port = self.port
        enc.clear()
        owner = self._owner
        for i in range(len(owner)):
            owner[i] = 0
        status: int = cause
        low = self.low_battery()
        if low:
            status |= frames.STATUS_LOW_BATTERY
        skip = self.cfg.low_battery_skip if low else ()
        self.power(True)
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

    def _compensate(self, sgp40: object) -> None:
        climate = self._climate
        drv = climate.driver if climate is not None else None
        if drv is not None and drv.temperature is not None:  # type: ignore[attr-defined]
            sgp40.set_compensation(drv.temperature, drv.humidity)  # type: ignore[attr-defined]

    def power(self, on: bool) -> None:
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

    def sample_voc(self) -> None:
        """One SGP40 sample between cycles, for the VOC index algorithm."""
        slot = self.voc
        drv = slot.driver if slot is not None else None
        if drv is None:
            return
        try:
            self._compensate(drv)
            self.port.nap(drv.start())  # type: ignore[attr-defined]
            drv.read()  # type: ignore[attr-defined]
            drv.stop()  # type: ignore[attr-defined]  # heater off: Sensirion's low-power mode
        except OSError:
            pass  # the cycle's own read reports the fault

"""The node's sensors: opening their drivers, powering, starting, reading.

What each kind of sensor is (driver, bus, frame fields, ...) is a row of the
sensor catalogue (catalogue.CATALOGUE); this file drives every row the
same way, through the driver contract (roles.Sensor): compensate(), start(),
read(), stop(), and the value attributes the row names.

A sensor that is absent or fails is left out of that cycle's frame, with
STATUS_SENSOR_FAULT set: it never stops the cycle. Every sensor is started
at once and read when it is ready, napping in between, so the longest wait
(a PM fan's warm-up) covers the others.
"""

import catalogue
import frames
import node_config as configuration
import retained
from micropython import const

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from catalogue import Row
    from roles import I2C, Board, Port, Sensor
    from uart_sensor import UART

_DEBUG = const(False)
_LOW_BATTERY_HYSTERESIS_MV = const(100)
# The VOC index algorithm is specified for a sample every 1 s or, with the
# heater off between samples (Sensirion's low-power mode), every 10 s.
VOC_SAMPLE_MS = const(10000)
# The least nap after the board switches the sensors' supply on; a slower
# chip's catalogue row says more (POWER_MS).
_SENSOR_POWER_UP_MS = const(10)
_UART_BAUD = const(9600)  # both PM sensors' fixed rate


class Slot:
    """A configured sensor: its catalogue row, its driver (None while absent)."""

    def __init__(self, spec: "configuration.Sensor") -> None:
        row: Row = catalogue.SENSORS[spec.kind]
        self.kind = spec.kind
        self.address = spec.address
        self.row = row
        self.bus = row[catalogue.BUS]
        self.fields = row[catalogue.FIELDS]
        self.driver: Sensor | None = None
        self.ready_at = 0
        self.pending = False


class Sensors:
    """The configured sensors of one node, and the buses they are on."""

    def __init__(
        self, port: "Port", board: "Board", cfg: "configuration.Config", mem: "retained.Retained"
    ) -> None:
        self.port = port
        self.board = board
        self.cfg = cfg
        self.mem = mem
        self.cold = True  # this wake is a cold boot: chips may need a full start
        self.slots = [Slot(s) for s in cfg.sensors]
        self._i2c: I2C | None = None
        self._uart: UART | None = None
        # The first sensor read that gives the air's temperature (and
        # humidity): what compensate() hands the sensors that correct for it.
        self._climate: Slot | None = None
        # The last pressure read (deci-hPa), in RTC memory for the next wake:
        # the SCD41 shoots before this cycle's pressure is read.
        self._pressure: int | None = mem.get(">H", retained.PRESSURE) or None
        # Which slot (1-based, in config order) set each field this cycle:
        # an earlier-listed sensor wins a field two sensors give.
        self._owner = bytearray(len(frames.FIELDS))
        # A board that switches the sensors' supply (Heltec's Vext): on at
        # wake, off before sleep. Sensors then start cold every cycle.
        self._power = board.get("sensor_power")
        self._powered = False
        # The sensor sampled between cycles: the one whose driver runs the
        # VOC index algorithm, which needs a steady series of samples.
        self.voc: Slot | None = None
        for slot in self.slots:
            if "algorithm" in slot.row[catalogue.OPTIONS]:
                self.voc = slot

    def _bus(self, slot: Slot) -> object:
        port = self.port
        if slot.bus == "uart":
            if self._uart is None:
                self._uart = port.uart(self.board["uart"], _UART_BAUD)
            return self._uart
        if slot.bus == "adc":
            b = self.board["battery"]
            if b is None:
                raise OSError("%s: this board has no battery ADC" % slot.kind)
            if b.get("enable") is not None:
                port.pin_out(b["enable"], b.get("enable_level", 1))
            return port.adc(b["pin"])
        if self._i2c is None:
            self._i2c = port.i2c(self.board["i2c"])
        return self._i2c

    def _open(self, slot: Slot) -> "Sensor":
        row = slot.row
        cls = getattr(__import__(row[catalogue.MODULE]), row[catalogue.CLASS])
        bus = self._bus(slot)
        # The constructor's options the row asks for (catalogue.OPTIONS).
        kw: dict[str, object] = {}
        for name in row[catalogue.OPTIONS]:
            if name == "cold":
                # A switched supply powers the chip up at every wake.
                kw[name] = self.cold or self._power is not None
            elif name == "ratio":
                kw[name] = self.board["battery"]["ratio"]
            elif name == "algorithm":
                from voc_index import VocIndex

                kw[name] = VocIndex(VOC_SAMPLE_MS / 1000)
        if slot.address is None:
            drv: Sensor = cls(bus, **kw)
        else:
            drv = cls(bus, slot.address, **kw)
        slot.driver = drv
        return drv

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
        t0 = port.ticks_ms()
        for slot in self.slots:
            slot.pending = False
            if slot.kind in skip:
                continue
            try:
                drv = slot.driver
                if drv is None:
                    drv = self._open(slot)
                self._compensate(drv)  # with the last cycle's readings
                wait = drv.start()
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
            slot.ready_at = port.ticks_diff(port.ticks_ms(), t0) + wait
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
            elapsed = port.ticks_diff(port.ticks_ms(), t0)
            if nxt.ready_at > elapsed:
                port.nap(nxt.ready_at - elapsed)
            drv = nxt.driver
            if drv is None:  # never: a pending sensor was opened and started
                continue
            try:
                if not drv.read():
                    # A reading the datasheet says to throw away (the
                    # SCD41's first after power-up): measure once more, in
                    # this cycle.
                    elapsed = port.ticks_diff(port.ticks_ms(), t0)
                    nxt.ready_at = elapsed + drv.start()
                    nxt.pending = True
                    continue
                rank = self.slots.index(nxt) + 1
                for fid, attr in nxt.fields:
                    value = getattr(drv, attr)  # the attribute the catalogue names
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
            # What a good reading tells the node beyond the frame.
            for fid, attr in nxt.fields:
                if fid == frames.PRESSURE:  # for the SCD41, this cycle and the next wake's
                    p = getattr(drv, attr)
                    self.mem.put(">H", retained.PRESSURE, p)
                    self._pressure = p or None
                elif fid == frames.TEMPERATURE:
                    if self._climate is None:
                        self._climate = nxt  # compensates the SGP40
                elif fid == frames.BATTERY:
                    self._update_battery(getattr(drv, attr))
        for slot in self.slots:
            if slot.driver is not None:
                try:
                    slot.driver.stop()
                except OSError:
                    pass
        if status:
            enc.put_raw(frames.STATUS, status)
        return status

    def _compensate(self, drv: "Sensor") -> None:
        """Hand drv what the node knows of the air (roles.Sensor.compensate)."""
        t = rh = None
        climate = self._climate
        c = climate.driver if climate is not None else None
        if c is not None and climate is not None:
            for fid, attr in climate.fields:
                if fid == frames.TEMPERATURE:
                    t = getattr(c, attr)
                elif fid == frames.HUMIDITY:
                    rh = getattr(c, attr)
        drv.compensate(t, rh, self._pressure)

    def power(self, on: bool) -> None:
        power = self._power
        if power is None or on == self._powered:
            return
        level = power["level"]
        self.port.pin_out(power["pin"], level if on else 1 - level)
        self._powered = on
        if on:
            ms = _SENSOR_POWER_UP_MS
            for s in self.slots:
                if s.row[catalogue.POWER_MS] > ms:
                    ms = s.row[catalogue.POWER_MS]
            self.port.nap(ms)
        else:
            # Unpowered chips are gone: open them again when power returns.
            # (The battery's ADC is the MCU's own, on no switched supply.)
            for slot in self.slots:
                if slot.bus != "adc":
                    slot.driver = None
            self._i2c = self._uart = None

    def sample_voc(self) -> None:
        """One sample between cycles, for the VOC index algorithm."""
        slot = self.voc
        drv = slot.driver if slot is not None else None
        if drv is None:
            return
        try:
            self._compensate(drv)
            self.port.nap(drv.start())
            drv.read()
            drv.stop()  # heater off: Sensirion's low-power mode
        except OSError:
            pass  # the cycle's own read reports the fault

"""The node: wake, warm up, read, encode, send, sleep (docs/firmware.md).

One cycle per wake. On an ESP32 every wake is a reboot out of deep sleep, so
main() does one cycle and never returns; on the RP2040 it loops, light
sleeping between cycles. Everything that must outlive the sleep is in the
retained bytes (retained.py); everything else is rebuilt on each wake.

The hardware is reached through a port (roles.Port), frames leave through a
link (roles.Link), and the sensors are sensors.py's. The watchdog is fed after
each completed cycle, and within a cycle only while the cycle is inside its
time budget (budget_ms(), from the config), so a cycle stuck in a driver or
a radio ends in a watchdog reset, which the next frame reports.
"""

import json
import sys

import catalogue
import frames
import node_config as configuration
import retained
from counter import FrameCounter
from micropython import const
from sensors import VOC_SAMPLE_MS, Sensors

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from dutycycle import DutyCycle
    from lora_link import LoRaLink
    from roles import Board, Link, Port, Watchdog

_DEBUG = const(False)
# A cycle's time budget beyond its sensors' waits, the duty-cycle wait and
# the ack windows: opening drivers, reading, encoding, a transmission at SF12.
_BUDGET_MS = const(30000)
_ACK_WINDOW_MS = const(2000)
_ACK_POLL_MS = const(10)
_AGE_MAX_S = const(262140)  # the age field's range (protocol §1)
_MIN_SLEEP_MS = const(1000)


def load_port() -> "Port":
    """This board's port: the module for the MCU, the sim board's on the unix port."""
    if sys.platform == "esp32":
        import port_esp32

        return port_esp32
    if sys.platform == "rp2":
        import port_rp2

        return port_rp2
    from sim import port

    return port


class Node:
    def __init__(self, port: "Port", board: "Board", cfg: "configuration.Config") -> None:
        self.port = port
        self.board = board
        self.cfg = cfg
        self.mem = retained.Retained(port.load())
        hint = port.counter_hint()
        self.counter = FrameCounter(self.mem, cfg.checkpoint_every, hint=hint)
        if self.counter.cold:
            # Keep the new reservation in RTC memory at once: a node that
            # crashes in its first cycle must not jump (and write flash)
            # again on every watchdog reset.
            port.save(self.mem.seal())
        self.cause = port.reset_cause()
        self.key = frames.Key(cfg.key) if cfg.key else None
        self.enc = frames.Encoder(cfg.node, self.key)
        self.sensors = Sensors(port, board, cfg, self.mem)
        self.sensors.cold = self.cause != frames.RESET_SLEEP
        self.link: Link | None = None
        self.limiter: DutyCycle | None = None
        self.awake_ms = 0
        self.wdt: Watchdog | None = None
        self.asleep = False  # between cycles: the naps feed the watchdog
        self._t0 = port.ticks_ms()

    def low_battery(self) -> bool:
        return self.sensors.low_battery()

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
        self.port.save(self.mem.seal())
        frame = self.enc.encode(seq, flags)
        link = self.link
        if link is None:
            link = self.link = self._make_link()
        sent = link.send(frame, None)
        if _DEBUG:
            print("node: frame", seq, bytes(frame).hex())
        if not self.cfg.ack:
            return sent
        if sent and self._acked(seq):
            self._resend_backlog()
            return True
        if self.cfg.backlog and len(frame) <= retained.BACKLOG_FRAME:
            self.mem.backlog_push(self.port.now_s(), frame, self.cfg.backlog)
        return False

    def _acked(self, seq: int) -> bool:
        """Wait up to the ack window for the gateway's acknowledgement of seq."""
        port = self.port
        link = self.link
        if link is None:
            return False
        t0 = port.ticks_ms()
        while True:
            left = _ACK_WINDOW_MS - port.ticks_diff(port.ticks_ms(), t0)
            if left <= 0:
                return False
            self.keepalive()
            # A radio listens for the whole window in one go: cut into
            # slices, a slow packet's preamble would be cut off.
            if link.poll_ack(self.cfg.node, seq, self.key, left):
                return True
            port.sleep_ms(_ACK_POLL_MS)

    def _resend_backlog(self) -> None:
        """The link is back: resend kept readings, oldest first, with their age.

        Each keeps its own counter; the gateway takes it as a late frame. The
        first one without an ack ends the round: the link is down again.
        Allocates (decode), but only on this rare path.
        """
        mem = self.mem
        link = self.link
        if link is None:
            return
        now = self.port.now_s()
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
            if not (link.send(frame, 0) and self._acked(f.seq)):
                return
            mem.backlog_drop(0)

    def _make_link(self) -> "Link":
        t = self.cfg.transport
        if t == "uart":
            from uart_link import UartLink

            return UartLink(self.port.link(self.board["link"]))
        if t == "lora":
            return self._lora()
        if t == "ble":
            from ble_link import BleLink

            # A busy wait, not a nap: light sleep powers the radio down.
            return BleLink(self.port.ble(), self.port.sleep_ms)
        raise OSError("transport %s is not built into this firmware yet" % t)

    def _lora(self) -> "LoRaLink":
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
            limiter = DutyCycle(self.mem.duty() if self.mem.valid else None)
        except ValueError:  # never written: this node used another transport before
            limiter = DutyCycle()
        self.limiter = limiter
        modem = make_modem(radio, port.spi(self.board["spi"]), port.pin, lc.power_dbm)
        return LoRaLink(
            modem,
            freq_hz=lc.freq_hz,
            sf=lc.sf,
            bw_khz=lc.bw_khz,
            cr=lc.cr,
            limiter=limiter,
            max_wait_s=lc.max_wait_s,
            nap=port.nap,
            clock=port.now_s,
            on_spend=self.persist_duty,
        )

    def persist_duty(self) -> None:
        """The limiter's state into RTC memory, before the radio transmits: a
        crash after the transmission must not forget the airtime spent."""
        if self.limiter is not None:
            self.mem.duty()[:] = self.limiter.dump()
        self.port.save(self.mem.seal())

    def budget_ms(self) -> int:
        """The longest a good cycle of this config takes: the watchdog's limit."""
        # The slowest sensor's wait covers the others' (they run at once).
        warm = 0
        for s in self.sensors.slots:
            if s.row[catalogue.WARM_MS] > warm:
                warm = s.row[catalogue.WARM_MS]
        ms = _BUDGET_MS + warm
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
        if self.asleep or port.ticks_diff(port.ticks_ms(), self._t0) < self.budget_ms():
            wdt.feed()

    def interval_ms(self) -> int:
        ms = self.cfg.interval_s * 1000
        if self.low_battery():
            ms *= self.cfg.low_battery_factor
        return ms

    def cycle(self) -> int:
        """One wake's work; returns the ms to sleep until the next cycle."""
        port = self.port
        t0 = self._t0 = port.ticks_ms()
        self.asleep = False
        self.sensors.measure(self.enc, self.cause)
        self.send()
        self.cause = frames.RESET_SLEEP  # the next cycle woke from sleep
        self.sensors.cold = False
        self.awake_ms = port.ticks_diff(port.ticks_ms(), t0)
        self.mem.put(">H", retained.AWAKE_MS, min(self.awake_ms, 0xFFFF))
        if self.limiter is not None:
            self.mem.duty()[:] = self.limiter.dump()
        if self.link is not None:
            self.link.sleep()
        port.save(self.mem.seal())
        sleep = self.interval_ms() - self.awake_ms
        return sleep if sleep > _MIN_SLEEP_MS else _MIN_SLEEP_MS

    def sampling(self) -> bool:
        """True when the node samples between cycles (a working VOC sensor),
        so it light-sleeps instead of deep sleeping, which would lose the
        VOC algorithm's state and its sampling rhythm."""
        voc = self.sensors.voc
        return (
            voc is not None
            and voc.driver is not None
            and voc.kind not in (self.cfg.low_battery_skip if self.low_battery() else ())
        )

    def idle(self, ms: int, wdt: "Watchdog") -> None:
        """Pass ms until the next cycle, sampling the SGP40 every 10 s."""
        port = self.port
        t0 = port.ticks_ms()
        while True:
            left = ms - port.ticks_diff(port.ticks_ms(), t0)
            if left <= 0:
                return
            port.nap(left if left < VOC_SAMPLE_MS else VOC_SAMPLE_MS)
            if left <= VOC_SAMPLE_MS:
                return  # the cycle takes this sample
            self.sensors.sample_voc()
            wdt.feed()


def load_board(path: str = "board.json") -> "Board":
    with open(path) as f:
        board: Board = json.load(f)
    return board


def maintenance(port: "Port", board: "Board", cfg: "configuration.Config | None") -> bool:
    """The window after a cold boot in which mpremote can always get in.

    True means: stay in the REPL (the button is held, or the config is
    bad). Otherwise wait cfg.maintenance_s (longer on USB power) for a
    Ctrl-C, which mpremote sends when it connects, and go on.
    """
    pin = board.get("maintenance_pin")
    if pin is not None and port.pin_held(pin):
        print("meteolink: maintenance button held: staying in the REPL")
        return True
    if cfg is None:
        return True
    seconds = cfg.maintenance_s
    if port.usb_power(board.get("vbus_pin")):
        seconds *= 6  # a technician with a laptop is likely there
    if seconds:
        print("meteolink: node %d starts in %d s (Ctrl-C: REPL)" % (cfg.node, seconds))
        import time

        time.sleep_ms(seconds * 1000)  # Ctrl-C raises KeyboardInterrupt here
    return False


def main() -> None:
    port = load_port()
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

        bridge.run(Node(port, board, cfg))
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
            node.sensors.power(False)
            port.sleep_until_next_cycle(sleep)  # ESP32 and sim: does not return

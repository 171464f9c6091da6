"""The LoRa transport: frames over a LoRa radio, within the EU868 duty cycle.

Built on micropython-lib's `lora` package (lora-sync with lora-sx127x or
lora-sx126x), which `meteolink flash` installs on the node with mip. The
radio object comes from make_modem(); LoRaLink uses the driver's
configure(), send(), start_recv(), poll_recv(), standby() and sleep().

Every frame is charged to the duty-cycle limiter before it goes out: the
limiter says how long to wait (the link naps, then sends) or to drop the
frame (send() returns False and the limiter counts it). A frame that would
break the limit is never sent. The airtime charged is computed here, by
airtime.py, for the modulation this link itself configured on the radio,
so what is counted is what goes on air.

On the unix port (the sim board) make_modem() takes the same driver,
installed on the sim board's path by mip, and runs it on a register model
of the chip (sim/sx127x.py for an SX1276/77/78/79, sim/sx126x.py for an
SX1261/62) through the sim board's machine.SPI and machine.Pin, exactly
as on a board.
"""

import time

from airtime import ldro_needed, symbol_us, symbols_x4
from micropython import const

TYPE_CHECKING = const(False)  # True to mypy; on the node the compiler drops the blocks
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol

    import frames
    from dutycycle import DutyCycle

    class RxPacket(bytearray):
        """The driver's received packet: the payload, with its signal."""

        rssi: int  # dBm
        snr: int  # 0.25 dB

    class Modem(Protocol):
        """What the link uses of micropython-lib's lora driver."""

        def configure(self, lora_cfg: "dict[str, Any]") -> None: ...
        def send(self, packet: bytes | bytearray | memoryview) -> object: ...
        def recv(
            self, timeout_ms: int | None, rx_length: int, rx_packet: RxPacket | None
        ) -> RxPacket | None: ...
        def start_recv(self, timeout_ms: int | None, continuous: bool) -> object: ...
        def poll_recv(self, rx_packet: RxPacket | None) -> RxPacket | bool: ...
        def standby(self) -> None: ...
        def sleep(self) -> None: ...


_RX_ANY_LENGTH = const(0xFF)  # recv()'s rx_length: explicit header gives the length
_ACK_LISTEN_MS = const(100)
_RX_POLL_MS = const(1)  # receive(): between polls of the radio
_REG_FIFO_ADDR_PTR = const(0x0D)  # SX127x: where the host reads and writes the FIFO
_REG_FIFO_RX_CURRENT_ADDR = const(0x10)  # SX127x: where the last packet received starts

# The driver's bandwidth labels (lora_cfg["bw"]), by 500 kHz / bandwidth.
_BW_LABELS = {
    1: "500",
    2: "250",
    4: "125",
    8: "62.5",
    12: "41.7",
    16: "31.25",
    24: "20.8",
    32: "15.6",
    48: "10.4",
    64: "7.8",
}

# radio["chip"] by driver family: the SX126x constructor also takes BUSY, DIO2, DIO3
_SX127X = ("sx1276", "sx1277", "sx1278", "sx1279")
_SX126X = ("sx1261", "sx1262")


class LoRaLink:
    """A node's (or a bridge's) radio link: a roles.Link.

    freq_hz, sf, bw_khz, cr (5..8 for 4/5..4/8) and preamble (symbols) set
    the modulation; explicit header and payload CRC are always on. limiter
    is the DutyCycle kept across deep sleep; max_wait_s the longest wait
    for the duty cycle before a frame is dropped instead. nap(ms) passes
    time (the node's light sleep, sim.clock.skip() on the sim board);
    clock() returns seconds of the monotonic clock the limiter keeps, the
    RTC on a node.
    """

    def __init__(
        self,
        modem: "Modem",
        *,
        freq_hz: int,
        sf: int,
        bw_khz: float | int,
        cr: int,
        preamble: int = 8,
        limiter: "DutyCycle",
        max_wait_s: int,
        nap: "Callable[[int], None]",
        clock: "Callable[[], int]",
        on_spend: "Callable[[], None] | None" = None,
    ) -> None:
        t_sym: int = symbol_us(sf, bw_khz)  # ValueError for a bandwidth LoRa has not
        d = t_sym >> (sf + 1)  # 500 kHz / bandwidth
        if freq_hz % 1000:
            raise ValueError("%d Hz: the driver takes whole kHz" % freq_hz)
        # The whole channel must lie in one sub-band: ValueError otherwise,
        # before the radio is touched.
        limiter.band(freq_hz, 500_000 // d)
        symbols_x4(0, sf, cr, preamble)  # ValueError for an SF, CR or preamble out of range
        self._modem = modem
        self._freq = freq_hz
        self._sf = sf
        self._cr = cr
        self._preamble = preamble
        self._t_sym: int = t_sym
        self._ldro: bool = ldro_needed(sf, bw_khz)
        self._limiter = limiter
        self._max_wait_s = max_wait_s
        self._nap = nap
        self._clock = clock
        self._on_spend = on_spend  # saves the limiter before the radio sends
        self._rx: RxPacket | None = None  # the last RxPacket, handed back to recv() for reuse
        self.sent = 0
        modem.configure(
            {
                "freq_khz": freq_hz // 1000,
                "sf": sf,
                "bw": _BW_LABELS[d],
                "coding_rate": cr,
                "preamble_len": preamble,
                "implicit_header": False,
                "crc_en": True,
            }
        )

    @property
    def dropped(self) -> int:
        """Frames the duty cycle dropped, kept in the limiter's state."""
        return self._limiter.dropped

    def airtime_us(self, n: int) -> int:
        """Time on air of an n-byte frame with this link's modulation."""
        x4: int = symbols_x4(n, self._sf, self._cr, self._preamble, True, True, self._ldro)
        return x4 * self._t_sym // 4

    def send(self, frame: bytes | bytearray | memoryview, max_wait_s: int | None = None) -> bool:
        """Send one frame within the duty cycle; False when it was dropped.

        max_wait_s overrides the link's longest wait (0: send now or drop).
        """
        air = self.airtime_us(len(frame))
        lim = self._limiter
        now = int(self._clock())
        most = self._max_wait_s if max_wait_s is None else max_wait_s
        wait = lim.admit(self._freq, air, now, most)
        if wait < 0:
            return False
        if wait:
            self._nap(wait * 1000)
            # Ask again at the time it really is: a nap cut short must not
            # let the frame go early. No second wait: it drops (and counts).
            now = int(self._clock())
            if lim.admit(self._freq, air, now, 0) < 0:
                return False
        # Charged, and the charge saved, before it goes: a send that fails
        # half way, or a crash after it, still counted.
        lim.spend(self._freq, air, now)
        if self._on_spend is not None:
            self._on_spend()
        self._modem.send(frame)
        self.sent += 1
        return True

    def receive(self, timeout_ms: int) -> "RxPacket | None":
        """The next packet heard within timeout_ms, or None; the radio then
        stands by.

        The driver's RxPacket: a bytearray of the payload with .rssi (dBm)
        and .snr (in 0.25 dB: divide by 4 for dB). It is reused by the next
        receive() of the same length: copy what must be kept.

        In continuous receive, timed here, not with the driver's single
        receive (recv()): lora-sx126x's poll_recv() reads the IRQ flags, then
        asks is_idle(), and a packet that ends between the two has put the
        chip in standby, so the driver restarts the receive, clearing the
        packet's RxDone. In continuous receive the chip stays receiving
        after a packet and its flags wait for the next poll.
        """
        modem = self._modem
        modem.start_recv(None, True)
        try:
            t0 = time.ticks_ms()
            while True:
                got = modem.poll_recv(self._rx)
                if not isinstance(got, bool):
                    self._rx = got
                    return got
                if time.ticks_diff(time.ticks_ms(), t0) >= timeout_ms:
                    return None
                time.sleep_ms(_RX_POLL_MS)
        finally:
            modem.standby()

    def listen(self) -> None:
        """Receive continuously (the bridge): packets come from poll(); a
        send() in between pauses the receive and the driver resumes it."""
        self._modem.start_recv(None, True)

    def poll(self) -> "RxPacket | None":
        """A packet heard since the last poll (the driver's RxPacket), or None."""
        got = self._modem.poll_recv(self._rx)
        if isinstance(got, bool):  # True: still receiving; False: not receiving
            return None
        self._rx = got
        return got

    def poll_ack(
        self, node: int, seq: int, key: "frames.Key | None", timeout_ms: int = _ACK_LISTEN_MS
    ) -> bool:
        """True when an acknowledgement of (node, seq) was heard within timeout_ms.

        One receive for the whole time (continuous, see receive()): cut
        into slices, the radio would drop a slow (SF11/12) packet whose
        preamble spans a slice's end. Another node's frame, or an ack of
        something else, does not end the wait. A keyed node believes only
        acks with a good MIC.
        """
        import frames

        t0 = time.ticks_ms()
        left = timeout_ms
        while left > 0:
            pkt = self.receive(left)
            if pkt is None:
                return False
            try:
                ack = frames.decode(pkt, key)
            except frames.FrameError:
                ack = None  # another node's frame, noise, a forgery
            if (
                ack is not None
                and (key is None or ack.mic is True)
                and ack.flags & frames.FLAG_ACK
                and ack.node == node
                and ack.seq == seq
            ):
                return True
            left = timeout_ms - time.ticks_diff(time.ticks_ms(), t0)
        return False

    def sleep(self) -> None:
        """The radio's lowest-power state with its settings kept."""
        self._modem.sleep()


def _rx_current(cls: "Any") -> "Any":
    """lora-sx127x's class, reading each packet from where the chip put it.

    The driver reads a packet from the FIFO at RegFifoAddrPtr, which only
    the host moves: start_recv() sets it to 0, and each packet read moves it
    past that packet. In continuous receive the chip writes each packet
    after the one before (RegFifoRxCurrentAddr is where the last one
    starts), so the two stay in step only while every packet is read. The
    driver does not read a packet that failed its CRC (unless rx_crc_error
    is set), nor one that came in while an earlier one waited, and from then
    on it read stale bytes for every packet, until a send reset the pointers
    (never, at a bridge of nodes that want no acknowledgement). Moving
    RegFifoAddrPtr to RegFifoRxCurrentAddr before each read, as other LoRa
    stacks do, keeps every good packet whole after any number of bad ones.
    The driver itself is not changed: this overrides one of its methods.
    """

    class SX127x(cls):  # type: ignore[misc]
        def _read_packet(self, rx_packet: "Any", flags: int) -> "Any":
            self._reg_write(_REG_FIFO_ADDR_PTR, self._reg_read(_REG_FIFO_RX_CURRENT_ADDR))
            return super()._read_packet(rx_packet, flags)

    return SX127x


def make_modem(
    radio: "dict[str, Any]",
    spi: object,
    pin: "Callable[[int], object]",
    output_power: int = 14,
    module: str | None = None,
) -> "Modem":
    """The radio driver object for a board file's "radio" entry.

    radio: {"chip": "sx1276", "package": "lora-sx127x", "cs": 18,
    "reset": 14, "dio0": 26, "dio1": 35, "busy": null, "dio2_rf_switch":
    false, "dio3_tcxo_millivolts": null, "ant_switch": null}, and
    optionally "tx_ant" (SX127x: "PA_BOOST", the default, which is the only
    output wired on the usual modules, or "RFO"). spi: the machine.SPI the
    radio is on. pin(number): makes a machine.Pin. output_power: dBm (14 is
    25 mW, the most most EU868 sub-bands allow with a 0 dBi antenna).

    The driver is imported here, not at the top, so a node without a radio
    never loads it: `lora`, on a board and on the unix port alike, or the
    module named by `module`.
    """
    chip = str(radio.get("chip", "")).lower()
    if chip not in _SX127X and chip not in _SX126X:
        raise ValueError("radio chip %r: expected one of %s" % (chip, ", ".join(_SX126X + _SX127X)))
    if radio.get("ant_switch") is not None:
        raise ValueError("radio.ant_switch: not supported by this firmware yet")
    if module is None:
        module = "lora"
    package = radio.get("package") or ("lora-sx127x" if chip in _SX127X else "lora-sx126x")
    try:
        driver = __import__(module)
        for part in module.split(".")[1:]:
            driver = getattr(driver, part)
        cls = getattr(driver, chip.upper())
    except (ImportError, AttributeError):
        # `lora` raises ImportError when no chip package is installed; its
        # SX1276 class exists only when lora-sync is installed too.
        raise ImportError(
            "lora driver not installed: run meteolink flash, which installs %s and lora-sync"
            % package
        ) from None

    def opt(name: str) -> object:
        n = radio.get(name)
        return None if n is None else pin(n)

    if chip in _SX127X:
        cls = _rx_current(cls)
        cfg = {"output_power": output_power, "tx_ant": radio.get("tx_ant") or "PA_BOOST"}
        modem: Modem = cls(
            spi, opt("cs"), dio0=opt("dio0"), dio1=opt("dio1"), reset=opt("reset"), lora_cfg=cfg
        )
        return modem
    modem = cls(
        spi,
        opt("cs"),
        opt("busy"),
        dio1=opt("dio1"),
        dio2_rf_sw=bool(radio.get("dio2_rf_switch", True)),
        dio3_tcxo_millivolts=radio.get("dio3_tcxo_millivolts"),
        reset=opt("reset"),
        lora_cfg={"output_power": output_power},
    )
    return modem

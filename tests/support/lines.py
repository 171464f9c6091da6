"""Serial lines on real pseudo-terminals: the port a gateway opens, and a node's UART."""

from pathlib import Path

from meteolink.firmware import frames, framing
from meteolink.tools.pseudo_terminal import PseudoTerminal


class Line:
    """The gateway's serial port: a pty reached by a /dev/serial/by-id-like symlink.

    The test holds the far end, as a LoRa bridge board would; unplug() and
    plug() do what a USB unplug and replug do to the port and its name.
    """

    def __init__(self, link: Path) -> None:
        self.link = link
        self.pty: PseudoTerminal | None = None
        self.plug()

    @property
    def master(self) -> int:
        """The far end's file descriptor (for a Cable to a node's line)."""
        assert self.pty is not None, "the line is unplugged"
        return self.pty.master

    def plug(self) -> None:
        self.pty = PseudoTerminal()
        if self.link.is_symlink():
            self.link.unlink()
        self.link.symlink_to(self.pty.path)

    def unplug(self) -> None:
        """As a USB unplug: the device goes away and so does its by-id name."""
        self.link.unlink()
        assert self.pty is not None
        self.pty.close()
        self.pty = None

    def write(self, data: bytes) -> None:
        assert self.pty is not None, "the line is unplugged"
        self.pty.write(data)

    def send(self, frame: bytes, *, rssi: int | None = None, snr: float = 0.0) -> None:
        """One frame as a node on a cable sends it, or as a bridge with the packet's RSSI/SNR."""
        record = frame if rssi is None else framing.radio_record(frame, rssi, snr)
        self.write(framing.cobs_encode(record))

    def read(self) -> bytes:
        """What the gateway wrote back (acknowledgements) since the last read."""
        return self.pty.read() if self.pty is not None else b""

    def close(self) -> None:
        if self.pty is not None:
            self.unplug()


class SimLine(PseudoTerminal):
    """A node's serial line on the sim board: the test holds the far end."""

    def __init__(self) -> None:
        super().__init__()
        self._deframer = framing.Deframer()

    def frames(self, key: bytes | None = None) -> list[frames.Frame]:
        """Every frame the node wrote since the last call, decoded."""
        got = []
        for record in self._deframer.feed(self.read()):
            assert isinstance(record, bytes), record
            got.append(frames.decode(record, key))
        return got


def by_id(directory: Path) -> Path:
    """Where a LoRa bridge's port appears under directory, as udev names it."""
    path = directory / "dev" / "serial" / "by-id"
    path.mkdir(parents=True, exist_ok=True)
    return path / "usb-meteolink_LoRa_bridge_0001-if00"

"""`meteolink monitor` as a technician runs it: a subprocess on a real pty, or on a real broker.

Its output is read line by line as it arrives, with a deadline: a frame must be on the
monitor's stdout within 100 ms of its last byte being written to the port (a bound on
behaviour, that nothing waits for a buffer to fill; not a benchmark).
"""

import json
import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.publish
import pytest
import serial

from meteolink.firmware import frames, framing
from tests.support.broker import Broker, free_port
from tests.support.gateway_process import GatewayProcess, config, reading
from tests.support.lines import Line
from tests.support.tools import find_tool, meteolink

KEY = bytes(range(16))
OTHER_KEY = bytes(range(16, 32))
PROMPT = 100e-3  # seconds from a frame's last byte written to its line read


class Monitor:
    """`meteolink monitor ARGS` running, its stdout and stderr read as they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [find_tool("meteolink"), "monitor", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._fds = {self.proc.stdout.fileno(): bytearray(), self.proc.stderr.fileno(): bytearray()}
        self._out, self._err = self.proc.stdout.fileno(), self.proc.stderr.fileno()
        for fd in self._fds:
            os.set_blocking(fd, False)
        self._lines: list[tuple[str, float]] = []  # complete stdout lines, with when they came

    def _pump(self, timeout: float) -> None:
        """Wait up to timeout for output, and take in what there is."""
        poller = select.poll()
        for fd in self._fds:
            poller.register(fd, select.POLLIN)
        for fd, _ in poller.poll(max(0.0, timeout) * 1000):
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            now = time.monotonic()
            self._fds[fd] += chunk
            if fd == self._out:
                buf = self._fds[fd]
                while b"\n" in buf:
                    text, _, rest = bytes(buf).partition(b"\n")
                    self._lines.append((text.decode(), now))
                    buf[:] = rest

    @property
    def stderr(self) -> str:
        return self._fds[self._err].decode(errors="replace")

    def line(self, within: float = 10.0) -> tuple[str, float]:
        """The next stdout line and the monotonic time it was read; fails after `within` s."""
        deadline = time.monotonic() + within
        while not self._lines:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self._pump(0.05)
                if self._lines:
                    break
                pytest.fail(f"no line from the monitor within {within} s; stderr:\n{self.stderr}")
            self._pump(left)
        return self._lines.pop(0)

    def text(self, within: float = 10.0) -> str:
        return self.line(within)[0]

    def quiet_for(self, seconds: float) -> None:
        """Nothing on stdout for that long."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._pump(left)
            assert not self._lines, f"printed too early: {self._lines}"

    def said(self, text: str, within: float = 15.0) -> None:
        """Until stderr says text."""
        deadline = time.monotonic() + within
        while text not in self.stderr:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self._pump(0.05)
                if text in self.stderr:
                    return
                pytest.fail(f"the monitor never said {text!r}; stderr:\n{self.stderr}")
            self._pump(0.05)

    def interrupt(self, sig: int = signal.SIGINT) -> tuple[int, list[str]]:
        """Ctrl-C: (exit status, every stdout line not yet read)."""
        self.proc.send_signal(sig)
        code = self.proc.wait(10)
        for fd, buf in self._fds.items():  # it has exited: read to the end
            os.set_blocking(fd, True)
            while chunk := os.read(fd, 65536):
                buf += chunk
        rest = [text for text, _ in self._lines]
        rest += self._fds[self._out].decode().splitlines()
        self._lines.clear()
        self._fds[self._out].clear()
        assert "Traceback" not in self.stderr, self.stderr
        return code, rest

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()


@pytest.fixture
def monitor() -> Iterator[Callable[..., Monitor]]:
    made: list[Monitor] = []

    def start(*args: str, ready: str = "listening on") -> Monitor:
        m = Monitor(*args)
        made.append(m)
        m.said(ready)
        return m

    yield start
    for m in made:
        m.kill()


def private(path: Path, text: str) -> Path:
    """A file only its owner reads, as the gateway wants a config that holds keys."""
    path.write_text(text, "utf-8")
    path.chmod(0o600)
    return path


def counts(lines: list[str]) -> dict[str, tuple[str, ...]]:
    """The Ctrl-C table: {row's first column: the other columns}."""
    table = {}
    for text in lines:
        cells = re.split(r"\s{2,}", text.strip())
        if text.startswith("  ") and len(cells) > 1:
            table[cells[0]] = tuple(cells[1:])
    return table


# -- a serial port -------------------------------------------------------------


def test_each_frame_is_printed_within_100_ms_of_being_written(
    line: Line, monitor: Callable[..., Monitor]
) -> None:
    m = monitor(str(line.link))
    took = []
    for seq in range(1, 21):
        time.sleep(0.02)
        written = time.monotonic()
        line.send(reading(7, seq), rssi=-86, snr=-3.25)
        text, read = m.line()
        took.append(read - written)
        temperature = frames.decode(reading(7, seq)).values()["temperature"]
        assert f"  node 7  seq {seq}  temperature {temperature:g} °C, humidity 80 %RH," in text
        assert text.endswith("battery 3.1 V  RSSI -86 dBm, SNR -3.25 dB")
    assert max(took) < PROMPT, [f"{t * 1000:.1f} ms" for t in took]


def test_a_frame_is_printed_when_its_last_byte_arrives_not_when_a_buffer_fills(
    line: Line, monitor: Callable[..., Monitor]
) -> None:
    m = monitor(str(line.link))
    wire = framing.cobs_encode(reading(7, 1))
    line.write(wire[:-1])  # all but the closing zero byte
    m.quiet_for(0.3)
    written = time.monotonic()
    line.write(wire[-1:])
    text, read = m.line()
    assert read - written < PROMPT and "node 7  seq 1  " in text
    # A frame, and straight after it the first bytes of the next: the first is out at once.
    written = time.monotonic()
    line.write(framing.cobs_encode(reading(7, 2)) + framing.cobs_encode(reading(7, 3))[:5])
    text, read = m.line()
    assert read - written < PROMPT and "node 7  seq 2  " in text
    m.quiet_for(0.2)


def test_mics_are_checked_with_keys_from_the_config_a_key_file_or_the_command_line(
    tmp_path: Path, line: Line, monitor: Callable[..., Monitor]
) -> None:
    gw = private(
        tmp_path / "gateway.toml",
        f'[nodes.7]\nname = "Cēsis school roof"\nkey = "{KEY.hex()}"\n\n[nodes.8]\n[nodes.9]\n',
    )
    key_file = tmp_path / "node-8.key"
    key_file.write_text(OTHER_KEY.hex() + "\n")
    key_file.chmod(0o640)
    m = monitor(
        str(line.link),
        "--config",
        str(gw),
        "--key-file",
        f"8={key_file}",
        "--key",
        f"9={KEY.hex()}",
    )
    line.send(frames.encode(7, 1, {"temperature": 21.53}, KEY, frames.FLAG_BOOT))
    assert m.text().endswith(
        "node 7 (Cēsis school roof)  seq 1  temperature 21.53 °C  MIC ok, boot"
    )
    line.send(frames.encode(7, 2, {"temperature": 21.5}, OTHER_KEY))  # forged, or a wrong key
    assert m.text().endswith(
        "node 7 (Cēsis school roof)  seq 2  BAD FRAME (mic): MIC does not match the node's key"
        " (forged, or wrong key)"
    )
    line.send(frames.encode(7, 3, {"temperature": 21.5}))  # a keyed node's frame without a MIC
    assert "seq 3  BAD FRAME (no_mic): frame has no MIC, but its node has a key" in m.text()
    line.send(frames.encode(8, 1, {"co2": 812}, OTHER_KEY, frames.FLAG_ACK_REQUEST))
    assert m.text().endswith("node 8  seq 1  co2 812 ppm  MIC ok, asks for an ack")
    line.send(frames.encode(9, 1, {"pm2_5": 12.5}, KEY))
    assert m.text().endswith("node 9  seq 1  pm2_5 12.5 µg/m³  MIC ok")
    line.send(frames.encode(10, 1, {"battery": 3.05}, KEY))  # no key for node 10 anywhere
    assert m.text().endswith(
        "node 10  seq 1  battery 3.05 V  MIC not checked, not in [nodes]: the gateway turns it away"
    )


def test_without_keys_a_mic_is_not_checked(line: Line, monitor: Callable[..., Monitor]) -> None:
    m = monitor(str(line.link))
    line.send(frames.encode(7, 1, {"status": 0x0A}, KEY))
    assert m.text().endswith("node 7  seq 1  status: watchdog reset, low battery  MIC not checked")


def test_duplicates_and_bad_frames_are_told_and_counted_at_ctrl_c(
    tmp_path: Path, line: Line, monitor: Callable[..., Monitor]
) -> None:
    gw = private(tmp_path / "gateway.toml", f'[nodes.7]\nname = "roof"\nkey = "{KEY.hex()}"\n')
    m = monitor(str(line.link), "--config", str(gw))
    line.send(frames.encode(7, 1, {"temperature": 3.5}, KEY), rssi=-101, snr=-9.5)
    first = m.text()
    line.send(frames.encode(7, 1, {"temperature": 3.5}, KEY), rssi=-97, snr=-6.0)  # heard again
    again = m.text()
    stamp = first.split()[0]
    assert f"node 7 (roof)  seq 1  DUPLICATE of {stamp}  temperature 3.5 °C" in again
    assert again.endswith("RSSI -97 dBm, SNR -6 dB  MIC ok")
    line.send(frames.encode(7, 2, {"temperature": 3.5}, OTHER_KEY))
    assert "BAD FRAME (mic)" in m.text()
    damaged = bytearray(frames.encode(9, 1, {"co2": 800}))
    damaged[7] ^= 0x10
    line.send(bytes(damaged), rssi=-120, snr=-19.0)
    assert m.text().endswith(
        "BAD FRAME (crc): " + str(_error(bytes(damaged))) + " (damaged on the way: noise, a"
        " collision or a weak link)  [11 bytes, says node 9]  RSSI -120 dBm, SNR -19 dB"
    )
    line.write(b"\x00" + b"\x55" * 400)  # a flood without a delimiter
    assert "BAD FRAME (overflow): more than" in m.text()
    line.send(frames.encode(7, 3, {"temperature": 3.5}, KEY))
    assert "seq 3  temperature 3.5 °C" in m.text()
    line.send(frames.encode(12, 40, {"humidity": 51.0}))
    assert m.text().endswith(
        "node 12  seq 40  humidity 51 %RH  not in [nodes]: the gateway turns it away"
    )

    code, rest = m.interrupt()
    assert code == 0
    assert re.match(rf"^{re.escape(str(line.link))}, \d+ s:$", rest[0])
    assert counts(rest) == {
        "node": ("good", "bad", "duplicates"),
        "node 7 (roof)": ("2", "1", "1"),
        "node 12": ("1", "0", "0"),
        "unreadable": ("-", "2", "-"),
    }
    assert rest[-1].startswith("  unreadable: records too damaged to tell their node")


def test_a_counter_started_afresh_after_a_boot_is_no_duplicate(
    line: Line, monitor: Callable[..., Monitor]
) -> None:
    m = monitor(str(line.link))
    for seq in (5, 6):
        line.send(reading(3, seq))
        assert "DUPLICATE" not in m.text()
    line.send(reading(3, 5, flags=frames.FLAG_BOOT))  # reflashed: its counter starts again
    assert "DUPLICATE" not in m.text()
    line.send(reading(3, 5, flags=frames.FLAG_BOOT))  # that boot frame, heard twice
    assert "DUPLICATE" in m.text()
    line.send(reading(3, 6))
    assert "DUPLICATE" not in m.text()
    code, rest = m.interrupt()
    assert code == 0 and counts(rest)["node 3"] == ("4", "0", "1")


def _error(frame: bytes) -> frames.FrameError:
    with pytest.raises(frames.FrameError) as caught:
        frames.decode(frame)
    return caught.value


def test_json_lines_for_programs(line: Line, monitor: Callable[..., Monitor]) -> None:
    m = monitor(str(line.link), "--json", "--key", f"7={KEY.hex()}")
    line.send(frames.encode(7, 5, {"temperature": -12.34, "age": 60}, KEY), rssi=-88, snr=2.5)
    obj = json.loads(m.text())
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", obj.pop("time"))
    assert obj == {
        "version": 1,
        "node": 7,
        "seq": 5,
        "flags": ["mic"],
        "mic": "verified",
        "rssi": -88,
        "snr": 2.5,
        "temperature": -12.34,
        "age": 60.0,
        "duplicate": False,
    }
    line.send(frames.encode(7, 5, {"temperature": -12.34, "age": 60}, KEY))
    assert json.loads(m.text())["duplicate"] is True
    cut = frames.encode(7, 6, {"temperature": 1.0}, KEY)[:8]
    line.send(cut)
    obj = json.loads(m.text())
    assert obj["reason"] == "truncated" and obj["frame"] == cut.hex() and obj["verified"] is False
    code, rest = m.interrupt()
    assert code == 0
    summary = json.loads(rest[-1])["summary"]
    assert summary["nodes"] == {"7": {"good": 1, "bad": 0, "duplicates": 1}}
    assert summary["unreadable"] == 1


def test_sigterm_ends_the_watch_as_ctrl_c_does(line: Line, monitor: Callable[..., Monitor]) -> None:
    m = monitor(str(line.link))
    line.send(reading(3, 1))
    m.text()
    code, rest = m.interrupt(signal.SIGTERM)
    assert code == 0 and counts(rest)["node 3"] == ("1", "0", "0")


def test_ctrl_c_before_any_frame_says_nothing_was_heard(
    line: Line, monitor: Callable[..., Monitor]
) -> None:
    code, rest = monitor(str(line.link)).interrupt()
    assert code == 0
    assert len(rest) == 1 and rest[0].startswith(f"no frames heard on {line.link} in ")


def test_an_unplugged_port_is_waited_for_and_read_again_when_it_returns(
    line: Line, monitor: Callable[..., Monitor]
) -> None:
    m = monitor(str(line.link))
    line.send(reading(4, 1))
    assert "node 4  seq 1  " in m.text()
    line.unplug()
    m.said(f"{line.link} went away")
    line.plug()
    m.said(f"{line.link} is back")
    line.send(reading(4, 2))
    assert "node 4  seq 2  " in m.text()
    line.unplug()  # and Ctrl-C while it waits
    m.said("waiting for it to come back")
    code, rest = m.interrupt()
    assert code == 0 and counts(rest)["node 4"] == ("2", "0", "0")
    assert m.proc.stderr is not None and "Traceback" not in m.stderr


def test_a_port_that_does_not_exist_is_one_line_and_status_2(tmp_path: Path) -> None:
    proc = meteolink("monitor", str(tmp_path / "ttyUSB9"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        f"meteolink: monitor: {tmp_path / 'ttyUSB9'}: no such port (is the board plugged in?"
        " ls /dev/serial/by-id/ lists the boards; a USB cable for charging only carries no"
        " data)\n"
    )


def test_a_port_another_program_holds_is_one_line_and_status_2(line: Line) -> None:
    with serial.Serial(str(line.link), exclusive=True):  # as the gateway service holds it
        proc = meteolink("monitor", str(line.link))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(
        f"meteolink: monitor: {line.link}: another program has the port open (the gateway service?"
    )


def test_a_capture_file_is_not_a_port(tmp_path: Path) -> None:
    capture = tmp_path / "capture.bin"
    capture.write_bytes(framing.cobs_encode(reading(1, 1)))
    proc = meteolink("monitor", str(capture))
    assert proc.returncode == 2
    assert proc.stderr == (
        f"meteolink: monitor: {capture}: not a serial port (for a capture file use 'meteolink"
        f" decode --serial {capture}')\n"
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ((), "give the serial port to watch, e.g. 'meteolink monitor /dev/ttyUSB0'"),
        (("/dev/ttyUSB0", "--baud", "12"), "--baud 12: give a speed from 300 to 4000000"),
        (
            ("/dev/ttyUSB0", "--key", "7"),
            "--key: give NODE=KEY, the node's id and its key as 32 hex",
        ),
        (("/dev/ttyUSB0", "--key", "0=" + KEY.hex()), "--key: '0' is not a node id"),
        (("/dev/ttyUSB0", "--key", "7=00112233"), "--key 7=...: a node key is 32 hexadecimal"),
        (("/dev/ttyUSB0", "--key-file", "7"), "--key-file: give NODE=FILE"),
        (("/dev/ttyUSB0", "--key-file", "7=/nonexistent/node.key"), "node.key: no such file"),
        (("/dev/ttyUSB0", "--prefix", "x"), "--prefix is for --mqtt"),
        (("/dev/ttyUSB0", "--config", "/nonexistent.toml"), "/nonexistent.toml: no such file"),
        (("--mqtt",), "--mqtt: give the broker's URL, e.g. --mqtt mqtt://localhost"),
        (("--mqtt", "http://broker"), "--mqtt: 'http://broker': give mqtt://host[:port]"),
        (("--mqtt", "mqtt://localhost", "/dev/ttyUSB0"), "give a serial PORT or --mqtt, not both"),
        (("--mqtt", "mqtt://localhost", "--key", "7=" + KEY.hex()), "with --mqtt the gateway"),
        (("--mqtt", "mqtt://localhost", "--prefix", "a/#"), "--prefix 'a/#': give a topic"),
    ],
)
def test_mistakes_are_one_line_and_status_2(args: tuple[str, ...], said: str) -> None:
    proc = meteolink("monitor", *args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("meteolink: monitor: ") and proc.stderr.count("\n") == 1
    assert said in proc.stderr
    assert "00112233" not in proc.stderr  # a key, even a wrong one, is never repeated


def test_a_key_file_that_holds_no_key_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "node-7.key"
    bad.write_text("not a key\n")
    proc = meteolink("monitor", "/dev/ttyUSB0", "--key-file", f"7={bad}")
    assert (proc.returncode, proc.stderr) == (
        2,
        f"meteolink: monitor: --key-file 7={bad}: not a node key (the file should hold 32"
        " hexadecimal digits)\n",
    )


# -- the broker ------------------------------------------------------------------


def test_mqtt_shows_what_the_gateway_publishes(
    tmp_path: Path,
    line: Line,
    broker: Broker,
    gateway: Callable[..., GatewayProcess],
    monitor: Callable[..., Monitor],
) -> None:
    g = gateway(
        config(line.link, mqtt=broker.url)
        + '\n[nodes.5]\nname = "roof"\n\n[quality]\ntemperature = [-45, 2.15]\n'
    )
    # The broker from the gateway's own config; and a second monitor for programs.
    m = monitor("--mqtt", "--config", str(g.config), ready="watching")
    j = monitor("--mqtt", broker.url, "--json", ready="watching")
    line.send(reading(5, 1), rssi=-90, snr=-7.5)
    line.send(reading(5, 2), rssi=-91, snr=-7.75)

    seen: list[str] = []
    while not any("seq 2" in text for text in seen):
        seen.append(m.text())
    states = [_untimed(text) for text in seen if "  seq " in text]
    assert states == [
        "node 5 (roof)  seq 1  temperature 2.1 °C, humidity 80 %RH, battery 3.1 V,"
        " dew_point -1 °C  RSSI -90 dBm, SNR -7.5 dB",
        "node 5 (roof)  seq 2  humidity 80 %RH, battery 3.1 V  IMPLAUSIBLE: temperature 2.2 °C"
        "  RSSI -91 dBm, SNR -7.75 dB",
    ]
    assert any(
        text.endswith("gateway test-gw  online  (retained: said before this monitor started)")
        for text in seen
    )
    assert any(text.endswith("node 5 (roof)  online") for text in seen)

    objs: list[dict[str, Any]] = []
    while not any(o["topic"] == "meteolink/5/state" and o["payload"]["seq"] == 2 for o in objs):
        objs.append(json.loads(j.text()))
    state = next(o for o in objs if o["topic"] == "meteolink/5/state")
    assert state["retained"] is False and state["repeated"] is False
    assert state["payload"]["id"] == "5-1" and state["payload"]["rssi"] == -90

    code, rest = m.interrupt()
    assert code == 0
    assert counts(rest)["node 5 (roof)"] == ("2", "0")  # readings, sent again
    code, rest = j.interrupt()
    summary = json.loads(rest[-1])["summary"]
    assert code == 0 and summary["nodes"] == {"5": {"readings": 2, "repeated": 0}}


def _untimed(text: str) -> str:
    """A state line without its times: when it came, when the reading was taken."""
    m = re.match(r"^\d\d:\d\d:\d\d\.\d{3}  (.*)  taken \d\d:\d\d:\d\d  via test-gw$", text)
    assert m is not None, text
    return m.group(1)


def test_mqtt_reconnects_when_the_broker_comes_back(
    broker: Broker, monitor: Callable[..., Monitor]
) -> None:
    m = monitor("--mqtt", broker.url, "--prefix", "town", ready="watching")
    paho.mqtt.publish.single(
        "town/gateway/pi/status", "online", hostname="127.0.0.1", port=broker.port
    )
    assert m.text().endswith("gateway pi  online")
    broker.stop()
    m.said(f"lost {broker.url}")
    broker.start()
    m.said(f"connected again to {broker.url}")
    paho.mqtt.publish.single(
        "town/3/stats",
        json.dumps(
            {
                "node": 3,
                "received": 9,
                "lost": 1,
                "duplicates": 0,
                "rejected": 0,
                "mic_failures": 0,
                "rssi": -99,
                "snr": -4.5,
                "battery": 2.98,
                "online": True,
            }
        ),
        hostname="127.0.0.1",
        port=broker.port,
    )
    assert m.text().endswith(
        "node 3  stats: 9 received, 1 lost, 0 duplicates, 0 rejected, 0 MIC failures,"
        " last RSSI -99 dBm, SNR -4.5 dB, battery 2.98 V, online"
    )
    code, _ = m.interrupt()
    assert code == 0


def test_mqtt_to_a_broker_that_is_not_there_is_one_line_and_status_2() -> None:
    port = free_port()
    proc = meteolink("monitor", "--mqtt", f"mqtt://127.0.0.1:{port}")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (
        f"meteolink: monitor: cannot reach the broker at mqtt://127.0.0.1:{port} (Connection"
        " refused): is it running, and is the URL right?\n"
    )


def test_mqtt_refused_for_want_of_a_password_is_one_line_and_status_2(tmp_path: Path) -> None:
    locked = Broker(tmp_path / "locked", config=["allow_anonymous false"])
    locked.start()
    try:
        proc = meteolink("monitor", "--mqtt", locked.url)
    finally:
        locked.stop()
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (
        f"meteolink: monitor: {locked.url} refused the connection: Not authorized (check the"
        " user name and password: in the URL, or [mqtt] of --config)\n"
    )

"""`meteolink nodes` against a store the real gateway filled from frames on a pty:
with the gateway running, stopped and started again; --watch; every mistake in one line."""

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meteolink.firmware import frames
from meteolink.gateway.store import Store
from tests.support.gateway_process import GatewayProcess
from tests.support.lines import Line
from tests.support.tools import find_tool, wait_until

KEY = bytes(range(16))
WRONG = bytes(16)
ROOF, BUS, MEADOW, SHED = 1, 2, 3, 4


def config(line: Line) -> str:
    """After the gateway fixture's [gateway] table: names, intervals, two nodes with keys."""
    return f"""commit_interval = 0.05

[[serial]]
port = "{line.link}"

[nodes.{ROOF}]
name = "Cēsis school roof"
location = "Cēsis"
interval = 60

[nodes.{BUS}]
name = "Valmiera bus station"
key = "{KEY.hex()}"

[nodes.{MEADOW}]
name = "Gauja meadow mast"
key = "{KEY.hex()}"

[nodes.{SHED}]
"""


def run(g: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """`meteolink nodes --config FILE ...` as a technician runs it, on a UTC clock."""
    proc = subprocess.run(
        [find_tool("meteolink"), "nodes", "--config", str(g.config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "TZ": "UTC"},
    )
    assert "Traceback" not in proc.stderr
    return proc


def look(g: GatewayProcess) -> dict[int, dict[str, Any]]:
    proc = run(g, "--json")
    assert proc.returncode == 0, proc.stderr
    return {n["node"]: n for n in json.loads(proc.stdout)["nodes"]}


def send_traffic(line: Line) -> float:
    """What a mast, a bus stop and a meadow send; the time just before the first frame."""
    sent = time.time()
    # The roof, over LoRa: a cold start (power-on), 103 lost, 102 heard twice.
    start = {"temperature": 1.5, "battery": 3.95, "status": frames.RESET_POWER_ON}
    line.send(frames.encode(ROOF, 100, start, None, frames.FLAG_BOOT), rssi=-96, snr=6.5)
    for seq in (101, 102, 102, 104):
        line.send(frames.encode(ROOF, seq, {"battery": 3.91}), rssi=-101, snr=-3.25)
    # The bus station, on a cable, with a key: a watchdog reset at 5003, no battery after it.
    for seq in range(5000, 5005):
        bus: dict[str, float] = {"pm2_5": 6.5, "battery": 3.7} if seq < 5004 else {"co2": 433}
        if seq == 5003:
            bus["status"] = frames.RESET_WATCHDOG
        line.send(frames.encode(BUS, seq, bus, KEY))
    return sent


def send_rejected(line: Line) -> None:
    """Frames that store nothing: a replay, forgeries, a meadow mast with the wrong key."""
    line.send(frames.encode(BUS, 4000, {"pm2_5": 1.0}, KEY))  # below the window: a replay
    line.send(frames.encode(BUS, 5005, {"pm2_5": 1.0}, WRONG))
    for seq in (1, 2, 3):
        line.send(frames.encode(MEADOW, seq, {"temperature": 4.0}, WRONG), rssi=-118, snr=-14.0)


def test_the_nodes_a_running_gateway_stored_and_after_it_stopped_and_started_again(
    line: Line, gateway: Callable[..., GatewayProcess]
) -> None:
    g = gateway(config(line))
    sent = send_traffic(line)
    wait_until(lambda: len(g.stored()) == 9, "the roof's 4 readings and the bus station's 5")
    send_rejected(line)
    # Nothing is stored for those, and nothing wakes the committer: their tallies reach
    # the store within its TALLIES_EVERY (5 s), while the gateway runs.
    wait_until(lambda: look(g)[MEADOW]["mic_failures"] == 3, "the failed MICs stored", 20)
    running = look(g)
    now = time.time()

    roof = running[ROOF]
    assert roof["name"] == "Cēsis school roof" and roof["location"] == "Cēsis"
    assert (roof["status"], roof["listed"], roof["battery"]) == ("online", True, 3.91)
    assert (roof["rssi"], roof["snr"]) == (-101, -3.25), "of the newest frame"
    assert (roof["received"], roof["lost"], roof["lost_percent"]) == (4, 1, 20.0)
    assert (roof["duplicates"], roof["rejected"], roof["mic_failures"]) == (1, 0, 0)
    assert sent <= roof["last_boot"] <= roof["last_seen"] <= now
    assert roof["last_boot_cause"] == "power-on"
    assert 0 <= roof["ago"] <= now - sent

    bus = running[BUS]
    assert (bus["status"], bus["rssi"], bus["snr"]) == ("online", None, None), "a cable"
    assert bus["battery"] == 3.7, "from the newest reading that had one"
    assert (bus["received"], bus["lost"], bus["lost_percent"]) == (5, 0, 0.0)
    assert (bus["duplicates"], bus["rejected"], bus["mic_failures"]) == (0, 1, 1)
    assert bus["last_boot_cause"] == "watchdog" and sent <= bus["last_boot"] <= now

    meadow = running[MEADOW]
    assert (meadow["status"], meadow["received"], meadow["last_seen"]) == ("wrong key?", 0, None)
    assert (meadow["mic_failures"], meadow["battery"], meadow["last_boot"]) == (3, None, None)
    shed = running[SHED]
    assert (shed["status"], shed["name"], shed["received"], shed["mic_failures"]) == (
        "never heard",
        None,
        0,
        0,
    )

    table = run(g)
    assert table.returncode == 0 and table.stderr == ""
    lines = table.stdout.splitlines()
    assert lines[0].startswith(f"gateway test-gw, store {g.data / 'readings.db'}, ")
    assert lines[0].endswith(" UTC")
    assert lines[2].split() == [
        "NODE",
        "NAME",
        "LAST",
        "SEEN",
        "AGO",
        "STATUS",
        "BATTERY",
        "RSSI",
        "SNR",
        "RECEIVED",
        "LOST",
        "DUPLICATES",
        "REJECTED",
        "LAST",
        "BOOT",
    ]
    rows = {int(row.split()[0]): row for row in lines[3:7]}
    assert "Cēsis school roof" in rows[ROOF] and " online " in rows[ROOF]
    for cell in ("3.91 V", "-101 dBm", "-3.2 dB", " 4 ", "1 (20.0 %)", " power-on"):
        assert cell in rows[ROOF], (cell, rows[ROOF])
    for cell in ("3.70 V", "1 MIC, 1 replay", " watchdog", "0 (0.0 %)"):
        assert cell in rows[BUS], (cell, rows[BUS])
    assert " wrong key? " in rows[MEADOW] and "3 MIC" in rows[MEADOW]
    assert rows[SHED].split()[:3] == [str(SHED), "-", "-"]
    assert lines[-1] == (
        f"node {MEADOW}: none of its frames passed the MIC check: the key in"
        f" [nodes.{MEADOW}] of {g.config} is not the node's (or someone is sending"
        " frames in its name)"
    )

    assert g.stop() == 0
    stopped = look(g)
    for node in (ROOF, BUS, MEADOW, SHED):
        kept = {k: v for k, v in running[node].items() if k != "ago"}
        assert {k: v for k, v in stopped[node].items() if k != "ago"} == kept

    # Started again: the tallies carry on from the store.
    g.start()
    g.wait_open(2)
    line.send(frames.encode(MEADOW, 4, {"temperature": 4.0}, WRONG))
    line.send(frames.encode(ROOF, 106, {"temperature": 1.4}), rssi=-99, snr=1.0)
    wait_until(lambda: len(g.stored()) == 10, "the roof's next reading")
    wait_until(lambda: look(g)[MEADOW]["mic_failures"] == 4, "the fourth failed MIC stored")
    again = look(g)
    assert (again[ROOF]["received"], again[ROOF]["lost"]) == (5, 2)
    assert (again[ROOF]["lost_percent"], again[ROOF]["duplicates"]) == (100 * 2 / 7, 1)
    assert again[ROOF]["last_boot"] == running[ROOF]["last_boot"], "no start since"
    assert again[BUS]["rejected"] == 1
    assert g.stop() == 0


def _lines(proc: subprocess.Popen[str], until: Callable[[list[str]], bool]) -> list[str]:
    """What proc writes, line by line, until `until` holds of them (15 s at most)."""
    assert proc.stdout is not None
    got: list[str] = []
    deadline = time.monotonic() + 15
    while not until(got):
        left = deadline - time.monotonic()
        assert left > 0, f"timed out; so far: {got}"
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            line = proc.stdout.readline()
            assert line, f"ended early: {got}"
            got.append(line.rstrip("\n"))
    return got


def test_watch_looks_again_until_ctrl_c(line: Line, gateway: Callable[..., GatewayProcess]) -> None:
    g = gateway(config(line))
    line.send(frames.encode(ROOF, 1, {"battery": 3.9}), rssi=-90, snr=5.0)
    wait_until(lambda: len(g.stored()) == 1, "the first reading")
    command = [find_tool("meteolink"), "nodes", "--config", str(g.config), "--watch", "0.5"]
    watching = subprocess.Popen(
        [*command, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TZ": "UTC"},
    )
    try:

        def received(text: str) -> int:
            (roof,) = (n for n in json.loads(text)["nodes"] if n["node"] == ROOF)
            return int(roof["received"])

        assert received(_lines(watching, lambda got: len(got) == 1)[0]) == 1
        # Looks every 0.5 s while the gateway commits a stream: neither holds the other up.
        for seq in range(2, 402):
            line.send(frames.encode(ROOF, seq, {"battery": 3.9}), rssi=-90, snr=5.0)
            if seq % 50 == 0:
                time.sleep(0.25)
        seen = _lines(watching, lambda got: bool(got) and received(got[-1]) == 401)
        assert len({received(x) for x in seen}) > 1, "looks while the stream went on"
        wait_until(lambda: len(g.stored()) == 401, "every reading stored")
        watching.send_signal(signal.SIGINT)
        _, err = watching.communicate(timeout=10)
        assert (watching.returncode, err) == (0, "")
    finally:
        watching.kill()
        watching.wait()

    # A table into a pipe: one table after the other, a blank line between; Ctrl-C ends it.
    tables = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        got = _lines(tables, lambda got: sum(x.startswith("gateway test-gw") for x in got) == 2)
        assert got[got.index("", 3) + 1].startswith("gateway test-gw")
        tables.send_signal(signal.SIGINT)
        _, err = tables.communicate(timeout=10)
        assert (tables.returncode, err) == (0, "")
    finally:
        tables.kill()
        tables.wait()

    # On a terminal: drawn again in place, from the top of a cleared screen.
    master, slave = os.openpty()
    screen = subprocess.Popen(command, stdout=slave, stderr=subprocess.PIPE, text=True)
    os.close(slave)
    try:
        drawn = b""
        deadline = time.monotonic() + 15
        while drawn.count(b"\x1b[H\x1b[J") < 2:
            assert time.monotonic() < deadline, drawn
            if select.select([master], [], [], 0.5)[0]:
                drawn += os.read(master, 65536)
        assert b"looking again every 0.5 s; Ctrl-C to stop" in drawn
        screen.send_signal(signal.SIGINT)
        while screen.poll() is None:  # read on: a full terminal would hold it up
            assert time.monotonic() < deadline + 10, "still running after Ctrl-C"
            if select.select([master], [], [], 0.1)[0]:
                with contextlib.suppress(OSError):
                    os.read(master, 65536)
        _, err = screen.communicate(timeout=10)
        assert (screen.returncode, err) == (0, "")
    finally:
        screen.kill()
        screen.wait()
        os.close(master)
    g.stop()


def meteolink_nodes(*args: str, caps: bool = True) -> subprocess.CompletedProcess[str]:
    """`meteolink nodes ARGS`; caps=False: as root without the right to read every file
    (the tests run as root, whom a file's mode does not stop)."""
    command = [find_tool("meteolink"), "nodes", *args]
    if not caps:
        drop = "-dac_override,-dac_read_search"
        command = [find_tool("setpriv"), f"--bounding-set={drop}", *command]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert "Traceback" not in proc.stderr
    return proc


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert (proc.returncode, proc.stdout) == (2, ""), proc
    (said,) = proc.stderr.splitlines()
    assert said.startswith("meteolink: nodes: ")
    return said.removeprefix("meteolink: nodes: ")


def test_no_store_yet_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    said = one_line(meteolink_nodes("--data", str(data)))
    assert said == (
        f"{data / 'readings.db'}: no store there yet (the gateway makes it when it first"
        " starts; give its --config, or --data DIR)"
    )


def test_an_unreadable_store_is_one_line(tmp_path: Path) -> None:
    Store(tmp_path / "readings.db").close()
    (tmp_path / "readings.db").chmod(0)
    said = one_line(meteolink_nodes("--data", str(tmp_path), caps=False))
    assert said == (
        f"{tmp_path / 'readings.db'}: permission denied (run it as the gateway's user:"
        " sudo -u meteolink meteolink nodes ...)"
    )
    (tmp_path / "readings.db").chmod(0o644)
    tmp_path.chmod(0)  # the data directory itself
    try:
        said = one_line(meteolink_nodes("--data", str(tmp_path), caps=False))
    finally:
        tmp_path.chmod(0o755)
    assert said.endswith(
        "permission denied (run it as the gateway's user: sudo -u meteolink meteolink nodes ...)"
    )


def test_a_file_that_is_not_a_store_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "readings.db").write_text("temperature,humidity\n21.5,45\n" * 100)
    said = one_line(meteolink_nodes("--data", str(tmp_path)))
    assert said.startswith(f"{tmp_path / 'readings.db'}: ")
    assert said.endswith("(is it a meteolink store?)")


def test_mistakes_on_the_command_line_are_one_line(tmp_path: Path) -> None:
    Store(tmp_path / "readings.db").close()
    empty = meteolink_nodes("--data", str(tmp_path))
    assert (empty.returncode, empty.stderr) == (0, "")
    assert empty.stdout.splitlines()[-1] == (
        "no nodes: none listed in [nodes] (give the gateway's --config), none in the store"
    )
    said = one_line(meteolink_nodes("--data", str(tmp_path), "--watch", "0"))
    assert said == "--watch 0: give the seconds between looks, 0.5 to 86400"
    said = one_line(meteolink_nodes("--data", str(tmp_path), "--watch", "often"))
    assert said.startswith("argument --watch: invalid float value: 'often'")
    said = one_line(meteolink_nodes("--config", str(tmp_path / "gateway.toml")))
    assert said == f"{tmp_path / 'gateway.toml'}: no such file (give --config FILE)"

"""`meteolink simulate` as a developer runs it: into the real gateway, to a file, on the air.

The gateway's own counts (its summary as it stops) must equal the faults the simulator says it
injected, exactly; the same --seed must give the same bytes; the sim ether output must be heard by
an antenna on a real hub; and every mistake on the command line is one line with exit status 2.
"""

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from meteolink.firmware import frames, framing
from tests.support.ether import HubProcess
from tests.support.gateway_process import GatewayProcess, config
from tests.support.tools import find_tool, meteolink, wait_until

KEYS = {1: bytes(range(16)), 2: bytes(range(16, 32)), 3: None, 4: None}
SUMMARY = re.compile(r"node (\d+): (\d+) received, (\d+) lost, (\d+) duplicates, (\d+) rejected")
SOURCE = re.compile(r"serial:\S+: (\d+) frames, (\d+) CRC errors, (\d+) malformed")


def _nodes_file(tmp_path: Path) -> Path:
    path = tmp_path / "nodes.toml"
    text = "".join(
        f"[nodes.{n}]\n" + (f'key = "{k.hex()}"\n' if k else "") + "\n" for n, k in KEYS.items()
    )
    path.write_text(text, "utf-8")
    path.chmod(0o600)
    return path


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    """`meteolink simulate ARGS` on a new pty: the process, and the port it printed."""
    proc = subprocess.Popen(
        [find_tool("meteolink"), "simulate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith("meteolink simulate: port /dev/"), line
    return proc, line.split()[-1]


@pytest.mark.parametrize("bridge", [False, True])
def test_the_gateway_counts_every_injected_fault_exactly(
    tmp_path: Path, gateway: Callable[..., GatewayProcess], bridge: bool
) -> None:
    args = ["--gateway-config", str(_nodes_file(tmp_path)), "--count", "60", "--interval", "0"]
    args += ["--seed", "11", "--date", "2026-01-20", "--json", "--silent", "4:20"]
    for fault in ("noise", "flip", "cut", "duplicate", "replay", "forge", "reboot"):
        args += [f"--{fault}", "8"]
    proc, port = _start(*args, *(["--bridge"] if bridge else []))
    try:
        g = gateway(config(Path(port), keys=KEYS))
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    summary = json.loads(out)
    injected, should = summary["injected"], summary["gateway_should_count"]
    assert all(injected[f] > 0 for f in injected), injected  # every kind, at least once
    assert summary["readings"] == 3 * 60 + 20
    try:
        wait_until(lambda: len(g.stored()) == should["accepted"], "every reading to be stored")
    except BaseException:
        stored = g.stored()
        print(len(stored), should, stored[:5], stored[-5:])
        print(g.log()[-3000:])
        raise
    assert g.stop() == 0
    log = g.log()
    nodes = {int(m[0]): [int(x) for x in m[1:]] for m in SUMMARY.findall(log)}
    (frames_heard, crc, malformed) = (int(x) for x in SOURCE.findall(log)[-1])
    received = sum(n[0] for n in nodes.values())
    duplicates = sum(n[2] for n in nodes.values())
    rejected = sum(n[3] for n in nodes.values())
    # What the simulator injected is what the gateway counted, kind by kind.
    assert received == should["accepted"] == summary["readings"] - injected["flip"]
    assert duplicates == injected["duplicate"]
    assert rejected == injected["replay"] + injected["forge"]
    assert crc == injected["flip"]
    assert malformed == injected["noise"] + injected["cut"]
    # A flipped frame is a reading lost (the gateway sees it once a later one comes).
    assert sum(n[1] for n in nodes.values()) <= injected["flip"]
    # (every record judged: the cut ones whose COBS still read count among the frames too)
    assert received + duplicates + rejected + crc <= frames_heard
    assert frames_heard <= received + duplicates + rejected + crc + injected["cut"]
    # The silent node's last reading was its 20th.
    assert nodes[4][0] <= 20 < nodes[3][0]
    if bridge:
        out = meteolink("export", "--data", str(g.data), "--format", "jsonl").stdout
        db = [json.loads(line) for line in out.splitlines()]
        assert len(db) == received
        assert all("rssi" in r and "snr" in r for r in db)


def _bytes(*args: str) -> bytes:
    proc = subprocess.run(
        [find_tool("meteolink"), "simulate", "--file", "-", *args],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_same_seed_gives_the_same_bytes_and_the_frames_decode(tmp_path: Path) -> None:
    args = ["--nodes", "5", "--count", "12", "--keys", "generate", "--season", "summer"]
    args += ["--place", "athens", "--noise", "10", "--duplicate", "10", "--bridge"]
    a = _bytes(*args, "--seed", "4")
    assert a == _bytes(*args, "--seed", "4")
    assert a != _bytes(*args, "--seed", "5")
    # The same bytes to a file; a gateway config to go with them.
    gw = tmp_path / "gw.toml"
    proc = meteolink(
        "simulate",
        "--file",
        str(tmp_path / "line.bin"),
        *args,
        "--seed",
        "4",
        "--write-config",
        str(gw),
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "line.bin").read_bytes() == a
    keys = dict(re.findall(r'\[nodes\.(\d+)\]\nkey = "([0-9a-f]{32})"', gw.read_text()))
    assert sorted(keys) == ["1", "2", "3", "4", "5"]
    seen: dict[int, set[int]] = {}
    for record in framing.Deframer().feed(a):
        if isinstance(record, frames.FrameError):
            continue  # the noise
        frame, rssi, snr = framing.split_record(record)
        assert rssi is not None and -140 <= rssi <= -20 and snr is not None
        node = frame[1] << 8 | frame[2]
        f = frames.decode(frame, bytes.fromhex(keys[str(node)]))
        seen.setdefault(node, set()).add(f.seq)
        v = f.values()
        assert 5 <= v["temperature"] <= 45 or node % 3 == 0  # Athens in July
        assert 0 < v["humidity"] <= 100 and 2.5 <= v["battery"] <= 4.3
    assert {n: len(s) for n, s in seen.items()} == {n: 12 for n in range(1, 6)}


def test_a_cold_snap_drops_the_temperature_and_the_battery_voltage() -> None:
    def readings(*extra: str) -> list[dict[str, float]]:
        data = _bytes(
            "--nodes",
            "1",
            "--count",
            "36",
            "--step",
            "60",
            "--seed",
            "2",
            "--place",
            "riga",
            "--date",
            "2026-01-10",
            "--drain",
            "0",
            *extra,
        )
        out = []
        for record in framing.Deframer().feed(data):
            assert isinstance(record, bytes)
            out.append(frames.decode(record).values())
        return out

    calm, snap = readings(), readings("--cold-snap")
    # From six hours in, held for a day and a half: 12 K colder once it has set in.
    assert calm[20]["temperature"] - snap[20]["temperature"] == pytest.approx(12, abs=0.5)
    assert snap[20]["battery"] < calm[20]["battery"] - 0.05
    # A daily cycle: the afternoon warmer than the small hours.
    assert calm[14]["temperature"] > calm[4]["temperature"] + 1


def test_the_sim_ether_output_is_heard_by_an_antenna_on_the_hub(tmp_path: Path) -> None:
    from sim import ether

    hub = HubProcess()
    try:
        bridge = ether.Antenna(hub.address, name="bridge")
        bridge.listen(ether.mod(sf=7))
        args = ["--nodes", "2", "--count", "3", "--seed", "9", "--interval", "0"]
        proc = meteolink("simulate", "--ether", hub.address, "--sf", "7", *args)
        assert proc.returncode == 0, proc.stderr
        heard: list[ether.Heard] = []
        deadline = time.monotonic() + 10
        while len(heard) < 6 and time.monotonic() < deadline:
            bridge.wait(200)
            while (h := bridge.poll()) is not None:
                heard.append(h)
        bridge.close()
        assert len(heard) == 6
        assert all(h.crc_ok and -140 < h.rssi_dbm < -20 for h in heard)
        # The frames on air are the ones the same run writes as a bridge's records.
        line = _bytes(*args, "--bridge")
        records = framing.Deframer().feed(line)
        on_line = [framing.split_record(r)[0] for r in records if isinstance(r, bytes)]
        assert [h.payload for h in heard] == on_line
    finally:
        hub.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--place", "atlantis"], "--place 'atlantis' is not in the table; give one of"),
        (["--lat", "56.9"], "give both --lat and --lon"),
        (["--lat", "99", "--lon", "0"], "--lat 99.0 --lon 0.0: give -90..90"),
        (["--place", "riga", "--lat", "1", "--lon", "1"], "give --place or --lat/--lon"),
        (["--date", "2026-13-01"], "--date '2026-13-01': give a day as YYYY-MM-DD"),
        (["--season", "monsoon"], "argument --season: invalid choice"),
        (["--nodes", "0"], "--nodes 0: give 1 to 10000 stations"),
        (["--noise", "120"], "'120': give a percentage from 0 to 100"),
        (["--flip", "lots"], "'lots' is not a percentage"),
        (["--forge", "5"], "--forge: a forged MIC needs stations with keys"),
        (["--silent", "9:3"], "--silent 9:3: there is no station 9"),
        (["--silent", "two"], "give NODE:READINGS"),
        (["--sf", "6"], "--sf 6: give a spreading factor from 7 to 12"),
        (["--port", "/dev/nonexistent-tty"], "--port /dev/nonexistent-tty: cannot open it"),
        (["--file", "/nonexistent/dir/x.bin"], "--file /nonexistent/dir/x.bin: No such file"),
        (["--gateway-config", "/nonexistent.toml"], "--gateway-config /nonexistent.toml: no such"),
        (["--ether", "127.0.0.1:9", "--count", "1"], "--ether: sim ether: no hub answers"),
        (["--file", "-", "--json"], "--json and --file - both want stdout"),
        (["--pty", "--file", "x"], "argument --file: not allowed with argument --pty"),
        (["--interval", "-1"], "--interval -1.0: give 0 to 86400 seconds"),
    ],
)
def test_every_mistake_is_one_line_and_status_2(args: list[str], message: str) -> None:
    proc = meteolink("simulate", *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("meteolink: simulate: "), lines[0]
    assert message in lines[0]

"""`meteolink node new` as a technician runs it: the installed script, real files, the real gateway.

What it writes is held to what reads it: the gateway's TOML to the gateway's own loader
and to the bytes it had (everything but the added table stays as it was), config.json to
`meteolink flash --dry-run`, and both, with the key between them, to the real firmware on
the sim board sending into the real gateway process.
"""

import grp
import json
import os
import pwd
import select
import shutil
import stat
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from meteolink.firmware import frames, framing
from meteolink.gateway import config as gwconfig
from meteolink.gateway.sequence import SequenceWindow
from meteolink.gateway.store import Reading, Store
from meteolink.tools import board_file, cli, gateway_toml, key_files
from tests.support.ether import HubProcess
from tests.support.gateway_process import GatewayProcess, reading
from tests.support.lines import Line, SimLine
from tests.support.sim_node import Cable, SimNode
from tests.support.tools import ROOT, find_tool, meteolink, wait_until

EXAMPLE = ROOT / "deploy" / "gateway.toml"

# A file kept by hand: comments everywhere, blank lines, odd spacing, a quoted hex id,
# literal strings, a commented-out key, tables glued to each other, no final newline.
ODD = """\
# The county's gateway, kept by hand.
[gateway]
name="county-7"      # no spaces around =
data = "/var/lib/meteolink"

   # an indented comment
[[serial]]
  port = '/dev/serial/by-id/usb-county-if00'   # a literal string
  baud   =   115200



[ nodes . "0x1F" ]   # a hex id, quoted and spaced
name = "west mast"
interval = 900

[nodes.3]
location = 'Valmiera'
# key = "put the key here"
# Upstream:
[mqtt]
# url = "mqtt://broker.example:1883"

[ quality ]
temperature = [ -45 , 45 ]   # cold winters"""

# No [nodes] at all: the table goes at the end.
NO_NODES = '[gateway]\nname = "bare"\n\n[ble]\nenabled = true\n'


def inserted(before: str, after: str) -> str:
    """The one block after adds to before, as TOML; the test fails if anything else changed.

    Where the block starts is ambiguous by the characters it shares with its neighbours
    ("\n# ..." before "\n# ..."): of the places it could start, the one where it is TOML.
    """
    size = len(after) - len(before)
    head = 0
    while head < len(before) and before[head] == after[head]:
        head += 1
    tail = 0
    while tail < len(before) and before[-1 - tail] == after[-1 - tail]:
        tail += 1
    assert head + tail >= len(before), "the file changed outside the added table"
    for start in range(len(before) - tail, head + 1):
        assert after[:start] + after[start + size :] == before
        block = after[start : start + size]
        try:
            tomllib.loads(block)
        except tomllib.TOMLDecodeError:
            continue
        return block
    raise AssertionError("the added text is not a TOML table")


def program() -> str:
    """How the next-step lines name meteolink: by name where PATH finds this one, else by its
    path (the tests run .venv/bin/meteolink, which PATH may not hold)."""
    tool = find_tool("meteolink")
    on_path = shutil.which("meteolink")
    return "meteolink" if on_path and Path(on_path).resolve() == Path(tool).resolve() else tool


def gateway_file(tmp_path: Path, text: str, *, mode: int = 0o640) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_bytes(text.encode("utf-8"))
    path.chmod(mode)
    return path


def new(tmp_path: Path, config: Path | None, *args: str, output: str = "node.json") -> Any:
    """`meteolink node new ... --json`: its JSON, after checking it succeeded."""
    where = ["--config", str(config)] if config is not None else []
    proc = meteolink("node", "new", *where, "-o", str(tmp_path / output), "--json", *args)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    return json.loads(proc.stdout.encode("latin-1").decode("utf-8"))


def node_config(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


@pytest.mark.parametrize(
    "text",
    [
        EXAMPLE.read_text("utf-8"),
        ODD,
        ODD.replace("\n", "\r\n"),
        NO_NODES,
    ],
    ids=["deploy-example", "hand-kept", "hand-kept-crlf", "no-nodes"],
)
def test_the_gateway_file_keeps_every_byte_outside_the_added_tables(
    tmp_path: Path, text: str
) -> None:
    path = gateway_file(tmp_path, text)
    before = text
    listed = set(gwconfig.load(path).nodes)
    for i, args in enumerate(
        (
            ["--board", "heltec-v3", "--name", 'Cēsis "old" library', "--location", "Cēsis"],
            ["--board", "pico", "--sensors", "sht4x,battery", "--interval", "300"],
            ["--board", "esp32-devkitc", "--transport", "ble", "--sensors", "bme280@0x77"],
        )
    ):
        said = new(tmp_path, path, *args, output=f"node{i}.json")
        after = path.read_bytes().decode("utf-8")
        block = inserted(before, after)
        node = said["node"]
        assert node not in listed, "a free id"
        listed.add(node)
        # The block is the table and nothing else, in the file's own line endings.
        table = tomllib.loads(block)
        config = node_config(tmp_path / f"node{i}.json")
        want: dict[str, Any] = {"interval": config["interval_s"], "key": config["key"]}
        want |= {k: said[k] for k in ("name", "location") if said[k] is not None}
        assert table == {"nodes": {str(node): want}}
        if "\r\n" in text:
            assert "\n" not in block.replace("\r\n", "")
        else:
            assert "\r" not in block
        # The gateway reads the whole file, with the new node's key.
        loaded = gwconfig.load(path)
        assert set(loaded.nodes) == listed
        assert loaded.nodes[node].key == bytes.fromhex(config["key"])
        before = after


def test_the_table_goes_after_the_last_node_and_its_commented_key(tmp_path: Path) -> None:
    path = gateway_file(tmp_path, EXAMPLE.read_text("utf-8"))
    said = new(tmp_path, path, "--board", "heltec-v3", "--name", "Valmiera library")
    text = path.read_text("utf-8")
    # After [nodes.1] and its commented-out keys (`# key = ...`, and the example
    # calibration that ends `# factor = 0.98`), one blank line, the table, one blank
    # line, then the comments that head [quality], as they were.
    start = text.index("# factor = 0.98           # default 1\n")
    tail = text[start:].split("\n")
    assert tail[1] == ""
    assert tail[2].startswith("# ") and tail[2].endswith(
        ": meteolink node new (its config.json: node.json)"
    )
    assert tail[3] == f"[nodes.{said['node']}]" == "[nodes.2]"
    assert tail[4:6] == ['name = "Valmiera library"', "interval = 600"]
    assert tail[6].startswith('key = "') and tail[7] == ""
    assert tail[8].startswith("# Quality control (docs/quality.md)")
    # The ODD file: its commented-out key stays with [nodes.3], above the new table.
    path.unlink()
    path = gateway_file(tmp_path, ODD)
    new(tmp_path, path, "--board", "heltec-v3", output="odd.json")
    text = path.read_text("utf-8")
    assert '# key = "put the key here"\n\n# ' in text
    assert "interval = 600\nkey = " in text and '"\n\n# Upstream:\n[mqtt]' in text


def test_a_node_and_its_gateway_agree_on_the_key_and_the_files_are_kept_from_others(
    tmp_path: Path,
) -> None:
    path = gateway_file(tmp_path, EXAMPLE.read_text("utf-8"), mode=0o644)
    said = new(tmp_path, path, "--board", "heltec-v3", "--group", "nogroup")
    config = node_config(tmp_path / "node.json")
    assert said["node"] == config["node"] == 2
    key = bytes.fromhex(config["key"])
    assert len(key) == frames.KEY_SIZE
    assert gwconfig.load(path).nodes[2].key == key
    nogroup = grp.getgrnam("nogroup").gr_gid
    for file in (path, tmp_path / "node.json"):
        st = file.stat()
        assert stat.S_IMODE(st.st_mode) == 0o640, file
        assert st.st_gid == nogroup, file
    assert said["config"]["mode"] == said["gateway_config"]["mode"] == "0640"
    assert said["config"]["group"] == said["gateway_config"]["group"] == "nogroup"
    assert said["gateway_config"]["table"] == "nodes.2"
    assert said["next"] == [
        f"{program()} flash --board heltec-v3 --config {tmp_path / 'node.json'}",
        "sudo systemctl restart meteolink-gateway",
    ]
    # Another node gets another key.
    new(tmp_path, path, "--board", "heltec-v3", "--group", "nogroup", output="other.json")
    assert node_config(tmp_path / "other.json")["key"] != config["key"]


def test_under_sudo_the_config_json_is_the_technicians_and_the_gateway_file_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sudo, to change /etc/meteolink/gateway.toml; config.json is then flashed without it."""
    path = gateway_file(tmp_path, EXAMPLE.read_text("utf-8"))
    nobody = pwd.getpwnam("nobody").pw_uid
    monkeypatch.setenv("SUDO_UID", str(nobody))
    said = new(tmp_path, path, "--board", "pico", "--group", "nogroup")
    root = os.geteuid() == 0  # as CI runs; a user's own run is no sudo: SUDO_UID is ignored
    assert (tmp_path / "node.json").stat().st_uid == (nobody if root else os.geteuid())
    assert said["config"]["owner"] == ("nobody" if root else pwd.getpwuid(os.geteuid()).pw_name)
    assert path.stat().st_uid == os.geteuid()
    bridge = new(tmp_path, None, "--board", "pico", "--role", "bridge", output="bridge.json")
    assert bridge["config"]["owner"] == said["config"]["owner"]


def test_without_the_gateway_group_the_file_keeps_its_own(tmp_path: Path) -> None:
    # The machine the tests run on has no group meteolink: the file's group stays.
    assert key_files.gateway_group(None) is None
    path = gateway_file(tmp_path, EXAMPLE.read_text("utf-8"))
    other = grp.getgrnam("daemon").gr_gid if os.geteuid() == 0 else os.getgroups()[-1]
    os.chown(path, -1, other)
    me, mine = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
    proc = meteolink(
        "node", "new", "--board", "pico", "--config", str(path), "-o", str(tmp_path / "n.json")
    )
    assert proc.returncode == 0, proc.stderr
    assert path.stat().st_gid == other and stat.S_IMODE(path.stat().st_mode) == 0o640
    lines = proc.stdout.splitlines()
    assert lines[0] == (
        "node 2: board pico, sends by LoRa 868.1 MHz SF9, sensors bme280, battery,"
        " a reading every 600 s"
    )
    assert lines[1] == (
        f"wrote {tmp_path / 'n.json'}, its config.json with a new key: mode 0640, owner {me},"
        f" group {mine}"
    )
    assert lines[2] == (
        f"added [nodes.2] with the same key to {path}, the rest of the file as it was:"
        f" mode 0640, owner {me}, group {grp.getgrgid(other).gr_name} (this machine has no"
        " group meteolink, the gateway's: copied to its Pi, the file needs chgrp meteolink)"
    )
    assert lines[3:] == [
        f"next: {program()} flash --board pico --config {tmp_path / 'n.json'}",
        "then: sudo systemctl restart meteolink-gateway (the gateway reads [nodes] when it starts)",
    ]


def test_the_free_id_skips_nodes_listed_and_nodes_the_store_has_counted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(data / "readings.db")
    frame = reading(2, 7)
    store.commit([Reading(2, 7, 1000.0, 1000.0, frame)], {2: (0, SequenceWindow(highest=7), "")})
    store.commit([], {4: (0, SequenceWindow(highest=1), "")})
    store.close()
    text = EXAMPLE.read_text("utf-8").replace('data = "/var/lib/meteolink"', f'data = "{data}"')
    path = gateway_file(tmp_path, text)
    assert new(tmp_path, path, "--board", "pico", output="a.json")["node"] == 3
    assert new(tmp_path, path, "--board", "pico", output="b.json")["node"] == 5
    # Given by hand, a node the store has heard but [nodes] does not list is taken.
    assert new(tmp_path, path, "--board", "pico", "--id", "4", output="c.json")["node"] == 4
    assert new(tmp_path, path, "--board", "pico", "--id", "0x10", output="d.json")["node"] == 16


BOARDS = board_file.known_boards()


@pytest.mark.parametrize("board", BOARDS)
def test_flash_takes_what_node_new_writes_for_every_board(tmp_path: Path, board: str) -> None:
    path = gateway_file(tmp_path, EXAMPLE.read_text("utf-8"))
    made = [new(tmp_path, path, "--board", board, output="node.json")["config"]["path"]]
    has_radio = board_file.load_board(board).data["radio"] is not None
    if has_radio:
        made.append(
            new(tmp_path, None, "--board", board, "--role", "bridge", output="bridge.json")[
                "config"
            ]["path"]
        )
    for config in made:
        proc = meteolink("flash", "--board", board, "--config", config, "--dry-run")
        assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
        assert proc.stdout.startswith("dry run: no board is touched\n")


def test_a_bridge_gets_a_config_json_alone(tmp_path: Path) -> None:
    said = new(
        tmp_path,
        None,
        "--board",
        "heltec-v3",
        "--role",
        "bridge",
        "--freq",
        "869.525",
        "--sf",
        "10",
        output="bridge.json",
    )
    assert node_config(tmp_path / "bridge.json") == {
        "node": frames.MAX_NODE,
        "sensors": [],
        "transport": "lora",
        "lora": {"freq_hz": 869525000, "sf": 10},
        "role": "bridge",
    }
    assert said["gateway_config"] is None and said["role"] == "bridge"
    proc = meteolink(
        "node",
        "new",
        "--board",
        "heltec-v3",
        "--role",
        "bridge",
        "--id",
        "900",
        "-o",
        str(tmp_path / "b900.json"),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == (
        "bridge 900: board heltec-v3, listens on LoRa 868.1 MHz SF9 (its nodes must use the"
        " same channel)"
    )
    assert proc.stdout.splitlines()[-1] == (
        "then: plug it into the gateway's USB and give its /dev/serial/by-id/ path as"
        " [[serial]] port in the gateway's configuration"
    )


def test_the_gateway_stores_what_the_new_node_sends_and_turns_away_a_forger(
    tmp_path: Path, line: Line
) -> None:
    """The generated files as they are: config.json on the sim board's flash, the gateway
    process on the edited deploy/gateway.toml; the node's frames carry the new key's MIC."""
    data = tmp_path / "data"
    text = (
        EXAMPLE.read_text("utf-8")
        .replace('data = "/var/lib/meteolink"', f'data = "{data}"')
        .replace(
            "/dev/serial/by-id/usb-Espressif_USB_JTAG_serial_debug_unit_XX:XX:XX:XX:XX:XX-if00",
            str(line.link),
        )
        .replace('url = "mqtt://localhost:1883"', '# url = "mqtt://localhost:1883"')
    )
    path = gateway_file(tmp_path, text)
    said = new(tmp_path, path, "--board", "sim", "--transport", "uart", "--interval", "60")
    node = said["node"]
    config = tmp_path / "node.json"
    key = bytes.fromhex(node_config(config)["key"])
    g = GatewayProcess(path, data)
    g.start()
    sim_line = SimLine()
    try:
        g.wait_open()
        sim = SimNode(
            tmp_path / "sim",
            {"node": 0},
            {"link": sim_line.path, "air": {"temperature": 3.5}, "battery_v": 3.1},
        )
        (sim.flash / "config.json").write_bytes(config.read_bytes())  # as flash copies it
        sent = []
        for _ in range(3):
            out = sim.wake()
            assert sim.returncode == 0, out
            wire = sim_line.read()
            for record in framing.Deframer().feed(wire):
                assert isinstance(record, bytes)
                frame = frames.decode(record, key)
                assert frame.mic and frame.node == node
                sent.append((node, frame.seq))
            line.write(wire)
        assert [s for _, s in sent] == [0, 1, 2]
        wait_until(lambda: g.stored() == sent, "the new node's three readings")
        line.send(reading(node, 50, key=bytes(16)))  # someone with a made-up key
        line.send(reading(node, 51))  # or none
        line.send(reading(node, 3, key=key))  # and the node again
        wait_until(lambda: len(g.stored()) == 4, "the next genuine reading")
        assert g.stop() == 0
    finally:
        g.kill()
        sim_line.close()
    assert g.stored() == [*sent, (node, 3)]
    log = g.log()
    assert "forged, or a wrong key" in log
    assert key.hex() not in log


def said_by(proc: "subprocess.Popen[str]", text: str, timeout: float = 15) -> None:
    """Wait until a firmware process has printed text (read from its pipe, never blocking)."""
    assert proc.stdout is not None
    fd, got = proc.stdout.fileno(), ""
    deadline = time.monotonic() + timeout
    while text not in got:
        assert time.monotonic() < deadline and proc.poll() is None, got
        if select.select([fd], [], [], 0.1)[0]:
            got += os.read(fd, 4096).decode("utf-8", "replace")


def test_a_new_bridge_passes_a_new_lora_node_on_to_the_gateway(
    tmp_path: Path, line: Line, ether_hub: HubProcess
) -> None:
    data = tmp_path / "data"
    text = (
        EXAMPLE.read_text("utf-8")
        .replace('data = "/var/lib/meteolink"', f'data = "{data}"')
        .replace(
            "/dev/serial/by-id/usb-Espressif_USB_JTAG_serial_debug_unit_XX:XX:XX:XX:XX:XX-if00",
            str(line.link),
        )
        .replace('url = "mqtt://localhost:1883"', '# url = "mqtt://localhost:1883"')
    )
    path = gateway_file(tmp_path, text)
    new(tmp_path, None, "--board", "sim", "--role", "bridge", "--sf", "7", output="bridge.json")
    node = new(tmp_path, path, "--board", "sim", "--sf", "7", output="node.json")["node"]
    ether = {"METEOLINK_LORA_ETHER": ether_hub.address}
    g = GatewayProcess(path, data)
    g.start()
    bridge_line = SimLine()
    bridge = SimNode(tmp_path / "bridge", {"node": 0}, {"link": bridge_line.path}, ether)
    (bridge.flash / "config.json").write_bytes((tmp_path / "bridge.json").read_bytes())
    sim = SimNode(tmp_path / "node", {"node": 0}, {"air": {"temperature": 4.75}}, ether)
    (sim.flash / "config.json").write_bytes((tmp_path / "node.json").read_bytes())
    cable = Cable(bridge_line, line.master)
    proc = bridge.start()
    try:
        g.wait_open()
        cable.plug()
        # Past the bridge's maintenance window (config.json leaves it at 5 s).
        said_by(proc, "meteolink: node 65534 starts in 5 s")
        time.sleep(5.5)
        for _ in range(2):
            out = sim.wake()
            assert sim.returncode == 0, out
        wait_until(lambda: g.stored() == [(node, 0), (node, 1)], "two readings over LoRa", 30)
        assert g.stop() == 0
    finally:
        cable.unplug()
        proc.kill()
        proc.communicate(timeout=10)
        g.kill()
        bridge_line.close()


ERRORS = [
    (
        ["--id", "1"],
        'node 1 is already in {config} as [nodes.1] ("Cēsis school roof"): give another --id;'
        " leave --id out for the next free one, 2",
    ),
    (["--id", "0"], "--id: expected an integer 1..65534, got 0"),
    (["--id", "65535"], "--id: expected an integer 1..65534, got 65535"),
    (
        ["--id", "seven"],
        "argument --id: 'seven' is not a node id (give 1 to 65534) (see 'meteolink node new "
        "--help')",
    ),
    (
        ["--sensors", "bme281"],
        "--sensors: sensors[0]: unknown sensor 'bme281' (known: battery, bme280, pms5003, scd41, "
        "sds011, sgp40, sht3x, sht4x)",
    ),
    (["--sensors", "bme280,bme280"], "--sensors: sensors[1]: bme280 is listed twice"),
    (
        ["--sensors", "pms5003,sds011"],
        "--sensors: sensors[1]: one PM sensor per node: the board has one UART for it",
    ),
    (
        ["--sensors", "bme280@0x99"],
        "--sensors: sensors[0].address: expected an integer 8..119, got 153",
    ),
    (
        ["--sensors", "bme280@x77"],
        "--sensors: 'bme280@x77': the I2C address is not a number (give bme280@0x77)",
    ),
    (["--sensors", "battery@0x40"], "--sensors: sensors[0].address: battery is not an I2C sensor"),
    (["--interval", "5"], "--interval: expected an integer 30..86400 s, got 5"),
    (
        ["--interval", "ten"],
        "argument --interval: 'ten' is not a whole number (see 'meteolink node new --help')",
    ),
    (
        ["--freq", "850"],
        "--freq: expected an integer 863000000..870000000 Hz (EU868), got 850000000",
    ),
    (["--freq", "868.0001"], "--freq: the radio takes whole kHz, got 868000100 Hz"),
    (
        ["--freq", "868.65"],
        "--freq: a 125000 Hz wide channel at 868650000 Hz does not fit in one EU868 sub-band:"
        " not transmitting there (see docs/lora.md)",
    ),
    (
        ["--freq", "MHz"],
        "argument --freq: 'MHz' is not a frequency in MHz (give 868.1, for example) (see "
        "'meteolink node new --help')",
    ),
    (
        ["--freq", "nan"],
        "argument --freq: 'nan' is not a frequency in MHz (give 868.1, for example) (see "
        "'meteolink node new --help')",
    ),
    (
        ["--freq", "inf"],
        "argument --freq: 'inf' is not a frequency in MHz (give 868.1, for example) (see "
        "'meteolink node new --help')",
    ),
    (["--sf", "13"], "--sf: expected an integer 7..12, got 13"),
    (
        ["--transport", "uart", "--sf", "7"],
        "--freq and --sf are for LoRa, and this node sends by uart (leave them out, or give "
        "--transport lora)",
    ),
    (["--transport", "ble", "--ack"], "--ack: a BLE node cannot hear acknowledgements: set false"),
    (
        ["--transport", "carrier-pigeon"],
        "argument --transport: invalid choice: 'carrier-pigeon' (choose from 'uart', 'lora', "
        "'ble') (see 'meteolink node new --help')",
    ),
    (
        ["--board", "esp32-devkitc", "--transport", "lora"],
        '--transport: "lora" needs a LoRa radio and board esp32-devkitc has none (send by "ble"'
        ' or "uart", or use a LoRa board: heltec-v2, heltec-v3, lilygo-t3-v1.6, pico, pico-w)',
    ),
    (
        ["--board", "pico", "--transport", "ble"],
        '--transport: "ble" needs Bluetooth and board pico has none (send by "uart" or "lora")',
    ),
    (
        ["--board", "esp32-devkitc", "--sensors", "bme280,battery"],
        "--sensors: sensors[1]: battery: board esp32-devkitc cannot measure its battery (give"
        ' "sensors" without "battery": left out, "sensors" means ["bme280", "battery"])',
    ),
    (
        ["--board", "heltec-v4"],
        "unknown board 'heltec-v4' (known: esp32-devkitc, heltec-v2, heltec-v3, lilygo-t3-v1.6, "
        "pico, pico-w, sim; or give the path of a board file)",
    ),
    (["--board", "my-board.json"], "my-board.json: no such board file"),
    (
        ["--group", "no-such-group"],
        "--group no-such-group: no such group on this machine (the gateway's group is meteolink, "
        "which deploy/meteolink.sysusers creates)",
    ),
    (["-o", "{tmp}"], "--output {tmp} is a directory: give a file name, node-17.json"),
    (["-o", "{tmp}/no/node.json"], "--output {tmp}/no/node.json: no such directory {tmp}/no"),
    (
        ["-o", "{tmp}/taken.json"],
        "{tmp}/taken.json already exists and may hold a node's key: give another --output, or "
        "move it away first",
    ),
    (
        ["--role", "bridge", "--name", "x", "--ack", "--config", "{config}"],
        "--ack, --name, --config: not for a bridge, which has no sensors, key or [nodes.N] (a "
        "bridge takes --board, --id, --freq, --sf and --output)",
    ),
    (
        ["--role", "bridge", "--board", "esp32-devkitc"],
        "--role bridge: board esp32-devkitc has no LoRa radio, and a bridge listens on LoRa "
        "(give a LoRa board: meteolink boards list)",
    ),
    (
        ["--role", "relay"],
        "argument --role: invalid choice: 'relay' (choose from 'node', 'bridge') (see 'meteolink "
        "node new --help')",
    ),
]


@pytest.mark.parametrize(("args", "said"), ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
def test_every_mistake_is_one_line_and_nothing_is_written(
    tmp_path: Path, args: list[str], said: str
) -> None:
    path = gateway_file(tmp_path, EXAMPLE.read_text("utf-8"))
    (tmp_path / "taken.json").write_text("{}\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    args = [a.replace("{tmp}", str(tmp_path)).replace("{config}", str(path)) for a in args]
    config = [] if "--config" in args or "bridge" in args else ["--config", str(path)]
    board = [] if "--board" in args else ["--board", "heltec-v3"]
    out = [] if "-o" in args else ["-o", str(tmp_path / "node.json")]
    proc = meteolink("node", "new", *board, *config, *out, *args)
    expected = said.replace("{config}", str(path)).replace("{tmp}", str(tmp_path))
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.encode("latin-1").decode() == f"meteolink: node new: {expected}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert path.read_text("utf-8") == EXAMPLE.read_text("utf-8")


@pytest.mark.parametrize(
    ("text", "mode", "said"),
    [
        (
            None,
            0o640,
            "{config}: no such file (give --config FILE, the gateway's configuration, where the "
            "node's [nodes.N] goes)",
        ),
        (
            "[gateway\n",
            0o640,
            "{config}: not valid TOML: Expected ']' at the end of a table declaration (at line "
            "1, column 9)",
        ),
        (
            '[nodes.1]\nkey = "000102030405060708090a0b0c0d0e0f"\n',
            0o644,
            "{config}: holds nodes.1.key and every user may read it (chmod 640 {config}; the "
            "service reads it through its group: chgrp meteolink {config})",
        ),
        (
            "[gateway]\nname = 'x'\nnodes = { 1 = { name = 'inline' } }\n",
            0o640,
            "{config}: gateway.nodes: unknown key (check its spelling against deploy/gateway.toml)",
        ),
        (
            "nodes = { 1 = { name = 'inline' } }\n",
            0o640,
            "{config}: cannot add [nodes.2] without changing the rest of the file: write each "
            "node as a [nodes.N] table, not [nodes] as an inline table or dotted keys",
        ),
    ],
    ids=["missing", "not-toml", "readable-by-all", "misplaced", "inline"],
)
def test_a_gateway_file_it_cannot_use_is_one_line_and_left_alone(
    tmp_path: Path, text: str | None, mode: int, said: str
) -> None:
    path = tmp_path / "gateway.toml"
    if text is not None:
        gateway_file(tmp_path, text, mode=mode)
    proc = meteolink(
        "node", "new", "--board", "pico", "--config", str(path), "-o", str(tmp_path / "n.json")
    )
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == f"meteolink: node new: {said.replace('{config}', str(path))}\n"
    assert not (tmp_path / "n.json").exists()
    if text is not None:
        assert path.read_text("utf-8") == text


def test_someone_who_may_not_change_the_file_or_give_the_group_is_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = gateway_file(tmp_path, EXAMPLE.read_text("utf-8"))
    args = ["node", "new", "--board", "pico", "--config", str(path), "-o", str(tmp_path / "n.json")]
    # Not root and not in the group (as a technician's own account on the Pi).
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "getgroups", lambda: [1000])
    monkeypatch.setattr(os, "getegid", lambda: 1000)
    assert cli.main([*args, "--group", "nogroup"]) == 2
    assert capsys.readouterr().err == (
        "meteolink: node new: cannot give the key files to group nogroup: you are not in it"
        " (run the command with sudo, or give --group with a group of yours)\n"
    )
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    assert cli.main(args) == 2
    assert capsys.readouterr().err == (
        f"meteolink: node new: {path}: permission denied: this user cannot change it (run the"
        " command with sudo)\n"
    )
    assert not (tmp_path / "n.json").exists()
    assert path.read_text("utf-8") == EXAMPLE.read_text("utf-8")


def test_a_write_that_fails_leaves_both_files_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = gateway_file(tmp_path, EXAMPLE.read_text("utf-8"))
    args = ["node", "new", "--board", "pico", "--config", str(path), "-o", str(tmp_path / "n.json")]

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    assert cli.main(args) == 1
    assert capsys.readouterr().err == (
        f"meteolink: node new: {path}: cannot write it (No space left on device); nothing was"
        " changed\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gateway.toml"]
    assert path.read_text("utf-8") == EXAMPLE.read_text("utf-8")


def test_a_file_changed_meanwhile_is_not_written_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = gateway_file(tmp_path, EXAMPLE.read_text("utf-8"))
    real = gateway_toml.add_node

    def and_someone_else(*a: Any, **k: Any) -> tuple[str, str]:
        got = real(*a, **k)
        path.write_text(EXAMPLE.read_text("utf-8") + "\n[nodes.9]\n", "utf-8")
        return got

    monkeypatch.setattr(gateway_toml, "add_node", and_someone_else)
    args = ["node", "new", "--board", "pico", "--config", str(path), "-o", str(tmp_path / "n.json")]
    assert cli.main(args) == 2
    assert capsys.readouterr().err == (
        f"meteolink: node new: {path.resolve()} was changed by someone else meanwhile: nothing"
        " was added; run the command again\n"
    )
    assert path.read_text("utf-8").endswith("\n[nodes.9]\n")
    assert not (tmp_path / "n.json").exists()


def test_a_header_inside_a_string_does_not_mislead_the_placement() -> None:
    # The last "[nodes.7]" and the "[mqtt]" after it are inside a string: the block, put
    # where they suggest, would land in the string; the check sends it to the end.
    text = '[nodes.1]\n\n[gateway]\nnote = """\n[nodes.7]\nname = 1\n\n[mqtt]\n"""\n'
    result, block = gateway_toml.add_node(text, 2, {"key": "00" * 16}, "test")
    assert result == text + block
    assert block == '\n# test\n[nodes.2]\nkey = "00000000000000000000000000000000"\n'
    assert tomllib.loads(result)["gateway"]["note"] == "[nodes.7]\nname = 1\n\n[mqtt]\n"


def test_a_gateway_with_every_id_listed_has_none_to_give(tmp_path: Path) -> None:
    every = "".join(f"[nodes.{n}]\n" for n in range(1, frames.MAX_NODE + 1))
    path = gateway_file(tmp_path, every)
    for args, said in (
        ([], f"{path}: every node id is taken; give --id"),
        (["--id", "5"], f"node 5 is already in {path} as [nodes.5]: give another --id"),
    ):
        proc = meteolink(
            "node",
            "new",
            "--board",
            "pico",
            "--config",
            str(path),
            "-o",
            str(tmp_path / "n.json"),
            *args,
        )
        assert (proc.returncode, proc.stderr) == (2, f"meteolink: node new: {said}\n")


def test_a_config_json_that_cannot_be_created_is_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = gateway_file(tmp_path, EXAMPLE.read_text("utf-8"))
    output = tmp_path / "n.json"

    def refused(*_: object, **__: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refused)
    args = ["node", "new", "--board", "pico", "--config", str(path), "-o", str(output)]
    assert cli.main(args) == 2
    assert capsys.readouterr().err == (
        f"meteolink: node new: {output}: cannot create it (Permission denied)\n"
    )
    assert path.read_text("utf-8") == EXAMPLE.read_text("utf-8")


def test_node_without_an_action_says_which_there_are() -> None:
    proc = meteolink("node")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (
        "meteolink: node: the following arguments are required: ACTION (see 'meteolink node"
        " --help')\n"
    )

"""The `meteolink` command, run as a user runs it: the installed script."""

import json
from pathlib import Path

import pytest

from meteolink.firmware import frames, framing
from tests.support.tools import VECTORS, meteolink, meteolink_bytes

GOLDEN = Path(__file__).parent / "golden"
NINE = VECTORS["valid"][1]
KEY = "000102030405060708090a0b0c0d0e0f"


def test_fields_prints_the_field_table() -> None:
    proc = meteolink("fields")
    assert proc.returncode == 0
    assert proc.stdout.encode("latin-1").decode() == (GOLDEN / "fields.txt").read_text("utf-8")


def test_boards_list_prints_the_board_table() -> None:
    proc = meteolink("boards", "list")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == (GOLDEN / "boards.txt").read_text("utf-8")


def test_encode_prints_the_vector() -> None:
    values = [
        f"{k}={v}" for k, v in NINE["json"].items() if k not in ("version", "node", "seq", "flags")
    ]
    proc = meteolink("encode", "--node", "7", "--seq", "42", *values)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, NINE["hex"] + "\n", "")
    proc = meteolink("encode", "--node", "7", "--seq", "42", "--serial", *values)
    assert proc.stdout.strip() == NINE["serial"]


def test_encode_with_key_and_flags_round_trips_through_decode() -> None:
    enc = meteolink(
        "encode",
        "--node",
        "12",
        "--seq",
        "4096",
        "--key",
        KEY,
        "--ack-request",
        "--boot",
        "temperature=-12.34",
        "age=3600",
    )
    assert enc.returncode == 0
    dec = meteolink("decode", "--key", KEY, enc.stdout.strip())
    assert dec.returncode == 0
    assert json.loads(dec.stdout) == {
        "version": 1,
        "node": 12,
        "seq": 4096,
        "flags": ["mic", "ack_request", "boot"],
        "mic": "verified",
        "temperature": -12.34,
        "age": 3600.0,
    }


def test_encode_ack() -> None:
    ack = next(v for v in VECTORS["valid"] if v["name"] == "acknowledgement")
    proc = meteolink("encode", "--ack", "--node", "7", "--seq", "42")
    assert proc.stdout.strip() == ack["hex"]


def test_decode_reads_hex_lines_from_stdin_and_goes_on_after_a_bad_frame() -> None:
    bad = VECTORS["invalid"][3]
    lines = f"# a capture\n{NINE['hex']}\n\n{bad['hex']}\n{NINE['hex'].upper()}\n"
    proc = meteolink("decode", stdin=lines.encode())
    assert proc.returncode == 1
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert out[0] == NINE["json"] and out[2] == NINE["json"]
    assert out[1]["reason"] == bad["reason"] and out[1]["error"]
    assert out[1]["frame"] == bad["hex"]


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=[v["name"] for v in VECTORS["invalid"]])
def test_decode_reports_why_a_frame_failed(vector: dict[str, str]) -> None:
    args = ["--key", vector["key"]] if vector["key"] else []
    proc = meteolink("decode", *args, vector["hex"])
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["reason"] == vector["reason"]


def test_decode_serial_capture_with_noise_cut_frames_and_radio_metadata() -> None:
    a = bytes.fromhex(NINE["hex"])
    b = frames.encode(3, 9, {"temperature": 1.5})
    capture = (
        b"\x13\x37garbage"  # the capture began mid-frame
        + framing.cobs_encode(a)
        + framing.cobs_encode(b)[:7]  # cut short by a reset
        + framing.cobs_encode(framing.radio_record(b, -117, -7.25))
        + framing.cobs_encode(a)[:-3]  # capture ends mid-frame
    )
    proc = meteolink_bytes("decode", "--serial", "-", stdin=capture)
    assert proc.returncode == 1
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o.get("node") for o in out] == [None, 7, None, 3, None]
    assert out[1] == NINE["json"]
    assert (out[3]["rssi"], out[3]["snr"], out[3]["temperature"]) == (-117, -7.25, 1.5)
    assert out[4]["reason"] == "truncated"


def test_decode_serial_file(tmp_path: Path) -> None:
    capture = tmp_path / "capture.bin"
    capture.write_bytes(bytes.fromhex(NINE["serial"]) * 3)
    proc = meteolink("decode", "--serial", str(capture))
    assert proc.returncode == 0
    assert [json.loads(line) for line in proc.stdout.splitlines()] == [NINE["json"]] * 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["encode", "--node", "7", "--seq", "1", "temp=1"], "unknown field 'temp'"),
        (["encode", "--node", "7", "--seq", "1", "humidity=101"], "humidity 101.0 %RH is outside"),
        (["encode", "--node", "7", "--seq", "1", "humidity=wet"], "not a number"),
        (["encode", "--node", "7", "--seq", "1", "humidity=nan"], "humidity nan is out of range"),
        (["encode", "--node", "7", "--seq", "1", "co2=-inf"], "co2 -inf is out of range"),
        (["encode", "--node", "7", "--seq", "1", "humidity"], "is not FIELD=VALUE"),
        (["encode", "--node", "0", "--seq", "1"], "node id 0 is not in 1..65534"),
        (["encode", "--node", "7", "--seq", "99999999"], "sequence counter 99999999"),
        (["encode", "--node", "x", "--seq", "1"], "invalid int value: 'x'"),
        (["encode", "--seq", "1"], "required: --node"),
        (["encode", "--node", "7", "--seq", "1", "--key", "0011"], "a node key is 16 bytes"),
        (["encode", "--node", "7", "--seq", "1", "--key", "xyz"], "is not hex"),
        (["encode", "--ack", "--node", "7", "--seq", "1", "co2=400"], "carries no values"),
        (["decode", "zz"], "'zz' is not a hex frame"),
        (["decode", "--serial", "/no/such/capture"], "No such file or directory"),
        (["decode", "--serial", "-", "00"], "not both"),
        (["boards"], "the following arguments are required: ACTION"),
        (["boards", "check"], "the following arguments are required: FILE"),
        (["boards", "frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "no command given"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_user_mistakes_give_one_line_and_status_2(args: list[str], message: str) -> None:
    proc = meteolink(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("meteolink: ")
    assert message in lines[0]


def test_binary_on_stdin_without_serial_is_a_user_mistake() -> None:
    proc = meteolink_bytes("decode", stdin=bytes.fromhex(NINE["serial"]) + b"\xff\xfe")
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("meteolink: decode: stdin line 1")
    assert "for a raw serial capture use --serial -" in proc.stderr.decode()
    assert b"Traceback" not in proc.stderr


def test_the_command_table_names_every_command_where_it_is() -> None:
    """cli._WHERE says which module holds each command: none missing, none misplaced."""
    import importlib
    import pkgutil

    from meteolink.tools import cli

    found = {}
    for info in pkgutil.iter_modules(importlib.import_module("meteolink.tools").__path__):
        if info.name == "__main__":  # `python -m meteolink.tools`: runs the command
            continue
        module = importlib.import_module(f"meteolink.tools.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            found[command.name] = info.name
    assert found == cli._WHERE


def test_a_command_imports_only_its_own_module() -> None:
    """`meteolink gateway` runs for months: importing every command's module (the
    simulator, the monitor, tomlkit...) made it 17 MB larger."""
    import subprocess
    import sys

    code = (
        "import sys; from meteolink.tools import cli; cli.build_parser(['gateway', '--check']);"
        "print(' '.join(m for m in sys.modules if m.startswith('meteolink.tools.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    commands = {m for m in out if m.removeprefix("meteolink.tools.") in _command_modules()}
    assert commands == {"meteolink.tools.gateway_cmd"}
    assert "tomlkit" not in out


def _command_modules() -> set[str]:
    from meteolink.tools import cli

    return set(cli._WHERE.values())

"""Issue 11, item 8: the mistakes a new user made while trying meteolink, each one line.

Each test here was seen failing first (a traceback, a misleading line, or a --check that
said "valid" to what could not work). A user mistake is one line on stderr,
`meteolink: COMMAND: what was wrong (what to do)`, and exit status 2.

Permissions: the tests run as root in CI, and root reads and writes everything. So the
commands that must meet a permission are run by `unprivileged()`: as root, through
setpriv without the two capabilities that let root past a file's mode
(CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so the owner's mode bits bind it as they bind
any user; as another user, as that user. Never skipped.
"""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from meteolink.firmware import frames
from meteolink.gateway.store import Reading, Store
from tests.support.tools import ROOT, find_tool, meteolink

# What a file's mode cannot stop root from doing, taken away.
ROOT_PAST_MODES = "-dac_override,-dac_read_search"


def unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    """`meteolink ARGS` bound by file modes, whoever runs the tests; never a traceback."""
    command = [find_tool("meteolink"), *args]
    if os.geteuid() == 0:
        setpriv = find_tool("setpriv")
        command = [
            setpriv,
            f"--bounding-set={ROOT_PAST_MODES}",
            f"--inh-caps={ROOT_PAST_MODES}",
            *command,
        ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The single line of a user mistake, after checking it is one, with status 2."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def store_dir(tmp_path: Path) -> Iterator[Path]:
    """A data directory with a store of one reading; its modes put back afterwards."""
    data = tmp_path / "data"
    store = Store(data / "readings.db")
    store.commit([Reading(5, 1, 1.7e9, 1.7e9, frames.encode(5, 1, {"temperature": 1.5}))], {})
    store.close()
    yield data
    for path in (data, *data.iterdir()) if os.access(data, os.X_OK) else (data,):
        path.chmod(0o700 if path.is_dir() else 0o600)
    data.chmod(0o700)


def test_the_unprivileged_runner_is_bound_by_file_modes(store_dir: Path) -> None:
    """What the tests below rely on: a mode of 000 stops the command, root or not."""
    proc = unprivileged("export", "--data", str(store_dir), "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    (store_dir / "readings.db").chmod(0)
    proc = unprivileged("export", "--data", str(store_dir), "--format", "jsonl")
    assert proc.returncode != 0 and proc.stdout == ""


def test_export_from_a_directory_it_may_not_read_says_so(store_dir: Path) -> None:
    """It ended in a PermissionError traceback."""
    store_dir.chmod(0)
    line = one_line(unprivileged("export", "--data", str(store_dir)))
    assert line.startswith(f"meteolink: export: {store_dir}: permission denied")
    assert "sudo -u meteolink" in line


def test_an_unreadable_store_is_not_called_a_foreign_file(store_dir: Path) -> None:
    """It said "is it a meteolink store?" of a store it was not allowed to read."""
    db = store_dir / "readings.db"
    db.chmod(0)
    line = one_line(unprivileged("export", "--data", str(store_dir)))
    assert line.startswith(f"meteolink: export: {db}: permission denied")
    assert "meteolink store?" not in line
    assert "sudo -u meteolink" in line


def test_a_file_that_is_no_store_is_still_called_one(tmp_path: Path) -> None:
    (tmp_path / "readings.db").write_text("a shopping list\n")
    proc = meteolink("export", "--data", str(tmp_path))
    assert proc.returncode == 1
    assert "is it a meteolink store?" in proc.stderr


def test_an_empty_serial_port_is_refused_by_check_and_at_start(tmp_path: Path) -> None:
    """`--serial ""` passed --check, then ended in a ValueError traceback."""
    for extra in (["--check"], []):
        proc = meteolink("gateway", "--serial", "", "--data", str(tmp_path), *extra)
        line = one_line(proc)
        assert line.startswith("meteolink: gateway: --serial '': no port given")
        assert "/dev/serial/by-id/" in line
    assert not (tmp_path / "readings.db").exists(), "refused before anything is opened"


def test_check_refuses_a_data_directory_the_gateway_may_not_write(tmp_path: Path) -> None:
    """--check said "valid" of a store the gateway could then not open."""
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o555)
    try:
        line = one_line(
            unprivileged("gateway", "--serial", "/dev/null", "--data", str(data), "--check")
        )
        assert line.startswith(f"meteolink: gateway: {data}: ")
        assert "may not write" in line and "--data" in line
        # Not there yet, and not to be made either: its parent is read-only.
        deeper = data / "store"
        line = one_line(
            unprivileged("gateway", "--serial", "/dev/null", "--data", str(deeper), "--check")
        )
        assert line.startswith(f"meteolink: gateway: {deeper}: ")
        assert f"cannot be made in {data}" in line
    finally:
        data.chmod(0o755)
    # Writable, or to be made in a writable parent: valid.
    for good in (data, data / "store"):
        proc = unprivileged("gateway", "--serial", "/dev/null", "--data", str(good), "--check")
        assert proc.returncode == 0, proc.stderr
        assert f"store in {good}" in proc.stdout


def test_check_refuses_the_example_configs_placeholder_port(tmp_path: Path) -> None:
    """deploy/gateway.toml's port is a pattern to replace: --check said "valid" to it."""
    example = ROOT / "deploy" / "gateway.toml"
    line = one_line(meteolink("gateway", "--config", str(example), "--check"))
    assert line.startswith(f"meteolink: gateway: {example}: serial[0].port: ")
    assert "XX:XX" in line and "ls -l /dev/serial/by-id/" in line
    # A port that is not there is no better: the bridge is unplugged, or the name is wrong.
    proc = meteolink("gateway", "--serial", "/dev/serial/by-id/no-such-board", "--check")
    line = one_line(proc)
    assert line.startswith("meteolink: gateway: --serial: /dev/serial/by-id/no-such-board: ")
    assert "no such device" in line and "ls -l /dev/serial/by-id/" in line


def test_the_example_config_with_a_real_port_and_a_writable_store_is_valid(
    tmp_path: Path,
) -> None:
    text = (ROOT / "deploy" / "gateway.toml").read_text("utf-8")
    placeholder = (
        "/dev/serial/by-id/usb-Espressif_USB_JTAG_serial_debug_unit_XX:XX:XX:XX:XX:XX-if00"
    )
    assert placeholder in text
    path = tmp_path / "gateway.toml"
    text = text.replace(placeholder, "/dev/null").replace("/var/lib/meteolink", str(tmp_path))
    path.write_text(text, "utf-8")
    proc = meteolink("gateway", "--config", str(path), "--check")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"{path}: valid",
        f"gateway gateway, store in {tmp_path}",
        "reads /dev/null at 115200 baud",
        "forwards to mqtt://localhost:1883, topics meteolink/<node>/state",
        "status page: http://127.0.0.1:8080/ (no password)",
        '1 node listed, 0 with keys; unlisted nodes are turned away (unknown_nodes = "reject")',
    ]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["export", "--frm", "2026-11-01"],
            "meteolink: export: unknown option '--frm' (did you"
            " mean --from? see 'meteolink export --help')",
        ),
        (
            ["gateway", "--chek"],
            "meteolink: gateway: unknown option '--chek' (did you mean"
            " --check? see 'meteolink gateway --help')",
        ),
        (
            ["decode", "--seriall", "-"],
            "meteolink: decode: unknown option '--seriall' (did you"
            " mean --serial? see 'meteolink decode --help')",
        ),
        (
            ["export", "--nothing-like-it"],
            "meteolink: export: unknown option '--nothing-like-it' (see 'meteolink export --help')",
        ),
        (
            ["fields", "extra"],
            "meteolink: fields: unexpected argument 'extra' (see 'meteolink fields --help')",
        ),
        (["--frobnicate"], "meteolink: unknown option '--frobnicate' (see 'meteolink --help')"),
    ],
)
def test_a_misspelt_option_names_the_command_and_its_help(args: list[str], said: str) -> None:
    """It said `meteolink: unrecognized arguments: --frm (see 'meteolink --help')`: neither
    the command it was given to nor the help that lists that command's options."""
    assert one_line(meteolink(*args)) == said

"""Every board file of boards/ against the rules of its chip, and `meteolink boards check`.

The rules are the package's (meteolink.tools.board_rules, the chips' data in
meteolink.tools.chips): the ones `meteolink flash` runs on a board file and
`meteolink boards check` on a user's. Here they must pass every board file of boards/
and catch each wrong file below, a good one with one mistake a person could make, with
one line that names the key and what to write instead.

METEOLINK_BOARDS_DIR=/some/dir runs the same checks on the board files in another
directory (`meteolink boards check FILE` is the way for one file).
"""

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from meteolink.tools.board_rules import problems
from meteolink.tools.chips import RP2040_FUNCTIONS
from tests.support.tools import ROOT, meteolink

REPO_BOARDS = ROOT / "boards"
BOARDS_DIR = Path(os.environ.get("METEOLINK_BOARDS_DIR", str(REPO_BOARDS)))
BOARD_FILES = sorted(BOARDS_DIR.glob("*.json"))
DOC = ROOT / "docs" / "boards.md"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def found(board: Any) -> list[str]:
    return [str(p) for p in problems(board)]


def test_there_are_board_files() -> None:
    assert BOARD_FILES, f"no board files in {BOARDS_DIR}"


@pytest.mark.parametrize("path", BOARD_FILES, ids=lambda p: p.stem)
def test_board_file_keeps_the_rules_of_its_mcu(path: Path) -> None:
    wrong = found(load(path))
    assert not wrong, f"{path}:\n  " + "\n  ".join(wrong)


@pytest.mark.parametrize("path", BOARD_FILES, ids=lambda p: p.stem)
def test_the_wiring_document_describes_the_board(path: Path) -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert f"boards/{path.name}" in doc


def test_rp2040_function_table_has_the_datasheets_period() -> None:
    """Guards the table against a typing slip: its columns repeat with a fixed period.

    SPI: SPI0 on GPIO 0-7 and 16-23, SPI1 between; RX, CSn, SCK, TX in turn.
    UART: UART0 on 0-3, 12-19 and 28-29, UART1 between; TX, RX, CTS, RTS in turn.
    I2C: I2C0 and I2C1 alternate in pairs; SDA on even, SCL on odd GPIOs.
    """
    for gpio, (spi, uart, i2c) in RP2040_FUNCTIONS.items():
        assert spi == f"SPI{gpio // 8 % 2} {('RX', 'CSn', 'SCK', 'TX')[gpio % 4]}"
        assert uart == f"UART{(gpio + 4) // 8 % 2} {('TX', 'RX', 'CTS', 'RTS')[gpio % 4]}"
        assert i2c == f"I2C{gpio // 2 % 2} {('SDA', 'SCL')[gpio % 2]}"
    assert sorted(RP2040_FUNCTIONS) == list(range(30))


# Each wrong file is a good one with one mistake a person could make; the rules must
# catch every one, with one line, or they prove nothing about the files above.
MISTAKES: list[tuple[str, tuple[str, ...], Any, str]] = [
    ("esp32-devkitc", ("i2c", "sda"), 7, "GPIO7 is the SPI flash"),
    ("esp32-devkitc", ("uart", "tx"), 34, "uart.tx: GPIO34 is input-only"),
    ("esp32-devkitc", ("uart", "rx"), 16, "GPIO16 is the in-package flash"),
    ("esp32-devkitc", ("link", "id"), 2, "already the sensor UART"),
    ("esp32-devkitc", ("uart", "id"), 0, "uart.id: ESP32 has uart ids [1, 2]"),
    ("esp32-devkitc", ("maintenance_pin",), 36, "no internal pull-up"),
    ("esp32-devkitc", ("led",), 20, "ESP32 has no GPIO20"),
    ("esp32-devkitc", ("i2c", "scl"), 19, "GPIO19 is used twice: i2c.scl, uart.tx"),
    ("esp32-devkitc", ("arch",), "armv6m", "arch: mpy-cross -march for ESP32"),
    ("lilygo-t3-v1.6", ("battery", "pin"), 13, "not an ADC pin"),
    ("lilygo-t3-v1.6", ("radio", "package"), "lora-sx126x", "the sx1276 driver is"),
    ("lilygo-t3-v1.6", ("radio", "dio0"), None, "signals TX/RX done on DIO0"),
    ("lilygo-t3-v1.6", ("radio", "cs"), True, "radio.cs: true is not a gpio"),
    ("lilygo-t3-v1.6", ("spi",), None, "a radio needs the spi bus"),
    ("heltec-v2", ("sensor_power", "level"), 1, "not its active level"),
    ("heltec-v2", ("battery", "ratio"), 0.3125, "is not a divider"),
    ("heltec-v2", ("firmware",), "ESP32_GENERIC_S3", "is for ESP32-S3, not ESP32"),
    ("heltec-v3", ("radio", "busy"), None, "needs its BUSY pin"),
    ("heltec-v3", ("radio", "dio3_tcxo_millivolts"), 1900, "dio3_tcxo_millivolts: 1900"),
    ("heltec-v3", ("uart", "tx"), 23, "ESP32-S3 has no GPIO23"),
    ("heltec-v3", ("uart", "rx"), 30, "GPIO30 is the SPI flash/PSRAM"),
    ("heltec-v3", ("firmware",), "ESP32_GENERIC_S3-SPIRAM_OCT", "octal flash/PSRAM"),
    ("heltec-v3", ("battery", "pin"), 11, "GPIO11 is used twice"),
    ("pico", ("i2c", "sda"), 0, "i2c.sda: GP0 is SPI0 RX / UART0 TX / I2C0 SDA, not I2C1 SDA"),
    ("pico", ("spi", "miso"), 5, "not SPI0 RX"),
    ("pico", ("uart", "id"), 0, "uart.id: GP8, GP9 carry UART1, not UART0 (write 1"),
    ("pico", ("maintenance_pin",), 23, "the SMPS power-save control"),
    ("pico", ("led",), "LED", "'LED' is not a pin name of RPI_PICO"),
    ("pico", ("ble",), True, "no Bluetooth LE radio"),
    ("pico", ("port",), "esp32", "RP2040 runs the 'rp2' port"),
    ("pico", ("board_id",), 1, "unknown key board_id"),
    ("pico-w", ("battery", "pin"), 29, "CYW43 SPI clock"),
    ("pico-w", ("vbus_pin",), 24, "CYW43 SPI data"),
    ("pico-w", ("vbus_pin",), "WL_GPIO3", "not a pin name of RPI_PICO_W"),
]


def with_mistake(stem: str, path: tuple[str, ...], value: Any) -> dict[str, Any]:
    board: dict[str, Any] = copy.deepcopy(load(REPO_BOARDS / f"{stem}.json"))
    assert found(board) == [], "the good file must pass before the mistake is made"
    target = board
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return board


@pytest.mark.parametrize(
    ("stem", "path", "value", "message"),
    MISTAKES,
    ids=[f"{m[0]}-{'.'.join(m[1])}={m[2]!r}" for m in MISTAKES],
)
def test_a_wrong_board_file_is_caught(
    stem: str, path: tuple[str, ...], value: Any, message: str
) -> None:
    board = with_mistake(stem, path, value)
    wrong = problems(board)
    assert len(wrong) == 1, [str(p) for p in wrong]
    assert message in str(wrong[0])
    key = wrong[0].key
    assert key == "(file)" or key.split(".")[0] in board, "the line names a key of the file"
    assert wrong[0].fix, "and says what to write instead"


def written(board: dict[str, Any], key: str, fix: str) -> bool:
    """Write into the board what a problem says to write, where the fix names one value."""
    for pattern, value in (
        (r'^write "([^"]*)"', lambda m: m[1]),
        (r"^write (\d+)\b", lambda m: int(m[1])),
        (r"^write (true|false|null)\b", lambda m: json.loads(m[1])),
        (r"a free pin that fits ([\w.]+): (?:GPIO|GP)(\d+)", lambda m: int(m[2])),
    ):
        m = re.search(pattern, fix)
        if m:
            if m.lastindex == 2:
                key = m[1]
            target = board
            *groups, last = key.split(".")
            for group in groups:
                target = target[group]
            target[last] = value(m)
            return True
    m = re.match(r"^remove (\w+):", fix)
    if m:
        del board[m[1]]
        return True
    return False  # a fact of the schematic: which GPIO, which voltage, which divider


def test_what_a_problem_says_to_write_makes_the_file_right() -> None:
    fixed = []
    for stem, path, value, _ in MISTAKES:
        board = with_mistake(stem, path, value)
        [problem] = problems(board)
        if written(board, problem.key, problem.fix):
            assert found(board) == [], (stem, path, value, str(problem))
            fixed.append((stem, path))
    # The rest want a fact of the board's schematic (radio.dio0, battery.ratio, ...).
    assert len(fixed) == 26, fixed


# --- the command line: `meteolink boards check`, the installed script ------------------
def test_boards_check_accepts_every_board_file_of_boards() -> None:
    proc = meteolink("boards", "check", *(str(p) for p in sorted(REPO_BOARDS.glob("*.json"))))
    assert (proc.returncode, proc.stderr) == (0, "")
    names = [load(p)["name"] for p in sorted(REPO_BOARDS.glob("*.json"))]
    assert proc.stdout.splitlines() == [
        f"{p}: ok ({name})"
        for p, name in zip(sorted(REPO_BOARDS.glob("*.json")), names, strict=True)
    ]


def test_boards_check_takes_the_name_of_a_board_of_meteolink() -> None:
    proc = meteolink("boards", "check", "heltec-v3", "sim")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "heltec-v3: ok (Heltec WiFi LoRa 32 V3 (revision V3.2))",
        "sim: ok (sim: the MicroPython unix port with emulated parts)",
    ]


@pytest.mark.parametrize(
    ("stem", "path", "value", "message"),
    MISTAKES,
    ids=[f"{m[0]}-{'.'.join(m[1])}={m[2]!r}" for m in MISTAKES],
)
def test_boards_check_rejects_a_wrong_board_file_with_one_line(
    tmp_path: Path, stem: str, path: tuple[str, ...], value: Any, message: str
) -> None:
    file = tmp_path / f"my-{stem}.json"
    file.write_text(json.dumps(with_mistake(stem, path, value), indent=2), "utf-8")
    proc = meteolink("boards", "check", str(file))
    assert proc.returncode == 1
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    (problem,) = problems(load(file))
    assert line == f"meteolink: boards check: {file}: {problem}"
    assert message in line


def test_boards_check_names_each_mistake_of_each_file_and_the_good_ones(tmp_path: Path) -> None:
    board = load(REPO_BOARDS / "esp32-devkitc.json")
    board["uart"]["tx"] = 34
    board["led"] = 20
    bad = tmp_path / "two-mistakes.json"
    bad.write_text(json.dumps(board), "utf-8")
    proc = meteolink("boards", "check", "pico", str(bad))
    assert proc.returncode == 1
    assert proc.stdout == "pico: ok (Raspberry Pi Pico with an RFM95W (SX1276) module)\n"
    lines = proc.stderr.splitlines()
    assert [line.split(": ")[2:4] for line in lines] == [[str(bad), "uart.tx"], [str(bad), "led"]]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.json", None, "absent.json: no such board file"),
        ("folder.json", "a directory", "folder.json: cannot read it (Is a directory)"),
        ("text.json", b"name = 'heltec'\n", "text.json: not valid JSON (Expecting value"),
        ("binary.json", b"\xff\xfe\x00", "binary.json: not valid JSON ("),
        ("list.json", b"[]", "list.json: (file): expected an object, got [] (write one JSON"),
        ("null.json", b"null", "null.json: (file): expected an object, got null"),
    ],
)
def test_boards_check_refuses_a_file_that_is_no_board_file_with_one_line(
    tmp_path: Path, name: str, content: bytes | str | None, message: str
) -> None:
    file = tmp_path / name
    if isinstance(content, bytes):
        file.write_bytes(content)
    elif content is not None:
        file.mkdir()
    proc = meteolink("boards", "check", str(file))
    assert (proc.returncode, proc.stdout) == (1, "")
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"meteolink: boards check: {tmp_path}/{message}")


def test_boards_check_of_an_unknown_name_lists_the_known_boards() -> None:
    proc = meteolink("boards", "check", "heltec-v4")
    assert proc.returncode == 1
    known = ", ".join(sorted(p.stem for p in REPO_BOARDS.glob("*.json")))
    assert proc.stderr == (
        f"meteolink: boards check: unknown board 'heltec-v4' (known: {known}; or give the path"
        " of a board file)\n"
    )

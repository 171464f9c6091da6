"""The board file's schema: every key, and the type of each (docs/boards.md, "The board file").

The first half of the rules (board_rules.py runs the chips' rules on a file that passes
this). No I/O: the parsed JSON in, Problems out, each naming the key, what is wrong and
what to write instead.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

VIRTUAL_PORT = "unix"  # the sim board: MicroPython's unix port, every part emulated (sim/)


@dataclass(frozen=True)
class Problem:
    """One mistake in a board file: the key, what is wrong, what to write instead."""

    key: str  # "uart.tx", or "(file)" for the file as a whole
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.key}: {self.what} ({self.fix})"


# A kind is a string naming a scalar type, a dict (an object with exactly those keys) or a
# tuple of alternatives (None, a literal string, or an object).
I2C = {"id": "int", "scl": "gpio", "sda": "gpio", "freq": "int"}
UART = {"id": "int", "tx": "gpio", "rx": "gpio"}
LINK = {"id": "int", "tx": "gpio", "rx": "gpio", "baud": "int"}
SPI = {"id": "int", "sck": "gpio", "mosi": "gpio", "miso": "gpio"}
RADIO = {
    "chip": "str",
    "package": "str",
    "cs": "gpio",
    "reset": "gpio",
    "dio0": "gpio?",
    "dio1": "gpio?",
    "busy": "gpio?",
    "dio2_rf_switch": "bool",
    "dio3_tcxo_millivolts": "int?",
    "ant_switch": "gpio?",
}
BATTERY = {"pin": "gpio", "ratio": "number", "enable": "gpio?", "enable_level": "level"}
POWER = {"pin": "gpio", "level": "level"}
SCHEMA: dict[str, Any] = {
    "name": "str",
    "mcu": "str",
    "port": "str",
    "arch": "str",
    "firmware": "str",
    "i2c": I2C,
    "uart": UART,
    "link": ("usb", LINK),
    "spi": (None, SPI),
    "radio": (None, RADIO),
    "battery": (None, BATTERY),
    "sensor_power": (None, POWER),
    "maintenance_pin": "gpio",
    "vbus_pin": "gpio|name?",
    "led": "gpio|name?",
    "ble": "bool",
    "notes": "str",
}
# The virtual board runs no firmware build and compiles no native code.
VIRTUAL_SCHEMA = SCHEMA | {"arch": (None,), "firmware": (None,)}


def _is_int(v: Any) -> bool:
    return type(v) is int  # bool is an int to isinstance(), never a pin or an id


# Each scalar kind: its test, and what to write instead.
SCALARS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string"),
    "int": (_is_int, "a whole number"),
    "int?": (lambda v: v is None or _is_int(v), "a whole number or null"),
    "bool": (lambda v: type(v) is bool, "true or false"),
    "number": (lambda v: _is_int(v) or type(v) is float, "a number"),
    "level": (lambda v: _is_int(v) and v in (0, 1), "0 (low) or 1 (high)"),
    "gpio": (_is_int, "a GPIO number"),
    "gpio?": (lambda v: v is None or _is_int(v), "a GPIO number or null"),
    "gpio|name?": (
        lambda v: v is None or _is_int(v) or (isinstance(v, str) and v != ""),
        "a GPIO number, a pin name of the firmware, or null",
    ),
}


def _show(value: Any) -> str:
    """A value as the file spells it: true and null, not True and None."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return repr(value)


def _describe(kind: Any) -> str:
    if kind is None:
        return "null"
    if isinstance(kind, str):
        return f'"{kind}"'
    return "an object with " + ", ".join(kind)


def _check(value: Any, kind: Any, where: str, out: list[Problem]) -> None:
    if isinstance(kind, tuple):
        for alt in kind:
            if alt is None and value is None:
                return
            if isinstance(alt, str) and value == alt:
                return
            if isinstance(alt, dict) and isinstance(value, dict):
                _check(value, alt, where, out)
                return
        choices = " or ".join(_describe(alt) for alt in kind)
        out.append(Problem(where, f"{_show(value)} is not {choices}", f"write {choices}"))
    elif isinstance(kind, dict):
        if not isinstance(value, dict):
            fix = f"write {_describe(kind)}" if where else "write one JSON object {...}"
            out.append(Problem(where or "(file)", f"expected an object, got {_show(value)}", fix))
            return
        if set(value) != set(kind):
            missing, extra = sorted(set(kind) - set(value)), sorted(set(value) - set(kind))
            todo = ["add the missing"] if missing else []
            todo += [f"remove {', '.join(extra)}"] if extra else []
            fix = " and ".join(todo)
            if not where:
                fix += ": every key of docs/boards.md, null where the board has no such thing"
            wrong = [f"missing {', '.join(missing)}"] if missing else []
            wrong += [f"unknown key{'s' * (len(extra) > 1)} {', '.join(extra)}"] if extra else []
            out.append(Problem(where or "(file)", "; ".join(wrong), fix))
            return
        for key, sub in kind.items():
            _check(value[key], sub, f"{where}.{key}" if where else key, out)
    else:
        test, want = SCALARS[kind]
        if not test(value):
            out.append(Problem(where, f"{_show(value)} is not a {kind}", f"write {want}"))


def schema_problems(board: Any) -> list[Problem]:
    """What the file's shape gets wrong; the virtual board (port "unix") has no chip."""
    out: list[Problem] = []
    virtual = isinstance(board, dict) and board.get("port") == VIRTUAL_PORT
    _check(board, VIRTUAL_SCHEMA if virtual else SCHEMA, "", out)
    return out

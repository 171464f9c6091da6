"""Reading what a MicroPython test script printed: one JSON line per case.

The scripts (tests/firmware/mp_*.py) run the firmware under the real unix
port and print each result with mp_support.emit(case, **values); pytest
judges them here, on CPython.
"""

import json
import math
from fractions import Fraction
from typing import Any


def results(out: str) -> dict[str, list[dict[str, Any]]]:
    """Every line a script printed, by its case; a case may print several."""
    found: dict[str, list[dict[str, Any]]] = {}
    for line in out.splitlines():
        result = json.loads(line)
        found.setdefault(result["case"], []).append(result)
    return found


def one(found: dict[str, list[dict[str, Any]]], case: str) -> dict[str, Any]:
    """The one line of a case that prints once."""
    [result] = found[case]
    return result


def named(out: str) -> dict[str, dict[str, Any]]:
    """A script whose every case prints once: case -> its line."""
    return {case: one(found, case) for found in [results(out)] for case in found}


def centi(offset: int, span: int, ticks: int) -> int:
    """offset + span * ticks / 65535 in 0.01 units, exactly, rounded half up:
    the Sensirion datasheets' conversion formulas, as a driver must give them."""
    return math.floor(100 * (offset + Fraction(span * ticks, 65535)) + Fraction(1, 2))

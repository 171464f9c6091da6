"""What the reliability tests measure, and how long their slow parts last.

A test does not assert a speed or a rate it merely observes: it records the
figure (`figures.record(rate=..., duplicates=...)`), and the reliability
folder's fixture prints it as one JSON line (seen with `pytest -s`), keeps it
in the test's temporary directory as figures.json, lists every test's figures
at the end of the run, and appends them to the file named by
METEOLINK_RELIABILITY_FIGURES when that is set. docs/reliability.md's table
holds the last figures measured.

METEOLINK_RELIABILITY_SCALE stretches the parts that last for minutes in the
full run (the broker's outages) so that CI runs them in seconds: 1 (the
default) in CI; docs/reliability.md names the scale of its full run.
"""

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import pytest

SCALE_VARIABLE = "METEOLINK_RELIABILITY_SCALE"
OUTPUT_VARIABLE = "METEOLINK_RELIABILITY_FIGURES"

# Every test's figures in this run, in the order the tests ended: (test, figures).
MEASURED: list[tuple[str, dict[str, Any]]] = []


def scale() -> float:
    """How much longer than in CI the slow parts last (METEOLINK_RELIABILITY_SCALE)."""
    text = os.environ.get(SCALE_VARIABLE, "1")
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 1 <= value <= 1000:
        pytest.fail(
            f"{SCALE_VARIABLE}={text!r}: give a number from 1 (CI, the default) to 1000"
            " (docs/reliability.md names the full run's scale)",
            pytrace=False,
        )
    return value


class Figures:
    """One test's measured figures."""

    def __init__(self, test: str, directory: Path) -> None:
        self.test = test
        self.directory = directory
        self.values: dict[str, Any] = {}
        self._started = time.monotonic()

    def record(self, **values: Any) -> None:
        """Add or replace figures (numbers, short strings, small lists)."""
        self.values.update(values)

    def finish(self) -> dict[str, Any]:
        """Print, keep and hand on the figures; the test's wall time is added as `seconds`."""
        values = {
            **self.values,
            "seconds": round(time.monotonic() - self._started, 1),
            "scale": scale(),
        }
        line = json.dumps({"test": self.test, **values})
        print(f"\nreliability figures: {line}")
        (self.directory / "figures.json").write_text(line + "\n", "utf-8")
        output = os.environ.get(OUTPUT_VARIABLE)
        if output:
            stamp = {
                "date": time.strftime("%Y-%m-%d"),
                "cores": os.cpu_count(),
                "machine": platform.machine(),
            }
            with open(output, "a", encoding="utf-8") as f:
                f.write(json.dumps({"test": self.test, **values, **stamp}) + "\n")
        MEASURED.append((self.test, values))
        return values

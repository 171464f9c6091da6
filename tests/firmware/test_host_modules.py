"""The firmware files that also run on CPython are the ones the package says."""

import importlib
import re
import tomllib
from pathlib import Path

from meteolink.firmware import HOST_MODULES

ROOT = Path(__file__).resolve().parents[2]


def test_every_host_module_imports_on_cpython() -> None:
    for name in HOST_MODULES:
        module = importlib.import_module(f"meteolink.firmware.{name}")
        assert Path(module.__file__ or "").name == f"{name}.py"


def test_mypy_checks_exactly_the_host_modules_with_the_package() -> None:
    """pyproject's mypy exclusion leaves out every firmware file but these."""
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    excluded = [re.compile(pattern) for pattern in mypy["exclude"]]
    checked = {
        path.stem
        for path in (ROOT / "firmware").glob("*.py")
        if not any(p.search(f"meteolink/firmware/{path.name}") for p in excluded)
    }
    assert checked == {"__init__", *HOST_MODULES}

"""The sensor catalogue: every row has its driver, its emulated chip and its line in the docs.

Adding a sensor is a driver file, an emulated chip in sim/ and one row of
catalogue.CATALOGUE (docs/contributing.md, "Add a sensor"); these checks
say which of them a new row is missing. They read the sources, as the node
imports the driver only on a board.
"""

import ast
import re
from pathlib import Path

import pytest

from meteolink.firmware import catalogue, frames
from tests.support.tools import FIRMWARE, ROOT

SIM = ROOT / "sim"
DOCS = ROOT / "docs" / "firmware.md"
ROWS = {row[catalogue.KIND]: row for row in catalogue.CATALOGUE}
# What sensors.py knows how to give a driver's constructor.
OPTIONS = {"cold", "ratio", "algorithm"}
# The driver contract's methods (roles.Sensor), which mypy checks where each
# driver holds itself to the contract, at the end of its file.
CONTRACT = {"compensate", "start", "read", "stop"}


def classes(path: Path) -> dict[str, ast.ClassDef]:
    tree = ast.parse(path.read_text("utf-8"))
    return {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}


def self_attributes(cls: ast.ClassDef) -> set[str]:
    """Every attribute a method of cls assigns as self.<name>."""
    names = set()
    for node in ast.walk(cls):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for t in targets:
            if (
                isinstance(t, ast.Attribute)
                and isinstance(t.value, ast.Name)
                and t.value.id == "self"
            ):
                names.add(t.attr)
    return names


def methods(cls: ast.ClassDef, known: dict[str, ast.ClassDef]) -> set[str]:
    """The methods cls defines or inherits from a class of the same files."""
    names = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    for base in cls.bases:
        if isinstance(base, ast.Name) and base.id in known:
            names |= methods(known[base.id], known)
    return names


def firmware_classes(module: str) -> dict[str, ast.ClassDef]:
    """The classes of a firmware module and of the firmware modules it imports from."""
    found = classes(FIRMWARE / f"{module}.py")
    tree = ast.parse((FIRMWARE / f"{module}.py").read_text("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            path = FIRMWARE / f"{node.module}.py"
            if path.exists():
                found = {**classes(path), **found}
    return found


def test_the_catalogue_has_each_kind_once_and_sensors_maps_them() -> None:
    assert len(ROWS) == len(catalogue.CATALOGUE)
    assert catalogue.SENSORS == ROWS
    assert all(len(row) == catalogue.POWER_MS + 1 for row in catalogue.CATALOGUE)


@pytest.mark.parametrize("kind", ROWS)
def test_each_row_has_its_driver_with_the_attributes_it_names(kind: str) -> None:
    row = ROWS[kind]
    path = FIRMWARE / f"{row[catalogue.MODULE]}.py"
    assert path.exists(), f"{kind}: no driver file firmware/{path.name}"
    known = firmware_classes(row[catalogue.MODULE])
    cls = known.get(row[catalogue.CLASS])
    assert cls is not None, f"{kind}: firmware/{path.name} has no class {row[catalogue.CLASS]}"
    attributes: set[str] = set()
    for c in [cls] + [known[b.id] for b in cls.bases if isinstance(b, ast.Name) and b.id in known]:
        attributes |= self_attributes(c)
    for fid, attr in row[catalogue.FIELDS]:
        assert 0 <= fid < len(frames.FIELDS)
        assert attr in attributes, f"{kind}: {row[catalogue.CLASS]} never sets self.{attr}"
    missing = CONTRACT - methods(cls, known)
    assert not missing, f"{kind}: {row[catalogue.CLASS]} lacks {sorted(missing)} (roles.Sensor)"
    source = path.read_text("utf-8")
    assert re.search(rf"\b{row[catalogue.CLASS]}\) -> roles\.Sensor:", source), (
        f"{kind}: firmware/{path.name} does not hold {row[catalogue.CLASS]} to roles.Sensor"
    )


@pytest.mark.parametrize("kind", ROWS)
def test_each_row_has_an_emulated_chip_on_the_sim_board(kind: str) -> None:
    row = ROWS[kind]
    if row[catalogue.BUS] == "adc":
        assert (SIM / "adc.py").exists()  # the board's battery divider
        return
    path = SIM / f"{row[catalogue.MODULE]}.py"
    assert path.exists(), f"{kind}: no emulated chip sim/{path.name}"
    tree = ast.parse(path.read_text("utf-8"))
    part = [
        n
        for n in tree.body
        if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "PART" for t in n.targets)
    ]
    assert part, f"{kind}: sim/{path.name} does not say which chip is the board's PART"
    value = part[0].value
    assert isinstance(value, ast.Tuple) and isinstance(value.elts[0], ast.Name)
    assert value.elts[0].id in classes(path)


@pytest.mark.parametrize("kind", ROWS)
def test_each_row_has_its_line_in_the_docs_sensor_table(kind: str) -> None:
    row = ROWS[kind]
    lines = [ln for ln in DOCS.read_text("utf-8").splitlines() if ln.startswith(f"| `{kind}` |")]
    assert len(lines) == 1, f"{kind}: no line in docs/firmware.md's sensor table"
    assert f"`{row[catalogue.MODULE]}.{row[catalogue.CLASS]}`" in lines[0]
    for name in row[catalogue.FILES]:
        assert f"`{name}`" in lines[0]


@pytest.mark.parametrize("kind", ROWS)
def test_each_row_is_consistent(kind: str) -> None:
    row = ROWS[kind]
    assert row[catalogue.BUS] in ("i2c", "uart", "adc")
    # An I2C sensor has a default address; config.json may give another.
    assert (row[catalogue.ADDRESS] is not None) == (row[catalogue.BUS] == "i2c")
    assert set(row[catalogue.OPTIONS]) <= OPTIONS, "sensors.py gives a driver only these"
    assert row[catalogue.WARM_MS] >= 0 and row[catalogue.POWER_MS] >= 0


@pytest.mark.parametrize("kind", ROWS)
def test_the_files_of_a_row_are_all_its_driver_imports(kind: str) -> None:
    """What flash copies for a sensor covers every firmware module its driver imports."""
    files = ROWS[kind][catalogue.FILES]
    assert files[0] == ROWS[kind][catalogue.MODULE]
    ours = {p.stem for p in FIRMWARE.glob("*.py")}
    for name in files:
        tree = ast.parse((FIRMWARE / f"{name}.py").read_text("utf-8"))
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
        # roles.py is read by the type checker only, never copied to a node.
        missing = (imported & ours) - set(files) - {"roles"}
        assert not missing, f"{kind}: {name}.py imports {missing}, not in the row's files"
    # The driver's options that need a module: the VOC algorithm.
    if "algorithm" in ROWS[kind][catalogue.OPTIONS]:
        assert "voc_index" in files

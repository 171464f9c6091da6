"""The gateway built from its configuration through the INPUTS and UPSTREAMS tables."""

import importlib
import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from meteolink.firmware.frames import MeteolinkError
from meteolink.gateway import assembly, parts
from meteolink.gateway.assembly import INPUTS, UPSTREAMS, MissingDependency, build
from meteolink.gateway.ble_input import Ble, BleInput
from meteolink.gateway.config import Config
from meteolink.gateway.mqtt_upstream import Mqtt, MqttUpstream
from meteolink.gateway.serial_input import SerialInput, SerialPort

# Builds the gateway a config file asks for in a fresh interpreter, with the
# packages named in argv[3:] made impossible to import, and prints what it
# built and which optional packages were imported.
BUILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    for name in sys.argv[3:]:
        sys.modules[name] = None  # as if not installed
    from meteolink.gateway import assembly, config
    cfg = config.load(Path(sys.argv[1]), {"data": sys.argv[2]})
    try:
        gw = assembly.build(cfg)
    except assembly.MissingDependency as e:
        print(json.dumps({"error": str(e), "is_import_error": isinstance(e, ImportError)}))
        raise SystemExit(0)
    print(json.dumps({
        "inputs": [i.name for i in gw.inputs],
        "upstreams": [u.name for u in gw.upstreams],
        "imported": sorted(m for m in ("bleak", "aiomqtt", "serial") if m in sys.modules),
    }))
    gw.store.close()
    """
)


def build_elsewhere(tmp_path: Path, config: str, *blocked: str) -> dict[str, object]:
    path = tmp_path / "gateway.toml"
    path.write_text(config, "utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", BUILD, str(path), str(tmp_path / "data"), *blocked],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def test_a_gateway_without_ble_or_mqtt_never_imports_bleak_or_aiomqtt(tmp_path: Path) -> None:
    got = build_elsewhere(tmp_path, '[[serial]]\nport = "/dev/ttyUSB0"\n')
    assert got == {"inputs": ["serial:/dev/ttyUSB0"], "upstreams": [], "imported": ["serial"]}


def test_each_part_is_imported_only_when_the_config_asks_for_it(tmp_path: Path) -> None:
    got = build_elsewhere(
        tmp_path, '[ble]\nenabled = true\nadapter = "hci1"\n[mqtt]\nurl = "mqtt://broker:1884"\n'
    )
    assert got == {
        "inputs": ["ble:hci1"],
        "upstreams": ["mqtt://broker:1884"],
        "imported": ["aiomqtt", "bleak"],
    }


def test_a_missing_package_names_what_to_install_and_how_to_do_without(tmp_path: Path) -> None:
    got = build_elsewhere(tmp_path, "[ble]\nenabled = true\n", "bleak")
    assert got["is_import_error"] is True
    assert got["error"] == (
        "the ble input needs the Python package bleak, which is not installed"
        f" (pip install 'bleak>=0.22', or set [ble] enabled = false in {tmp_path}/gateway.toml)"
    )
    got = build_elsewhere(
        tmp_path, '[[serial]]\nport = "/dev/x"\n[mqtt]\nurl = "mqtt://h"\n', "aiomqtt"
    )
    assert "the mqtt upstream needs the Python package aiomqtt" in str(got["error"])
    assert "pip install 'aiomqtt>=2.3,<3', or remove [mqtt] url" in str(got["error"])
    # A package the gateway does not need for this config may be missing.
    got = build_elsewhere(tmp_path, '[[serial]]\nport = "/dev/x"\n', "bleak", "aiomqtt")
    assert got["inputs"] == ["serial:/dev/x"]


def test_build_wires_each_part_to_the_gateway(tmp_path: Path) -> None:
    cfg = Config(
        data=tmp_path,
        parts={
            "serial": (SerialPort("/dev/ttyUSB0"), SerialPort("/dev/ttyACM0", 9600)),
            "ble": Ble(enabled=True, company_id=0x1234),
            "mqtt": Mqtt(host="broker", tls=True, port=8883),
        },
    )
    gw = build(cfg)
    try:
        serial = [i for i in gw.inputs if isinstance(i, SerialInput)]
        assert [(s.port, s.baud) for s in serial] == [
            ("/dev/ttyUSB0", 115200),
            ("/dev/ttyACM0", 9600),
        ]
        (ble,) = [i for i in gw.inputs if isinstance(i, BleInput)]
        assert ble.name == "ble"
        (up,) = gw.upstreams
        assert isinstance(up, MqttUpstream)
        assert (up.name, up.label) == ("mqtt://broker:8883", "mqtts://broker:8883")
    finally:
        gw.store.close()


def test_a_config_that_asks_for_nothing_plans_nothing() -> None:
    assert assembly.plan(Config(), INPUTS) == []
    assert assembly.plan(Config(), UPSTREAMS) == []


@pytest.mark.parametrize(
    ("table", "name"), [(INPUTS, n) for n in INPUTS] + [(UPSTREAMS, n) for n in UPSTREAMS]
)
def test_every_row_names_a_module_with_create_and_the_package_it_imports(
    table: dict[str, assembly.Part], name: str
) -> None:
    part = table[name]
    module = importlib.import_module(f"meteolink.gateway.{part.module}")
    assert callable(module.create)
    # Imported where it is used, not with the module (config.load() imports
    # every part's module): the source names it; build() imports it first.
    source = inspect.getsource(module)
    assert f"import {part.requires}\n" in source or f"from {part.requires} import" in source
    parts.require(part, role="part", name=name, source="test")
    assert part.requires in sys.modules
    assert part.install.startswith(part.requires) or part.requires == "serial"


def test_missing_dependency_is_a_meteolink_error_and_an_import_error() -> None:
    assert issubclass(MissingDependency, ImportError)
    assert issubclass(MissingDependency, MeteolinkError)

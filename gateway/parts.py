"""The gateway's parts, registered once: one table per role, a row per part.

INPUTS and UPSTREAMS map a part's name to the module that implements it.
The row is the only registration: config.py parses each row's TOML section
through it, assembly.py plans and builds from it, and `meteolink gateway
--check` describes what it plans. The module owns everything else about its
part (gateway/roles.py has the roles it plays):

    Settings     a frozen dataclass: what its section says
    parse(top: config.Table, section: str, override) -> Settings | None
                 reads [section] (or [[section]]) from the file's top table,
                 every error a ConfigError naming the file and the key;
                 override is the command line's value for the part (--serial
                 ports, --mqtt URL), None when not given; None: not asked for
    plan(settings) -> list[str]
                 one line per input or upstream the settings ask for, as
                 `meteolink gateway --check` prints them; none: nothing asked
    check(settings) -> list[str]                         optional
                 what `--check` finds wrong on this machine (a port that is
                 not there), a line each; opens nothing
    create(config, settings, feed) -> list[Input]        for an input
    create(config, settings) -> list[Upstream]           for an upstream

A part module must be cheap to import: config.load() imports every one to
check the whole file, so a gateway without BLE must not import bleak there.
The package the row names (requires) is imported inside the functions that
use it, with `if TYPE_CHECKING:` imports for annotations; build() imports it
first, so a missing one is one MissingDependency naming what to install.
"""

import importlib
from dataclasses import dataclass
from types import ModuleType

from meteolink.firmware.frames import MeteolinkError


class MissingDependency(MeteolinkError, ImportError):
    """The configuration asks for an input or upstream whose package is not installed."""


@dataclass(frozen=True)
class Part:
    module: str  # under meteolink.gateway, or a full dotted path for a part that lives elsewhere
    requires: str  # the top-level package it imports beyond the standard library; "" for none
    install: str  # what to give pip for it
    turn_off: str  # how the configuration stops asking for it
    section: str = ""  # its TOML section, when that is not the row's name

    def path(self) -> str:
        """The module's full dotted name."""
        return self.module if "." in self.module else f"meteolink.gateway.{self.module}"


INPUTS: dict[str, Part] = {
    "serial": Part(
        module="serial_input",
        requires="serial",
        install="pyserial>=3.5",
        turn_off="remove the [[serial]] ports",
    ),
    "ble": Part(
        module="ble_input",
        requires="bleak",
        install="bleak>=0.22",
        turn_off="set [ble] enabled = false",
    ),
    "federation": Part(
        module="federation_input",
        requires="aiomqtt",
        install="aiomqtt>=2.3,<3",
        turn_off="remove the [[federation]] tables",
    ),
    "lorawan": Part(
        module="lorawan_input",
        requires="aiomqtt",
        install="aiomqtt>=2.3,<3",
        turn_off="remove the [[lorawan]] tables",
    ),
}

UPSTREAMS: dict[str, Part] = {
    "mqtt": Part(
        module="mqtt_upstream",
        requires="aiomqtt",
        install="aiomqtt>=2.3,<3",
        turn_off="remove [mqtt] url",
    ),
    "influxdb": Part(
        module="influx_upstream",
        requires="httpx",
        install="httpx>=0.27,<1",
        turn_off="remove [influxdb] url",
    ),
    "ngsi_ld": Part(
        module="ngsi_upstream",
        requires="httpx",
        install="httpx>=0.27,<1",
        turn_off="remove [ngsi_ld] url",
    ),
    "sensor_community": Part(
        module="sensor_community_upstream",
        requires="httpx",
        install="httpx>=0.27,<1",
        turn_off="set [sensor_community] enabled = false",
    ),
    "opensensemap": Part(
        module="opensensemap_upstream",
        requires="httpx",
        install="httpx>=0.27,<1",
        turn_off="set [opensensemap] enabled = false",
    ),
}


def module(part: Part) -> ModuleType:
    """The part's module, imported without its optional package."""
    return importlib.import_module(part.path())


def require(part: Part, *, role: str, name: str, source: str) -> None:
    """Import the package the part needs, or raise MissingDependency saying what to do.

    role: "input" or "upstream"; name: the row's name; source: the config file.
    """
    if not part.requires:
        return
    try:
        importlib.import_module(part.requires)
    except ModuleNotFoundError as e:
        if e.name is None or e.name.partition(".")[0] != part.requires:
            raise  # the package is there but broken, or not the one the row names
        raise MissingDependency(
            f"the {name} {role} needs the Python package {part.requires}, which is not"
            f" installed (pip install '{part.install}', or {part.turn_off} in {source})"
        ) from e

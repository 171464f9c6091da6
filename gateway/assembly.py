"""The gateway assembled from its configuration, through one table per role.

INPUTS and UPSTREAMS map a name to the module that implements it. A module is
imported only when the configuration asks for what it makes, so a gateway
without BLE never imports bleak, and `meteolink export` imports no MQTT
client. Each module has a create() that reads its own section of the
configuration (gateway/roles.py has the contracts):

    input     create(config: Config, feed: Feed) -> list[Input]
    upstream  create(config: Config) -> list[Upstream]

Each row also says, without importing anything, what the configuration asks
of it (plan: one line per input or upstream, as `meteolink gateway --check`
prints them; none when it asks for nothing), which package the module needs
beyond the standard library, and how to stop asking for it. A missing
package is one MissingDependency naming what to install.

Adding an input or an upstream is its section in gateway/config.py, its
module with create(), and its row here.
"""

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import cast

from meteolink.firmware.frames import MeteolinkError
from meteolink.gateway.config import Config
from meteolink.gateway.roles import Feed, Input, Upstream
from meteolink.gateway.service import Gateway

InputFactory = Callable[[Config, Feed], list[Input]]
UpstreamFactory = Callable[[Config], list[Upstream]]


class MissingDependency(MeteolinkError, ImportError):
    """The configuration asks for an input or upstream whose package is not installed."""


@dataclass(frozen=True)
class Part:
    module: str  # the implementing module, under meteolink.gateway
    requires: str  # the top-level package it imports beyond the standard library
    install: str  # what to give pip for it
    turn_off: str  # how the configuration stops asking for it
    plan: Callable[[Config], list[str]]  # what the configuration asks of it, a line each


def _serial(c: Config) -> list[str]:
    return [f"reads {p.port} at {p.baud} baud" for p in c.serial]


def _ble(c: Config) -> list[str]:
    return [f"reads BLE adverts with company id 0x{c.ble.company_id:04X}"] if c.ble.enabled else []


def _mqtt(c: Config) -> list[str]:
    if c.mqtt is None:
        return []
    tls = " with TLS" if c.mqtt.tls else ""
    return [f"forwards to {c.mqtt.label}{tls}, topics {c.mqtt.prefix}/<node>/state"]


INPUTS: dict[str, Part] = {
    "serial": Part(
        module="serial_input",
        requires="serial",
        install="pyserial>=3.5",
        turn_off="remove the [[serial]] ports",
        plan=_serial,
    ),
    "ble": Part(
        module="ble_input",
        requires="bleak",
        install="bleak>=0.22",
        turn_off="set [ble] enabled = false",
        plan=_ble,
    ),
}

UPSTREAMS: dict[str, Part] = {
    "mqtt": Part(
        module="mqtt_upstream",
        requires="aiomqtt",
        install="aiomqtt>=2.3,<3",
        turn_off="remove [mqtt] url",
        plan=_mqtt,
    ),
}


def plan(config: Config, table: dict[str, Part]) -> list[str]:
    """What config asks of a table's parts, a line each; no module is imported."""
    return [line for part in table.values() for line in part.plan(config)]


def _load(config: Config, role: str, name: str, part: Part) -> ModuleType:
    try:
        return importlib.import_module(f"meteolink.gateway.{part.module}")
    except ModuleNotFoundError as e:
        if e.name is None or e.name.partition(".")[0] != part.requires:
            raise  # not the package the row names: a fault of meteolink's own
        raise MissingDependency(
            f"the {name} {role} needs the Python package {part.requires}, which is not"
            f" installed (pip install '{part.install}', or {part.turn_off} in {config.source})"
        ) from e


def build(config: Config, *, clock: Callable[[], float] = time.time) -> Gateway:
    """The gateway with every input and upstream config asks for, not yet running.

    Raises MissingDependency before anything is opened, and StoreError when
    the store cannot be opened.
    """
    inputs = {
        name: cast(InputFactory, _load(config, "input", name, part).create)
        for name, part in INPUTS.items()
        if part.plan(config)
    }
    upstreams = {
        name: cast(UpstreamFactory, _load(config, "upstream", name, part).create)
        for name, part in UPSTREAMS.items()
        if part.plan(config)
    }
    gateway = Gateway(config, clock=clock)
    for create_input in inputs.values():
        gateway.inputs += create_input(config, gateway)
    for create_upstream in upstreams.values():
        gateway.upstreams += create_upstream(config)
    return gateway

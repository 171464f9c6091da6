"""The gateway assembled from its configuration, through the tables of its parts.

gateway/parts.py registers every input and upstream: a row in INPUTS or
UPSTREAMS naming its module, the package that module needs, what to install
and how to stop asking for it. By the time a Config exists, config.load()
has had each part's module parse its own section into config.parts. Here
each part's plan() says what those settings ask for; a part that asks for
nothing is left out, its package never imported. For the rest, build()
imports each one's package (a missing one is a MissingDependency naming
what to install, raised before anything is opened), then calls its create():

    input     create(config, settings, feed) -> list[Input]
    upstream  create(config, settings) -> list[Upstream]

gateway/roles.py has the two contracts. So adding an input or an upstream
is its module (settings, parse, plan, create) and its row in gateway/parts.py.
"""

import time
from collections.abc import Callable, Iterator
from types import ModuleType

from meteolink.gateway import parts
from meteolink.gateway.config import Config
from meteolink.gateway.parts import INPUTS, UPSTREAMS, MissingDependency, Part
from meteolink.gateway.service import Gateway

__all__ = ["INPUTS", "UPSTREAMS", "MissingDependency", "Part", "build", "check", "plan"]


def _asked(config: Config, table: dict[str, Part]) -> Iterator[tuple[str, Part, ModuleType]]:
    """The table's parts config asks for, with their modules (their packages not imported)."""
    for name, part in table.items():
        settings = config.parts.get(name)
        if settings is None:
            continue
        module = parts.module(part)
        if module.plan(settings):
            yield name, part, module


def plan(config: Config, table: dict[str, Part]) -> list[str]:
    """What config asks of a table's parts, a line each; no optional package is imported."""
    lines: list[str] = []
    for name, part in table.items():
        settings = config.parts.get(name)
        if settings is not None:
            lines += parts.module(part).plan(settings)
    return lines


def check(config: Config, table: dict[str, Part]) -> list[str]:
    """What is wrong on this machine with what config asks of a table's parts, a line each.

    For `meteolink gateway --check`: a part's module may have check(settings)
    (a serial port that is not there); nothing is opened, no optional package
    is imported.
    """
    problems: list[str] = []
    for name, part in table.items():
        settings = config.parts.get(name)
        module = parts.module(part)
        if settings is not None and hasattr(module, "check"):
            problems += module.check(settings)
    return problems


def build(config: Config, *, clock: Callable[[], float] = time.time) -> Gateway:
    """The gateway with every input and upstream config asks for, not yet running.

    Raises MissingDependency before anything is opened, and StoreError when
    the store cannot be opened.
    """
    inputs = list(_asked(config, INPUTS))
    upstreams = list(_asked(config, UPSTREAMS))
    for name, part, _ in inputs:
        parts.require(part, role="input", name=name, source=config.source)
    for name, part, _ in upstreams:
        parts.require(part, role="upstream", name=name, source=config.source)
    gateway = Gateway(config, clock=clock)
    for name, _, module in inputs:
        gateway.inputs += module.create(config, config.parts[name], gateway)
    for name, _, module in upstreams:
        gateway.upstreams += module.create(config, config.parts[name])
    if config.web.on:  # the status page: its task reads the store on a thread of its own
        from meteolink.gateway.web.site import StatusPage

        gateway.status_page = StatusPage(gateway)
    return gateway

"""`meteolink gateway`: the service systemd runs (deploy/meteolink-gateway.service).

What runs is gateway/assembly.py's build(config); this module adds the
command line, logging, systemd's notify socket and the signals.
"""

import argparse
import asyncio
import contextlib
import errno
import functools
import gc
import logging
import os
import pwd
import signal
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meteolink.gateway import assembly, diskspace
from meteolink.gateway import config as gwconfig
from meteolink.gateway.config import Config, ConfigError
from meteolink.gateway.diskspace import DiskSpace, mib, said_full
from meteolink.gateway.service import Gateway
from meteolink.gateway.store import DiskFull, Store, StoreError
from meteolink.gateway.web import settings as web_settings
from meteolink.tools.cli import Command, CommandError

if TYPE_CHECKING:
    from meteolink.gateway.notify import Notifier

log = logging.getLogger(__name__)


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        help=f"the TOML configuration (default {gwconfig.DEFAULT_PATH}, if it exists)",
    )
    p.add_argument("--data", help="directory of the local store (overrides [gateway] data)")


def _arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument(
        "--serial",
        action="append",
        metavar="PORT",
        help="a serial port to read, e.g. /dev/serial/by-id/...; repeatable; replaces [[serial]]",
    )
    p.add_argument("--mqtt", metavar="URL", help="mqtt[s]://[user:password@]host[:port]")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="say every reading accepted and every frame turned away, and why",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="check the configuration, its serial ports and data directory, then exit",
    )


def load_config(args: argparse.Namespace) -> Config:
    """The config from --config, the default file, or flags alone; CommandError if bad."""
    path: Path | None = args.config
    if path is None and gwconfig.DEFAULT_PATH.exists():
        path = gwconfig.DEFAULT_PATH
    overrides = {
        "serial": getattr(args, "serial", None),
        "mqtt": getattr(args, "mqtt", None),
        "data": args.data,
    }
    try:
        return gwconfig.load(path, overrides)
    except ConfigError as e:
        raise CommandError(str(e)) from None


class _JournalFormatter(logging.Formatter):
    """Under systemd: the journal's priority prefix (<4> warning), so that
    `journalctl -p warning` finds the warnings; the journal stamps the time."""

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelno
        priority = 2 if level >= 50 else 3 if level >= 40 else 4 if level >= 30 else 6
        if level < logging.INFO:
            priority = 7
        return f"<{priority}>{super().format(record)}"


def setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler()
    if "JOURNAL_STREAM" in os.environ:
        handler.setFormatter(_JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # -v is about meteolink's own decisions, not the libraries' chatter.
    logging.getLogger("meteolink").setLevel(logging.DEBUG if verbose else logging.INFO)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    if not assembly.plan(cfg, assembly.INPUTS):
        raise CommandError(
            f"no inputs in {cfg.source} (give --serial PORT, add a [[serial]] port"
            ", set [ble] enabled = true, add a [[lorawan]] network server or a [[federation]]"
            " broker)"
        )
    if args.check:
        problems = assembly.check(cfg, assembly.INPUTS) + assembly.check(cfg, assembly.UPSTREAMS)
        problems += data_problems(cfg.data)
        if problems:
            raise CommandError(problems[0])
        print(describe(cfg))
        for line in calibration_changes(cfg):
            print(f"warning: {line}")
        return 0
    setup_logging(args.verbose)
    return serve(cfg)


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def data_problems(data: Path) -> list[str]:
    """Whether the gateway, run by this user, could make and write its store in data.

    The store makes its directory, and the ones above it, when they are not there;
    the nearest one that is there must then let this user make them.
    """
    user = _user()
    fix = (
        f"give --data or [gateway] data a directory user {user} may write; to check as the"
        " service would, run the command as its user: sudo -u meteolink meteolink gateway ..."
    )
    there = data
    try:
        while not there.exists() and there != there.parent:
            there = there.parent
        if not there.is_dir():
            return [
                f"{data}: {there} is not a directory (give --data or [gateway] data a directory)"
            ]
    except OSError as e:
        return [f"{data}: {e.strerror} ({fix})"]
    if not os.access(there, os.W_OK | os.X_OK):
        if there == data:
            return [f"{data}: user {user} may not write there ({fix})"]
        return [
            f"{data}: not there, and it cannot be made in {there}: user {user} may not write"
            f" there ({fix})"
        ]
    store = data / "readings.db"
    if there == data and store.exists() and not os.access(store, os.R_OK | os.W_OK):
        return [f"{store}: user {user} may not read and write it ({fix})"]
    return []


def calibration_changes(cfg: Config) -> list[str]:
    """What the gateway would warn of at start: calibrations dated in the past that the
    config adds, changes or drops since its last start (gateway/calibration_record.py)."""
    from meteolink.gateway import calibration_record

    path = cfg.data / "readings.db"
    if not path.exists():
        return []
    try:
        store = Store(path, readonly=True)
    except StoreError:
        return []  # data_problems() has said what is wrong with it
    try:
        return calibration_record.pending(store, cfg, time.time())
    finally:
        store.close()


# A task run beside the service, given the gateway and a function that stops it.
Extra = Callable[[Gateway, Callable[[], None]], Coroutine[Any, Any, None]]


def describe(cfg: Config) -> str:
    """What the gateway would do with cfg, in a few lines (no keys)."""
    lines = [f"{cfg.source}: valid", f"gateway {cfg.name}, store in {cfg.data}"]
    lines += assembly.plan(cfg, assembly.INPUTS)
    lines += assembly.plan(cfg, assembly.UPSTREAMS) or [
        "no upstream: readings stay in the local store"
    ]
    lines += web_settings.plan(cfg.web)
    keyed = sum(1 for n in cfg.nodes.values() if n.key is not None)
    listed = f"{len(cfg.nodes)} node{'' if len(cfg.nodes) == 1 else 's'} listed, {keyed} with keys"
    if cfg.unknown_nodes == "reject":
        listed += '; unlisted nodes are turned away (unknown_nodes = "reject")'
    else:
        listed += '; unlisted nodes are stored too (unknown_nodes = "accept")'
    lines.append(listed)
    return "\n".join(lines)


def serve(cfg: Config, *, extra: list[Extra] | None = None) -> int:
    """Run the service on cfg until SIGTERM or SIGINT; 0 on a clean stop."""
    # Not asyncio.run(): on its way out it waits for every task to finish,
    # however long one that ignores its cancellation takes. The gateway has
    # already given its tasks their time (Gateway.run); what is left is dropped.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_serve(cfg, extra or []))
    finally:
        drop_tasks(loop)
        loop.close()


def drop_tasks(loop: asyncio.AbstractEventLoop, within: float = 1.0) -> None:
    """Cancel what still runs on loop, and give it `within` seconds to end."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.wait(tasks, timeout=within))
    loop.run_until_complete(loop.shutdown_asyncgens())


def _build(cfg: Config) -> Gateway:
    try:
        return assembly.build(cfg)
    except assembly.MissingDependency as e:
        raise CommandError(str(e)) from None
    except DiskFull:
        # The reserve is there for this: with it given back the store opens,
        # and the committer waits for space (gateway/commit.py).
        if DiskSpace(cfg.data).release():
            return _build(cfg)
        raise
    except StoreError as e:
        raise CommandError(str(e), status=1) from None


async def _wait_for_space(cfg: Config, notifier: "Notifier", full: DiskFull) -> Gateway:
    """Started on a disk too full to open the store: say so once, wait, keep systemd content.

    A service that exited here would be restarted into the same full disk for ever.
    """
    from meteolink.gateway.notify import keep_alive

    log.error("%s", said_full(full, "the store cannot be opened and no reading is accepted"))
    notifier.ready("disk full: waiting for space")
    pings = asyncio.create_task(keep_alive(notifier, lambda: True), name="watchdog")
    space = DiskSpace(cfg.data)
    try:
        while True:
            await asyncio.sleep(diskspace.CHECK)
            with contextlib.suppress(DiskFull):
                if space.ready():
                    gateway = _build(cfg)
                    log.info("disk space is back: %s has %s free", cfg.data, mib(space.free()))
                    return gateway
    finally:
        pings.cancel()


def _stop_once(main: "asyncio.Task[int]") -> None:
    """The first SIGTERM or Ctrl-C stops the service; a second one, while it commits what
    it holds, would cut that short: it is ignored."""
    if not main.cancelling():
        main.cancel()


# Container objects allocated (less those freed) between two collections of the
# youngest generation; CPython's default is 700.
GC_YOUNGEST = 100_000


def _collect_less() -> None:
    """Tune the cyclic garbage collector for a service that runs for months.

    A reading makes and drops a few dozen objects (a decoded frame, its
    values, a message), nearly all freed at once by reference counting, never
    in a cycle (20,000 readings through acceptance, the store and the message
    leave no cyclic garbage). What a collection of the young walks is what is
    alive: in a burst, the readings on their way to the store and the broker,
    some ten thousand objects. At the default threshold that walk ran every
    twenty-odd readings (about 4 µs a reading of the gateway's 30); at 10,000,
    twelve to nineteen times in a benchmark stream of 20,000 readings, 4 to 7 µs
    a reading of CPU; at 100,000, not once (issue 9). What the start made
    (modules, the config, the store's caches) is frozen: the oldest
    generation's collections no longer walk it. Cyclic garbage (a failed
    connection's exception and its traceback) waits longer to be freed:
    bounded by the threshold, a few MB.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNGEST, *gc.get_threshold()[1:])


async def _serve(cfg: Config, extra: list[Extra]) -> int:
    from meteolink.gateway.notify import Notifier, keep_alive

    notifier = Notifier.from_environ()
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(loop_exception)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, functools.partial(_stop_once, main))
    try:
        try:
            gateway = _build(cfg)
        except DiskFull as full:
            gateway = await _wait_for_space(cfg, notifier, full)
    except asyncio.CancelledError:
        notifier.stopping()
        notifier.close()
        return 0
    except BaseException:
        notifier.close()
        raise
    _collect_less()
    inputs = ", ".join(i.name for i in gateway.inputs)
    ups = ", ".join(up.label for up in gateway.upstreams) or "no upstream"
    log.info("gateway %s: reading %s; forwarding to %s", cfg.name, inputs, ups)
    notifier.ready(f"reading {inputs}")
    tasks = [lambda: keep_alive(notifier, gateway.healthy)]

    def stop() -> None:
        _stop_once(main)

    tasks += [functools.partial(make, gateway, stop) for make in extra]
    try:
        await gateway.run(extra=tasks)
    except asyncio.CancelledError:
        notifier.stopping()
        log.info("stopping: %s", gateway.summary() or "no frames heard")
        return 0
    finally:
        notifier.close()
    return 1


def loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """What asyncio reports from callbacks: one known race said in a line, the rest as usual.

    aiomqtt asks the loop to watch paho's socket for writing from paho's own
    callback; when the broker has closed the socket by then, that callback
    fails with EBADF. The upstream has already seen the connection go, says so
    and reconnects: a traceback in the journal would only alarm whoever reads it.
    """
    error = context.get("exception")
    if (
        isinstance(error, OSError)
        and error.errno == errno.EBADF
        and "add_writer" in str(context.get("message", ""))
    ):
        log.debug("mqtt: the connection's socket closed before the client wrote to it: %s", error)
        return
    loop.default_exception_handler(context)


COMMANDS = [Command("gateway", "run the gateway service", _arguments, run)]

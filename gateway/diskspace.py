"""Room on the store's disk: a reserve kept for a full disk, and when to wait for space.

SQLite in WAL mode appends each commit to readings.db-wal and copies it into
readings.db at a checkpoint. A disk that fills leaves a WAL whose checkpoint
cannot grow the database: every later write fails, and a gateway that exits
on that fails again at each restart. So the gateway keeps a reserve:

- `space-reserve` in the data directory, RESERVE bytes really allocated. It
  exists whenever readings are accepted. When the disk fills (less than LOW
  free, checked before every commit and every CHECK seconds), the committer
  stops accepting and deletes it: the checkpoint, the upstreams' cursors and
  retention then have room, so what is stored keeps being forwarded.
- The WAL stays below RESERVE: SQLite checkpoints it every 1000 pages (4 MiB)
  and store.py truncates it back to WAL_LIMIT afterwards, so the reserve
  always covers a checkpoint.
- Readings are accepted again once RESUME bytes are free (more than the
  reserve frees by itself, so deleting it never looks like space returning):
  the reserve is made again first.

Nothing here runs on the event loop: the committer calls it on the store's
thread, as creating the reserve writes RESERVE bytes.
"""

import errno
import os
from pathlib import Path

from meteolink.gateway.store import DiskFull, free_bytes

RESERVE = 8 << 20  # bytes kept back for a full disk: twice the largest WAL
LOW = 1 << 20  # fewer bytes free than this and no commit is tried (a batch is ~50 kB)
RESUME = RESERVE + 2 * LOW  # free bytes before readings are accepted again
CHECK = 5.0  # seconds between looks at the free space
RESERVE_NAME = "space-reserve"


def mib(n: float) -> str:
    """Bytes as people read them in a log line."""
    return f"{n / (1 << 20):.1f} MiB"


def said_full(full: DiskFull, doing: str = "new readings are not accepted") -> str:
    """The one line that says the disk is full: where, how much is free, what to do."""
    return (
        f"disk full: {full.directory} has {mib(full.free)} free: {doing} until {mib(RESUME)}"
        " are free (nodes keep their readings and send them again); free some space on that"
        " disk (old logs, other files) and the gateway resumes by itself"
    )


class DiskSpace:
    """The free space of the directory `data`, and the reserve kept in it."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.reserve = data / RESERVE_NAME

    def free(self) -> int:
        """Bytes free for the service's user (not root's reserved blocks)."""
        return free_bytes(self.data)

    def has_reserve(self) -> bool:
        try:
            st = self.reserve.stat()
        except FileNotFoundError:
            return False
        # A reserve cut short (a crash while it was made) or sparse holds nothing back.
        return st.st_size >= RESERVE and st.st_blocks * 512 >= RESERVE

    def ready(self) -> bool:
        """Make the reserve if there is room for it; True when readings may be accepted.

        False means the disk is full: no reserve can be made, or too little
        is left beside it.
        """
        if not self.has_reserve():
            if self.free() < RESUME:
                return False
            self._make_reserve()
        return self.free() >= LOW

    def release(self) -> bool:
        """Give the reserve back to the disk; True if there was one."""
        try:
            self.reserve.unlink()
        except FileNotFoundError:
            return False
        return True

    def full(self) -> DiskFull:
        """The error that says the disk is full, and how full."""
        return DiskFull(self.data, self.free())

    def _make_reserve(self) -> None:
        partial = self.reserve.with_name(RESERVE_NAME + ".new")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                _allocate(fd, RESERVE)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(partial, self.reserve)
        except OSError as e:
            partial.unlink(missing_ok=True)
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise self.full() from e
            raise


def _allocate(fd: int, size: int) -> None:
    """Really allocate size bytes to fd: blocks, not a sparse file."""
    try:
        os.posix_fallocate(fd, 0, size)
        return
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
    # A filesystem without fallocate: write the zeros.
    chunk = bytes(1 << 20)
    for _ in range(size // len(chunk)):
        os.write(fd, chunk)

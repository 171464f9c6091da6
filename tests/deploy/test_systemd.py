"""The systemd unit and account, checked by systemd's own tools."""

import configparser
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.support.tools import ROOT, systemd_tool

DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "meteolink-gateway.service"
SYSUSERS = DEPLOY / "meteolink.sysusers"
EXEC = "/opt/meteolink/bin/meteolink"
# What verify says on a machine where the gateway is not installed, and only that.
MISSING_EXEC = f"{UNIT.name}: Command {EXEC} is not executable: No such file or directory"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, errors="replace", cwd=cwd, timeout=60, check=False
    )


class _UnitParser(configparser.ConfigParser):
    def optionxform(self, optionstr: str) -> str:
        return optionstr  # systemd's keys are case-sensitive


class _Repeated(dict[str, Any]):
    """Keeps every value of a key given more than once, as systemd does for lists."""

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, list) and isinstance(self.get(key), list):
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def unit_settings() -> configparser.ConfigParser:
    """The unit file; a repeated key's values are joined by newlines."""
    parser = _UnitParser(
        strict=False, interpolation=None, dict_type=_Repeated, empty_lines_in_values=False
    )
    parser.read_string(UNIT.read_text(encoding="utf-8"), source=str(UNIT))
    return parser


def test_verify_finds_nothing_but_the_missing_program(tmp_path: Path) -> None:
    tool = systemd_tool("systemd-analyze")
    shutil.copy(UNIT, tmp_path)
    proc = run(tool, "verify", UNIT.name, cwd=tmp_path)
    complaints = [line for line in proc.stderr.splitlines() if line and line != MISSING_EXEC]
    assert complaints == [], proc.stderr
    if MISSING_EXEC not in proc.stderr:
        assert proc.returncode == 0, proc.stderr


def test_the_sandbox_keeps_the_exposure_at_2_or_below() -> None:
    tool = systemd_tool("systemd-analyze")
    proc = run(tool, "security", "--offline=true", "--threshold=20", str(UNIT))
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert found, proc.stdout + proc.stderr
    assert float(found[1]) <= 2.0, proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_unit_has_what_the_gateway_needs() -> None:
    unit = unit_settings()
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["WatchdogSec"] == "30"
    assert service["Restart"] == "on-failure"
    assert service["RestartSec"] == "5"
    assert service["ExecStart"] == f"{EXEC} gateway --config /etc/meteolink/gateway.toml"
    assert service["User"] == service["Group"] == "meteolink"
    assert "dialout" in service["SupplementaryGroups"].split()
    assert service["StateDirectory"] == "meteolink"
    assert service["ConfigurationDirectory"] == "meteolink"
    assert service["DevicePolicy"] == "closed"
    assert service["DeviceAllow"].splitlines() == [
        "char-ttyUSB rw",
        "char-ttyACM rw",
        "/dev/ttyAMA0 rw",
        "/dev/ttyS0 rw",
    ]
    assert "PrivateDevices" not in service, "a private /dev has no serial ports"
    families = set(service["RestrictAddressFamilies"].split())
    assert families == {"AF_UNIX", "AF_INET", "AF_INET6"}, "MQTT, notify socket and D-Bus"
    assert "IPAddressDeny" not in service, "the broker may be anywhere"
    assert service["ProtectSystem"] == "strict"
    assert service["CapabilityBoundingSet"] == "", "no capabilities at all"
    assert service["NoNewPrivileges"] == "yes"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_sysusers_creates_the_account_in_dialout(tmp_path: Path) -> None:
    lines = [
        line.split()
        for line in SYSUSERS.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0][:2] == ["u", "meteolink"]
    assert ["m", "meteolink", "dialout"] in lines
    assert ["m", "meteolink", "bluetooth"] in lines
    # systemd-sysusers reads it against a Debian-like /etc that has dialout.
    tool = systemd_tool("systemd-sysusers")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "etc" / "group").write_text("root:x:0:\ndialout:x:20:\n")
    proc = run(tool, "--dry-run", f"--root={tmp_path}", str(SYSUSERS))
    assert proc.returncode == 0, proc.stderr
    assert not re.search(r":\d+: ", proc.stderr), proc.stderr  # file:line: complaint
    assert "Creating user 'meteolink' (meteolink gateway)" in proc.stderr, proc.stderr
    assert "Creating group 'dialout'" not in proc.stderr, "dialout is the system's own"

"""The gateway's configuration as the service reads it (errors: tests/tools/test_gateway_cli.py)."""

from pathlib import Path

import pytest

from meteolink.gateway import config
from tests.support.tools import meteolink


def test_station_metadata_is_read_per_node(tmp_path: Path) -> None:
    """Issue 12: where a station stands, for people, formats and derived values."""
    path = tmp_path / "gateway.toml"
    path.write_text(
        "[nodes.1]\nname = 'Cēsis school roof'\nlatitude = 57.3125\nlongitude = 25.2705\n"
        "altitude = 97\nexposure = 'outdoor'\nsensor_height = 2\nnotes = 'beside LVĢMC'\n"
        "[nodes.2]\nname = 'Library'\n",
        "utf-8",
    )
    conf = config.load(path)
    one = conf.node(1)
    assert one is not None
    assert (one.latitude, one.longitude, one.altitude) == (57.3125, 25.2705, 97.0)
    assert (one.exposure, one.sensor_height, one.notes) == ("outdoor", 2.0, "beside LVĢMC")
    two = conf.node(2)
    assert two is not None
    assert (two.latitude, two.altitude, two.exposure, two.notes) == (None, None, None, None)


@pytest.mark.parametrize(
    ("section", "where"),
    [
        (
            "[influxdb]\nurl = 'https://10.0.0.5:8086'\ndatabase = 'm'\nusername = 'u'\n"
            "password = 40417721\n",
            "influxdb.password",
        ),
        ("[ngsi_ld]\nurl = 'https://10.0.0.5:1026'\ntoken = 40417721\n", "ngsi_ld.token"),
        (
            "[[lorawan]]\nname = 'ttn'\nkind = 'tts'\nurl = 'mqtts://eu1.example'\n"
            "username = 'a@ttn'\npassword = 40417721\nfport = 10\ndevices = {}\n",
            "lorawan[0].password",
        ),
        (
            "[nodes.3]\n[nodes.3.opensensemap]\nbox = '5f0a1b2c3d4e5f6a7b8c9d0e'\n"
            "token = 40417721.5\n",
            "nodes.3.opensensemap.token",
        ),
        ("[nodes.3]\nkey = 40417721\n", "nodes.3.key"),
    ],
)
def test_a_secret_of_the_wrong_kind_is_not_echoed(tmp_path: Path, section: str, where: str) -> None:
    """A password or token written unquoted (a number) is a mistake the error must name
    without printing it: `meteolink gateway --check`'s line goes to the terminal and the
    journal."""
    path = tmp_path / "gateway.toml"
    path.write_text(f'[gateway]\ndata = "{tmp_path}"\n{section}', "utf-8")
    path.chmod(0o600)
    proc = meteolink("gateway", "--config", str(path), "--serial", "/dev/null", "--check")
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"meteolink: gateway: {path}: {where}: a number is not ")
    assert "write it in quotes" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert "40417721" not in proc.stderr + proc.stdout

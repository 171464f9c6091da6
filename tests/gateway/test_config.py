"""The gateway's configuration as the service reads it (errors: tests/tools/test_gateway_cli.py)."""

from pathlib import Path

from meteolink.gateway import config


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

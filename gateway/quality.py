"""Quality control: values outside what the quantity or its sensor can be are flagged.

The codec's ranges (firmware/frames.py) say what a frame can carry; these
say what the air over a Latvian field can plausibly measure, with room for
the rest of Europe. A value outside them is not dropped (the frame is kept
in the store as it arrived) but published apart, under "implausible", so
that no chart plots a 412 °C afternoon. WeeWX's QC works the same way: a
[min, max] per observation, overridable in the config ([quality]).
"""

from collections.abc import Mapping

# field name: (lowest, highest) plausible value, in the field's unit
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "temperature": (-50.0, 60.0),  # Latvian records: -43.2 and 37.8 °C
    "humidity": (0.0, 100.0),
    "pressure": (500.0, 1100.0),  # station pressure up to 5,500 m; sea-level record 1084
    "pm1": (0.0, 1000.0),  # PMS5003 / SDS011 top of range
    "pm2_5": (0.0, 1000.0),
    "pm10": (0.0, 2000.0),
    "co2": (250.0, 10000.0),  # outdoor air is never below ~400 ppm; SCD4x reads to 40000
    "voc_index": (1.0, 500.0),  # Sensirion's index is 1..500
    "nox_index": (1.0, 500.0),
    "battery": (0.5, 15.0),  # 0 V from a working node is a broken divider
    "wind_speed": (0.0, 75.0),
    "wind_direction": (0.0, 359.0),
    "gust": (0.0, 100.0),
    "uv_index": (0.0, 20.0),
    "solar_radiation": (0.0, 1500.0),  # above the solar constant's ground share
    "soil_moisture": (0.0, 100.0),
    "soil_temperature": (-30.0, 50.0),
    "noise": (20.0, 140.0),
    "snow_depth": (0.0, 5000.0),
    "no2": (0.0, 2000.0),
    "o3": (0.0, 1000.0),
}


def implausible(
    values: Mapping[str, float | int], limits: Mapping[str, tuple[float, float]] = PLAUSIBLE
) -> dict[str, float | int]:
    """The values outside their plausible range; fields without limits always pass."""
    out = {}
    for name, value in values.items():
        bounds = limits.get(name)
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            out[name] = value
    return out

"""What people read: each field's name and unit, and the words around them, in Latvian and English.

The status page (gateway/web) and `meteolink report` show the same fields, so
both take their words from here; MQTT messages and exports keep the field
names of firmware/frames.py, which are identifiers, not words. The language is
the browser's (Accept-Language) or the report's --lang: Latvian for the
municipality's staff, English for everyone else.

Field units are the codec's (frames.FIELDS); a derived field (gateway/derived.py)
has its unit here. A field unknown here is shown by its identifier, never refused.
"""

from collections.abc import Iterable

from meteolink.firmware import frames

LANGUAGES = ("en", "lv")
DEFAULT = "en"

# field identifier -> (English, Latvian)
_FIELDS: dict[str, tuple[str, str]] = {
    "temperature": ("Air temperature", "Gaisa temperatūra"),
    "humidity": ("Relative humidity", "Relatīvais mitrums"),
    "pressure": ("Station pressure", "Atmosfēras spiediens stacijā"),
    "pm1": ("PM1", "PM1"),
    "pm2_5": ("PM2.5", "PM2,5"),
    "pm10": ("PM10", "PM10"),
    "co2": ("CO₂", "CO₂"),
    "voc_index": ("VOC index", "GOS indekss"),
    "nox_index": ("NOx index", "NOx indekss"),
    "battery": ("Battery", "Baterija"),
    "wind_speed": ("Wind speed", "Vēja ātrums"),
    "wind_direction": ("Wind direction", "Vēja virziens"),
    "gust": ("Wind gust", "Vēja brāzmas"),
    "rain": ("Precipitation", "Nokrišņi"),
    "illuminance": ("Illuminance", "Apgaismojums"),
    "uv_index": ("UV index", "UV indekss"),
    "solar_radiation": ("Solar radiation", "Saules starojums"),
    "soil_moisture": ("Soil moisture", "Augsnes mitrums"),
    "soil_temperature": ("Soil temperature", "Augsnes temperatūra"),
    "noise": ("Noise", "Troksnis"),
    "snow_depth": ("Snow depth", "Sniega segas biezums"),
    "water_level": ("Water level", "Ūdens līmenis"),
    "no2": ("NO₂", "NO₂"),
    "o3": ("O₃", "O₃"),
    "rssi": ("Signal strength (RSSI)", "Signāla stiprums (RSSI)"),
    "snr": ("Signal-to-noise ratio", "Signāla-trokšņa attiecība"),
    # derived (gateway/derived.py)
    "dew_point": ("Dew point", "Rasas punkts"),
    "sea_level_pressure": ("Sea-level pressure", "Spiediens jūras līmenī"),
    "aq_band_pm2_5": ("Air quality (PM2.5)", "Gaisa kvalitāte (PM2,5)"),
    "aq_band_pm10": ("Air quality (PM10)", "Gaisa kvalitāte (PM10)"),
    "aq_band": ("Air quality", "Gaisa kvalitāte"),
}

# Units of what the codec does not carry.
_UNITS: dict[str, str] = {
    "rssi": "dBm",
    "snr": "dB",
    "dew_point": "°C",
    "sea_level_pressure": "hPa",
    "aq_band_pm2_5": "",
    "aq_band_pm10": "",
    "aq_band": "",
}


def language(accept_language: str | None) -> str:
    """The language to answer in for an HTTP Accept-Language header (RFC 9110 §12.5.4):
    the first of LANGUAGES the header ranks highest, DEFAULT when it names neither."""
    if not accept_language:
        return DEFAULT
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > 0:
            ranked.append((-q, i, primary))
    return min(ranked)[2] if ranked else DEFAULT


def field_label(name: str, lang: str = DEFAULT) -> str:
    """A field's name for people, in lang; its identifier when it has none."""
    words = _FIELDS.get(name)
    if words is None:
        return name
    return words[1] if lang == "lv" else words[0]


def unit(name: str) -> str:
    """A field's unit as people write it ("°C", "µg/m³"); "" for none or unknown."""
    if name in _UNITS:
        return _UNITS[name]
    try:
        return str(frames.FIELDS[frames.field_id(name)][1])
    except frames.MeteolinkError:
        return ""


def known(names: Iterable[str]) -> list[str]:
    """The names that have labels here, in the order given."""
    return [n for n in names if n in _FIELDS]

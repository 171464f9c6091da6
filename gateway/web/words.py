"""The status page's own words in English and Latvian (the fields' are in gateway/labels.py).

One table, one function, as labels.py has for fields: `word(key, lang)`. A key
missing from the table is a programming mistake, caught by
tests/gateway/test_web_words.py, never shown to a user as a key.
"""

from meteolink.gateway.labels import DEFAULT

# key -> (English, Latvian)
WORDS: dict[str, tuple[str, str]] = {
    "title": ("Station status", "Staciju stāvoklis"),
    "stations": ("Stations", "Stacijas"),
    "station": ("Station", "Stacija"),
    "last_seen": ("Last seen", "Pēdējie dati"),
    "status": ("Status", "Stāvoklis"),
    "ok": ("reporting", "darbojas"),
    "stale": ("late", "kavējas"),
    "offline": ("offline", "nav sakaru"),
    "never": ("never heard", "nav dzirdēta"),
    "battery": ("Battery", "Baterija"),
    "signal": ("Signal", "Signāls"),
    "loss": ("Lost frames", "Zudušie kadri"),
    "ago": ("{} ago", "pirms {}"),
    "no_readings": ("no readings yet", "vēl nav datu"),
    "no_stations": (
        "No stations yet: add [nodes.N] tables to the gateway's config.",
        "Vēl nav staciju: pievienojiet [nodes.N] tabulas vārtejas konfigurācijai.",
    ),
    "qc": ("Quality flags", "Kvalitātes atzīmes"),
    "flag_range": ("outside the plausible range", "ārpus ticamām robežām"),
    "flag_step": ("jumped too far since the last reading", "pārāk straujas izmaiņas"),
    "flag_persistence": ("unchanged for too long", "pārāk ilgi nemainīgs"),
    "flag_consistency": ("inconsistent with other fields", "nesaskan ar citiem lielumiem"),
    # the European Environment Agency's index bands (gateway/derived.py BANDS)
    "band_good": ("good", "laba"),
    "band_fair": ("fair", "apmierinoša"),
    "band_moderate": ("moderate", "mērena"),
    "band_poor": ("poor", "slikta"),
    "band_very_poor": ("very poor", "ļoti slikta"),
    "band_extremely_poor": ("extremely poor", "ārkārtīgi slikta"),
    "gateway": ("Gateway", "Vārteja"),
    "uptime": ("Running for", "Darbojas"),
    "inputs": ("Inputs", "Ieejas"),
    "input": ("Input", "Ieeja"),
    "frames": ("Frames", "Kadri"),
    "crc_errors": ("CRC errors", "CRC kļūdas"),
    "malformed": ("Malformed", "Bojāti"),
    "unknown": ("Unlisted nodes", "Nereģistrēti mezgli"),
    "refused": ("Refused", "Noraidīti"),
    # why an input refused a message before it held a frame (Feed.refused): the LoRaWAN
    # input's reasons (gateway/lorawan_uplink.py), then the federation input's
    "refused_not_an_uplink": ("not an uplink", "nav augšupsaites ziņojums"),
    "refused_wrong_fport": ("on another fPort", "citā fPort"),
    "refused_unknown_device": ("device not mapped", "ierīce nav sarakstā"),
    "refused_bad_base64": ("no base64 frame", "nav base64 kadra"),
    "refused_not_a_frame": ("not a meteolink frame", "nav meteolink kadrs"),
    "refused_node_mismatch": ("device mapped to another node", "ierīce piesaistīta citam mezglam"),
    "refused_not_json": ("not JSON", "nav JSON"),
    "refused_no_site": ("no site name", "nav vietas nosaukuma"),
    "refused_bad_field": ("a field not as a site writes it", "lauks nav vietas formātā"),
    "upstreams": ("Forwarding", "Datu nosūtīšana"),
    "upstream": ("Destination", "Galamērķis"),
    "state": ("State", "Stāvoklis"),
    "connected": ("connected", "savienots"),
    "retrying": ("retrying", "mēģina vēlreiz"),
    "starting": ("starting", "sāk darbu"),
    "backlog": ("Waiting to be sent", "Gaida nosūtīšanu"),
    "refused_readings": ("Refused for good", "Galīgi noraidīti"),
    "last_success": ("Last sent", "Pēdējoreiz nosūtīts"),
    "no_upstreams": ("none configured", "nav iestatīts"),
    "disk": ("Disk", "Disks"),
    "disk_text": (
        "{free} free of {total}; the store takes {store}",
        "brīvs {free} no {total}; datubāze aizņem {store}",
    ),
    "updated": ("Updated", "Atjaunināts"),
    "sort_hint": (
        "Select a column heading to sort.",
        "Lai kārtotu, izvēlieties kolonnas virsrakstu.",
    ),
    "details": ("details", "sīkāk"),
    "json": ("The same as JSON", "Tas pats JSON formātā"),
    "metrics": ("Metrics for Prometheus", "Metrikas Prometheus sistēmai"),
    "readings": ("readings", "mērījumi"),
    "unit_s": ("s", "s"),
    "unit_min": ("min", "min"),
    "unit_h": ("h", "h"),
    "unit_d": ("d", "d"),
}


def word(key: str, lang: str = DEFAULT) -> str:
    """The page's word for key in lang (English for a language it has not)."""
    english, latvian = WORDS[key]
    return latvian if lang == "lv" else english

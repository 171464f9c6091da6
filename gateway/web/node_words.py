"""The node page's words in English and Latvian, beside gateway/labels.py's field names.

Kept apart from the overview's words (gateway/web/words.py) so that two pages
written at once do not edit one table; a word both need belongs in labels.py.
Latvian: the municipality's staff read it; numbers take a decimal comma there.
"""

from meteolink.gateway import labels

# key -> (English, Latvian)
_WORDS: dict[str, tuple[str, str]] = {
    "node": ("Node", "Mezgls"),
    "overview": ("All nodes", "Visi mezgli"),
    "station": ("Station", "Stacija"),
    "location": ("Location", "Atrašanās vieta"),
    "coordinates": ("Coordinates", "Koordinātas"),
    "altitude": ("Altitude", "Augstums virs jūras līmeņa"),
    "exposure": ("Exposure", "Novietojums"),
    "outdoor": ("outdoor", "ārā"),
    "indoor": ("indoor", "telpās"),
    "sensor_height": ("Sensor height", "Sensora augstums"),
    "notes": ("Notes", "Piezīmes"),
    "interval": ("Reading interval", "Mērījumu intervāls"),
    "latest": ("Latest reading", "Pēdējais mērījums"),
    "none_yet": ("No readings yet.", "Vēl nav mērījumu."),
    "taken": ("taken", "uzņemts"),
    "last_24h": ("Last 24 hours", "Pēdējās 24 stundas"),
    "last_7d": ("Last 7 days", "Pēdējās 7 dienas"),
    "fields": ("Measurements", "Mērījumi"),
    "link": ("Link and battery", "Sakari un baterija"),
    "rejections": ("Rejections", "Noraidītie kadri"),
    "gaps": ("Counter gaps (last 7 days)", "Pārtraukumi skaitītājā (pēdējās 7 dienas)"),
    "no_gaps": ("No readings missing.", "Neviens mērījums netrūkst."),
    "gap_missing": ("missing", "trūkst"),
    "restart": (
        "node restarted: its counter jumped, nothing missing",
        "mezgls restartēts: skaitītājs pārlēca, nekas netrūkst",
    ),
    "received": ("Readings stored", "Saglabātie mērījumi"),
    "lost": ("Lost (counter gaps)", "Zaudēti (skaitītāja pārtraukumi)"),
    "duplicates": ("Duplicates (heard again)", "Dublikāti (saņemti atkārtoti)"),
    "replays": (
        "Replayed or stale counters",
        "Atkārtoti vai novecojuši skaitītāji",  # codespell:ignore vai
    ),
    "mic_failures": ("Failed integrity code (MIC)", "Neatbilstošs integritātes kods (MIC)"),
    "crc_errors": ("CRC errors on input", "CRC kļūdas ievadē"),
    "crc_note": (
        "a frame with a bad CRC cannot say which node sent it: counted per input",
        "kadrs ar kļūdainu CRC nepasaka, kurš mezgls to sūtīja: skaitīts katrai ievadei",
    ),
    "recent": (
        "Recent rejections of this node (since the gateway started)",
        "Nesen noraidītie šī mezgla kadri (kopš vārtejas palaišanas)",
    ),
    "recent_crc": (
        "Recent frames with a bad CRC, on any input",
        "Nesen saņemtie kadri ar kļūdainu CRC, jebkurā ievadē",
    ),
    "no_recent": ("None.", "Nav."),
    "reason_crc": ("bad CRC", "kļūdains CRC"),
    "reason_mic": ("MIC does not match the key", "MIC neatbilst atslēgai"),
    "reason_replay": (
        "replayed or stale counter",
        "atkārtots vai novecojis skaitītājs",  # codespell:ignore vai
    ),
    "when": ("When", "Kad"),
    "why": ("Why", "Kāpēc"),
    "input": ("Input", "Ievade"),
    "counter": ("Counter", "Skaitītājs"),
    "tallies_live": (
        "Readings stored: since the gateway started; the rest over the node's life"
        " (kept across restarts).",
        "Saglabātie mērījumi: kopš vārtejas palaišanas; pārējie visā mezgla darbības laikā"
        " (saglabājas pēc restartēšanas).",
    ),
    "tallies_store": (
        "Over the node's life, as the store keeps them (the gateway is not running).",
        "Visā mezgla darbības laikā, kā tie glabājas datubāzē (vārteja nedarbojas).",
    ),
    "no_tallies": ("Nothing heard from this node.", "No šī mezgla nekas nav saņemts."),
    "min": ("min", "min"),
    "max": ("max", "maks"),  # codespell:ignore maks
    "mean": ("mean", "vid."),
    "readings": ("readings", "mērījumi"),
    "no_data": ("no readings", "nav mērījumu"),
    "zone_note": ("local time", "vietējais laiks"),
    "flagged": ("flagged", "atzīmēts"),
    "flags": ("Quality flags", "Kvalitātes atzīmes"),
    "implausible": ("implausible, not drawn", "neticami, nav attēloti"),
    "calibrated": ("calibrated", "kalibrēts"),
    "downsampled": (
        "more readings than pixels: each 2-pixel column shows its lowest and highest",
        "vairāk mērījumu nekā pikseļu: katrā 2 pikseļu kolonnā redzams zemākais un augstākais",
    ),
    "unknown_node": ("No such node", "Šāda mezgla nav"),
    "range": ("out of range", "ārpus diapazona"),
    "step": ("jump", "lēciens"),
    "persistence": ("stuck", "nemainīgs"),
    "consistency": ("inconsistent", "pretrunīgs"),
    "online": ("online", "tiešsaistē"),
    "offline": ("offline", "bezsaistē"),
    "m": ("m", "m"),
    "s": ("s", "s"),
    "min_unit": ("min", "min"),
}

DAY_NAMES = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "lv": ("P", "O", "T", "C", "Pk", "S", "Sv"),
}
DECIMAL_MARK = {"en": ".", "lv": ","}


def word(key: str, lang: str = labels.DEFAULT) -> str:
    """The page's word for key in lang (English when lang is not Latvian)."""
    en, lv = _WORDS[key]
    return lv if lang == "lv" else en


def flag_word(flag: str, lang: str = labels.DEFAULT) -> str:
    """A quality flag (gateway/quality.py FLAGS) for people; an unknown one as it is."""
    return word(flag, lang) if flag in _WORDS else flag

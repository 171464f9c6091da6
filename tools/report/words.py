"""The report's words in English and Latvian; field names and units are gateway/labels.py's.

Numbers are written as each language writes them: 1.5 in English, 1,5 in
Latvian (and a thin space is not used: spreadsheets read neither). The CSV
keeps the point whatever the language, so that programs can read it.
"""

import datetime

from meteolink.gateway import labels

LANGUAGES = labels.LANGUAGES

# key -> (English, Latvian)
_WORDS: dict[str, tuple[str, str]] = {
    "title": ("Weather and air quality report", "Laikapstākļu un gaisa kvalitātes pārskats"),
    "period": ("Period", "Periods"),
    "to": ("to", "līdz"),
    "days_local": (
        "Days are local days in {tz}.",
        "Dienas ir vietējā laika dienas ({tz}).",
    ),
    "made": ("Made by meteolink {version} on {when}.", "Sagatavoja meteolink {version}, {when}."),
    "stations": ("Stations and data completeness", "Stacijas un datu pilnīgums"),
    "stations_note": (
        "Completeness: readings received of those expected from the station's interval."
        " Uptime: the share of the period in which the gateway would not have shown the"
        " station offline (silent for more than {after:g} intervals).",
        "Pilnīgums: saņemto mērījumu daļa no stacijas intervālam atbilstošā skaita."
        " Darbības laiks: perioda daļa, kurā vārteja staciju nerādītu kā bezsaistē"
        " (klusējusi ilgāk par {after:g} intervāliem).",
    ),
    "station": ("Station", "Stacija"),
    "node": ("Node", "Mezgls"),
    "position": ("Position", "Atrašanās vieta"),
    "interval_min": ("Interval, min", "Intervāls, min"),
    "received": ("Received", "Saņemti"),
    "expected": ("Expected", "Gaidīti"),
    "completeness": ("Completeness, %", "Pilnīgums, %"),
    "uptime": ("Uptime, %", "Darbības laiks, %"),
    "left_out": ("Values left out (QC)", "Izslēgtās vērtības (KK)"),
    "daily": ("Daily minimum, mean and maximum", "Diennakts minimums, vidējais un maksimums"),
    "daily_note": (
        "Values flagged by quality control are left out of every statistic and counted"
        " in the stations table.",
        "Kvalitātes kontroles atzīmētās vērtības nav iekļautas statistikā; to skaits ir"
        " staciju tabulā.",
    ),
    "date": ("Date", "Datums"),
    "min": ("min", "min"),
    "mean": ("mean", "vid."),
    "max": ("max", "maks."),  # codespell:ignore maks
    "frost": ("Frost days and the coldest night", "Sala dienas un aukstākā nakts"),
    "frost_note": (
        "A frost day is a day whose minimum temperature is below 0 °C (the ETCCDI index FD,"
        " WMO-TD No. 1500, 2009). A night runs from 18:00 to 06:00 local time.",
        "Sala diena ir diena, kuras minimālā temperatūra ir zem 0 °C (ETCCDI indekss FD,"
        " WMO-TD Nr. 1500, 2009). Nakts ir no 18:00 līdz 06:00 pēc vietējā laika.",
    ),
    "frost_days": ("Frost days", "Sala dienas"),
    "temp_days": ("Days with temperature", "Dienas ar temperatūru"),
    "coldest_night": ("Coldest night", "Aukstākā nakts"),
    "lowest": ("Lowest, °C", "Zemākā, °C"),
    "at": ("At", "Laiks"),
    "pm": (
        "Particulate matter against limit and guideline values",
        "Daļiņas salīdzinājumā ar robežvērtībām un vadlīnijām",
    ),
    "pm_note": (
        "Daily means count only when at least 18 hours of the day are valid, an hour being"
        " valid with at least 75 % of its readings (Directive 2008/50/EC, Annex XI A)."
        " EU limit values in law on these dates: {law}. EU 2030: Directive (EU) 2024/2881,"
        " Annex I (from 1 January 2030: PM10 45 µg/m³ and PM2.5 25 µg/m³ a day, 18 days a"
        " year allowed). WHO: WHO global air quality guidelines 2021, Table 0.1 (24-hour"
        " PM2.5 15 µg/m³, PM10 45 µg/m³; annual 5 and 15 µg/m³). A period mean is not an"
        " annual mean: compare it with the annual values with care.",
        "Diennakts vidējās vērtības tiek skaitītas tikai, ja derīgas ir vismaz 18 dienas"
        " stundas; stunda ir derīga ar vismaz 75 % tās mērījumu (Direktīva 2008/50/EK,"
        " XI pielikuma A daļa). Šajos datumos spēkā esošās ES robežvērtības: {law}."
        " ES 2030: Direktīva (ES) 2024/2881, I pielikums (no 2030. gada 1. janvāra: PM10"
        " 45 µg/m³ un PM2,5 25 µg/m³ diennaktī, pieļaujami 18 gadījumi gadā). PVO: PVO"
        " globālās gaisa kvalitātes vadlīnijas 2021, 0.1. tabula (24 stundu PM2,5 15 µg/m³,"
        " PM10 45 µg/m³; gada 5 un 15 µg/m³). Perioda vidējā vērtība nav gada vidējā.",
    ),
    "law_2008/50/EC": (
        "Directive 2008/50/EC, Annex XI B (PM10: 50 µg/m³ a day, 35 days a year allowed;"
        " 40 µg/m³ a year) and Annex XIV E (PM2.5: 25 µg/m³ a year)",
        "Direktīva 2008/50/EK, XI pielikuma B daļa (PM10: 50 µg/m³ diennaktī, pieļaujamas"
        " 35 dienas gadā; 40 µg/m³ gadā) un XIV pielikuma E daļa (PM2,5: 25 µg/m³ gadā)",
    ),
    "law_2024/2881-transitional": (
        "Directive (EU) 2024/2881, which repealed 2008/50/EC from 12 December 2026 and keeps"
        " its values until 2030 (PM10: 50 µg/m³ a day, 35 days a year; PM2.5: 25 µg/m³ a year)",
        "Direktīva (ES) 2024/2881, kas no 2026. gada 12. decembra aizstāj 2008/50/EK un līdz"
        " 2030. gadam saglabā tās vērtības (PM10: 50 µg/m³ diennaktī, 35 dienas gadā;"
        " PM2,5: 25 µg/m³ gadā)",
    ),
    "law_2024/2881": (
        "Directive (EU) 2024/2881, Annex I (PM10: 45 µg/m³ a day, PM2.5: 25 µg/m³ a day,"
        " each 18 days a year allowed)",
        "Direktīva (ES) 2024/2881, I pielikums (PM10: 45 µg/m³, PM2,5: 25 µg/m³ diennaktī,"
        " katram pieļaujamas 18 dienas gadā)",
    ),
    "pollutant": ("Pollutant", "Piesārņotājs"),
    "valid_days": ("Valid days", "Derīgās dienas"),
    "incomplete_days": ("Incomplete days", "Nepilnās dienas"),
    "period_mean": ("Mean of valid days, µg/m³", "Derīgo dienu vidējā, µg/m³"),
    "highest_day": ("Highest daily mean, µg/m³", "Augstākā diennakts vidējā, µg/m³"),
    "over_eu": ("Days over the EU limit in law", "Dienas virs spēkā esošās ES robežvērtības"),
    "allowed": ("allowed a year", "pieļaujams gadā"),
    "over_eu2030": ("Days over EU 2030", "Dienas virs ES 2030"),
    "over_who": ("Days over WHO 24-hour", "Dienas virs PVO 24 stundu"),
    "none_daily": ("no daily limit", "nav diennakts robežvērtības"),
    "pm_daily": ("Daily PM means", "Diennakts PM vidējās vērtības"),
    "valid_hours": ("valid hours", "derīgās stundas"),
    "link": ("Battery and link quality", "Baterija un sakaru kvalitāte"),
    "link_note": (
        "Daily means; the charts run from the period's first day to its last.",
        "Diennakts vidējās vērtības; grafiki no perioda pirmās līdz pēdējai dienai.",
    ),
    "battery_first": ("Battery, first day, V", "Baterija, pirmā diena, V"),
    "battery_last": ("Battery, last day, V", "Baterija, pēdējā diena, V"),
    "battery_low": ("Battery, lowest, V", "Baterija, zemākā, V"),
    "rssi_mean": ("RSSI mean, dBm", "RSSI vidējais, dBm"),
    "snr_mean": ("SNR mean, dB", "SNR vidējais, dB"),
    "battery_chart": ("Battery", "Baterija"),
    "rssi_chart": ("RSSI", "RSSI"),
    "reference": ("Comparison with the reference station", "Salīdzinājums ar references staciju"),
    "reference_note": (
        "Reference file {file}: {hours} hours. The station's readings are averaged over each"
        " reference hour (the hour ending at the reference's time, with at least 75 % of its"
        " readings). Bias: station minus reference. Fit: reference = factor × station +"
        " offset (least squares); the offset-only fit is the mean difference. ± is one"
        " standard error, widened for the hours' autocorrelation. The station's values are"
        " as the calibration in force at the period's end gives them.",
        "References fails {file}: {hours} stundas. Stacijas mērījumi ir vidēji katrā"
        " references stundā (stunda, kas beidzas references laikā, ar vismaz 75 % mērījumu)."
        " Novirze: stacija mīnus reference. Regresija: reference = koeficients × stacija +"
        " nobīde (mazāko kvadrātu metode); tikai nobīdes novērtējums ir vidējā starpība."
        " ± ir viena standartkļūda, palielināta stundu autokorelācijas dēļ. Stacijas"
        " vērtības ir tādas, kādas tās dod perioda beigās spēkā esošā kalibrēšana.",
    ),
    "field": ("Field", "Lielums"),
    "n": ("Hours", "Stundas"),
    "bias": ("Bias", "Novirze"),
    "rmse": ("RMSE", "VKK"),
    "r": ("r", "r"),
    "factor": ("Factor", "Koeficients"),
    "offset": ("Offset", "Nobīde"),
    "mean_offset": ("Offset only", "Tikai nobīde"),
    "paste": (
        "Calibration to paste into the gateway's configuration (gateway.toml), then restart"
        " the gateway:",
        "Kalibrēšana, ko ielīmēt vārtejas konfigurācijā (gateway.toml), pēc tam restartējiet"
        " vārteju:",
    ),
    "no_pairs": (
        "No station had hours to compare with the reference.",
        "Nevienai stacijai nebija stundu, ko salīdzināt ar referenci.",
    ),
    "quality": ("Values left out by quality control", "Kvalitātes kontroles izslēgtās vērtības"),
    "count": ("Values", "Vērtības"),
    "none": ("none", "nav"),
}


def word(key: str, lang: str) -> str:
    en, lv = _WORDS[key]
    return lv if lang == "lv" else en


def number(value: float | None, decimals: int, lang: str) -> str:
    """value with decimals digits after the point ("" for None), as lang writes it."""
    if value is None:
        return ""
    text = f"{value:.{decimals}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]  # no "-0.0"
    return text.replace(".", ",") if lang == "lv" else text


def date(day: datetime.date, lang: str) -> str:
    """2026-11-01 in both: ISO dates sort, and Latvian official style accepts them."""
    return day.isoformat()

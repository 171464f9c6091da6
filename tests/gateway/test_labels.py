"""Words for people: the language a browser asks for, and each field's name and unit."""

import pytest

from meteolink.gateway import labels


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        (None, "en"),
        ("", "en"),
        ("lv", "lv"),
        ("lv-LV,lv;q=0.9,en-US;q=0.8,en;q=0.7", "lv"),  # a Latvian Chrome's default
        ("en-GB,en;q=0.9,lv;q=0.8", "en"),
        ("ru-RU,ru;q=0.9,lv;q=0.8", "lv"),  # the first language offered that we have
        ("de-DE,de;q=0.9", "en"),
        ("en;q=0.5, lv;q=0.6", "lv"),  # ranked by q, not by order
        ("lv;q=0", "en"),  # q=0: "not acceptable" (RFC 9110 §12.4.2)
        ("lv;q=zero", "en"),
    ],
)
def test_the_language_is_the_highest_ranked_one_we_have(header: str | None, lang: str) -> None:
    assert labels.language(header) == lang


def test_fields_have_words_and_units_in_both_languages() -> None:
    assert labels.field_label("temperature", "lv") == "Gaisa temperatūra"
    assert labels.field_label("temperature", "en") == "Air temperature"
    assert labels.unit("pm2_5") == "µg/m³"
    assert labels.unit("dew_point") == "°C"
    assert labels.field_label("field_99", "lv") == "field_99"  # unknown: shown, not refused
    assert labels.unit("field_99") == ""

"""The messages MQTT publishes and export writes, built without a broker."""

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from meteolink.firmware import frames
from meteolink.gateway.calibration import Calibration
from meteolink.gateway.config import Config, NodeConfig
from meteolink.gateway.derived import BANDS, DERIVED, derive
from meteolink.gateway.messages import (
    REMEMBERED,
    STALE,
    IsoUtc,
    StateRows,
    announced_field_set,
    compact,
    derived_fields,
    gateway_stats_message,
    iso_utc,
    node_stats_message,
    published_field_set,
    published_fields,
    reading_id,
    state_message,
)
from meteolink.gateway.quality import flags_text, implausible
from meteolink.gateway.stats import InputStats, NodeStats, UnlistedNode, UpstreamStats
from meteolink.gateway.store import Stored

TAKEN = 1_795_604_938.0  # 2026-11-25T11:08:58Z


def stored(frame: bytes, *, rssi: int | None = None, snr: float | None = None) -> Stored:
    f = frames.decode(frame)
    return Stored(f.node, f.seq, TAKEN + 60, TAKEN, frame, rssi, snr, id=17)


def test_a_state_message_carries_the_reading_and_what_the_config_says_of_its_node() -> None:
    frame = frames.encode(12, 40, {"temperature": 99.5, "humidity": 71.0, "age": 60})
    cfg = Config(name="cesis-pi", nodes={12: NodeConfig(name="Cēsis skola", location="jumts")})
    rid, msg = state_message(stored(frame, rssi=-101, snr=6.25), frames.decode(frame), cfg)
    assert rid == reading_id(12, 40) == "12-40"
    assert msg == {
        "id": "12-40",
        "node": 12,
        "seq": 40,
        "time": "2026-11-25T11:08:58Z",
        "gateway": "cesis-pi",
        "name": "Cēsis skola",
        "location": "jumts",
        "rssi": -101,
        "snr": 6.25,
        "humidity": 71.0,
        "implausible": {"temperature": 99.5},
    }
    assert published_fields(frames.decode(frame)) == ["temperature", "humidity"]


def test_a_node_without_config_or_radio_gets_the_bare_message() -> None:
    frame = frames.encode(3, 1, {"pressure": 1008.5})
    _, msg = state_message(stored(frame), frames.decode(frame), Config())
    assert compact(msg) == (
        '{"id":"3-1","node":3,"seq":1,"time":"2026-11-25T11:08:58Z","gateway":"gateway",'
        '"pressure":1008.5}'
    )


def test_the_stats_messages_have_the_documented_keys() -> None:
    node = json.loads(node_stats_message(NodeStats(1, received=3, online=True)))
    assert list(node) == [
        "node",
        "last_seen",
        "received",
        "lost",
        "duplicates",
        "rejected",
        "mic_failures",
        "rssi",
        "snr",
        "battery",
        "online",
    ]
    heard = UnlistedNode(77, "serial:/dev/x", 1.0, 2.0, frames=2, rssi=-101, snr=-3.5)
    gw = json.loads(
        gateway_stats_message(
            {"lorawan:ttn": InputStats(frames=160, refused={"wrong_fport": 2})}, 150, {77: heard}
        )
    )
    assert gw == {
        "inputs": {
            "lorawan:ttn": {
                "frames": 160,
                "crc_errors": 0,
                "malformed": 0,
                "unknown": 0,
                "refused": {"wrong_fport": 2},
            }
        },
        "published": 150,
        "unlisted": [
            {
                "node": 77,
                "source": "serial:/dev/x",
                "first_seen": 1.0,
                "last_seen": 2.0,
                "frames": 2,
                "rssi": -101,
                "snr": -3.5,
            }
        ],
        "upstreams": {},
    }
    refused = {"influxdb:x": UpstreamStats(refused={"HTTP 400": 2})}
    with_upstreams = json.loads(gateway_stats_message({}, 0, None, refused))
    assert with_upstreams["upstreams"] == {"influxdb:x": {"refused": {"HTTP 400": 2}}}


def test_times_made_a_minute_at_a_time_read_as_iso_utc_does() -> None:
    """IsoUtc (export's time column) against iso_utc, around whole seconds and minutes:
    datetime rounds to the microsecond first, so 59.9999996 s reads as the next minute."""
    minute = 1_795_604_880.0  # 2026-11-25T11:08:00Z
    times = [0.0, 59.0, 1e-7, minute - 1, minute, minute + 59.25, minute + 59.9999994]
    times += [minute + 59.9999996, minute + 59.9999999, minute + 60, 253_402_300_799.0]
    times += [minute + s / 7 for s in range(0, 1000, 3)]
    times += [-0.5, -61.0]  # before 1970: left to iso_utc
    make = IsoUtc()
    for t in [*times, *reversed(times)]:
        assert make(t) == iso_utc(t), t


def test_rows_of_many_readings_are_state_messages_whatever_they_remember() -> None:
    """StateRows remembers each (field, raw value) pair's value and quality, a bounded
    number of them: past REMEMBERED pairs it starts again, and the messages stay right."""
    cfg = Config(name="cesis-pi", nodes={12: NodeConfig(name="Cēsis skola")})
    rows = StateRows(cfg)
    remembered, restarts = 0, 0
    for i in range(REMEMBERED):  # about two new pairs a reading: it starts again
        values = {"temperature": (i % 18_000) / 100 - 60, "co2": i % 40_000, "age": i % 9}
        frame = frames.encode(12, i, values)
        row = rows.message(12, i, TAKEN, None, 7.5, frames.decode(frame).fields)
        now = len(rows._fields)  # the bound under test
        assert now <= REMEMBERED
        restarts += now < remembered
        if i % 37 and now >= remembered:
            remembered = now
            continue  # checked now and then, and just after each start again
        remembered = now
        assert row == state_message(stored(frame, snr=7.5), frames.decode(frame), cfg)[1]
        # ... and what the message is by its documented rules (docs/gateway.md section 3):
        published = {k: v for k, v in frames.decode(frame).values().items() if k != "age"}
        bad = implausible(published, cfg.plausible)
        expected = {"id": f"12-{i}", "node": 12, "seq": i, "time": "2026-11-25T11:08:58Z"}
        expected |= {"gateway": "cesis-pi", "name": "Cēsis skola", "snr": 7.5}
        expected |= {k: v for k, v in published.items() if k not in bad}
        assert list(row.items()) == list((expected | ({"implausible": bad} if bad else {})).items())
    assert restarts >= 1


def test_message_json_is_the_message_as_json_dumps_writes_it() -> None:
    """Export's JSON lines are made from pieces; they must be json.dumps's text exactly,
    whatever the config's names, the radio's figures or a hand-edited store hold."""
    nodes = {
        1: NodeConfig(name='Valmiera, "north" mast\\ \t', location="Cēsis ☂"),
        2: NodeConfig(location="\x00\u2028"),
    }
    cfg = Config(name='gw "ā"', nodes=nodes, plausible={"temperature": (-45, 45)})
    rows, wire = StateRows(cfg), StateRows(cfg, wire=True)
    values = [
        {"temperature": 21.5, "humidity": 45.25, "age": 30},
        {"temperature": 46.0, "pm1": 3.1, "voc_index": 0},
        {"status": 0x11, "rain": 0.2},
        {},
    ]
    fields = [frames.decode(frames.encode(3, 1, v)).fields for v in values]
    fields.append([(0, 2150), (40, 1234), (14, 9)])  # a field this codec has no name for
    radio = [(None, None), (-97, 7.25), (-97.5, -0.0), (3, float("inf")), (None, -1e-300)]
    for node in (1, 2, 3, 70_000, 2.5, "x"):
        for seq in (0, 16_777_215):
            for rssi, snr in radio:
                for f in fields:
                    for taken in (TAKEN, TAKEN + 0.9999999):
                        message = rows.message(node, seq, taken, rssi, snr, f)  # type: ignore[arg-type]
                        text = rows.message_json(node, seq, taken, rssi, snr, f)  # type: ignore[arg-type]
                        assert text == json.dumps(message, ensure_ascii=False)
                        # As MQTT carries it: compact, non-ASCII escaped (issue 9).
                        text = wire.message_json(node, seq, taken, rssi, snr, f)  # type: ignore[arg-type]
                        assert text == json.dumps(message, separators=(",", ":"))


def test_the_published_field_set_is_that_of_published_fields() -> None:
    # From the field ids alone, cached (issue 9); "age" is folded into "time",
    # an id this gateway does not know is published as field_<id>.
    for values, extra in (
        ({"temperature": 21.5, "humidity": 40.0, "age": 60}, []),
        ({"pressure": 1008.5}, [(200, 7)]),
        ({}, []),
    ):
        f = frames.decode(frames.encode(5, 9, values))
        f.fields = f.fields + extra
        assert published_field_set(f) == frozenset(published_fields(f))
        assert published_field_set(f) == frozenset(published_fields(f)), "from the cache"


# -- issue 12: calibration, derived values, flags, the node's place -------------------

DAY = 86400.0
CAL_OLD = Calibration("temperature", TAKEN - 10 * DAY, offset=-0.4)
CAL_NEW = Calibration("temperature", TAKEN + DAY, offset=-0.25, factor=1.01)
PLACED = NodeConfig(
    name="Cēsis skola",
    location="jumts",
    latitude=57.3119,
    longitude=25.2707,
    altitude=98.0,
    calibrations=(CAL_OLD, CAL_NEW),
)


def message_at(cfg: Config, node: int, taken: float, values: dict[str, float]) -> dict[str, Any]:
    frame = frames.encode(node, 5, values)
    return StateRows(cfg).message(node, 5, taken, None, None, frames.decode(frame).fields)


def test_a_value_is_published_with_the_calibration_in_force_when_it_was_taken() -> None:
    cfg = Config(nodes={7: PLACED})
    values = {"temperature": 21.37, "humidity": 50.0}
    before = message_at(cfg, 7, CAL_OLD.since - 1, values)
    assert before["temperature"] == 21.37 and "calibrated" not in before, "raw before any"
    msg = message_at(cfg, 7, TAKEN, values)
    assert msg["temperature"] == 20.97  # 21.37 - 0.4
    assert msg["calibrated"] == {
        "temperature": {"raw": 21.37, "offset": -0.4, "factor": 1.0, "from": "2026-11-15T11:08:58Z"}
    }
    later = message_at(cfg, 7, CAL_NEW.since, values)
    assert later["temperature"] == 21.33  # 21.37 * 1.01 - 0.25 = 21.3337, to 0.01 °C
    assert later["calibrated"]["temperature"]["from"] == "2026-11-26T11:08:58Z"
    assert later["humidity"] == 50.0 and "humidity" not in later["calibrated"]


def test_a_calibrated_value_keeps_its_field_s_resolution_and_type() -> None:
    cals = (
        Calibration("co2", 0.0, factor=1.05),  # 1 ppm steps: an int, as the node's
        Calibration("pressure", 0.0, offset=0.04),  # 0.1 hPa steps
    )
    msg = message_at(
        Config(nodes={4: NodeConfig(calibrations=cals)}), 4, TAKEN, {"co2": 413, "pressure": 1000.0}
    )
    assert msg["co2"] == 434 and isinstance(msg["co2"], int)  # 433.65
    assert msg["pressure"] == 1000.0  # 1000.04


def test_the_range_check_sees_the_calibrated_value() -> None:
    cal = (Calibration("temperature", 0.0, offset=0.5),)
    cfg = Config(nodes={4: NodeConfig(calibrations=cal)}, plausible={"temperature": (-45, 45)})
    msg = message_at(cfg, 4, TAKEN, {"temperature": 44.9, "humidity": 30.0})
    assert msg["implausible"] == {"temperature": 45.4}
    assert msg["calibrated"]["temperature"]["raw"] == 44.9
    assert "temperature" not in msg and "dew_point" not in msg, "nothing derived from it"


def test_derived_values_come_from_the_calibrated_ones_after_the_measured_fields() -> None:
    cfg = Config(nodes={7: PLACED})
    msg = message_at(cfg, 7, TAKEN, {"temperature": 21.37, "humidity": 50.0, "pressure": 1000.0})
    assert msg["dew_point"] == derive({"temperature": 20.97, "humidity": 50.0}, None)["dew_point"]
    assert msg["dew_point"] != derive({"temperature": 21.37, "humidity": 50.0}, None)["dew_point"]
    slp = derive({"pressure": 1000.0, "temperature": 20.97, "humidity": 50.0}, 98.0)
    assert msg["sea_level_pressure"] == slp["sea_level_pressure"]
    assert float(msg["sea_level_pressure"]) > 1000.0
    keys = list(msg)
    assert keys[keys.index("location") :][:4] == ["location", "latitude", "longitude", "altitude"]
    assert keys[-4:] == ["pressure", "dew_point", "sea_level_pressure", "calibrated"]
    assert (msg["latitude"], msg["longitude"], msg["altitude"]) == (57.3119, 25.2707, 98.0)


def test_air_quality_bands_are_named_and_the_worse_is_the_reading_s() -> None:
    msg = message_at(Config(), 9, TAKEN, {"pm2_5": 16.0, "pm10": 20.0})
    assert (msg["aq_band_pm2_5"], msg["aq_band_pm10"], msg["aq_band"]) == (
        BANDS[2],  # moderate: above 15 µg/m³ (derived.BAND_EDGES)
        BANDS[1],  # fair
        BANDS[2],
    )
    assert "sea_level_pressure" not in message_at(
        Config(), 9, TAKEN, {"pressure": 990.0, "temperature": 3.0}
    )


def test_stored_flags_are_published_under_qc() -> None:
    frame = frames.encode(3, 8, {"temperature": 12.0, "humidity": 60.0})
    qc = flags_text({"temperature": ["step"], "dew_point": ["consistency"]})
    msg = StateRows(Config()).message(3, 8, TAKEN, None, None, frames.decode(frame).fields, qc)
    assert msg["qc"] == {"dew_point": ["consistency"], "temperature": ["step"]}
    assert list(msg)[-1] == "qc" and msg["temperature"] == 12.0, "flagged, still published"


def test_message_json_is_json_dumps_also_with_calibration_place_and_flags() -> None:
    nodes = {7: PLACED, 8: NodeConfig(altitude=12.5), 9: NodeConfig(name="x")}
    cfg = Config(nodes=nodes, plausible={"temperature": (-45, 45)})
    rows = StateRows(cfg, remember=64)  # small: its caches start again often
    wire = StateRows(cfg, remember=64, wire=True)
    readings = [
        {"temperature": 21.37, "humidity": 45.25, "pressure": 1013.2},
        {"temperature": 44.9, "humidity": 99.0},
        {"pm1": 3.1, "pm2_5": 5.5, "pm10": 300.0},
        {"pm10": 46.0, "co2": 500},
        {"humidity": 10.0},
    ]
    flags = [None, flags_text({"humidity": ["persistence"]})]
    for i in range(400):
        node = 7 + i % 3
        values = dict(readings[i % len(readings)])
        values = {k: v + (i % 7) / 10 for k, v in values.items()}
        f = frames.decode(frames.encode(node, i, values)).fields
        taken = TAKEN + (i - 200) * 3600.0
        qc = flags[i % 2]
        message = rows.message(node, i, taken, -90, 5.5, f, qc)
        assert rows.message_json(node, i, taken, -90, 5.5, f, qc) == json.dumps(
            message, ensure_ascii=False
        )
        assert wire.message_json(node, i, taken, -90, 5.5, f, qc) == json.dumps(
            message, separators=(",", ":")
        )


def test_what_home_assistant_is_told_of_includes_what_the_readings_derive() -> None:
    f = frames.decode(frames.encode(5, 1, {"temperature": 1.0, "humidity": 2.0, "pressure": 990.0}))
    assert announced_field_set(f, altitude=False) == {
        "temperature",
        "humidity",
        "pressure",
        "dew_point",
    }
    assert announced_field_set(f, altitude=True) == {
        "temperature",
        "humidity",
        "pressure",
        "dew_point",
        "sea_level_pressure",
    }
    pm = frames.decode(frames.encode(5, 1, {"pm10": 1.0}))
    assert announced_field_set(pm, altitude=True) == {"pm10", "aq_band_pm10", "aq_band"}
    assert derived_fields(["pm2_5", "pm10"], altitude=False) == list(DERIVED[2:])


def test_the_parts_acceptance_kept_make_the_same_message_as_working_them_out() -> None:
    """Issue 9: acceptance works out a reading's parts and keeps them, and the MQTT
    upstream writes them out. Kept or not, re-decoded (another fields list), or in
    numbers past what is kept, every message must be the one worked out afresh."""
    nodes = {7: PLACED, 8: NodeConfig(altitude=12.5, name="Ērgļi")}
    cfg = Config(nodes=nodes, plausible={"temperature": (-45, 45)})
    fresh = StateRows(cfg, wire=True)
    rows = StateRows(cfg, wire=True, recent=16)
    readings = []
    for i in range(60):
        node = 7 + i % 3
        values = {"temperature": 20 + i % 30, "humidity": 40.5 + i % 7, "pm10": 9.0}
        values |= {"pressure": 1000.0 + i} if i % 2 else {"pm2_5": 3.5}
        readings.append((node, i, TAKEN + i, frames.decode(frames.encode(node, i, values)).fields))
    node, seq, taken, f = readings[0]
    rows.message_json(node, seq, taken, -90, 5.5, f)  # someone writes them out: kept from now
    for start in (1, 20):  # the second time, more wait than are kept
        batch = readings[start : start + (10 if start == 1 else 40)]
        for node, _, taken, f in batch:
            rows.keep_parts(node, taken, f)
        for node, seq, taken, f in batch:
            if seq % 5 == 0:  # not the fields kept: another frame's, for the same time
                f = frames.decode(frames.encode(node, seq, {"temperature": -7.5})).fields
            expect = json.dumps(fresh.message(node, seq, taken, -90, 5.5, f), separators=(",", ":"))
            assert rows.message_json(node, seq, taken, -90, 5.5, f) == expect


_TEXT = st.text(st.characters(codec="utf-8"), max_size=6)  # quotes, controls, ā, U+2028
_NUMBER = st.one_of(
    st.integers(-200, 200),
    st.floats(-200, 200),
    st.sampled_from([math.nan, math.inf, -math.inf, 0, 0.0, -0.0, 1e300]),
)


@st.composite
def _wire_cases(draw: st.DrawFn) -> tuple[Config, list[tuple[Any, ...]]]:
    nodes = {}
    for node in draw(st.sets(st.integers(1, 4), max_size=4)):
        cal_fields = draw(
            st.lists(st.sampled_from(["temperature", "pm10", "pressure"]), max_size=2)
        )
        nodes[node] = NodeConfig(
            name=draw(st.none() | _TEXT),
            location=draw(st.none() | _TEXT),
            latitude=draw(st.none() | st.floats(-90, 90)),
            altitude=draw(st.none() | st.floats(-50, 500)),
            calibrations=tuple(
                Calibration(f, TAKEN + draw(st.integers(-100, 100)), draw(st.floats(-5, 5)))
                for f in cal_fields
            ),
        )
    cfg = Config(name=draw(_TEXT), nodes=nodes, plausible={"temperature": (-45, 45)})
    readings = []
    for seq in range(draw(st.integers(1, 12))):
        ids = draw(st.sets(st.integers(0, 30), max_size=8))  # 28..30: ids no table knows
        fields = [(fid, draw(st.integers(-7000, 70000))) for fid in sorted(ids)]
        flags = draw(
            st.dictionaries(st.sampled_from(["temperature", "dew_point"]), st.just(["step"]))
        )
        readings.append(
            (
                draw(st.integers(1, 5)),
                seq,
                TAKEN + draw(st.sampled_from([0, 1, 59.5, 120])),  # same time, same node: often
                draw(st.none() | _NUMBER),
                draw(st.none() | _NUMBER),
                fields,
                flags_text(flags) if flags else None,
                draw(st.booleans()),  # acceptance kept its parts
            )
        )
    return cfg, readings


@given(_wire_cases())
@settings(max_examples=300, deadline=None)
def test_what_mqtt_carries_is_json_dumps_of_the_message_for_any_reading(
    case: tuple[Config, list[tuple[Any, ...]]],
) -> None:
    """Issue 9: the upstream writes each state message from kept pieces, and acceptance's
    parts when it kept them; the text must be compact json.dumps of state_message's dict
    (ensure_ascii: non-ASCII escaped) whatever the names, numbers, calibrations and flags,
    and whichever reading of a node taken at the same time its parts were kept for."""
    cfg, readings = case
    fresh, wire = StateRows(cfg), StateRows(cfg, wire=True, recent=8)
    wire.message_json(99, 0, TAKEN, None, None, [])  # an upstream writes: parts kept from now
    for node, _, taken, _, _, fields, _, keep in readings:
        if keep:
            wire.keep_parts(node, taken, fields)
    for node, seq, taken, rssi, snr, fields, qc, _ in readings:
        message = fresh.message(node, seq, taken, rssi, snr, fields, qc)
        text = wire.message_json(node, seq, taken, rssi, snr, fields, qc)
        assert text == json.dumps(message, separators=(",", ":"))


def test_parts_kept_for_readings_never_written_out_are_let_go() -> None:
    """Issue 9: parts are kept until the upstream writes the reading; once the most are
    kept, newer ones are not (a burst's upstream takes the oldest first). Parts of a
    reading never written out (stored already; held on a full disk at a stop) would
    then keep the newest from being kept for ever."""
    cfg = Config()
    rows = StateRows(cfg, wire=True, recent=4)
    f = frames.decode(frames.encode(3, 1, {"temperature": 5.0})).fields
    rows.message_json(3, 0, TAKEN, None, None, f)  # an upstream writes them out
    for i in range(4):  # kept, and never written out
        rows.keep_parts(3, TAKEN + i, f)
    kept = dict(rows._recent)
    for i in range(4, 4 * STALE):  # a burst: the oldest are waited for
        rows.keep_parts(3, TAKEN + i, f)
    assert rows._recent == kept
    for i in range(4 * STALE, 4 * STALE + 3):  # too old now: let go, the newest kept
        rows.keep_parts(3, TAKEN + i, f)
    assert set(rows._recent) == {(3, TAKEN + i) for i in range(4 * STALE, 4 * STALE + 3)}

"""The overview (/ and /api/overview): one row per node, and the gateway's own health.

data(reader, now) gathers everything as JSON-ready values (that IS /api/overview);
render(data, lang, sort, order) writes the HTML page from it, so the page and
the JSON can never tell two stories. Both run on the web's thread (reader.py).

A node's current values are its latest reading's state message
(messages.StateRows through Reader.message): calibrated, with derived values
and quality flags, exactly as MQTT and export carry them. Its status comes
from its interval (config [nodes.N] interval) and [gateway] offline_after:

    ok       heard within 1.5 intervals (a reading may come a little late)
    stale    a reading is overdue: silent for more than 1.5 intervals
    offline  silent for offline_after intervals: what the gateway reports
             as offline over MQTT (gateway/stats.py)
    never    nothing from it in the store, nor since start-up

The table sorts by any column: on the server through links (?sort=&order=),
so it works without JavaScript, and in the browser by a few lines of inline
script when there is. The page reloads itself every REFRESH seconds while it
is visible (a meta refresh without script).
"""

import base64
import hashlib
import html
import math
from collections.abc import Iterable
from typing import Any

from meteolink.firmware import frames
from meteolink.gateway import labels
from meteolink.gateway.derived import BANDS
from meteolink.gateway.messages import iso_utc
from meteolink.gateway.stats import DEFAULT_INTERVAL
from meteolink.gateway.web.reader import Reader
from meteolink.gateway.web.words import WORDS, word

REFRESH = 60  # seconds between reloads of a visible page
STALE_AFTER = 1.5  # intervals of silence before a node is marked late
# Keys of a state message that are not current values of a field (messages.py).
_NOT_VALUES = frozenset(
    {
        "id",
        "node",
        "seq",
        "time",
        "gateway",
        "name",
        "location",
        "latitude",
        "longitude",
        "altitude",
        "rssi",
        "snr",
        "implausible",
        "qc",
        "calibrated",
        "battery",  # a column of its own
    }
)
_FIELD_ORDER = {name: i for i, (name, *_) in enumerate(frames.FIELDS)}
_STATUS_RANK = {"ok": 0, "stale": 1, "offline": 2, "never": 3}


def status(last_seen: float | None, interval: float, offline_after: float, now: float) -> str:
    """ok, stale, offline or never: see the module's docstring."""
    if last_seen is None:
        return "never"
    silent = now - last_seen
    if silent > interval * offline_after:
        return "offline"
    if silent > interval * STALE_AFTER:
        return "stale"
    return "ok"


def _node(reader: Reader, node: int, now: float) -> dict[str, Any]:
    config = reader.config
    cfg = config.node(node)
    stats = reader.stats(node)
    latest = reader.latest(node)
    msg = reader.message(latest) if latest is not None else None
    last_seen = stats.last_seen if stats is not None else None
    if last_seen is None and latest is not None:
        last_seen = latest.received  # heard before this start-up: the store knows when
    interval = cfg.interval if cfg is not None else DEFAULT_INTERVAL
    entry: dict[str, Any] = {"node": node, "name": cfg.name if cfg else None}
    if cfg is not None:
        for key in ("location", "latitude", "longitude", "altitude", "exposure"):
            entry[key] = getattr(cfg, key)
        entry["sensor_height"], entry["notes"] = cfg.sensor_height, cfg.notes
    entry["interval"] = interval
    entry["status"] = status(last_seen, interval, config.offline_after, now)
    entry["last_seen"] = iso_utc(last_seen) if last_seen is not None else None
    entry["silent"] = round(now - last_seen, 1) if last_seen is not None else None
    entry["time"] = msg["time"] if msg else None  # when the latest reading was taken
    entry["seq"] = msg["seq"] if msg else None
    values = {k: v for k, v in msg.items() if k not in _NOT_VALUES} if msg else {}
    entry["values"] = values
    entry["implausible"] = dict(msg.get("implausible", {})) if msg else {}
    entry["qc"] = dict(msg.get("qc", {})) if msg else {}
    if msg and "calibrated" in msg:
        entry["calibrated"] = msg["calibrated"]
    battery = msg.get("battery") if msg else None
    if battery is None and stats is not None:
        battery = stats.battery
    entry["battery"] = battery
    rssi = latest.rssi if latest is not None else None
    snr = latest.snr if latest is not None else None
    if stats is not None and stats.last_seen is not None:
        rssi, snr = stats.rssi, stats.snr
    entry["rssi"], entry["snr"] = rssi, snr
    window = reader.window(node)
    accepted = window.accepted if window is not None else 0
    lost = window.lost if window is not None else (stats.lost if stats else 0)
    entry["received"] = accepted
    entry["lost"] = lost
    entry["loss_rate"] = round(lost / (accepted + lost), 4) if accepted + lost else None
    entry["duplicates"] = stats.duplicates if stats else (window.duplicates if window else 0)
    entry["rejected"] = stats.rejected if stats else (window.rejected if window else 0)
    entry["mic_failures"] = stats.mic_failures if stats else (window.mic_failures if window else 0)
    return entry


# Each pollutant's band is in the JSON's values; the table has a column for the
# station's band (the worse of the two) only: a row on a phone is wide enough.
_NOT_A_COLUMN = frozenset(("aq_band_pm2_5", "aq_band_pm10"))


def _ordered(names: Iterable[str]) -> list[str]:
    """Fields in the codec's order (frames.FIELDS), derived ones after, by name."""
    names = set(names) - _NOT_A_COLUMN
    return sorted(names, key=lambda n: (_FIELD_ORDER.get(n, len(_FIELD_ORDER)), n))


def data(reader: Reader, now: float) -> dict[str, Any]:
    """Everything the overview shows, as /api/overview gives it."""
    gw = reader.gateway
    nodes = [_node(reader, node, now) for node in reader.nodes()]
    fields = _ordered(f for n in nodes for f in (*n["values"], *n["implausible"]))
    inputs = []
    for name, tallies in reader.inputs().items():
        heard = gw.input_heard.get(name)
        inputs.append(
            {
                "name": name,
                "frames": tallies.frames,
                "crc_errors": tallies.crc_errors,
                "malformed": tallies.malformed,
                "unknown": tallies.unknown,
                "refused": dict(tallies.refused),
                "last_frame": iso_utc(heard) if heard is not None else None,
            }
        )
    upstreams = []
    for up in gw.upstreams:
        own = gw.stats.upstreams.get(up.name)
        upstreams.append(
            {
                "name": up.name,
                "label": up.label,
                "state": up.state,
                "reason": up.reason,
                "since": iso_utc(up.since),
                "backlog": reader.backlog(up),
                "last_success": iso_utc(up.last_success) if up.last_success else None,
                # readings its destination refused for good, by kind ("HTTP 400")
                "refused": dict(own.refused) if own is not None else {},
            }
        )
    disk = reader.disk()
    return {
        "time": iso_utc(now),
        "gateway": {
            "name": gw.name,
            "running": gw.live,
            "started": iso_utc(gw.started) if gw.live else None,
            "uptime": round(now - gw.started, 1) if gw.live else None,
            "readings_stored": gw.readings_stored,
            "inputs": inputs,
            "upstreams": upstreams,
            "disk": {"total": disk.total, "free": disk.free, "store": disk.store},
        },
        "fields": fields,
        "units": {f: labels.unit(f) for f in [*fields, "battery", "rssi", "snr"]},
        "nodes": nodes,
    }


# -- HTML -----------------------------------------------------------------------------

STYLE = """
*{box-sizing:border-box}
body{font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:90rem;padding:.5rem .75rem 2rem;color:#1b1b1b;background:#fafafa}
h1{font-size:1.3rem;margin:.4rem 0}h2{font-size:1.1rem;margin:1.2rem 0 .4rem}
p{margin:.3rem 0}small,.muted{color:#555}
.scroll{overflow-x:auto;max-width:100%;border:1px solid #ddd;background:#fff}
table{border-collapse:collapse;min-width:100%}
th,td{padding:.35rem .55rem;border-bottom:1px solid #e4e4e4;text-align:left;white-space:nowrap;
vertical-align:top}
th{background:#f0f0f0;position:sticky;top:0}
th a{color:inherit;text-decoration:none;display:block}
th[aria-sort=ascending] a::after{content:" ▲"}th[aria-sort=descending] a::after{content:" ▼"}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.w{white-space:normal;overflow-wrap:anywhere;min-width:12rem}
.s-ok{color:#1a6b2a}.s-stale{color:#8a5300;font-weight:600}
.s-offline,.s-never{color:#a0001c;font-weight:600}
tr.offline td,tr.never td{background:#fff3f4}tr.stale td{background:#fffaf0}
.flag{color:#a0001c;font-weight:700;cursor:help}.qc{background:#fde8ea!important}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.3rem 0}
dt{font-weight:600}dd{margin:0}
footer{margin-top:1.5rem;font-size:.9rem}
@media (max-width:40rem){body{font-size:14px;padding:.4rem}th,td{padding:.3rem .4rem}}
"""

# Sorts the table in place on a click, keeps the choice in the address (so a reload
# keeps it), and reloads while the page is visible. Its hash goes into the CSP.
SCRIPT = """(function(){
var t=document.getElementById("nodes");
if(t){var hs=t.tHead.rows[0].cells;
var sortBy=function(i,dir){var b=t.tBodies[0],rows=[].slice.call(b.rows);
var v=function(r){return r.cells[i].getAttribute("data-sort");};
rows.sort(function(x,y){var a=v(x),c=v(y);
if(a===c)return 0;if(a==="")return 1;if(c==="")return -1;
var p=Number(a),q=Number(c);return dir*(isNaN(p)||isNaN(q)?a.localeCompare(c):p-q);});
rows.forEach(function(r){b.appendChild(r);});
for(var j=0;j<hs.length;j++)hs[j].removeAttribute("aria-sort");
hs[i].setAttribute("aria-sort",dir>0?"ascending":"descending");};
[].forEach.call(hs,function(h,i){var a=h.querySelector("a");
a.addEventListener("click",function(e){e.preventDefault();
var dir=h.getAttribute("aria-sort")==="ascending"?-1:1;sortBy(i,dir);
history.replaceState(null,"","?sort="+h.getAttribute("data-key")+"&order="+(dir>0?"asc":"desc"));});});}
setInterval(function(){if(document.visibilityState==="visible")location.reload();},REFRESH000);
})();""".replace("REFRESH", str(REFRESH))

SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
# Nothing from elsewhere, ever: the page works offline in the field, and no injected
# markup could run or load anything.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:;"
    f" script-src 'sha256-{SCRIPT_HASH}'; base-uri 'none'; form-action 'none';"
    " frame-ancestors 'none'"
)


def _number(value: float | int, lang: str) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text.replace(".", ",") if lang == "lv" else text


def duration(seconds: float, lang: str) -> str:
    """A span for people: 45 s, 12 min, 5 h, 3 d."""
    s = max(0.0, seconds)
    if s < 90:
        return f"{s:.0f} {word('unit_s', lang)}"
    if s < 90 * 60:
        return f"{s / 60:.0f} {word('unit_min', lang)}"
    if s < 48 * 3600:
        return f"{s / 3600:.0f} {word('unit_h', lang)}"
    return f"{s / 86400:.0f} {word('unit_d', lang)}"


def size(n: int, lang: str) -> str:
    """Bytes for people, in SI units (a disk's maker counts that way)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return _number(round(value, 1) if unit != "B" else int(value), lang) + f" {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _value(name: str, value: Any, lang: str) -> str:
    if isinstance(value, str):  # an air-quality band's name (gateway/derived.py BANDS)
        key = f"band_{value}"
        return word(key, lang) if key in WORDS else value
    unit = labels.unit(name)
    return _number(value, lang) + (f" {unit}" if unit else "")


def _flags_title(flags: list[str], lang: str) -> str:
    return "; ".join(word(f"flag_{f}", lang) if f"flag_{f}" in WORDS else f for f in flags)


Cell = tuple[str, str, str, bool]  # (its html, sort value, css class, numeric)


def _cells(n: dict[str, Any], fields: list[str], lang: str) -> dict[str, Cell]:
    """Each column's cell of a node's row, by the column's key."""
    e = html.escape
    cells: dict[str, Cell] = {}
    name = n["name"] or f"node {n['node']}"
    where = f"<br><small>{e(n['location'])}</small>" if n.get("location") else ""
    cells["station"] = (
        f'<a href="/nodes/{n["node"]}">{e(name)}</a> <small>#{n["node"]}</small>{where}',
        name.lower(),
        "",
        False,
    )
    state = n["status"]
    cells["status"] = (
        f'<span class="s-{state}">{e(word(state, lang))}</span>',
        str(_STATUS_RANK[state]),
        "",
        False,
    )
    if n["silent"] is not None:
        ago = word("ago", lang).format(duration(n["silent"], lang))
        seen = f'<span title="{e(n["last_seen"])}">{e(ago)}</span>'
        cells["last_seen"] = (seen, f"{n['silent']:.1f}", "", False)
    else:
        cells["last_seen"] = ("–", "", "", False)
    for f in fields:
        flags = n["qc"].get(f, [])
        if f in n["values"]:
            value = n["values"][f]
        elif f in n["implausible"]:
            value = n["implausible"][f]
            flags = flags or ["range"]
        else:
            cells[f"f:{f}"] = ("–", "", "", True)
            continue
        text = e(_value(f, value, lang))
        if flags:
            title = e(_flags_title(flags, lang))
            text += f' <span class="flag" title="{title}" aria-label="{title}">⚑</span>'
        # a band sorts by its rank (good first), not by its name
        sort = str(BANDS.index(value)) if value in BANDS else str(value)
        cells[f"f:{f}"] = (text, sort, "qc" if flags else "", True)
    for key, unit in (("battery", "V"), ("rssi", "dBm"), ("snr", "dB")):
        v = n[key]
        shown = f"{_number(v, lang)} {unit}" if v is not None else "–"
        cells[key] = (e(shown), str(v) if v is not None else "", "", True)
    rate = n["loss_rate"]
    shown = f"{_number(round(rate * 100, 1), lang)} %" if rate is not None else "–"
    cells["loss"] = (e(shown), str(rate) if rate is not None else "", "", True)
    return cells


def _columns(fields: list[str], lang: str) -> list[tuple[str, str]]:
    """(key, heading) of each column, in order."""
    cols = [
        ("station", word("station", lang)),
        ("status", word("status", lang)),
        ("last_seen", word("last_seen", lang)),
    ]
    cols += [(f"f:{f}", labels.field_label(f, lang)) for f in fields]
    cols += [
        ("battery", word("battery", lang)),
        ("rssi", "RSSI"),
        ("snr", "SNR"),
        ("loss", word("loss", lang)),
    ]
    return cols


def _sort_key(value: str, numeric: bool) -> tuple[int, float, str]:
    if value == "":
        return (1, 0.0, "")
    if numeric or value.replace(".", "", 1).replace("-", "", 1).isdigit():
        try:
            return (0, float(value), "")
        except ValueError:
            pass
    return (0, math.inf, value)


def render(d: dict[str, Any], lang: str, sort: str = "station", order: str = "asc") -> str:
    """The overview page, from data(); sort: a column's key, order: asc or desc."""
    e = html.escape
    fields = d["fields"]
    columns = _columns(fields, lang)
    keys = [k for k, _ in columns]
    if sort not in keys:
        sort = "station"
    descending = order == "desc"
    rows = [(n, _cells(n, fields, lang)) for n in d["nodes"]]
    filled = [r for r in rows if r[1][sort][1] != ""]
    empty = [r for r in rows if r[1][sort][1] == ""]
    filled.sort(key=lambda r: _sort_key(r[1][sort][1], r[1][sort][3]), reverse=descending)
    rows = filled + empty  # no value: last, whichever the order

    head = []
    for key, heading in columns:
        now_sorted = key == sort
        next_order = "desc" if now_sorted and not descending else "asc"
        aria = f' aria-sort="{"descending" if descending else "ascending"}"' if now_sorted else ""
        head.append(
            f'<th data-key="{e(key)}"{aria}><a href="?sort={e(key)}&amp;order={next_order}">'
            f"{e(heading)}</a></th>"
        )
    body = []
    for n, cells in rows:
        tds = []
        for key in keys:
            text, sortv, css, numeric = cells[key]
            cls = " ".join(c for c in (css, "n" if numeric else "") if c)
            cls_attr = f' class="{cls}"' if cls else ""
            tds.append(f'<td data-sort="{e(sortv)}"{cls_attr}>{text}</td>')
        body.append(f'<tr class="{n["status"]}" data-node="{n["node"]}">{"".join(tds)}</tr>')

    gw = d["gateway"]
    title = f"{word('title', lang)} · {gw['name']}"
    if d["nodes"]:
        table = (
            f'<p class="muted">{e(word("sort_hint", lang))}</p>'
            f'<div class="scroll"><table id="nodes"><thead><tr>{"".join(head)}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>"
        )
    else:
        table = f"<p>{e(word('no_stations', lang))}</p>"
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title>"
        f'<noscript><meta http-equiv="refresh" content="{REFRESH}"></noscript>'
        f"<style>{STYLE}</style></head><body>"
        f"<header><h1>{e(title)}</h1>"
        f'<p class="muted">{e(word("updated", lang))}: <time>{e(d["time"])}</time></p></header>'
        f"<main><section><h2>{e(word('stations', lang))}</h2>{table}</section>"
        f"{_gateway(gw, lang)}</main>"
        f'<footer><a href="/api/overview">{e(word("json", lang))}</a> · '
        f'<a href="/metrics">{e(word("metrics", lang))}</a></footer>'
        f"<script>{SCRIPT}</script></body></html>"
    )


def _gateway(gw: dict[str, Any], lang: str) -> str:
    e = html.escape
    out = [f"<section><h2>{e(word('gateway', lang))}: {e(gw['name'])}</h2><dl>"]
    if gw["uptime"] is not None:
        out.append(
            f"<dt>{e(word('uptime', lang))}</dt>"
            f'<dd><span title="{e(gw["started"])}">{e(duration(gw["uptime"], lang))}</span></dd>'
        )
    disk = gw["disk"]
    disk_text = word("disk_text", lang).format(
        free=size(disk["free"], lang),
        total=size(disk["total"], lang),
        store=size(disk["store"], lang),
    )
    out.append(f"<dt>{e(word('disk', lang))}</dt><dd>{e(disk_text)}</dd></dl>")

    cols = ("input", "frames", "crc_errors", "malformed", "unknown", "refused", "last_seen")
    rows = []
    for inp in gw["inputs"]:
        last = inp["last_frame"] or "–"
        rows.append(
            f"<tr><td class=w>{e(inp['name'])}</td><td class=n>{inp['frames']}</td>"
            f"<td class=n>{inp['crc_errors']}</td><td class=n>{inp['malformed']}</td>"
            f"<td class=n>{inp['unknown']}</td><td class=n>{_refused(inp['refused'], lang)}</td>"
            f"<td>{e(last)}</td></tr>"
        )
    out.append(_table("inputs", cols, rows, lang))

    rows = []
    for up in gw["upstreams"]:
        state = word(up["state"], lang) if up["state"] in WORDS else up["state"]
        why = f"<br><small>{e(up['reason'])}</small>" if up["reason"] else ""
        rows.append(
            f"<tr><td class=w>{e(up['label'])}</td><td class=w>{e(state)}{why}</td>"
            f"<td class=n>{up['backlog']}</td><td class=n>{_refused(up['refused'], lang)}</td>"
            f"<td>{e(up['last_success'] or '–')}</td></tr>"
        )
    if not rows:
        rows.append(f'<tr><td colspan="5">{e(word("no_upstreams", lang))}</td></tr>')
    columns = ("upstream", "state", "backlog", "refused_readings", "last_success")
    out.append(_table("upstreams", columns, rows, lang))
    out.append("</section>")
    return "".join(out)


def _refused(refused: dict[str, int], lang: str) -> str:
    """An input's refusals, or an upstream's: how many, then how many for each reason, in
    the page's words where it has them ("HTTP 400" is the same in both)."""
    total = sum(refused.values())
    if not total:
        return "0"
    reasons = []
    for reason, n in sorted(refused.items(), key=lambda kv: (-kv[1], kv[0])):
        key = f"refused_{reason}"
        said = word(key, lang) if key in WORDS else reason  # an input's reason not named yet
        reasons.append(f"<span class=reason>{n} {html.escape(said)}</span>")
    return f"{total}<br><small>{'<br>'.join(reasons)}</small>"


def _table(title: str, cols: Iterable[str], rows: list[str], lang: str) -> str:
    e = html.escape
    head = "".join(f"<th>{e(word(c, lang))}</th>" for c in cols)
    return (
        f"<h3>{e(word(title, lang))}</h3><div class=scroll><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )

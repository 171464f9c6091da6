"""/metrics: the gateway's own health for Prometheus, written by prometheus-client.

What a technician alerts on: frames coming in and why some are turned away,
readings stored, each upstream's backlog and last success, each node's last
seen and battery, the disk, the uptime. Not the weather: readings go out over
MQTT (and their history is the store's); a time series database scraping
temperatures every 15 s would only resample them.

Names follow Prometheus's conventions (https://prometheus.io/docs/practices/naming/):
the prefix meteolink_, base units (seconds, bytes, volts), _total on counters,
_timestamp_seconds on times, one name per quantity with its kinds as label
values (reason="crc"). Every scrape builds its families afresh from the state
of the moment (a custom collector on a registry of its own), on the web's
thread: nothing is kept between scrapes, nothing is counted twice.

    meteolink_gateway_start_time_seconds        gauge   when the service started
    meteolink_gateway_uptime_seconds            gauge
    meteolink_readings_stored_total             counter readings committed since start-up
    meteolink_input_frames_total{input}         counter frames an input heard
    meteolink_input_frames_rejected_total{input,reason}   crc, malformed, unlisted_node
    meteolink_input_last_frame_timestamp_seconds{input}   gauge (sampled every few seconds)
    meteolink_node_frames_accepted_total{node}  counter since start-up
    meteolink_node_frames_rejected_total{node,reason}     replay, mic (over the node's life)
    meteolink_node_frames_duplicate_total{node} counter
    meteolink_node_frames_lost_total{node}      counter frames missing from its sequence
    meteolink_node_last_seen_timestamp_seconds{node}      gauge
    meteolink_node_online{node}                 gauge   1 online, 0 offline (absent: not judged)
    meteolink_node_battery_volts{node}          gauge
    meteolink_node_rssi_dbm{node}, meteolink_node_snr_db{node}
    meteolink_upstream_backlog_readings{upstream}         gauge   stored, not yet confirmed
    meteolink_upstream_connected{upstream}      gauge   1 connected, 0 not (yet)
    meteolink_upstream_refused_readings_total{upstream}   counter readings its destination
                                                                  refused for good, passed over
    meteolink_upstream_last_success_timestamp_seconds{upstream}
    meteolink_store_disk_free_bytes, meteolink_store_disk_size_bytes, meteolink_store_size_bytes
    process_*                                   the gateway process (prometheus-client's own)

A node's label is its id, and its name a second label (name) for people: a
station renamed in the config starts new series under the new name (Prometheus
identifies a series by all its labels); a query by node id finds both.
"""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from meteolink.gateway.web.reader import Reader

__all__ = ["CONTENT_TYPE", "exposition"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
Family = CounterMetricFamily | GaugeMetricFamily


class _Gateway(Collector):
    """The families of one scrape, from one Reader."""

    def __init__(self, reader: Reader, now: float) -> None:
        self.reader = reader
        self.now = now

    def collect(self) -> Iterator[Family]:
        r = self.reader
        gw = r.gateway
        if gw.live:
            yield GaugeMetricFamily(
                "meteolink_gateway_start_time_seconds",
                "When the gateway service started, Unix time",
                value=gw.started,
            )
            yield GaugeMetricFamily(
                "meteolink_gateway_uptime_seconds",
                "Seconds since the gateway service started",
                value=self.now - gw.started,
            )
            yield CounterMetricFamily(
                "meteolink_readings_stored",
                "Readings committed to the store since the service started",
                value=gw.readings_stored,
            )
        yield from self._inputs()
        yield from self._nodes()
        yield from self._upstreams()
        disk = r.disk()
        yield GaugeMetricFamily(
            "meteolink_store_disk_free_bytes",
            "Bytes free for the service on the store's disk",
            value=disk.free,
        )
        yield GaugeMetricFamily(
            "meteolink_store_disk_size_bytes", "Size of the store's disk in bytes", value=disk.total
        )
        yield GaugeMetricFamily(
            "meteolink_store_size_bytes",
            "Bytes the store's files take (database and write-ahead log)",
            value=disk.store,
        )

    def _inputs(self) -> Iterator[Family]:
        frames = CounterMetricFamily(
            "meteolink_input_frames", "Frames an input heard", labels=["input"]
        )
        rejected = CounterMetricFamily(
            "meteolink_input_frames_rejected",
            "Frames an input heard that were turned away before any node's checks, by reason",
            labels=["input", "reason"],
        )
        last = GaugeMetricFamily(
            "meteolink_input_last_frame_timestamp_seconds",
            "When an input last heard a frame, Unix time (sampled every few seconds)",
            labels=["input"],
        )
        for name, s in self.reader.inputs().items():
            frames.add_metric([name], s.frames)
            rejected.add_metric([name, "crc"], s.crc_errors)
            rejected.add_metric([name, "malformed"], s.malformed)
            rejected.add_metric([name, "unlisted_node"], s.unknown)
            for reason, n in sorted(s.refused.items()):  # an input's own (a LoRaWAN fPort)
                rejected.add_metric([name, reason], n)
            heard = self.reader.gateway.input_heard.get(name)
            if heard is not None:
                last.add_metric([name], heard)
        yield from (frames, rejected, last)

    def _nodes(self) -> Iterator[Family]:
        r = self.reader
        labels = ["node", "name"]
        accepted = CounterMetricFamily(
            "meteolink_node_frames_accepted",
            "Frames of a node accepted since the service started",
            labels=labels,
        )
        rejected = CounterMetricFamily(
            "meteolink_node_frames_rejected",
            "Frames of a node turned away, by reason: replay (a counter already seen or"
            " too old), mic (its key did not match)",
            labels=[*labels, "reason"],
        )
        duplicate = CounterMetricFamily(
            "meteolink_node_frames_duplicate",
            "Frames of a node heard again (resent, or heard twice)",
            labels=labels,
        )
        lost = CounterMetricFamily(
            "meteolink_node_frames_lost", "Frames missing from a node's sequence", labels=labels
        )
        last_seen = GaugeMetricFamily(
            "meteolink_node_last_seen_timestamp_seconds",
            "When a frame of the node was last accepted, Unix time",
            labels=labels,
        )
        online = GaugeMetricFamily(
            "meteolink_node_online", "1 while the node is online, 0 once offline", labels=labels
        )
        battery = GaugeMetricFamily(
            "meteolink_node_battery_volts", "The node's battery in its last frame", labels=labels
        )
        rssi = GaugeMetricFamily(
            "meteolink_node_rssi_dbm", "Signal strength of the node's last frame", labels=labels
        )
        snr = GaugeMetricFamily(
            "meteolink_node_snr_db", "Signal-to-noise ratio of the node's last frame", labels=labels
        )
        for node in r.nodes():
            cfg = r.config.node(node)
            ids = [str(node), (cfg.name if cfg is not None else None) or ""]
            stats = r.stats(node)
            if stats is None:
                continue
            accepted.add_metric(ids, stats.received)
            rejected.add_metric([*ids, "replay"], stats.rejected)
            rejected.add_metric([*ids, "mic"], stats.mic_failures)
            duplicate.add_metric(ids, stats.duplicates)
            lost.add_metric(ids, stats.lost)
            if stats.last_seen is not None:
                last_seen.add_metric(ids, stats.last_seen)
            if stats.online is not None:
                online.add_metric(ids, 1.0 if stats.online else 0.0)
            if stats.battery is not None:
                battery.add_metric(ids, stats.battery)
            if stats.rssi is not None:
                rssi.add_metric(ids, stats.rssi)
            if stats.snr is not None:
                snr.add_metric(ids, stats.snr)
        yield from (accepted, rejected, duplicate, lost, last_seen, online, battery, rssi, snr)

    def _upstreams(self) -> Iterator[Family]:
        labels = ["upstream"]
        backlog = GaugeMetricFamily(
            "meteolink_upstream_backlog_readings",
            "Readings stored and not yet confirmed by the upstream",
            labels=labels,
        )
        connected = GaugeMetricFamily(
            "meteolink_upstream_connected",
            "1 while the upstream reaches its destination",
            labels=labels,
        )
        success = GaugeMetricFamily(
            "meteolink_upstream_last_success_timestamp_seconds",
            "When the upstream last confirmed readings, Unix time",
            labels=labels,
        )
        refused = CounterMetricFamily(
            "meteolink_upstream_refused_readings",
            "Readings the destination refused for good, passed over by the upstream"
            " (they stay in the store)",
            labels=labels,
        )
        own = self.reader.gateway.stats.upstreams
        for up in self.reader.gateway.upstreams:
            backlog.add_metric([up.label], self.reader.backlog(up))
            connected.add_metric([up.label], 1.0 if up.state == "connected" else 0.0)
            if up.last_success is not None:
                success.add_metric([up.label], up.last_success)
            tallies = own.get(up.name)
            refused.add_metric([up.label], sum(tallies.refused.values()) if tallies else 0)
        yield from (backlog, connected, success, refused)


def exposition(reader: Reader, now: float) -> bytes:
    """The text Prometheus scrapes (its text format, version 0.0.4)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Gateway(reader, now))
    ProcessCollector(registry=registry)  # memory and CPU of this process
    return generate_latest(registry)

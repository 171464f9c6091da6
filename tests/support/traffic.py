"""Readings flowing on a serial line while a test does something else to the gateway.

Traffic is a LoRa bridge passing on its nodes' readings, steadily, in a
thread of its own, whatever happens to the gateway at the other end: killed,
restarted, its broker gone. It keeps what it sent and the acknowledgements
that came back, so that a test can hold the gateway to its promise: a reading
acknowledged, or committed, is delivered.
"""

import json
import os
import threading
import time
from collections.abc import Mapping
from itertools import islice

from meteolink.firmware import frames, framing
from tests.support.broker import Subscriber
from tests.support.gateway_process import reading
from tests.support.lines import Line


class Traffic:
    """Sends readings of nodes {node id: key or None} on line, round the nodes, every `period` s.

    Every frame asks for an acknowledgement, and every other one comes behind
    radio metadata (RSSI and SNR), as from a LoRa bridge. A frame not
    acknowledged within `retry` seconds is sent again (the same counter, as a
    node resends its backlog), a few per round, until BACKLOG_S have passed.
    A serial line does not wait for its reader: bytes the port has no room
    for while the gateway is down are dropped (counted in `dropped`), and the
    frames they belonged to are lost, as they would be on the wire.
    """

    BACKLOG_S = 20.0  # how long a frame not acknowledged is resent
    RESENDS = 4  # frames resent per round at most

    def __init__(
        self,
        line: Line,
        nodes: Mapping[int, bytes | None],
        *,
        period: float = 0.01,
        first: int = 1,
        retry: float = 1.0,
    ) -> None:
        self.line = line
        self.nodes = dict(nodes)
        self.period = period
        self.retry = retry
        self.sent: list[tuple[int, int]] = []  # each reading once, resends not repeated
        self.acked: set[tuple[int, int]] = set()
        self.bad_acks: list[str] = []  # what came back and was no acknowledgement of ours
        self.dropped = 0  # frames the port had no room for, whole or in part
        self.resent = 0
        # (node, counter) -> (when last sent, when first sent, the record): not yet acknowledged
        self._waiting: dict[tuple[int, int], tuple[float, float, bytes]] = {}
        self._next = dict.fromkeys(self.nodes, first)
        self._deframer = framing.Deframer()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def start(self) -> "Traffic":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sending; keep the acknowledgements already on the line.

        Raises what stopped the thread early, if anything did."""
        self._stop.set()
        self._thread.join(10)
        assert not self._thread.is_alive(), "the traffic thread did not stop"
        if self._error is not None:
            raise AssertionError("the traffic thread failed") from self._error
        self._take_acks()

    def snapshot(self) -> tuple[list[tuple[int, int]], set[tuple[int, int]]]:
        """(sent, acknowledged) so far, copied."""
        with self._lock:
            return list(self.sent), set(self.acked)

    def _run(self) -> None:
        try:
            self._send_until_stopped()
        except BaseException as e:  # handed to the test by stop()
            self._error = e

    def _send_until_stopped(self) -> None:
        i = 0
        while not self._stop.is_set():
            for node, key in self.nodes.items():
                seq = self._next[node]
                self._next[node] = seq + 1
                frame = reading(node, seq, key=key, flags=frames.FLAG_ACK_REQUEST)
                record = framing.radio_record(frame, -90 - i % 30, 5.5) if i % 2 else frame
                wire = framing.cobs_encode(record)
                self._send(wire)
                now = time.monotonic()
                with self._lock:
                    self.sent.append((node, seq))
                    self._waiting[node, seq] = (now, now, wire)
                i += 1
            self._take_acks()
            self._resend()
            time.sleep(self.period)

    def _resend(self) -> None:
        now = time.monotonic()
        due: list[bytes] = []
        with self._lock:
            # Oldest first (the dict keeps the order of first sending); a look
            # at the oldest few each round is enough, and cheap.
            for reading_id, (last, first, wire) in list(islice(self._waiting.items(), 64)):
                if now - first > self.BACKLOG_S:
                    del self._waiting[reading_id]  # a node's backlog is bounded too
                elif now - last > self.retry and len(due) < self.RESENDS:
                    due.append(wire)
                    self._waiting[reading_id] = (now, first, wire)
        for wire in due:
            self._send(wire)
            self.resent += 1

    def _send(self, data: bytes) -> None:
        try:
            written = os.write(self.line.master, data)
        except BlockingIOError:
            written = 0
        if written < len(data):
            self.dropped += 1

    def _take_acks(self) -> None:
        for record in self._deframer.feed(self.line.read()):
            try:
                if isinstance(record, frames.FrameError):
                    raise record
                _, _, node, _ = frames.header(record)
                ack = frames.decode(record, self.nodes.get(node))
            except frames.FrameError as e:
                self.bad_acks.append(f"{e}")
                continue
            if not ack.flags & frames.FLAG_ACK or (ack.node not in self.nodes):
                self.bad_acks.append(f"not an acknowledgement of ours: {record.hex()}")
                continue
            with self._lock:
                self.acked.add((ack.node, ack.seq))
                self._waiting.pop((ack.node, ack.seq), None)


def delivered(sub: Subscriber) -> list[tuple[int, int]]:
    """(node, counter) of every state message the subscriber got, repeats included."""
    found = []
    for message in sub.on("/state"):
        msg = json.loads(message.payload)
        found.append((int(msg["node"]), int(msg["seq"])))
    return found


def duplicates(got: list[tuple[int, int]]) -> int:
    """How many messages repeated a reading already delivered (at least once allows them)."""
    return len(got) - len(set(got))

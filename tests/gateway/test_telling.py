"""Issue 11, item 7: the gateway tells what it does, in its own words, and no more than that.

At -v a line for each reading accepted (node, counter, values) and for each frame turned
away (why); none of them at the default level; a flood held to a bounded number of lines.
A wrong key is said once per node, until the node's frames pass again. What the MQTT
client library says is said in the gateway's words. The first stats message names the
inputs, before any of them has heard a frame.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import paho.mqtt.client as paho
import pytest

from meteolink.firmware import frames
from meteolink.gateway import lograte, mqtt_upstream, serial_input
from meteolink.gateway.accept import Acceptor
from meteolink.gateway.config import Config, NodeConfig
from meteolink.gateway.mqtt_upstream import Mqtt, MqttUpstream
from meteolink.gateway.service import Gateway
from meteolink.gateway.stats import InputStats
from tests.support.broker import Broker, Subscriber
from tests.support.gateway_process import GatewayProcess, reading
from tests.support.lines import Line
from tests.support.tools import Clock, wait_until

KEY = bytes(range(16))
NOW = 1_790_000_000.0
PORT = "serial:/dev/serial/by-id/usb-bridge-if00"


def gateway(tmp_path: Path) -> tuple[Gateway, Clock]:
    """Node 7 listed with a key and a name, node 8 listed without; the rest turned away."""
    cfg = Config(
        data=tmp_path,
        nodes={7: NodeConfig(name="school roof", key=KEY), 8: NodeConfig()},
    )
    clock = Clock(NOW)
    return Gateway(cfg, clock=clock), clock


def said(caplog: pytest.LogCaptureFixture, level: int = logging.DEBUG) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_verbose_says_each_reading_accepted_and_each_frame_turned_away_with_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gw, clock = gateway(tmp_path)
    good = frames.encode(7, 41, {"temperature": 21.53, "humidity": 45.2, "battery": 3.91}, KEY)
    crc = bytearray(reading(8, 3))
    crc[-1] ^= 0xFF
    with caplog.at_level(logging.DEBUG, logger="meteolink"):
        gw.receive(good, source=PORT, rssi=-112, snr=-9.25)
        gw.receive(good, source=PORT, rssi=-112, snr=-9.25)  # heard twice
        gw.receive(frames.encode(8, 500, {"age": 300, "co2": 612}), source="serial:/dev/ttyACM0")
        gw.receive(frames.encode(8, 1, {"co2": 600}), source="serial:/dev/ttyACM0")  # far below
        gw.receive(reading(7, 42), source=PORT)  # no MIC from a node with a key
        gw.receive(reading(9, 1), source=PORT)  # not in [nodes]
        gw.receive(bytes(crc), source="serial:/dev/ttyACM0")
        gw.receive(good[:5], source=PORT)
        gw.noise(PORT, frames.FrameError("cobs", "COBS record cut inside a block"))
        gw.receive(reading(8, 501), source="ble", rssi=-70)  # an advert: RSSI, no SNR
    assert said(caplog) == [
        f"{PORT}: node 7 (school roof) seq 41: accepted: temperature 21.53 °C,"
        " humidity 45.2 %RH, battery 3.91 V; RSSI -112 dBm, SNR -9.25 dB",
        f"{PORT}: node 7 (school roof) seq 41: heard again: stored already",
        "serial:/dev/ttyACM0: node 8 seq 500: accepted: co2 612 ppm; taken 300 s before it"
        " was heard (from the node's backlog)",
        "serial:/dev/ttyACM0: node 8 seq 1: rejected: stale (far below the highest counter,"
        " 500, and no boot flag)",
        f"{PORT}: node 7 (school roof): rejected: no MIC, and [nodes.7] has a key",
        f"{PORT}: node 9: turned away: not in [nodes]",
        "serial:/dev/ttyACM0: rejected: CRC mismatch (noise, a collision or a weak link)",
        f"{PORT}: not a frame: frame cut short: 5 bytes, needs 6",
        f"{PORT}: line noise: COBS record cut inside a block",
        "ble: node 8 seq 501: accepted: temperature 2.1 °C, humidity 80 %RH, battery 3.1 V;"
        " RSSI -70 dBm",
    ]
    assert clock.now == NOW


def test_at_the_default_level_no_frame_is_a_line_of_its_own(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gw, _ = gateway(tmp_path)
    with caplog.at_level(logging.INFO, logger="meteolink"):
        for seq in range(100):
            gw.receive(frames.encode(7, seq, {"temperature": 20.0}, KEY), source=PORT)
            gw.receive(frames.encode(7, seq, {"temperature": 20.0}, KEY), source=PORT)
            gw.receive(reading(9, seq), source=PORT)
    assert [r.getMessage() for r in caplog.records] == [
        f"node 9 heard on {PORT} but not in [nodes]: its readings are not stored (if it is"
        " yours, add [nodes.9] to a file given with --config and restart the gateway)"
    ]


def test_a_flood_at_verbose_is_a_bounded_number_of_lines_that_count_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gw, clock = gateway(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="meteolink"):
        for i in range(10_000):  # 10 s of invented ids and noise
            clock.now = NOW + i / 1000
            gw.receive(reading(1000 + i, 1), source=PORT)
            gw.noise(PORT, frames.FrameError("cobs", "zero byte inside a COBS record"))
        clock.now = NOW + lograte.PERIOD + 1
        gw.receive(reading(20_000, 1), source=PORT)
        gw.noise(PORT, frames.FrameError("cobs", "zero byte inside a COBS record"))
    lines = said(caplog)
    away = [m for m in lines if "turned away" in m]
    noise = [m for m in lines if "line noise" in m]
    assert len(away) == len(noise) == lograte.VERBOSE_BURST + 1
    held = 10_000 - lograte.VERBOSE_BURST
    assert away[-1].endswith(f"; {held} more like it since the last such line")
    assert noise[-1].endswith(f"; {held} more like it since the last such line")


def test_a_wrong_key_is_said_once_until_the_nodes_frames_pass_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = Acceptor(Config(nodes={7: NodeConfig(key=KEY)}))
    with caplog.at_level(logging.INFO, logger="meteolink.gateway.accept"):
        for i in range(500):  # a day of a node flashed with another key
            a.judge(reading(7, i, key=bytes(16)), source="t", now=NOW + 600 * i)
        a.judge(reading(7, 1, key=KEY), source="t", now=NOW + 500 * 600)  # the key put right
        a.judge(reading(7, 2), source="t", now=NOW + 501 * 600)  # and wrong again: no MIC
    assert [r.getMessage() for r in caplog.records] == [
        "node 7: frame rejected: its MIC does not match the key in [nodes.7] (forged, or a"
        " wrong key); said once, until a frame of node 7 passes the check again",
        "node 7: its frames pass the MIC check again, after 500 that failed it",
        "node 7: frame rejected: it has no MIC, and [nodes.7] has a key (forged, or a wrong"
        " key); said once, until a frame of node 7 passes the check again",
    ]
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO, logging.WARNING]


UPSTREAM = MqttUpstream(Config(source="/etc/meteolink/gateway.toml"), mqtt=Mqtt(host="broker.lan"))


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (
            aiomqtt.MqttError("[Errno 111] Connection refused"),
            "nothing accepts connections at broker.lan:1883 (is the broker running, and is"
            " [mqtt] url in /etc/meteolink/gateway.toml right?)",
        ),
        (
            aiomqtt.MqttError("Disconnected during message iteration"),
            "the connection to the broker was lost",
        ),
        (
            aiomqtt.MqttCodeError(paho.MQTT_ERR_CONN_LOST, "Unexpected disconnection"),
            "the connection to the broker was lost",
        ),
        (
            aiomqtt.MqttCodeError(paho.MQTT_ERR_NO_CONN, "Could not publish message"),
            "the connection to the broker was lost",
        ),
        (
            aiomqtt.MqttError("[Errno -2] Name or service not known"),
            "no address found for broker.lan (is the network up, and is [mqtt] url in"
            " /etc/meteolink/gateway.toml right?)",
        ),
        (
            aiomqtt.MqttError("[Errno -3] Temporary failure in name resolution"),
            "no address found for broker.lan (is the network up, and is [mqtt] url in"
            " /etc/meteolink/gateway.toml right?)",
        ),
        (
            aiomqtt.MqttError("Operation timed out"),
            "the broker did not answer within 10 s",
        ),
        (
            aiomqtt.MqttError("[Errno 113] No route to host"),
            "no route to broker.lan (is the network up?)",
        ),
    ],
)
def test_the_mqtt_clients_errors_are_said_in_the_gateways_words(
    error: aiomqtt.MqttError, words: str
) -> None:
    assert UPSTREAM._explain(error) == words


def test_the_mqtt_clients_own_log_lines_are_said_in_the_gateways_words(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def lines() -> None:
        client = UPSTREAM._client()
        paho_client = client._client
        paho_client._easy_log(paho.MQTT_LOG_ERR, "failed to receive on socket: %s", "[Errno 104]")
        paho_client._easy_log(paho.MQTT_LOG_DEBUG, "Sending PINGREQ")
        client._logger.warning("Message queue is full. Discarding message.")
        client._logger.warning("There are %d pending publish calls.", 900)
        paho_client._easy_log(paho.MQTT_LOG_ERR, "Caught exception in on_message: %s", "boom")

    with caplog.at_level(logging.DEBUG):
        asyncio.run(lines())
    records = [r for r in caplog.records if r.name != "asyncio"]  # its selector, at debug
    assert [(r.name, r.levelname, r.getMessage()) for r in records] == [
        (mqtt_upstream.__name__, "DEBUG", "mqtt://broker.lan:1883: connection lost ([Errno 104])"),
        (
            mqtt_upstream.__name__,
            "WARNING",
            "mqtt://broker.lan:1883: a message from the broker was dropped (the client's queue"
            " is full)",
        ),
        (
            mqtt_upstream.__name__,
            "DEBUG",
            "mqtt://broker.lan:1883: 900 messages wait for the broker's acknowledgement",
        ),
        (
            mqtt_upstream.__name__,
            "ERROR",
            "mqtt://broker.lan:1883: the MQTT client failed: Caught exception in on_message: boom",
        ),
    ]


def test_a_broker_going_away_and_back_is_said_in_the_gateways_words(
    line: Line,
    broker: Broker,
    gateway: Callable[..., GatewayProcess],
    subscribe: Callable[..., Subscriber],
) -> None:
    sub = subscribe("meteolink/gateway/test-gw/stats")
    g = gateway(
        f'commit_interval = 0.05\n\n[[serial]]\nport = "{line.link}"\n\n[nodes.5]\n\n'
        f'[mqtt]\nurl = "{broker.url}"\n'
    )
    # The first stats message, sent on connecting: before any frame, the input is there.
    wait_until(lambda: sub.on("/stats"), "the gateway's first stats message")
    first = json.loads(sub.on("/stats")[0].payload)
    assert first["inputs"] == {f"serial:{line.link}": vars(InputStats())}
    broker.stop()
    wait_until(lambda: "retrying" in g.log(), "the gateway to notice")
    broker.start()
    wait_until(lambda: g.log().count(f"{broker.url}: connected") == 2, "the gateway to reconnect")
    line.send(reading(5, 1), rssi=-97, snr=7.5)
    wait_until(lambda: "seq 1: accepted" in g.log(), "the reading")
    g.stop()
    log = g.log()
    assert f"{broker.url}: the connection to the broker was lost; readings wait" in log
    assert f"{broker.url}: connected again after " in log
    assert f"serial:{line.link}: node 5 seq 1: accepted: temperature 2.1 °C" in log
    for library in ("Disconnected during", "Errno", "[code:", "paho", "aiomqtt"):
        assert library not in log, log


def test_the_first_stats_message_names_every_input_before_any_frame(tmp_path: Path) -> None:
    class Quiet:
        name = "serial:/dev/ttyUSB0"

        async def run(self) -> None:
            await asyncio.Event().wait()

    gw = Gateway(Config(data=tmp_path), inputs=[Quiet()])

    async def main() -> None:
        running = asyncio.create_task(gw.run())
        await asyncio.sleep(0.05)
        assert gw.health.snapshot().inputs == {"serial:/dev/ttyUSB0": InputStats()}
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    asyncio.run(main())


def test_a_port_that_cannot_be_opened_is_said_in_the_gateways_words(tmp_path: Path) -> None:
    """pyserial's words were passed on: "Could not configure port: (25, 'Inappropriate
    ioctl for device')", "could not open port X: [Errno 2] No such file or directory: 'X'"."""
    import serial

    def why(port: str) -> str:
        with pytest.raises((serial.SerialException, OSError)) as caught:
            serial.Serial(port, 115200, timeout=0, exclusive=True).close()
        return serial_input._why(caught.value)

    assert why(str(tmp_path / "no-such-board")) == (
        "no such device: is the board plugged in? (ls -l /dev/serial/by-id/ lists the boards"
        " plugged in)"
    )
    assert why("/dev/null") == "not a serial port (give the board's /dev/serial/by-id/ name)"
    line = Line(tmp_path / "bridge")
    held = serial.Serial(str(line.link), 115200, timeout=0, exclusive=True)
    try:
        assert why(str(line.link)) == (
            "another program has the port open (a terminal program, or a second gateway)"
        )
    finally:
        held.close()
        line.close()

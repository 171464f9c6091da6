"""The bench's yardstick: the least a bridge to MQTT can be, with no store and no checks.

`python -m bench.peer PORT BROKER_PORT` reads records off a serial port,
decodes each frame and publishes it at QoS 1 to meteolink/<node>/state with
the same "id" the gateway gives it; paho's own thread waits for the PUBACKs.
bench/gateway.py feeds it the frames it feeds the gateway, in the same run.
"""

import json
import sys

import paho.mqtt.client as paho
import serial
from paho.mqtt.enums import CallbackAPIVersion

from meteolink.firmware import frames, framing

client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-peer")
client.connect("127.0.0.1", int(sys.argv[2]))
client.loop_start()
line = serial.Serial(sys.argv[1], 115200)
print("ready", flush=True)
pending = b""
while True:
    *records, pending = (pending + line.read(max(1, line.in_waiting))).split(b"\0")
    for record in filter(None, records):  # a record may begin with a zero, too
        f = frames.decode(framing.cobs_decode(record))
        msg = {"id": f"{f.node}-{f.seq}", "node": f.node, "seq": f.seq, **f.values()}
        client.publish(f"meteolink/{f.node}/state", json.dumps(msg), qos=1)

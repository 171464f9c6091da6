# Runs under the MicroPython unix port (tests/firmware/test_micropython.py):
# decodes and re-encodes every test vector with the firmware's own codec and
# prints one JSON line per vector, for pytest to compare with the vector file.
import json
import sys
from binascii import unhexlify

import frames
import framing

from tests.firmware.mp_support import hexs


def key_of(v):
    return unhexlify(v["key"]) if v["key"] else None


vectors = json.load(open(sys.argv[1]))

crc_in = unhexlify(vectors["crc"]["input"])
print(json.dumps({"crc": "%04x" % frames.crc16(crc_in, len(crc_in))}))
h = vectors["hmac"]
print(json.dumps({"hmac": hexs(frames.Key(unhexlify(h["key"])).mac(unhexlify(h["input"])))}))

for v in vectors["valid"]:
    data = unhexlify(v["hex"])
    f = frames.decode(data, key_of(v))
    out = {"name": v["name"], "node": f.node, "seq": f.seq, "flags": f.flags, "mic": f.mic}
    out["raw"] = [[fid, raw] for fid, raw in f.fields]
    out["values"] = f.values()
    if f.flags & frames.FLAG_ACK:
        out["encoded"] = hexs(frames.encode_ack(f.node, f.seq, key_of(v)))
    elif v["key"] or not f.flags & frames.FLAG_MIC:
        enc = frames.Encoder(f.node, key_of(v))
        try:
            for fid, raw in f.fields:
                enc.put_raw(fid, raw)
            out["encoded"] = hexs(enc.encode(f.seq, f.flags & ~frames.FLAG_MIC))
        except frames.EncodeError as e:
            out["encode_error"] = e.reason
    if "serial" in v:
        out["serial"] = hexs(framing.cobs_encode(data))
        out["deframed"] = [hexs(r) for r in framing.Deframer().feed(unhexlify(v["serial"]))]
    print(json.dumps(out))

for v in vectors["invalid"]:
    try:
        frames.decode(unhexlify(v["hex"]), key_of(v))
        print(json.dumps({"name": v["name"], "reason": None}))
    except frames.FrameError as e:
        print(json.dumps({"name": v["name"], "reason": e.reason}))

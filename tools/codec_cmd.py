"""`meteolink encode`, `decode` and `fields`: the frame codec from the shell."""

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

from meteolink.firmware import frames, framing
from meteolink.firmware.frames import EncodeError, Frame, FrameError
from meteolink.tools.cli import Command, CommandError

FLAG_NAMES = (
    (frames.FLAG_MIC, "mic"),
    (frames.FLAG_ACK_REQUEST, "ack_request"),
    (frames.FLAG_BOOT, "boot"),
    (frames.FLAG_ACK, "ack"),
)


def parse_key(text: str) -> bytes:
    """A node key given as hex on the command line."""
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise CommandError(
            f"--key {text!r} is not hex (give the node's {frames.KEY_SIZE}-byte key "
            f"as {2 * frames.KEY_SIZE} hex digits)"
        ) from None
    if len(key) != frames.KEY_SIZE:
        raise CommandError(
            f"--key has {len(key)} bytes; a node key is {frames.KEY_SIZE} bytes "
            f"({2 * frames.KEY_SIZE} hex digits)"
        )
    return key


def parse_hex(text: str, where: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise CommandError(
            f"{where}: {text[:40]!r} is not a hex frame (give each frame as hex digits)"
        ) from None


def frame_json(frame: Frame, rssi: int | None = None, snr: float | None = None) -> dict[str, Any]:
    """The JSON object that stands for one decoded frame."""
    out: dict[str, Any] = {
        "version": frame.version,
        "node": frame.node,
        "seq": frame.seq,
        "flags": [name for bit, name in FLAG_NAMES if frame.flags & bit],
    }
    if frame.flags & frames.FLAG_MIC:
        out["mic"] = "verified" if frame.mic else "unchecked"
    if rssi is not None:
        out["rssi"] = rssi
        out["snr"] = snr
    out.update(frame.values())
    return out


def error_json(error: FrameError, data: bytes) -> dict[str, Any]:
    return {"error": str(error), "reason": error.reason, "frame": data.hex()}


# encode


def _encode_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--node", type=int, required=True, help="node id, 1..65534")
    p.add_argument("--seq", type=int, required=True, help="sequence counter, 0..16777215")
    p.add_argument("--key", help="the node's 16-byte key as hex: adds a MIC")
    p.add_argument("--serial", action="store_true", help="print the bytes as sent on a serial line")
    p.add_argument("--ack-request", action="store_true", help="ask the gateway to acknowledge")
    p.add_argument("--boot", action="store_true", help="mark the first frame after a cold boot")
    p.add_argument(
        "--ack", action="store_true", help="encode the gateway's acknowledgement instead"
    )
    p.add_argument("values", nargs="*", metavar="FIELD=VALUE", help="e.g. temperature=21.5")


def _parse_values(items: list[str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise CommandError(f"{item!r} is not FIELD=VALUE (e.g. temperature=21.5)")
        try:
            frames.field_id(name)
        except EncodeError:
            raise CommandError(
                f"unknown field {name!r} (see 'meteolink fields' for the field names)"
            ) from None
        try:
            values[name] = float(text)
        except ValueError:
            raise CommandError(f"{name}={text!r}: the value is not a number") from None
    return values


def run_encode(args: argparse.Namespace) -> int:
    values = _parse_values(args.values)
    key = parse_key(args.key) if args.key else None
    try:
        if args.ack:
            if values or args.ack_request or args.boot:
                raise CommandError("an acknowledgement carries no values, --ack-request or --boot")
            data = frames.encode_ack(args.node, args.seq, key)
        else:
            flags = (frames.FLAG_ACK_REQUEST if args.ack_request else 0) | (
                frames.FLAG_BOOT if args.boot else 0
            )
            data = frames.encode(args.node, args.seq, values, key, flags)
    except EncodeError as e:
        hint = " (see 'meteolink fields')" if e.reason == "range" else ""
        raise CommandError(f"{e}{hint}") from None
    print((framing.cobs_encode(data) if args.serial else data).hex())
    return 0


# decode


def _decode_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", help="the node's 16-byte key as hex: MICs must match it")
    p.add_argument(
        "--serial",
        metavar="FILE",
        help="decode a raw serial capture (- for standard input)",
    )
    p.add_argument("frames", nargs="*", metavar="HEX", help="frames as hex; none: read stdin")


def _hex_inputs(args: argparse.Namespace) -> Iterator[tuple[bytes, int | None, float | None]]:
    if args.frames:
        for i, text in enumerate(args.frames, 1):
            yield parse_hex(text, f"argument {i}"), None, None
        return
    for lineno, raw in enumerate(sys.stdin.buffer, 1):
        try:
            text = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise CommandError(
                f"stdin line {lineno} is not hex text (for a raw serial capture use --serial -)"
            ) from None
        if text and not text.startswith("#"):
            try:
                yield bytes.fromhex(text), None, None
            except ValueError:
                raise CommandError(
                    f"stdin line {lineno}: {text[:40]!r} is not a hex frame (give one hex frame "
                    "a line; for a raw serial capture use --serial -)"
                ) from None


def _open_capture(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as e:
        raise CommandError(f"--serial {path}: {e.strerror} (give a capture file, or -)") from None


def _serial_inputs(path: str) -> Iterator[tuple[bytes | FrameError, int | None, float | None]]:
    deframer = framing.Deframer()
    with _open_capture(path) as f:
        while chunk := f.read(4096):
            for record in deframer.feed(chunk):
                if isinstance(record, FrameError):
                    yield record, None, None
                    continue
                try:
                    yield framing.split_record(record)
                except FrameError as e:
                    yield e, None, None
    if deframer.pending():
        yield FrameError("truncated", "capture ends inside a frame (no closing 0x00)"), None, None


def run_decode(args: argparse.Namespace) -> int:
    if args.serial and args.frames:
        raise CommandError("give frames as HEX arguments or a --serial capture, not both")
    key = parse_key(args.key) if args.key else None
    inputs = _serial_inputs(args.serial) if args.serial else _hex_inputs(args)
    failed = 0
    for data, rssi, snr in inputs:
        obj: dict[str, Any]
        if isinstance(data, FrameError):
            obj = {"error": str(data), "reason": data.reason}
        else:
            try:
                obj = frame_json(frames.decode(data, key), rssi, snr)
            except FrameError as e:
                obj = error_json(e, data)
        failed += "error" in obj
        print(json.dumps(obj, ensure_ascii=False), flush=True)
    return 1 if failed else 0


# fields


def _no_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run_fields(args: argparse.Namespace) -> int:
    print(f"{'id':>2}  {'field':<16} {'unit':<7} {'resolution':>10}  range")
    for fid, (name, unit, _signed, scale, lo, hi) in enumerate(frames.FIELDS):
        lo_v, hi_v = frames.to_value(fid, lo), frames.to_value(fid, hi)
        print(f"{fid:>2}  {name:<16} {unit:<7} {1 / scale:>10g}  {lo_v:g} .. {hi_v:g}")
    return 0


COMMANDS = [
    Command("encode", "encode one frame and print it as hex", _encode_arguments, run_encode),
    Command("decode", "decode frames to JSON lines", _decode_arguments, run_decode),
    Command("fields", "list the fields a frame can carry", _no_arguments, run_fields),
]

# Runs every vector of ../vectors/frames.json through vigil_frame under MicroPython (or CPython):
# each decodes to the expected fields or is rejected for the expected reason, and every valid
# frame is re-encoded byte for byte from its decoded fields.
# Usage: micropython test_vectors.py [vectors.json]
import sys
import json

try:
    from binascii import unhexlify
except ImportError:
    from ubinascii import unhexlify

import vigil_frame as vf
import vigil_json
import vigil_json_decode


def encode_from(key, device, d, as_json=False):
    kind = d["type"]
    if kind == "readings":
        records = []
        for r in d["records"]:
            channels = [(vf.CHANNEL_IDS[name], value) for name, value in r["values"].items()]
            channels.sort()
            records.append((r["dt"], channels))
        encode = vigil_json.encode_readings_json if as_json else vf.encode_readings
        return encode(key, device, d["boot"], d["seq"], d["t0"], records, d["flags"])
    if kind == "status":
        return vf.encode_status(key, device, d["boot"], d["online"], d["battery"], d["rssi"],
                                d["config_version"], d["uptime_ms"], d["firmware"], d["flags"])
    if kind == "ack":
        return vf.encode_ack(key, device, d["boot"], d["seq"])
    if kind == "config":
        return vf.encode_config(key, device, d["version"], [tuple(e) for e in d["entries"]])
    return vf.encode_resend(key, device, d["boot"], d["from_seq"], d["to_seq"])


def main(path):
    with open(path) as f:
        vectors = json.load(f)["vectors"]
    passed = 0
    failed = 0
    for v in vectors:
        key = unhexlify(v["key"])
        frame = unhexlify(v["frame"])
        is_json = frame[:1] == b"{"
        try:
            outcome = {"decoded": (vigil_json_decode.decode_json if is_json else vf.decode)(key, v["device"], frame)}
        except vf.FrameError as e:
            outcome = {"reject": e.reason}
        ok = outcome == v["expect"]
        if ok and "decoded" in outcome and v.get("canonical", True):
            ok = encode_from(key, v["device"], outcome["decoded"], is_json) == frame
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL", v["name"], "got", outcome)
    print("micropython vectors: %d passed, %d failed" % (passed, failed))
    return failed


def sequences(path):
    """Every frame of vectors/sequences.json decodes (they are all valid on their own: what the
    gateway does with them depends on the frames before) and re-encodes byte for byte."""
    with open(path) as f:
        scenarios = json.load(f)["sequences"]
    passed = 0
    failed = 0
    for s in scenarios:
        key = unhexlify(s["key"])
        for step in s["steps"]:
            frame = unhexlify(step["frame"])
            try:
                decoded = vf.decode(key, s["device"], frame)
                ok = (decoded["boot"] == step["boot"] and decoded["seq"] == step["seq"]
                      and len(decoded["records"]) == step["count"] and encode_from(key, s["device"], decoded) == frame)
            except vf.FrameError as e:
                ok = False
                decoded = e.reason
            if ok:
                passed += 1
            else:
                failed += 1
                print("FAIL", s["name"], "got", decoded)
    print("micropython sequence frames: %d passed, %d failed" % (passed, failed))
    return failed


if __name__ == "__main__":
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    if len(sys.argv) > 1:
        sys.exit(1 if main(sys.argv[1]) else 0)
    failures = main(here + "/../vectors/frames.json") + sequences(here + "/../vectors/sequences.json")
    sys.exit(1 if failures else 0)

#!/usr/bin/env python3
"""Writes firmware-protocol/vectors/frames.json from the reference codec (vigil_frame.py).

Every vector states what it expects, and this script checks the reference decoder agrees before
writing, so a vector can never silently encode a decoder bug. `--check` compares with the file
on disk instead of writing (the test suite runs it). Deterministic: fixed keys and values.
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "micropython"))
import vigil_frame as vf  # noqa: E402
import vigil_json  # noqa: E402
import vigil_json_decode  # noqa: E402

OUT = os.path.join(HERE, "..", "vectors", "frames.json")
KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
DEV = "spo2-ring-02"
T0 = 1795350000000
vectors = []


def add(name, frame, expect, key=KEY_A, device=DEV, note=None, canonical=True):
    try:
        decoded = (vigil_json_decode.decode_json if frame[:1] == b"{" else vf.decode)(key, device, frame)
        outcome = {"decoded": decoded}
    except vf.FrameError as error:
        outcome = {"reject": error.reason}
    if expect == "valid":
        assert "decoded" in outcome, (name, outcome)
    else:
        assert outcome == {"reject": expect}, (name, outcome, expect)
    vector = {"name": name, "device": device, "key": key.hex(), "frame": frame.hex(), "expect": outcome}
    if note:
        vector["note"] = note
    if not canonical:
        vector["canonical"] = False  # valid, but not the text the encoders write: no re-encoding check
    vectors.append(vector)


def resign(unsigned, key=KEY_A, device=DEV):
    return unsigned + vf.tag(key, device, unsigned)


def readings_unsigned(boot, seq, t0, records, flags=0, count=None):
    parts = [vf.header(vf.READINGS, flags, boot), struct.pack("<IQB", seq, t0, len(records) if count is None else count)]
    for dt, channels in records:
        parts.append(struct.pack("<IB", dt, len(channels)))
        for cid, value in channels:
            parts.append(struct.pack("<Bh", cid, value))
    return b"".join(parts)


# --- valid: every channel at both edges of its accepted range --------------------------------
for cid in sorted(vf.CHANNELS):
    name, _, lo, hi = vf.CHANNELS[cid]
    for label, value in (("lowest", lo), ("highest", hi)):
        add("readings %s %s (%d)" % (name, label, value),
            vf.encode_readings(KEY_A, DEV, 3, 100 + cid, T0, [(0, [(cid, value)])], flags=vf.CLOCK_SYNCED), "valid")

# --- valid: typical frames ------------------------------------------------------------------
vitals = [(1, 725), (2, 731), (3, 968), (4, 164), (5, 3412), (9, 245), (10, 40), (11, 88), (12, -61)]
add("readings one record, nine channels, synced clock",
    vf.encode_readings(KEY_A, DEV, 7, 120, T0, [(0, vitals)], flags=vf.CLOCK_SYNCED), "valid")
add("readings blood pressure panel", vf.encode_readings(KEY_A, DEV, 7, 121, T0, [(0, [(7, 128), (8, 82)])]), "valid")
add("readings uptime clock (no RTC), boot 0, seq 0", vf.encode_readings(KEY_A, DEV, 0, 0, 5234, [(0, [(1, 640)])]), "valid")
batch = [(i * 1000, [(2, 700 + i), (3, 950 + i % 40)]) for i in range(32)]
add("readings batch of 32 replayed from the ring buffer",
    vf.encode_readings(KEY_A, DEV, 9, 4000, 88000, batch, flags=vf.REPLAY), "valid")
add("readings batch ending at the last sequence number",
    vf.encode_readings(KEY_A, DEV, 1, 0xFFFFFFFF - 1, T0, [(0, [(1, 800)]), (0, [(1, 801)])]), "valid")
add("readings equal dt within a batch", vf.encode_readings(KEY_A, DEV, 1, 5, T0, [(10, [(1, 800)]), (10, [(1, 801)])]), "valid")
add("readings all twelve channels", vf.encode_readings(
    KEY_A, DEV, 2, 50, T0, [(0, [(1, 700), (2, 702), (3, 970), (4, 150), (5, 3300), (6, 3700), (7, 120), (8, 80),
                               (9, 300), (10, 12), (11, 77), (12, -70)])]), "valid")
add("readings for another device id and key", vf.encode_readings(KEY_B, "ecg-patch-01", 4, 9, T0, [(0, [(1, 612)])]),
    "valid", key=KEY_B, device="ecg-patch-01")
add("status birth (online)", vf.encode_status(KEY_A, DEV, 7, True, 88, -61, 3, 120000, "vigil-fw 1.0.0", flags=vf.CLOCK_SYNCED), "valid")
add("status last will (offline), battery unknown", vf.encode_status(KEY_A, DEV, 7, False, 255, 0, 0, 0, ""), "valid")
add("status longest firmware string", vf.encode_status(KEY_A, DEV, 1, True, 100, -120, 4294967295, 2**64 - 1, "x" * 32), "valid")
add("ack", vf.encode_ack(KEY_A, DEV, 7, 151), "valid")
add("ack for an old boot", vf.encode_ack(KEY_A, DEV, 6, 4294967295), "valid")
add("config all keys", vf.encode_config(KEY_A, DEV, 12, [(1, 5000), (2, 0x1FFE), (3, 8), (4, 1)]), "valid")
add("config empty (version bump only)", vf.encode_config(KEY_A, DEV, 13, []), "valid")
add("config unknown key kept for newer firmware", vf.encode_config(KEY_A, DEV, 14, [(1, 1000), (99, -5)]), "valid")
add("resend", vf.encode_resend(KEY_A, DEV, 7, 130, 140), "valid")
add("resend single reading", vf.encode_resend(KEY_A, DEV, 7, 131, 131), "valid")

# --- invalid --------------------------------------------------------------------------------
good = vf.encode_readings(KEY_A, DEV, 7, 120, T0, [(0, [(1, 725), (3, 968)])], flags=vf.CLOCK_SYNCED)
add("empty payload", b"", "truncated")
add("header only", good[:8], "truncated")
add("cut inside the first record", good[:25] + good[-16:], "truncated")
add("record claims three channels, two present",
    resign(vf.header(vf.READINGS, 0, 7) + struct.pack("<IQB", 1, T0, 1) + struct.pack("<IB", 0, 3)
           + struct.pack("<BhBh", 1, 725, 3, 968)), "truncated")
add("ack too short", resign(vf.header(vf.ACK, 0, 7) + b"\x01\x00"), "truncated")
add("wrong magic", b"W" + good[1:], "bad_magic")
add("JSON where binary was expected is not magic either", b"[" + good[1:], "bad_magic")
add("version 2", good[:1] + b"\x02" + good[2:], "unsupported_version")
add("version 0", good[:1] + b"\x00" + good[2:], "unsupported_version")
add("type 0", good[:2] + b"\x00" + good[3:], "unknown_type")
add("type 9", good[:2] + b"\x09" + good[3:], "unknown_type")
add("readings with undefined flag bit", resign(readings_unsigned(7, 1, T0, [(0, [(1, 725)])], flags=0x04)), "bad_flags")
add("status with REPLAY flag", resign(vf.header(vf.STATUS, vf.REPLAY, 7) + struct.pack("<BBbIQB", 1, 50, -50, 0, 0, 0)), "bad_flags")
add("ack with a flag", resign(vf.header(vf.ACK, 1, 7) + struct.pack("<I", 3)), "bad_flags")
add("1025 bytes", good + bytes(1025 - len(good)), "oversized")
add("32 records of 12 channels exceed 1024 bytes",
    vf.encode_readings(KEY_A, DEV, 1, 0, T0, [(0, [(c, vf.CHANNELS[c][2]) for c in range(1, 13)])] * 32), "oversized")
add("zero records", resign(readings_unsigned(7, 1, T0, [])), "bad_count")
add("33 records", resign(readings_unsigned(7, 1, T0, [(0, [(1, 700)])] * 33)), "bad_count")
add("batch overflows the sequence space", resign(readings_unsigned(7, 0xFFFFFFFF, T0, [(0, [(1, 700)])] * 2)), "bad_count")
add("record with no channel", resign(readings_unsigned(7, 1, T0, [(0, [])])), "too_many_channels")
add("record with 13 channels", resign(readings_unsigned(7, 1, T0, [(0, [(c, vf.CHANNELS[min(c, 12)][2]) for c in range(1, 14)])])),
    "too_many_channels")
add("channel 13 (not defined)", resign(readings_unsigned(7, 1, T0, [(0, [(13, 5)])])), "unknown_channel")
add("channel 0", resign(readings_unsigned(7, 1, T0, [(0, [(0, 5)])])), "unknown_channel")
add("same channel twice", resign(readings_unsigned(7, 1, T0, [(0, [(1, 700), (1, 710)])])), "duplicate_channel")
add("channels descending", resign(readings_unsigned(7, 1, T0, [(0, [(3, 970), (1, 700)])])), "duplicate_channel")
add("heart rate 19.9 /min", resign(readings_unsigned(7, 1, T0, [(0, [(1, 199)])])), "out_of_range")
add("SpO2 100.1 %", resign(readings_unsigned(7, 1, T0, [(0, [(3, 1001)])])), "out_of_range")
add("SpO2 negative", resign(readings_unsigned(7, 1, T0, [(0, [(3, -970)])])), "out_of_range")
add("skin temperature 45.01 C", resign(readings_unsigned(7, 1, T0, [(0, [(5, 4501)])])), "out_of_range")
add("RSSI +1 dBm", resign(readings_unsigned(7, 1, T0, [(0, [(12, 1)])])), "out_of_range")
add("battery 101 %", resign(readings_unsigned(7, 1, T0, [(0, [(11, 101)])])), "out_of_range")
add("out of range value in the last record of a batch",
    resign(readings_unsigned(7, 1, T0, [(0, [(1, 700)]), (1000, [(1, 710)]), (2000, [(1, 3001)])])), "out_of_range")
add("diastolic equal to systolic", resign(readings_unsigned(7, 1, T0, [(0, [(7, 90), (8, 90)])])), "inconsistent_bp")
add("time going backwards in a batch", resign(readings_unsigned(7, 1, T0, [(1000, [(1, 700)]), (999, [(1, 700)])])),
    "time_not_monotonic")
add("a stray byte before the tag", resign(readings_unsigned(7, 1, T0, [(0, [(1, 700)])]) + b"\x00"), "trailing_bytes")
add("ack with a stray byte", resign(vf.header(vf.ACK, 0, 7) + struct.pack("<I", 3) + b"\x00"), "trailing_bytes")
add("status battery 101", resign(vf.header(vf.STATUS, 0, 7) + struct.pack("<BBbIQB", 1, 101, -50, 0, 0, 0)), "out_of_range")
add("status firmware with a control character",
    resign(vf.header(vf.STATUS, 0, 7) + struct.pack("<BBbIQB", 1, 50, -50, 0, 0, 3) + b"a\nb"), "out_of_range")
add("status state 2", resign(vf.header(vf.STATUS, 0, 7) + struct.pack("<BBbIQB", 2, 50, -50, 0, 0, 0)), "out_of_range")
add("config with 17 entries", resign(vf.header(vf.CONFIG, 0, 0) + struct.pack("<IB", 1, 17)
                                     + b"".join(struct.pack("<Bi", k, 0) for k in range(1, 18))), "bad_count")
add("config keys not ascending", resign(vf.header(vf.CONFIG, 0, 0) + struct.pack("<IB", 1, 2)
                                        + struct.pack("<BiBi", 3, 8, 1, 1000)), "duplicate_channel")
add("resend with from after to", resign(vf.header(vf.RESEND, 0, 7) + struct.pack("<II", 10, 9)), "bad_count")
flipped = bytearray(good)
flipped[23] ^= 0x01  # low bit of the first value: structure stays valid
add("one bit flipped in a value", bytes(flipped), "bad_mac")
add("signed with another device's key", good, "bad_mac", key=KEY_B, note="signed with the key of the other vectors")
add("moved to another device's topic", good, "bad_mac", device="ecg-patch-01",
    note="the device id is bound into the MAC, so a frame cannot be replayed under another id")
add("tag zeroed", good[:-16] + bytes(16), "bad_mac")
add("tag truncated to 8 bytes", good[:-8], "truncated", note="the last 16 bytes are always the tag, so the records no longer fit")
add("gateway ack replayed as device readings", vf.encode_ack(KEY_A, DEV, 7, 151)[:2] + b"\x01" + vf.encode_ack(KEY_A, DEV, 7, 151)[3:],
    "truncated", note="the type byte changes the layout; even if it fitted, the MAC covers the type")

# --- the JSON debug form ---------------------------------------------------------------------
J = vigil_json.encode_readings_json
J_RECORDS = [(0, [(1, 725), (3, 968)]), (1000, [(1, 731), (3, 970), (6, 3705)])]
add("json readings", J(KEY_A, DEV, 7, 200, T0, J_RECORDS, flags=vf.CLOCK_SYNCED), "valid")
add("json readings, every channel", J(KEY_A, DEV, 7, 210, T0, [(0, [(c, vf.CHANNELS[c][3]) for c in range(1, 13)])]), "valid")
add("json readings, negative RSSI and zero activity", J(KEY_A, DEV, 7, 211, T0, [(0, [(10, 0), (12, -67)])]), "valid")
add("json batch replayed", J(KEY_A, DEV, 6, 0, T0, [(i * 1000, [(3, 950 + i)]) for i in range(32)], flags=vf.REPLAY), "valid")
same = J(KEY_A, DEV, 7, 200, T0, J_RECORDS, flags=vf.CLOCK_SYNCED)
tag_hex = same[-34:-2].decode()
add("json with spaces, channels out of order and trailing zeros",
    ('{ "v": 1, "type": "readings", "boot": 7, "flags": 1, "seq": 200, "t0": %d,\n "records": [ {"spo2": 96.80, "dt": 0, "hr": 72.5},'
     ' {"dt": 1000, "core_temp": 37.05, "hr": 73.1, "spo2": 97} ], "tag": "%s" }' % (T0, tag_hex)).encode(), "valid",
    note="the MAC covers the content, not the text", canonical=False)
add("json not an object", b"{\"v\":1,", "bad_json")
add("json value finer than its scale (72.55 /min)", same.replace(b'"hr":72.5', b'"hr":72.55'), "bad_json")
add("json value as a string", same.replace(b'"hr":72.5', b'"hr":"72.5"'), "bad_json")
add("json unknown key", same.replace(b'"v":1,', b'"v":1,"debug":true,'), "bad_json")
add("json tag not hex", same.replace(tag_hex.encode(), b"z" * 32), "bad_json")
add("json negative boot", same.replace(b'"boot":7', b'"boot":-7'), "bad_json")
add("json version 2", same.replace(b'"v":1', b'"v":2'), "unsupported_version")
add("json status type", same.replace(b'"type":"readings"', b'"type":"status"'), "unknown_type")
add("json unknown channel", same.replace(b'"hr":72.5', b'"heart":72.5'), "unknown_channel")
add("json no records", same[:same.index(b'"records":[') + 11] + same[same.index(b'],"tag"'):], "bad_count")
add("json value out of range (SpO2 100.1 %)", same.replace(b'"spo2":96.8', b'"spo2":100.1'), "out_of_range")
add("json value changed after signing", same.replace(b'"hr":72.5', b'"hr":72.6'), "bad_mac")
add("json over 4096 bytes", same[:-1] + b" " * (4097 - len(same)) + b"}", "oversized")

# --- sequences: what the gateway does with each frame of a series, given the ones before ------
# Every frame here is valid on its own (both implementations decode it); the expected outcome
# comes from the gateway's sequence rules in PROTOCOL.md ("Authentication", replays): accepted
# (the sequence numbers stored), duplicate (already stored: acknowledged again, not stored), or
# replayed (from a boot older than the four the gateway tracks: rejected). `ack_through` is what
# the durable ACK for that boot may say after the frame (None: nothing contiguous yet).
SEQ_OUT = os.path.join(HERE, "..", "vectors", "sequences.json")
sequences = []


def scenario(name, steps, note=None):
    out = []
    for boot, seq, count, flags, expect in steps:
        records = [(i * 1000, [(1, 700 + i), (3, 970)]) for i in range(count)]
        frame = vf.encode_readings(KEY_A, DEV, boot, seq, T0 + seq * 1000, records, flags=flags | vf.CLOCK_SYNCED)
        vf.decode(KEY_A, DEV, frame)  # valid on its own
        out.append({"frame": frame.hex(), "boot": boot, "seq": seq, "count": count, "expect": expect})
    entry = {"name": name, "device": DEV, "key": KEY_A.hex(), "steps": out}
    if note:
        entry["note"] = note
    sequences.append(entry)


def accepted(seqs, ack):
    return {"outcome": "accepted", "stored": seqs, "ack_through": ack}


def duplicate(ack):
    return {"outcome": "duplicate", "ack_through": ack}


REPLAYED = {"outcome": "replayed"}
R = vf.REPLAY
scenario("in order", [(1, 0, 1, 0, accepted([0], 0)), (1, 1, 1, 0, accepted([1], 1)), (1, 2, 3, 0, accepted([2, 3, 4], 4))])
scenario("the same frame twice (an MQTT redelivery)", [(1, 0, 5, 0, accepted([0, 1, 2, 3, 4], 4)), (1, 0, 5, 0, duplicate(4))])
scenario("an older sequence of the same boot, already stored", [(1, 0, 5, 0, accepted([0, 1, 2, 3, 4], 4)), (1, 2, 1, R, duplicate(4))],
         note="stored readings sent again are idempotent: acknowledged, not stored twice")
scenario("a resend overlapping what is stored stores only the new part",
         [(1, 0, 5, 0, accepted([0, 1, 2, 3, 4], 4)), (1, 3, 5, R, accepted([5, 6, 7], 7))])
scenario("a gap is not acknowledged until the resend fills it",
         [(1, 0, 1, 0, accepted([0], 0)), (1, 5, 1, 0, accepted([5], 0)), (1, 1, 4, R, accepted([1, 2, 3, 4], 5))])
scenario("a gap from the first frame: nothing to acknowledge yet",
         [(1, 3, 2, 0, accepted([3, 4], None)), (1, 0, 3, R, accepted([0, 1, 2], 4))])
scenario("a rebooted device delivers its previous boot's buffer",
         [(2, 0, 3, 0, accepted([0, 1, 2], 2)), (3, 0, 1, 0, accepted([0], 0)), (2, 3, 2, R, accepted([3, 4], 4))])
scenario("a boot older than the four tracked is a replay",
         [(b, 0, 1, 0, accepted([0], 0)) for b in range(1, 6)] + [(1, 1, 1, R, REPLAYED), (2, 1, 1, R, accepted([1], 1))],
         note="boots 2-5 are tracked after boot 5 arrives; boot 1 was dropped")
scenario("the newest boot's old frame after four newer boots is still accepted",
         [(10, 0, 1, 0, accepted([0], 0))] + [(b, 0, 1, 0, accepted([0], 0)) for b in (11, 12, 13)] + [(10, 1, 1, R, accepted([1], 1))])

seq_text = json.dumps({"protocol": 1, "generated_by": "firmware-protocol/tools/make_vectors.py",
                       "sequences": sequences}, indent=1, sort_keys=True) + "\n"

text = json.dumps({"protocol": 1, "generated_by": "firmware-protocol/tools/make_vectors.py",
                   "vectors": vectors}, indent=1, sort_keys=True) + "\n"
invalid = sum(1 for v in vectors if "reject" in v["expect"])
if "--check" in sys.argv:
    for path, content in ((OUT, text), (SEQ_OUT, seq_text)):
        with open(path) as existing:
            if existing.read() != content:
                sys.exit("%s is out of date: run firmware-protocol/tools/make_vectors.py" % os.path.relpath(path))
    print("vectors/frames.json is up to date: %d vectors, %d invalid; vectors/sequences.json: %d scenarios"
          % (len(vectors), invalid, len(sequences)))
else:
    for path, content in ((OUT, text), (SEQ_OUT, seq_text)):
        with open(path, "w") as out:
            out.write(content)
    print("wrote %d vectors (%d invalid) to %s and %d sequence scenarios to %s"
          % (len(vectors), invalid, os.path.relpath(OUT), len(sequences), os.path.relpath(SEQ_OUT)))

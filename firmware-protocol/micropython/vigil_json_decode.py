# Decoding of the JSON debug form (PROTOCOL.md, "JSON debug form"): the gateway side's
# reference and the tests; a device never decodes JSON.
import struct

from vigil_frame import (CHANNELS, CHANNEL_IDS, FrameError, MAX_CHANNELS, MAX_FRAME, MAX_RECORDS, READINGS, TAG_LEN,
                         VERSION, decode, header)

MAX_JSON = 4096


def _fixed(number, divisor):
    # Gateway-side reference only (the device never parses JSON): JSON numbers arrive as int or
    # float; anything finer than the channel's scale is refused.
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise FrameError("bad_json")
    scaled = number * divisor
    rounded = int(scaled + 0.5) if scaled >= 0 else -int(-scaled + 0.5)
    if abs(scaled - rounded) > 1e-6 or not -32768 <= rounded <= 32767:
        raise FrameError("bad_json")
    return rounded


def decode_json(key, device_id, data):
    """Decodes the JSON form by re-encoding it as the binary frame (same checks, same MAC)."""
    import json
    if len(data) > MAX_JSON:
        raise FrameError("oversized")
    try:
        doc = json.loads(data)
    except ValueError:
        raise FrameError("bad_json")
    if not isinstance(doc, dict):
        raise FrameError("bad_json")
    for name in doc:
        if name not in ("v", "type", "boot", "flags", "seq", "t0", "records", "tag"):
            raise FrameError("bad_json")
    if doc.get("v") != VERSION:
        raise FrameError("unsupported_version" if isinstance(doc.get("v"), int) else "bad_json")
    if doc.get("type") != "readings":
        raise FrameError("unknown_type" if isinstance(doc.get("type"), str) else "bad_json")
    fields = []
    for name in ("boot", "flags", "seq", "t0"):
        value = doc.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise FrameError("bad_json")
        fields.append(value)
    boot, flags, seq, t0 = fields
    if flags > 0xFF or boot > 0xFFFFFFFF or seq > 0xFFFFFFFF or t0 > 0xFFFFFFFFFFFFFFFF:
        raise FrameError("bad_json")
    records = doc.get("records")
    tag_hex = doc.get("tag")
    if not isinstance(records, list) or not isinstance(tag_hex, str) or len(tag_hex) != 2 * TAG_LEN:
        raise FrameError("bad_json")
    if not 1 <= len(records) <= MAX_RECORDS:
        raise FrameError("bad_count")
    parts = [header(READINGS, flags, boot), struct.pack("<IQB", seq, t0, len(records))]
    for record in records:
        dt = record.get("dt") if isinstance(record, dict) else None
        if not isinstance(dt, int) or isinstance(dt, bool) or not 0 <= dt <= 0xFFFFFFFF:
            raise FrameError("bad_json")
        channels = []
        for name in record:
            if name == "dt":
                continue
            if name not in CHANNEL_IDS:
                raise FrameError("unknown_channel")
            cid = CHANNEL_IDS[name]
            channels.append((cid, _fixed(record[name], CHANNELS[cid][1])))
        if not 1 <= len(channels) <= MAX_CHANNELS:
            raise FrameError("too_many_channels")
        channels.sort()
        parts.append(struct.pack("<IB", record["dt"], len(channels)))
        for cid, value in channels:
            parts.append(struct.pack("<Bh", cid, value))
    try:
        tag_bytes = bytes(int(tag_hex[i:i + 2], 16) for i in range(0, len(tag_hex), 2))
    except ValueError:
        raise FrameError("bad_json")
    binary = b"".join(parts) + tag_bytes
    if len(binary) > MAX_FRAME:
        raise FrameError("oversized")
    return decode(key, device_id, binary)

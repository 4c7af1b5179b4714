# Vigil sensor protocol v1 (firmware-protocol/PROTOCOL.md): frame encoder, decoder and MAC.
# Runs unchanged under MicroPython (unix port and boards) and CPython; uses only struct and
# hashlib. Values are the protocol's fixed-point integers throughout: no floats on the device.
import struct

try:
    import hashlib
except ImportError:  # very old MicroPython ports
    import uhashlib as hashlib

MAGIC = 0x56
VERSION = 1
READINGS = 1
STATUS = 2
ACK = 3
CONFIG = 4
RESEND = 5
TYPE_NAMES = {READINGS: "readings", STATUS: "status", ACK: "ack", CONFIG: "config", RESEND: "resend"}
CLOCK_SYNCED = 0x01
REPLAY = 0x02
TAG_LEN = 16
MAX_FRAME = 1024
MAX_RECORDS = 32
MAX_CHANNELS = 12
MAX_CONFIG_ENTRIES = 16
MAX_FIRMWARE = 32

# id: (JSON key, divisor (decoded = value / divisor), lowest, highest accepted encoded value)
CHANNELS = {
    1: ("hr", 10, 200, 3000),
    2: ("pr", 10, 200, 3000),
    3: ("spo2", 10, 500, 1000),
    4: ("rr", 10, 20, 800),
    5: ("skin_temp", 100, 1500, 4500),
    6: ("core_temp", 100, 2500, 4500),
    7: ("sbp", 1, 40, 300),
    8: ("dbp", 1, 20, 200),
    9: ("pi", 100, 0, 2000),
    10: ("activity", 1, 0, 16000),
    11: ("battery", 1, 0, 100),
    12: ("rssi", 1, -120, 0),
}
CHANNEL_IDS = {}
for _id in CHANNELS:
    CHANNEL_IDS[CHANNELS[_id][0]] = _id

CONFIG_KEYS = {1: "sample_interval_ms", 2: "channel_mask", 3: "batch_max", 4: "json_debug"}


class FrameError(Exception):
    """A frame the protocol rejects; `reason` is the reason code of PROTOCOL.md."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def hmac_sha256(key, message):
    # hashlib only: MicroPython has no hmac module.
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + bytes(64 - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(message)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def tag(key, device_id, unsigned):
    ident = device_id.encode() if isinstance(device_id, str) else device_id
    return hmac_sha256(key, bytes([len(ident)]) + ident + unsigned)[:TAG_LEN]


def _seal(key, device_id, unsigned):
    return unsigned + tag(key, device_id, unsigned)


def header(kind, flags, boot):
    return struct.pack("<BBBBI", MAGIC, VERSION, kind, flags, boot)


def encode_readings(key, device_id, boot, seq, t0, records, flags=0):
    """records: list of (dt_ms, [(channel_id, value), ...]) with ids ascending."""
    parts = [header(READINGS, flags, boot), struct.pack("<IQB", seq, t0, len(records))]
    for dt, channels in records:
        parts.append(struct.pack("<IB", dt, len(channels)))
        for cid, value in channels:
            parts.append(struct.pack("<Bh", cid, value))
    return _seal(key, device_id, b"".join(parts))


def encode_status(key, device_id, boot, online, battery, rssi, config_version, uptime_ms, firmware, flags=0):
    fw = firmware.encode() if isinstance(firmware, str) else firmware
    body = struct.pack("<BBbIQB", 1 if online else 0, battery, rssi, config_version, uptime_ms, len(fw)) + fw
    return _seal(key, device_id, header(STATUS, flags, boot) + body)


def encode_ack(key, device_id, boot, seq):
    return _seal(key, device_id, header(ACK, 0, boot) + struct.pack("<I", seq))


def encode_config(key, device_id, version, entries):
    """entries: list of (key_id, value) with key ids ascending."""
    body = struct.pack("<IB", version, len(entries))
    for k, v in entries:
        body += struct.pack("<Bi", k, v)
    return _seal(key, device_id, header(CONFIG, 0, 0) + body)


def encode_resend(key, device_id, boot, from_seq, to_seq):
    return _seal(key, device_id, header(RESEND, 0, boot) + struct.pack("<II", from_seq, to_seq))


def _need(data, end):
    if end > len(data):
        raise FrameError("truncated")


def decode(key, device_id, data):
    """Checks structure, then the MAC; returns a dict (integers only) or raises FrameError."""
    n = len(data)
    if n > MAX_FRAME:
        raise FrameError("oversized")
    if n < 1:
        raise FrameError("truncated")
    if data[0] != MAGIC:
        raise FrameError("bad_magic")
    _need(data, 8 + TAG_LEN)
    _, version, kind, flags, boot = struct.unpack_from("<BBBBI", data, 0)
    if version != VERSION:
        raise FrameError("unsupported_version")
    if kind not in TYPE_NAMES:
        raise FrameError("unknown_type")
    end = n - TAG_LEN
    out = {"type": TYPE_NAMES[kind], "boot": boot, "flags": flags}
    if kind == READINGS:
        if flags & ~(CLOCK_SYNCED | REPLAY):
            raise FrameError("bad_flags")
        import vigil_decode  # device→gateway frames: only the gateway side and tests decode them
        pos = vigil_decode.readings(data, end, out)
    elif kind == STATUS:
        if flags & ~CLOCK_SYNCED:
            raise FrameError("bad_flags")
        import vigil_decode
        pos = vigil_decode.status(data, end, out)
    else:
        if flags:
            raise FrameError("bad_flags")
        if kind == ACK:
            _need(data, 12 + TAG_LEN)
            out["seq"] = struct.unpack_from("<I", data, 8)[0]
            pos = 12
        elif kind == RESEND:
            _need(data, 16 + TAG_LEN)
            out["from_seq"], out["to_seq"] = struct.unpack_from("<II", data, 8)
            if out["from_seq"] > out["to_seq"]:
                raise FrameError("bad_count")
            pos = 16
        else:
            pos = _config(data, end, out)
    if pos != end:
        raise FrameError("trailing_bytes")
    expected = tag(key, device_id, bytes(data[:end]))
    diff = 0
    for i in range(TAG_LEN):
        diff |= expected[i] ^ data[end + i]
    if diff:
        raise FrameError("bad_mac")
    return out


def _config(data, end, out):
    if 13 > end:
        raise FrameError("truncated")
    version, count = struct.unpack_from("<IB", data, 8)
    if count > MAX_CONFIG_ENTRIES:
        raise FrameError("bad_count")
    pos = 13
    entries = []
    previous = 0
    for _ in range(count):
        if pos + 5 > end:
            raise FrameError("truncated")
        k, v = struct.unpack_from("<Bi", data, pos)
        pos += 5
        if k <= previous:
            raise FrameError("duplicate_channel")
        previous = k
        entries.append([k, v])
    out["version"] = version
    out["entries"] = entries
    return pos


# Decoding of the frames a device sends (READINGS, STATUS): used by the gateway-side reference
# and the tests, never by a device itself, so vigil_frame imports it only when needed and a
# device's heap does not hold it.
import struct

from vigil_frame import CHANNELS, MAX_CHANNELS, MAX_FIRMWARE, MAX_RECORDS, FrameError


def readings(data, end, out):
    if 21 > end:
        raise FrameError("truncated")
    seq, t0, count = struct.unpack_from("<IQB", data, 8)
    if count == 0 or count > MAX_RECORDS or seq + count - 1 > 0xFFFFFFFF:
        raise FrameError("bad_count")
    out["seq"] = seq
    out["t0"] = t0
    records = []
    pos = 21
    last_dt = 0
    for _ in range(count):
        if pos + 5 > end:
            raise FrameError("truncated")
        dt, nch = struct.unpack_from("<IB", data, pos)
        pos += 5
        if nch == 0 or nch > MAX_CHANNELS:
            raise FrameError("too_many_channels")
        if pos + 3 * nch > end:
            raise FrameError("truncated")
        if dt < last_dt:
            raise FrameError("time_not_monotonic")
        last_dt = dt
        values = {}
        previous = 0
        for _ in range(nch):
            cid, value = struct.unpack_from("<Bh", data, pos)
            pos += 3
            spec = CHANNELS.get(cid)
            if spec is None:
                raise FrameError("unknown_channel")
            if cid <= previous:
                raise FrameError("duplicate_channel")
            previous = cid
            if value < spec[2] or value > spec[3]:
                raise FrameError("out_of_range")
            values[spec[0]] = value
        if "sbp" in values and "dbp" in values and values["dbp"] >= values["sbp"]:
            raise FrameError("inconsistent_bp")
        records.append({"dt": dt, "values": values})
    out["records"] = records
    return pos


def status(data, end, out):
    if 8 + 16 > end:
        raise FrameError("truncated")
    state, battery, rssi, config_version, uptime, fw_len = struct.unpack_from("<BBbIQB", data, 8)
    if state > 1 or (battery > 100 and battery != 255) or rssi > 0 or fw_len > MAX_FIRMWARE:
        raise FrameError("out_of_range")
    pos = 24
    if pos + fw_len > end:
        raise FrameError("truncated")
    fw = bytes(data[pos:pos + fw_len])
    for b in fw:
        if b < 0x20 or b > 0x7E:
            raise FrameError("out_of_range")
    out.update({"online": state == 1, "battery": battery, "rssi": rssi,
                "config_version": config_version, "uptime_ms": uptime, "firmware": fw.decode()})
    return pos + fw_len

# The JSON debug form of READINGS (PROTOCOL.md, "JSON debug form"): the device-side encoder,
# kept apart from vigil_frame so that devices which never send JSON do not spend heap on it. The
# decoder (the gateway side's reference) is vigil_json_decode.py.
from vigil_frame import CHANNELS, TAG_LEN, encode_readings


def _decimal(value, divisor):
    # Fixed point to text with exactly the scale's decimals, without floats.
    if divisor == 1:
        return str(value)
    decimals = len(str(divisor)) - 1
    sign = "-" if value < 0 else ""
    magnitude = -value if value < 0 else value
    fraction = str(magnitude % divisor)
    return "%s%d.%s%s" % (sign, magnitude // divisor, "0" * (decimals - len(fraction)), fraction)


def encode_readings_json(key, device_id, boot, seq, t0, records, flags=0):
    """The canonical JSON form of a READINGS frame; the tag is the binary frame's."""
    binary = encode_readings(key, device_id, boot, seq, t0, records, flags)
    tag_hex = "".join("%02x" % b for b in binary[-TAG_LEN:])
    texts = []
    for dt, channels in records:
        texts.append("{\"dt\":%d%s}" % (dt, "".join(",\"%s\":%s" % (CHANNELS[c][0], _decimal(v, CHANNELS[c][1]))
                                                      for c, v in channels)))
    text = "{\"v\":1,\"type\":\"readings\",\"boot\":%d,\"flags\":%d,\"seq\":%d,\"t0\":%d,\"records\":[%s],\"tag\":\"%s\"}" % (
        boot, flags, seq, t0, ",".join(texts), tag_hex)
    return text.encode()

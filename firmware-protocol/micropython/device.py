# Vigil reference firmware: the device loop (MicroPython; also runs under CPython for tools).
#
#   micropython device.py CONFIG.json [--seconds N] [--scenario NAME] [--speed X]
#                         [--outage START:LENGTH]
#
# CONFIG.json is what `vigil sensor add` writes: device id, key (hex), broker, settings, and
# `state_dir` (the device's flash: boot counter, ring buffer, config version). The hardware
# seam is `read_sensors()`: on a board it reads the drivers; here the simulator provides values.
# On exit it prints one JSON line of counters (for tests and the simulator's operator).
import sys
import json
import gc

try:
    import os
except ImportError:
    import uos as os

try:
    import time
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
except AttributeError:  # CPython
    import time
    ticks_ms = lambda: int(time.monotonic() * 1000)  # noqa: E731
    ticks_diff = lambda a, b: a - b  # noqa: E731

try:
    from binascii import unhexlify
except ImportError:
    from ubinascii import unhexlify

import ring
import vigil_frame as vf
import vitals
from mqtt_error import MQTTError

FIRMWARE = "vigil-ref 0.1.0"


def _file_int(path, default=0):
    try:
        with open(path) as f:
            return int(f.read().strip() or default)
    except (OSError, ValueError):
        return default


def _write_int(path, value):
    with open(path, "w") as f:
        f.write(str(value))


class Device:
    def __init__(self, config, scenario="stable", speed=1, seed=1):
        self.config = config
        self.id = config["device"]
        self.key = unhexlify(config["key"])
        self.state_dir = config["state_dir"]
        try:
            os.mkdir(self.state_dir)
        except OSError:
            pass  # exists already
        settings = config.get("settings", {})
        self.interval_ms = settings.get("sample_interval_ms", 1000)
        self.batch_max = settings.get("batch_max", 8)
        # CONFIG key 4 / settings json_debug: send the JSON debug form (the gateway must allow it).
        self.json_debug = settings.get("json_debug", 0)
        if self.json_debug:
            import vigil_json  # noqa: F401 (imported while the heap is unfragmented; see _publish)
        self.channel_mask = settings.get("channel_mask", -1)
        self.channel_ids = [vf.CHANNEL_IDS[c] for c in config.get("channels", ["pr", "spo2", "pi", "activity", "battery"])]
        self.clock_synced = config.get("clock_synced", False)
        self.prefix = config.get("topic_prefix", "vigil/v1") + "/" + self.id + "/"
        self.boot = _file_int(self.state_dir + "/boot") + 1
        _write_int(self.state_dir + "/boot", self.boot)
        self.config_version = _file_int(self.state_dir + "/config_version")
        self.seq = 0
        self.ring = ring.Ring(self.state_dir + "/ring.dat", config.get("ring_capacity", 512))
        self.sim = vitals.Vitals(scenario, seed=seed)
        self.speed = speed
        self.start = ticks_ms()
        self.client = None
        self.status_due = False
        self._ca = None
        # Only the client in use is imported (early, while the heap is still unfragmented).
        if config.get("mqtt_client") == "umqtt":
            import umqtt_client  # micropython-lib's umqtt.simple, where a board ships it
            self.client_class = umqtt_client.Client
        else:
            import mqtt
            self.client_class = mqtt.Client
        self.resends = []  # (boot, from_seq, to_seq) asked for by the gateway, served in run()
        self.stats = {"mqtt_client": "umqtt.simple" if config.get("mqtt_client") == "umqtt" else "mqtt.py",
                      "boot": self.boot, "sampled": 0, "published": 0, "replayed": 0, "acked": 0,
                      "resend_requests": 0, "configs_applied": 0, "connects": 0, "connect_failures": 0}

    # --- hardware seam ----------------------------------------------------------------------
    def read_sensors(self):
        elapsed_s = ticks_diff(ticks_ms(), self.start) * self.speed // 1000
        values = dict(self.sim.sample(elapsed_s))
        # channel_mask (CONFIG key 2): bit i enables channel i; -1 (all bits) by default.
        return [(cid, values[cid]) for cid in sorted(self.channel_ids) if cid in values and self.channel_mask >> cid & 1]

    def now_ms(self):
        if self.clock_synced:
            return int(time.time() * 1000)
        return ticks_diff(ticks_ms(), self.start)

    # --- MQTT -------------------------------------------------------------------------------
    def connect(self):
        broker = self.config["broker"]
        factory = self.client_class
        options = {}
        if broker.get("ca") or broker.get("ca_file"):
            options["ca"] = self.broker_ca()
        client = factory(self.id, broker["host"], broker.get("port", 1883), broker.get("username", self.id),
                         broker.get("password"), keepalive=30, **options)
        client.set_last_will(self.prefix + "status", self.status_frame(False), retain=True, qos=1)
        client.set_callback(self.on_message)
        try:
            client.connect(clean_session=False)
        except Exception:
            client.close()  # a refused or failed handshake must not keep its socket (and TLS context)
            raise
        self.client = client
        for kind in ("ack", "config", "cmd"):
            client.subscribe(self.prefix + kind, qos=1)
        client.publish(self.prefix + "status", self.status_frame(True), retain=True, qos=1)
        self.stats["connects"] += 1
        # Everything the gateway has not acknowledged goes again (duplicates are harmless).
        self.send(self.ring.pending(), replay=True)

    def broker_ca(self):
        """The broker's CA from broker.ca_file (PEM or DER) as DER, which MicroPython's ssl takes."""
        if self._ca is None:
            broker = self.config["broker"]
            if broker.get("ca"):  # embedded by `vigil sensor add`
                data = broker["ca"].encode()
                broker["ca"] = True  # the PEM text is not needed again: give its heap back
            else:
                with open(broker["ca_file"], "rb") as f:
                    data = f.read()
            if data.startswith(b"-----"):
                try:
                    from binascii import a2b_base64
                except ImportError:
                    from ubinascii import a2b_base64
                body = b"".join(line for line in data.split(b"\n") if line and not line.startswith(b"-----"))
                data = a2b_base64(body)
            self._ca = data
        return self._ca

    def status_frame(self, online):
        flags = vf.CLOCK_SYNCED if self.clock_synced else 0
        battery = dict(self.sim.sample(0)).get(11, 255)
        return vf.encode_status(self.key, self.id, self.boot, online, battery, -60, self.config_version,
                                ticks_diff(ticks_ms(), self.start), FIRMWARE, flags)

    def send(self, readings, replay=False):
        """Publishes readings (any iterable, consumed once) as READINGS frames: contiguous runs
        of one boot, batch_max each."""
        run = []
        for reading in readings:
            if run and (len(run) == self.batch_max or reading[0] != run[0][0]
                        or reading[1] != run[-1][1] + 1 or reading[3] != run[0][3]):
                self._publish(run, replay)
                run = []
            run.append(reading)
        if run:
            self._publish(run, replay)

    def _publish(self, run, replay):
        boot, seq, t0, synced = run[0][0], run[0][1], run[0][2], run[0][3]
        flags = (vf.CLOCK_SYNCED if synced else 0) | (vf.REPLAY if replay else 0)
        records = [(max(0, r[2] - t0), r[4]) for r in run]
        if self.json_debug:
            import vigil_json  # only a device in JSON debug mode pays its heap
            frame = vigil_json.encode_readings_json(self.key, self.id, boot, seq, t0, records, flags)
        else:
            frame = vf.encode_readings(self.key, self.id, boot, seq, t0, records, flags)
        self.client.publish(self.prefix + "up", frame, qos=1)
        self.stats["replayed" if replay else "published"] += len(run)

    def on_message(self, topic, payload):
        kind = topic.rsplit("/", 1)[-1]
        try:
            message = vf.decode(self.key, self.id, payload)
        except vf.FrameError:
            return  # forged or corrupt: ignore (the gateway signs everything it sends)
        if kind == "ack" and message["type"] == "ack":
            self.stats["acked"] += self.ring.ack(message["boot"], message["seq"])
        elif kind == "cmd" and message["type"] == "resend":
            # Served from the main loop: this callback can run inside another packet's wait
            # (a SUBACK or PUBACK), and publishing from here would nest a second wait in it.
            self.stats["resend_requests"] += 1
            self.resends.append((message["boot"], message["from_seq"], message["to_seq"]))
        elif kind == "config" and message["type"] == "config" and message["version"] > self.config_version:
            for key, value in message["entries"]:
                if key == 1 and 1000 <= value <= 3600000:
                    self.interval_ms = value
                elif key == 3 and 1 <= value <= 32:
                    self.batch_max = value
                elif key == 4 and value in (0, 1):
                    self.json_debug = value
                elif key == 2:
                    self.channel_mask = value
            self.config_version = message["version"]
            _write_int(self.state_dir + "/config_version", self.config_version)
            self.stats["configs_applied"] += 1
            self.status_due = True  # reported from the main loop, for the same reason as resends

    # --- main loop --------------------------------------------------------------------------
    def run(self, seconds, outage=None, drain=0):
        # Samples for `seconds`, then (up to `drain` seconds) only delivers: acks, resends and
        # replays, until nothing is pending. A real device never stops; a test run must.
        backoff = 500
        next_sample = ticks_ms()
        next_ping = ticks_ms() + 15000
        next_connect = ticks_ms()
        sampling_end = ticks_ms() + int(seconds * 1000)
        end = sampling_end + int(drain * 1000)
        next_drain_check = sampling_end
        while ticks_diff(end, ticks_ms()) > 0:
            now = ticks_ms()
            if ticks_diff(now, sampling_end) >= 0:
                next_sample = now + 1000
                if ticks_diff(now, next_drain_check) >= 0:
                    next_drain_check = now + 200
                    if next(self.ring.pending(), None) is None:
                        break
            elapsed = ticks_diff(now, self.start) / 1000
            in_outage = outage is not None and outage[0] <= elapsed < outage[0] + outage[1]
            if in_outage and self.client:
                self.client.close()  # Wi-Fi gone: no clean DISCONNECT, the broker fires the will
                self.client = None
            values = None
            if ticks_diff(now, next_sample) >= 0:
                next_sample += self.interval_ms
                values = self.read_sensors()
            if values:  # a mask that leaves no channel samples nothing (a record needs one)
                reading = (self.boot, self.seq, self.now_ms(), self.clock_synced, values)
                self.seq += 1
                self.stats["sampled"] += 1
                self.ring.append(*reading)
                if self.client:
                    try:
                        self.send([reading])
                    except (OSError, MQTTError):  # e.g. the broker closed the connection mid-publish
                        self.client.close()
                        self.client = None
            if not self.client and not in_outage and ticks_diff(now, next_connect) >= 0:
                # A TLS context needs a few contiguous KB: collect the last connection's garbage
                # first, and treat running short as one more failed attempt, not a crash.
                gc.collect()
                try:
                    self.connect()
                    backoff = 500
                except (OSError, MQTTError, MemoryError):
                    if self.client:
                        self.client.close()
                    self.client = None
                    self.stats["connect_failures"] += 1
                    next_connect = now + backoff + (self.seq * 7919) % (backoff // 2 + 1)
                    backoff = min(backoff * 2, 30000)
            if self.client:
                try:
                    while self.client.check_msg(timeout=0.01):
                        pass
                    if ticks_diff(now, next_ping) >= 0:
                        self.client.ping()
                        next_ping = now + 15000
                    if self.status_due:
                        self.status_due = False
                        self.client.publish(self.prefix + "status", self.status_frame(True), retain=True, qos=1)
                    while self.resends:
                        boot, first, last = self.resends.pop(0)
                        self.send(self.ring.pending(boot, first, last), replay=True)
                except (OSError, MQTTError):
                    self.client.close()
                    self.client = None
            else:
                time.sleep(0.01)
        # Give the gateway a moment to acknowledge what is still pending before reporting.
        if self.client:
            try:
                self.client.disconnect()
            except OSError:
                pass
        self.stats["pending"] = sum(1 for _ in self.ring.pending())
        self.stats["last_seq"] = self.seq - 1
        self.stats["dropped"] = self.ring.dropped
        self.ring.close()
        return self.stats


def main(argv):
    config_path = argv[1]
    options = {"--seconds": "10", "--scenario": "stable", "--speed": "1", "--outage": None, "--seed": "1", "--drain": "0"}
    i = 2
    while i < len(argv):
        options[argv[i]] = argv[i + 1]
        i += 2
    with open(config_path) as f:
        config = json.load(f)
    outage = None
    if options["--outage"]:
        start, length = options["--outage"].split(":")
        outage = (float(start), float(length))
    device = Device(config, options["--scenario"], int(options["--speed"]), int(options["--seed"]))
    stats = device.run(float(options["--seconds"]), outage, float(options["--drain"]))
    print(json.dumps(stats))


if __name__ == "__main__":
    main(sys.argv)

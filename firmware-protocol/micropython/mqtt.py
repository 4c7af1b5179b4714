# A minimal MQTT 3.1.1 client for MicroPython (and CPython): connect with credentials and a last
# will, publish QoS 0/1 (QoS 1 waits for PUBACK), subscribe, ping, and a non-blocking poll for
# incoming messages. About 3 KB of heap. On boards that ship umqtt.simple, umqtt_client.py
# offers the same interface on it (device.py uses connect/publish/subscribe/check_msg/ping/
# disconnect/close only).
import struct

try:
    import usocket as socket
except ImportError:
    import socket


from mqtt_error import MQTTError  # noqa: F401 (re-exported: mqtt.MQTTError)


class Client:
    def __init__(self, client_id, host, port=1883, user=None, password=None, keepalive=30, ca=None):
        """`ca`: the broker's CA certificate (DER bytes) to connect with TLS and verify the broker
        against it (and its name against `host`); None for plain TCP."""
        self.client_id = client_id
        self.ca = ca
        self.raw = None
        self.timeout = 10
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.sock = None
        self.pid = 0
        self.will = None
        self.callback = None

    def set_last_will(self, topic, payload, retain=True, qos=1):
        self.will = (topic, payload, retain, qos)

    def set_callback(self, callback):
        self.callback = callback

    # --- wire helpers -----------------------------------------------------------------------
    def _send(self, data):
        view = memoryview(data)
        while view:
            sent = self.sock.send(view)
            if not sent:
                sent = 0
                if self.sock is not self.raw:
                    self._writable()
            view = view[sent:]

    def _recv_exact(self, n):
        chunks = b""
        while len(chunks) < n:
            chunk = self.sock.recv(n - len(chunks))
            if chunk is None:
                # A TLS socket reports "nothing decrypted yet" as None instead of blocking for
                # the timeout: wait on the TCP socket for the rest of the record, then retry.
                if not self._readable():
                    raise OSError(110)  # ETIMEDOUT, as a plain socket's timeout would
                continue
            if not chunk:
                raise MQTTError("connection closed")
            chunks += chunk
        return chunks

    def _settimeout(self, seconds):
        # With TLS the socket stays non-blocking and waits happen in _readable(): an mbedTLS
        # read interrupted by a socket timeout leaves the session unusable.
        self.timeout = seconds
        if self.sock is self.raw:
            self.raw.settimeout(seconds)

    def _readable(self):
        return self._wait(1)  # POLLIN

    def _writable(self):
        return self._wait(4)  # POLLOUT

    def _wait(self, events):
        try:
            import select
        except ImportError:
            import uselect as select
        poller = select.poll()
        poller.register(self.raw, events)
        return bool(poller.poll(int(self.timeout * 1000)))

    @staticmethod
    def _length(n):
        out = bytearray()
        while True:
            byte = n & 0x7F
            n >>= 7
            out.append(byte | 0x80 if n else byte)
            if not n:
                return bytes(out)

    @staticmethod
    def _str(value):
        raw = value if isinstance(value, (bytes, bytearray)) else value.encode()
        return struct.pack("!H", len(raw)) + raw

    def _packet(self, first, body):
        self._send(bytes([first]) + self._length(len(body)) + body)

    def _read_packet(self, first_timeout=None):
        if first_timeout is not None:
            self._settimeout(first_timeout)
        try:
            first = self._recv_exact(1)[0]
        finally:
            if first_timeout is not None:
                # Once a packet has started, read the rest patiently: a partial read would
                # desynchronise the stream.
                self._settimeout(10)
        n = 0
        shift = 0
        while True:
            byte = self._recv_exact(1)[0]
            n |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return first, self._recv_exact(n) if n else b""

    def _next_pid(self):
        self.pid = self.pid % 65535 + 1
        return self.pid

    # --- API --------------------------------------------------------------------------------
    def connect(self, clean_session=False, timeout=10):
        addr = socket.getaddrinfo(self.host, self.port)[0][-1]
        self.raw = socket.socket()
        self._settimeout(timeout)
        self.raw.connect(addr)
        self.sock = self.raw
        if self.ca is not None:
            import ssl  # only a TLS device pays for it (mbedTLS in MicroPython)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cadata=self.ca)
            self.sock = context.wrap_socket(self.raw, server_hostname=self.host)
            self.sock.setblocking(False)
        flags = 0 if not clean_session else 0x02
        payload = self._str(self.client_id)
        if self.will:
            topic, message, retain, qos = self.will
            flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
            payload += self._str(topic) + self._str(message)
        if self.user is not None:
            flags |= 0x80
            payload += self._str(self.user)
        if self.password is not None:
            flags |= 0x40
            payload += self._str(self.password)
        self._packet(0x10, self._str("MQTT") + bytes([4, flags]) + struct.pack("!H", self.keepalive) + payload)
        first, body = self._read_packet()
        if first != 0x20 or len(body) != 2:
            raise MQTTError("unexpected reply to CONNECT")
        if body[1] != 0:
            raise MQTTError("connection refused, code %d" % body[1])
        return body[0] & 1  # session present

    def disconnect(self):
        try:
            self._packet(0xE0, b"")
        finally:
            self.close()

    def close(self):
        for sock in (self.sock, self.raw):
            if sock:
                try:
                    sock.close()
                except OSError:
                    pass
        self.sock = None
        self.raw = None

    def ping(self):
        self._packet(0xC0, b"")

    def publish(self, topic, payload, retain=False, qos=0, timeout=10):
        first = 0x30 | (qos << 1) | (1 if retain else 0)
        body = self._str(topic)
        pid = 0
        if qos:
            pid = self._next_pid()
            body += struct.pack("!H", pid)
        self._packet(first, body + payload)
        if qos:
            self._wait_for(0x40, pid, timeout)

    def subscribe(self, topic, qos=1, timeout=10):
        pid = self._next_pid()
        self._packet(0x82, struct.pack("!H", pid) + self._str(topic) + bytes([qos]))
        self._wait_for(0x90, pid, timeout)

    def _wait_for(self, kind, pid, timeout):
        # Messages arriving meanwhile are delivered to the callback, not lost.
        self._settimeout(timeout)
        while True:
            first, body = self._read_packet()
            if first & 0xF0 == kind and struct.unpack("!H", body[:2])[0] == pid:
                return
            self._dispatch(first, body)

    def _dispatch(self, first, body):
        if first & 0xF0 == 0x30:
            qos = (first >> 1) & 3
            n = struct.unpack("!H", body[:2])[0]
            topic = body[2:2 + n]
            pos = 2 + n
            if qos:
                pid = struct.unpack("!H", body[pos:pos + 2])[0]
                pos += 2
            if self.callback:
                self.callback(topic.decode(), body[pos:])
            if qos == 1:
                self._packet(0x40, struct.pack("!H", pid))
        # PINGRESP, and acks of nothing we wait for, need no action.

    def check_msg(self, timeout=0):
        """Handles at most one incoming packet; returns False when none was waiting."""
        try:
            first, body = self._read_packet(first_timeout=timeout if timeout else 0.001)
        except OSError as error:
            if isinstance(error, MQTTError):
                raise
            return False
        self._dispatch(first, body)
        return True

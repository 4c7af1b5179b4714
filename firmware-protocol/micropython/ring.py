# Readings not yet acknowledged by the gateway, in a fixed-size circular file: they survive a
# reboot and are resent until a durable ACK covers them (PROTOCOL.md, "ACK").
#
# File: header <II (head slot, count), then `capacity` slots of SLOT bytes:
#   <B state (1 pending, 0 acknowledged), <I boot, <I seq, <Q time_ms, <B synced, <B n,
#   then 12 x <Bh channel values (unused ones zero).
# When the file is full the oldest reading is dropped and counted in `dropped` (the gateway then
# sees a gap it cannot fill and records it).
import struct

SLOT = 1 + 4 + 4 + 8 + 1 + 1 + 12 * 3
HEADER = 8


class Ring:
    def __init__(self, path, capacity=512):
        self.path = path
        self.capacity = capacity
        self.dropped = 0
        try:
            self.f = open(path, "r+b")
            self.head, self.count = struct.unpack("<II", self.f.read(HEADER))
        except (OSError, ValueError):
            self.f = open(path, "w+b")
            # Slot by slot: one buffer of the whole file would not fit a small heap.
            self.f.write(bytes(HEADER))
            empty = bytes(SLOT)
            for _ in range(capacity):
                self.f.write(empty)
            self.head, self.count = 0, 0
            self._save_header()

    def _save_header(self):
        self.f.seek(0)
        self.f.write(struct.pack("<II", self.head, self.count))
        self.f.flush()

    def _slot(self, index):
        self.f.seek(HEADER + (index % self.capacity) * SLOT)

    def append(self, boot, seq, time_ms, synced, channels):
        if self.count == self.capacity:
            if self._read(self.head)[0] == 1:
                self.dropped += 1  # an acknowledged slot being reused loses nothing
            self.head = (self.head + 1) % self.capacity
            self.count -= 1
        body = struct.pack("<BIIQBB", 1, boot, seq, time_ms, 1 if synced else 0, len(channels))
        for cid, value in channels:
            body += struct.pack("<Bh", cid, value)
        self._slot(self.head + self.count)
        self.f.write(body + bytes(SLOT - len(body)))
        self.count += 1
        self._save_header()

    def _read(self, index):
        self._slot(index)
        raw = self.f.read(SLOT)
        state, boot, seq, time_ms, synced, n = struct.unpack_from("<BIIQBB", raw, 0)
        channels = [struct.unpack_from("<Bh", raw, 19 + 3 * i) for i in range(n)]
        return state, boot, seq, time_ms, synced == 1, channels

    def pending(self, boot=None, first=0, last=0xFFFFFFFF):
        """Pending readings (oldest first) as (boot, seq, time_ms, synced, channels), one at a
        time: a full ring as one list would not fit a small heap."""
        for i in range(self.count):
            state, b, seq, time_ms, synced, channels = self._read(self.head + i)
            if state == 1 and (boot is None or (b == boot and first <= seq <= last)):
                yield b, seq, time_ms, synced, channels

    def ack(self, boot, seq):
        """Marks readings of `boot` with sequence <= seq as stored; returns how many."""
        cleared = 0
        for i in range(self.count):
            index = self.head + i
            state, b, s, _, _, _ = self._read(index)
            if state == 1 and b == boot and s <= seq:
                self._slot(index)
                self.f.write(b"\x00")
                cleared += 1
        while self.count and self._read(self.head)[0] == 0:
            self.head = (self.head + 1) % self.capacity
            self.count -= 1
        self._save_header()
        return cleared

    def close(self):
        self.f.close()

/// Builds signed frames (the gateway's ACK, CONFIG and RESEND; READINGS and STATUS for tests and
/// load generators). Layouts mirror `FrameDecoder` and PROTOCOL.md.
public enum FrameEncoder {
    public struct RecordInput: Sendable, Equatable {
        public var dt: UInt32
        /// Channels in ascending order (the decoder rejects anything else).
        public var values: [(Channel, Int16)]

        public init(dt: UInt32, values: [(Channel, Int16)]) {
            self.dt = dt
            self.values = values
        }

        public static func == (a: RecordInput, b: RecordInput) -> Bool {
            a.dt == b.dt && a.values.elementsEqual(b.values) { $0.0 == $1.0 && $0.1 == $1.1 }
        }
    }

    public static func readings(
        key: DeviceKey, boot: UInt32, seq: UInt32, t0: UInt64, records: [RecordInput], flags: FrameFlags = []
    ) -> [UInt8] {
        var frame = header(.readings, flags: flags, boot: boot)
        frame.appendLE(seq)
        frame.appendLE(t0)
        frame.append(UInt8(records.count))
        for record in records {
            frame.appendLE(record.dt)
            frame.append(UInt8(record.values.count))
            for (channel, value) in record.values {
                frame.append(channel.rawValue)
                frame.appendLE(value)
            }
        }
        key.seal(&frame)
        return frame
    }

    public static func status(
        key: DeviceKey, boot: UInt32, online: Bool, battery: UInt8?, rssi: Int8?, configVersion: UInt32,
        uptimeMilliseconds: UInt64, firmware: String, flags: FrameFlags = []
    ) -> [UInt8] {
        var frame = header(.status, flags: flags, boot: boot)
        frame.append(online ? 1 : 0)
        frame.append(battery ?? 255)
        frame.append(UInt8(bitPattern: rssi ?? 0))
        frame.appendLE(configVersion)
        frame.appendLE(uptimeMilliseconds)
        let firmwareBytes = Array(firmware.utf8.prefix(FrameFormat.maxFirmwareLength))
        frame.append(UInt8(firmwareBytes.count))
        frame.append(contentsOf: firmwareBytes)
        key.seal(&frame)
        return frame
    }

    public static func ack(key: DeviceKey, boot: UInt32, seq: UInt32) -> [UInt8] {
        var frame = header(.ack, flags: [], boot: boot)
        frame.appendLE(seq)
        key.seal(&frame)
        return frame
    }

    public static func config(key: DeviceKey, version: UInt32, entries: [ConfigFrame.Entry]) -> [UInt8] {
        var frame = header(.config, flags: [], boot: 0)
        frame.appendLE(version)
        frame.append(UInt8(entries.count))
        for entry in entries {
            frame.append(entry.key)
            frame.appendLE(entry.value)
        }
        key.seal(&frame)
        return frame
    }

    public static func resend(key: DeviceKey, boot: UInt32, fromSeq: UInt32, toSeq: UInt32) -> [UInt8] {
        var frame = header(.resend, flags: [], boot: boot)
        frame.appendLE(fromSeq)
        frame.appendLE(toSeq)
        key.seal(&frame)
        return frame
    }

    /// Appends the tag to arbitrary bytes (for fuzzing and tests of malformed-but-signed frames).
    public static func seal(_ unsigned: [UInt8], key: DeviceKey) -> [UInt8] {
        var frame = unsigned
        key.seal(&frame)
        return frame
    }

    private static func header(_ type: MessageType, flags: FrameFlags, boot: UInt32) -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(64)
        frame.append(contentsOf: [FrameFormat.magic, FrameFormat.version, type.rawValue, flags.rawValue])
        frame.appendLE(boot)
        return frame
    }
}

extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

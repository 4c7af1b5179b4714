/// A decoded, authenticated frame.
public enum Frame: Sendable {
    case readings(ReadingsFrame)
    case status(StatusFrame)
    case ack(AckFrame)
    case config(ConfigFrame)
    case resend(ResendFrame)

    public var type: MessageType {
        switch self {
        case .readings: .readings
        case .status: .status
        case .ack: .ack
        case .config: .config
        case .resend: .resend
        }
    }
}

/// A READINGS frame as a view over the received bytes: records and channel values are read in
/// place, so decoding and iterating allocates nothing beyond the payload the broker delivered.
public struct ReadingsFrame: Sendable {
    public let boot: UInt32
    public let flags: FrameFlags
    /// Sequence number of the first record; record `i` is `seq + i`.
    public let seq: UInt32
    /// Milliseconds: Unix epoch if `flags` has `clockSynced`, else uptime since boot.
    public let t0: UInt64
    public let count: Int
    let bytes: [UInt8]

    public var lastSeq: UInt32 { seq + UInt32(count - 1) }

    /// Records in order. Structure was checked by the decoder, so this cannot fail.
    public var records: Records { Records(frame: self) }

    public struct Records: Sequence, Sendable {
        let frame: ReadingsFrame

        public func makeIterator() -> Iterator { Iterator(frame: frame) }

        public struct Iterator: IteratorProtocol {
            let frame: ReadingsFrame
            var index = 0
            var offset = 21

            public mutating func next() -> Record? {
                guard index < frame.count else { return nil }
                let record = frame.bytes.withUnsafeBytes { raw in
                    Record(
                        seq: frame.seq &+ UInt32(index),
                        dt: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)),
                        channels: ChannelValues(bytes: frame.bytes, offset: offset + 5, count: Int(raw[offset + 4])))
                }
                offset += 5 + 3 * record.channels.count
                index += 1
                return record
            }
        }
    }
}

public struct Record: Sendable {
    public let seq: UInt32
    /// Milliseconds after the frame's `t0`.
    public let dt: UInt32
    public let channels: ChannelValues
}

/// The (channel, encoded value) pairs of one record, in ascending channel order.
public struct ChannelValues: Sequence, Sendable {
    let bytes: [UInt8]
    let offset: Int
    public let count: Int

    public func makeIterator() -> Iterator { Iterator(values: self) }

    public struct Iterator: IteratorProtocol {
        let values: ChannelValues
        var index = 0

        public mutating func next() -> (channel: Channel, value: Int16)? {
            guard index < values.count else { return nil }
            let position = values.offset + 3 * index
            index += 1
            return values.bytes.withUnsafeBytes { raw in
                // Unknown ids were rejected by the decoder.
                (Channel(rawValue: raw[position])!,
                 Int16(littleEndian: raw.loadUnaligned(fromByteOffset: position + 1, as: Int16.self)))
            }
        }
    }

    public subscript(channel: Channel) -> Int16? {
        first { $0.channel == channel }?.value
    }
}

public struct StatusFrame: Sendable, Equatable {
    public let boot: UInt32
    public let flags: FrameFlags
    public let online: Bool
    /// 0–100, or `nil` when the device does not know (255 on the wire).
    public let battery: UInt8?
    /// dBm, or `nil` when unknown (0 on the wire).
    public let rssi: Int8?
    public let configVersion: UInt32
    public let uptimeMilliseconds: UInt64
    public let firmware: String
}

public struct AckFrame: Sendable, Equatable {
    public let boot: UInt32
    /// Every reading of `boot` with a sequence ≤ `seq` is durably stored.
    public let seq: UInt32
}

public struct ConfigFrame: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public let key: UInt8
        public let value: Int32
        public init(key: UInt8, value: Int32) {
            self.key = key
            self.value = value
        }
    }

    public let version: UInt32
    public let entries: [Entry]
}

public struct ResendFrame: Sendable, Equatable {
    public let boot: UInt32
    public let fromSeq: UInt32
    public let toSeq: UInt32
}

/// Decodes and authenticates frames (PROTOCOL.md). Pure: no I/O, no global state.
///
/// Checks run in the documented order: size, magic, version, type, flags, structure (counts,
/// channels, ranges), and the MAC last; nothing from a frame is trusted before its MAC verifies.
public enum FrameDecoder {
    public static func decode(_ bytes: [UInt8], key: DeviceKey) throws(FrameRejection) -> Frame {
        let structure = bytes.withUnsafeBytes { raw in
            Result { () throws(FrameRejection) -> Frame in try decodeStructure(raw, bytes: bytes) }
        }
        let frame = try structure.get()
        let authentic = bytes.withUnsafeBytes { key.verify($0) }
        guard authentic else { throw .badMAC }
        return frame
    }

    /// Structure only (the part that needs no key); `decode` adds the MAC check.
    static func decodeStructure(_ raw: UnsafeRawBufferPointer, bytes: [UInt8]) throws(FrameRejection) -> Frame {
        guard raw.count <= FrameFormat.maxFrameLength else { throw .oversized }
        guard raw.count >= 1 else { throw .truncated }
        guard raw[0] == FrameFormat.magic else { throw .badMagic }
        guard raw.count >= FrameFormat.headerLength + FrameFormat.tagLength else { throw .truncated }
        guard raw[1] == FrameFormat.version else { throw .unsupportedVersion }
        guard let type = MessageType(rawValue: raw[2]) else { throw .unknownType }
        let flags = FrameFlags(rawValue: raw[3])
        let boot = raw.u32(4)
        let end = raw.count - FrameFormat.tagLength
        let frame: Frame
        let consumed: Int
        switch type {
        case .readings:
            guard flags.isSubset(of: [.clockSynced, .replay]) else { throw .badFlags }
            (frame, consumed) = try readings(raw, bytes: bytes, end: end, boot: boot, flags: flags)
        case .status:
            guard flags.isSubset(of: .clockSynced) else { throw .badFlags }
            (frame, consumed) = try status(raw, end: end, boot: boot, flags: flags)
        case .ack:
            guard flags.isEmpty else { throw .badFlags }
            guard end >= 12 else { throw .truncated }
            (frame, consumed) = (.ack(AckFrame(boot: boot, seq: raw.u32(8))), 12)
        case .resend:
            guard flags.isEmpty else { throw .badFlags }
            guard end >= 16 else { throw .truncated }
            let from = raw.u32(8), to = raw.u32(12)
            guard from <= to else { throw .badCount }
            (frame, consumed) = (.resend(ResendFrame(boot: boot, fromSeq: from, toSeq: to)), 16)
        case .config:
            guard flags.isEmpty else { throw .badFlags }
            (frame, consumed) = try config(raw, end: end)
        }
        guard consumed == end else { throw .trailingBytes }
        return frame
    }

    private static func readings(
        _ raw: UnsafeRawBufferPointer, bytes: [UInt8], end: Int, boot: UInt32, flags: FrameFlags
    ) throws(FrameRejection) -> (Frame, Int) {
        guard end >= 21 else { throw .truncated }
        let seq = raw.u32(8)
        let t0 = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt64.self))
        let count = Int(raw[20])
        guard count >= 1, count <= FrameFormat.maxRecords, UInt64(seq) + UInt64(count) - 1 <= UInt64(UInt32.max) else {
            throw .badCount
        }
        var position = 21
        var lastDT: UInt32 = 0
        for _ in 0..<count {
            guard position + 5 <= end else { throw .truncated }
            let dt = raw.u32(position)
            let channels = Int(raw[position + 4])
            position += 5
            guard channels >= 1, channels <= FrameFormat.maxChannelsPerRecord else { throw .tooManyChannels }
            guard position + 3 * channels <= end else { throw .truncated }
            guard dt >= lastDT else { throw .timeNotMonotonic }
            lastDT = dt
            var previous: UInt8 = 0
            var systolic: Int16?
            var diastolic: Int16?
            for _ in 0..<channels {
                let id = raw[position]
                let value = Int16(littleEndian: raw.loadUnaligned(fromByteOffset: position + 1, as: Int16.self))
                position += 3
                guard let channel = Channel(rawValue: id) else { throw .unknownChannel }
                guard id > previous else { throw .duplicateChannel }
                previous = id
                guard channel.accepted.contains(value) else { throw .outOfRange }
                if channel == .systolicBP { systolic = value }
                if channel == .diastolicBP { diastolic = value }
            }
            if let systolic, let diastolic, diastolic >= systolic { throw .inconsistentBP }
        }
        let frame = ReadingsFrame(boot: boot, flags: flags, seq: seq, t0: t0, count: count, bytes: bytes)
        return (.readings(frame), position)
    }

    private static func status(
        _ raw: UnsafeRawBufferPointer, end: Int, boot: UInt32, flags: FrameFlags
    ) throws(FrameRejection) -> (Frame, Int) {
        guard end >= 24 else { throw .truncated }
        let state = raw[8], battery = raw[9], rssi = Int8(bitPattern: raw[10])
        let configVersion = raw.u32(11)
        let uptime = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 15, as: UInt64.self))
        let firmwareLength = Int(raw[23])
        guard state <= 1, battery <= 100 || battery == 255, rssi <= 0, firmwareLength <= FrameFormat.maxFirmwareLength else {
            throw .outOfRange
        }
        guard 24 + firmwareLength <= end else { throw .truncated }
        let firmwareBytes = UnsafeRawBufferPointer(rebasing: raw[24..<(24 + firmwareLength)])
        guard firmwareBytes.allSatisfy({ (0x20...0x7E).contains($0) }) else { throw .outOfRange }
        let frame = StatusFrame(
            boot: boot, flags: flags, online: state == 1, battery: battery == 255 ? nil : battery,
            rssi: rssi == 0 ? nil : rssi, configVersion: configVersion, uptimeMilliseconds: uptime,
            firmware: String(decoding: firmwareBytes, as: UTF8.self))
        return (.status(frame), 24 + firmwareLength)
    }

    private static func config(_ raw: UnsafeRawBufferPointer, end: Int) throws(FrameRejection) -> (Frame, Int) {
        guard end >= 13 else { throw .truncated }
        let version = raw.u32(8)
        let count = Int(raw[12])
        guard count <= FrameFormat.maxConfigEntries else { throw .badCount }
        var entries: [ConfigFrame.Entry] = []
        var position = 13
        var previous: UInt8 = 0
        for _ in 0..<count {
            guard position + 5 <= end else { throw .truncated }
            let key = raw[position]
            guard key > previous else { throw .duplicateChannel }
            previous = key
            entries.append(.init(key: key, value: Int32(littleEndian: raw.loadUnaligned(fromByteOffset: position + 1, as: Int32.self))))
            position += 5
        }
        return (.config(ConfigFrame(version: version, entries: entries)), position)
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
}

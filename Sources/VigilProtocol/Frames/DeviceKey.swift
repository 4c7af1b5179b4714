import Crypto
import Foundation
import VigilCore

/// A device's 32-byte key bound to its id: everything needed to sign and verify its frames.
///
/// The MAC input starts with `len(id) ‖ id`. The HMAC state after the key and that prefix is
/// computed once here and copied per frame (a value copy), so a frame costs only its own bytes.
public struct DeviceKey: Sendable {
    public static let length = 32
    public let device: DeviceID
    private let primed: HMAC<SHA256>

    public init?(device: DeviceID, bytes: some Collection<UInt8>) {
        guard bytes.count == Self.length else { return nil }
        self.device = device
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: Array(bytes)))
        hmac.update(data: [UInt8(device.rawValue.utf8.count)] + Array(device.rawValue.utf8))
        self.primed = hmac
    }

    /// The 16-byte tag of `unsigned` (header and body).
    func tag(_ unsigned: UnsafeRawBufferPointer) -> HashedAuthenticationCode<SHA256> {
        var hmac = primed
        hmac.update(data: unsigned)
        return hmac.finalize()
    }

    /// Constant-time comparison of the computed tag with the frame's last 16 bytes.
    func verify(_ frame: UnsafeRawBufferPointer) -> Bool {
        let end = frame.count - FrameFormat.tagLength
        let expected = tag(UnsafeRawBufferPointer(rebasing: frame[0..<end]))
        return expected.withUnsafeBytes { mac in
            var difference: UInt8 = 0
            for index in 0..<FrameFormat.tagLength { difference |= mac[index] ^ frame[end + index] }
            return difference == 0
        }
    }

    /// Appends the tag of everything in `frame` so far.
    func seal(_ frame: inout [UInt8]) {
        let mac = frame.withUnsafeBytes { tag($0) }
        mac.withUnsafeBytes { frame.append(contentsOf: $0.prefix(FrameFormat.tagLength)) }
    }
}

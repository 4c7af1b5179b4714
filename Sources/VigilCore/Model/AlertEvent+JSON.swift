#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension AlertEvent {
    /// The stored and uploaded JSON form: keys sorted, so equal events are equal bytes.
    public var jsonBytes: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(self))
        } catch {
            // Strings, integers and booleans only: encoding cannot fail.
            preconditionFailure("an alert event did not encode: \(error)")
        }
    }

    public init(jsonBytes: [UInt8]) throws {
        self = try JSONDecoder().decode(AlertEvent.self, from: Data(jsonBytes))
    }
}

extension AlertEntry {
    /// The event's stored JSON form.
    public var json: [UInt8] { event.jsonBytes }
}

import Crypto
import Foundation
import VigilProtocol
import VigilStore

/// `vigil store export`: entries as JSON Lines, optionally filtered and de-identified. Pure
/// formatting (the command does the reading and the audit record).
public struct StoreExport {
    public struct Filter: Sendable {
        /// Unix milliseconds; entries before it are left out.
        public var since: Int64?
        public var device: String?

        public init(since: Int64? = nil, device: String? = nil) {
            self.since = since
            self.device = device
        }
    }

    /// Pseudonyms and date shifts for research extracts: ids become keyed hashes (stable for one
    /// gateway key, meaningless without it) and each patient's times move by a whole number of
    /// days in ±365 chosen by the same keyed hash, so intervals and time of day are kept.
    public struct Deidentifier: Sendable {
        let key: SymmetricKey

        public init(keyring: Keyring) {
            key = HKDF<SHA256>.deriveKey(inputKeyMaterial: keyring.current, info: Array("vigil-deidentify-v1".utf8), outputByteCount: 32)
        }

        func digest(_ text: String) -> [UInt8] { Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)) }

        public func pseudonym(_ id: String, prefix: String) -> String {
            prefix + hexEncoded(digest(id).prefix(6))
        }

        public func shiftMilliseconds(patient: String) -> Int64 {
            let bytes = digest("shift:" + patient)
            let days = (Int64(bytes[0]) << 8 | Int64(bytes[1])) % 731 - 365
            return days * 86_400_000
        }
    }

    let filter: Filter
    let deidentifier: Deidentifier?
    private let formatter: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()

    public init(filter: Filter, deidentifier: Deidentifier?) {
        self.filter = filter
        self.deidentifier = deidentifier
    }

    static let qualities = ["good", "fair", "poor", "unusable"]

    /// The JSON lines for one entry (a readings entry gives one line per reading).
    public func lines(_ entry: Entry) -> [String] {
        switch entry {
        case .readings(let batch):
            guard filter.device == nil || filter.device == batch.device else { return [] }
            return batch.readings.compactMap { reading in
                guard reading.time >= (filter.since ?? .min) else { return nil }
                var values: [String] = []
                for value in reading.values {
                    let channel = value.channel
                    values.append("\"\(channel.key)\":\(JSONFrame.decimalText(value.raw, divisor: channel.divisor))")
                }
                let quality = batch.timeQuality.rawValue
                return "{\"type\":\"reading\",\(identity(batch.device, batch.patient)),\"boot\":\(batch.boot),\"seq\":\(reading.seq)"
                    + ",\"time\":\"\(time(reading.time, batch.patient))\",\"time_quality\":\"\(quality)\""
                    + ",\"abnormal\":\(reading.isAbnormal),\"quality\":\"\(Self.qualities[Int(reading.qualityGrade)])\""
                    + ",\"values\":{\(values.joined(separator: ","))}}"
            }
        case .alert(let alert):
            guard filter.device == nil || filter.device == alert.device, alert.time >= (filter.since ?? .min) else { return [] }
            // The alert's own JSON carries clinical detail, not identifiers; it is kept whole.
            let body = String(decoding: alert.event.jsonBytes, as: UTF8.self)
            return ["{\"type\":\"alert\",\(identity(alert.device, alert.patient)),\"time\":\"\(time(alert.time, alert.patient))\",\"alert\":\(body)}"]
        case .gap(let gap):
            guard filter.device == nil || filter.device == gap.device, gap.to >= (filter.since ?? .min) else { return [] }
            return ["{\"type\":\"gap\",\(identity(gap.device, gap.patient)),\"reason\":\"\(gap.reason.rawValue)\""
                    + ",\"from\":\"\(time(gap.from, gap.patient))\",\"to\":\"\(time(gap.to, gap.patient))\",\"count\":\(gap.count)}"]
        case .rollup:
            // Its readings are exported one by one from their own entries.
            return []
        case .coverage(let day):
            guard filter.device == nil, day.end >= (filter.since ?? .min) else { return [] }
            let patient = deidentifier.map { "\"\($0.pseudonym(day.patient, prefix: "pt-"))\"" } ?? "\"\(JSONText.escaped(day.patient))\""
            // Deidentified, the day is only its shifted bounds (its label would name the date).
            let label = deidentifier == nil ? ",\"day\":\"\(day.day)\"" : ""
            return ["{\"type\":\"coverage\",\"patient\":\(patient)\(label),\"from\":\"\(time(day.start, day.patient))\""
                    + ",\"to\":\"\(time(day.end, day.patient))\",\"usable_minutes\":\(day.usableMinutes)"
                    + ",\"not_worn_minutes\":\(day.notWornMinutes),\"silent_minutes\":\(day.silentMinutes)"
                    + ",\"received\":\(day.received),\"expected\":\(day.expected),\"days_with_readings_30\":\(day.daysWithReadings30)}"]
        }
    }

    private func identity(_ device: String, _ patient: String) -> String {
        if let deidentifier {
            return "\"device\":\"\(deidentifier.pseudonym(device, prefix: "dev-"))\",\"patient\":\"\(deidentifier.pseudonym(patient, prefix: "pt-"))\""
        }
        return "\"device\":\"\(device)\",\"patient\":\"\(JSONText.escaped(patient))\""
    }

    private func time(_ milliseconds: Int64, _ patient: String) -> String {
        let shifted = milliseconds + (deidentifier?.shiftMilliseconds(patient: patient) ?? 0)
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(shifted) / 1_000))
    }
}

import Foundation

/// What a FHIR server's answer to one transaction means for the uplink. Pure.
public enum TransactionOutcome: Sendable, Equatable {
    /// Every entry stored (created, or already there by its identifier).
    case confirmed(created: Int, existing: Int)
    /// These entries (indices into the bundle) can never be stored: move them, with the server's
    /// explanation, to the dead-letter area and send the rest again.
    case rejected([Int: Rejection])
    /// The server rejected the transaction for an entry it did not name: split it to find it.
    case unattributed(Rejection)
    /// Transient: try again later (`after`: the server's `Retry-After`).
    case retry(reason: String, after: Duration?)

    public struct Rejection: Sendable, Equatable {
        public let status: Int
        /// The OperationOutcome (JSON) or the response body, as the server sent it.
        public let outcome: String

        public init(status: Int, outcome: String) {
            self.status = status
            self.outcome = outcome
        }
    }

    /// Permanent statuses: the request itself is wrong and sending it again cannot help.
    package static let permanent: Set<Int> = [400, 404, 405, 409, 410, 412, 413, 415, 422]

    public static func classify(status: Int, retryAfter: String?, body: [UInt8], entries: Int, now: Date = Date()) -> TransactionOutcome {
        let text = String(decoding: body.prefix(16_384), as: UTF8.self)
        switch status {
        case 200..<300:
            return perEntry(body, entries: entries) ?? .retry(reason: "unreadable response (HTTP \(status))", after: nil)
        case 429, 503:
            return .retry(reason: "HTTP \(status)", after: retryAfter.flatMap { parseRetryAfter($0, now: now) })
        case _ where permanent.contains(status):
            let indices = entryIndices(in: body).filter { $0 < entries }
            if indices.isEmpty {
                return entries == 1 ? .rejected([0: .init(status: status, outcome: text)]) : .unattributed(.init(status: status, outcome: text))
            }
            return .rejected(Dictionary(uniqueKeysWithValues: indices.map { ($0, Rejection(status: status, outcome: text)) }))
        default:
            // 5xx, 401/403 (credentials may be fixed), anything unexpected: keep the data, retry.
            return .retry(reason: "HTTP \(status)", after: nil)
        }
    }

    /// A transaction-response (or batch-response) Bundle: every entry 2xx → confirmed; 4xx
    /// entries (a batch answers per entry) → rejected.
    package static func perEntry(_ body: [UInt8], entries: Int) -> TransactionOutcome? {
        guard let bundle = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              bundle["resourceType"] as? String == "Bundle",
              let answers = bundle["entry"] as? [[String: Any]], answers.count == entries else { return nil }
        var created = 0, existing = 0
        var rejected: [Int: Rejection] = [:]
        for (index, answer) in answers.enumerated() {
            guard let response = answer["response"] as? [String: Any], let statusText = response["status"] as? String,
                  let status = Int(statusText.prefix { $0.isNumber }) else { return nil }
            switch status {
            case 201: created += 1
            case 200..<300: existing += 1
            case _ where permanent.contains(status):
                let outcome = (response["outcome"]).flatMap { try? JSONSerialization.data(withJSONObject: $0) }
                rejected[index] = Rejection(status: status, outcome: outcome.map { String(decoding: $0, as: UTF8.self) } ?? statusText)
            default: return .retry(reason: "entry \(index): \(statusText)", after: nil)
            }
        }
        return rejected.isEmpty ? .confirmed(created: created, existing: existing) : .rejected(rejected)
    }

    /// `Bundle.entry[N]` in an OperationOutcome's issue expressions (or locations); N a plain
    /// non-negative number (`entry[-1]`, found by the fuzzer, once named an entry that is not there).
    package static func entryIndices(in body: [UInt8]) -> Set<Int> {
        guard let outcome = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let issues = outcome["issue"] as? [[String: Any]] else { return [] }
        var indices: Set<Int> = []
        for issue in issues {
            for path in (issue["expression"] as? [String] ?? []) + (issue["location"] as? [String] ?? []) {
                guard let open = path.range(of: "Bundle.entry["), let close = path[open.upperBound...].firstIndex(of: "]"),
                      let index = UInt16(path[open.upperBound..<close]).map(Int.init) else { continue }
                indices.insert(index)
            }
        }
        return indices
    }

    /// `Retry-After`: delta-seconds or an HTTP date (IMF-fixdate, RFC 9110 §5.6.7); capped at an
    /// hour. Parsed by hand: Foundation's DateFormatter traps on some non-ASCII input (found by
    /// the transaction-response fuzz target), and a server's header must never stop the agent.
    package static func parseRetryAfter(_ value: String, now: Date) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed), seconds >= 0 { return .seconds(min(seconds, 3_600)) }
        guard let date = httpDate(trimmed) else { return nil }
        return .milliseconds(Int64(min(max(date - now.timeIntervalSince1970, 0), 3_600) * 1_000))
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT` as seconds since 1970; nil for anything else.
    package static func httpDate(_ text: String) -> Double? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        let days = ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count == 6, days.contains(String(parts[0])), parts[5] == "GMT", parts[1].count == 2, parts[2].count == 3,
              parts[3].count == 4, let day = Int(parts[1]), let monthIndex = months.firstIndex(of: String(parts[2])),
              let year = Int(parts[3]), (1...31).contains(day), parts[1].allSatisfy(\.isASCII), parts[3].allSatisfy(\.isASCII) else { return nil }
        let clock = parts[4].split(separator: ":", omittingEmptySubsequences: false)
        guard parts[4].count == 8, parts[4].allSatisfy(\.isASCII), clock.count == 3, let hour = Int(clock[0]), let minute = Int(clock[1]),
              let second = Int(clock[2]), (0..<24).contains(hour), (0..<60).contains(minute), (0...60).contains(second) else { return nil }
        // Days from 1970-01-01 to the civil date (Howard Hinnant's days_from_civil).
        let month = monthIndex + 1
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let epochDays = era * 146_097 + dayOfEra - 719_468
        return Double(epochDays * 86_400 + hour * 3_600 + minute * 60 + second)
    }
}

import Crypto
import Foundation
import VigilFormats
import VigilFuzzSupport

/// A fixed audit MAC key (id 1): seeds carry valid MACs, so mutations reach past them.
struct FuzzAuditKeys: AuditKeyring {
    static let key = SymmetricKey(data: [UInt8](repeating: 0x11, count: 32))
    func key(_ id: UInt32) -> SymmetricKey? { id == 1 ? Self.key : nil }
}

/// A whole audit log: verification must name a problem or vouch for the chain, never trap; an
/// intact chain must also verify against its own head, and every entry read back as a link.
let auditLog = FuzzTarget("audit-log", seeds: {
    var previous = AuditChain.origin
    var text = ""
    for seq in 1...4 as ClosedRange<UInt64> {
        let line = AuditChain.seal(seq: seq, fields: [("time", "2026-12-03T18:00:00Z"), ("action", seq == 2 ? "access.denied" : "phi.view"),
                                                     ("uid", "1000"), ("user", "nurse"), ("role", "clinician"), ("subject", "ring-\(seq)")],
                                   previous: previous, key: seq == 1 ? nil : (1, FuzzAuditKeys.key))
        previous = String(line.suffix(66).prefix(64))
        text += line + "\n"
    }
    let formatOne = #"{"time":"2026-01-01T00:00:00Z","action":"sensor.add","prev":"\#(AuditChain.origin)"}"# + "\n"
    return [Array(text.utf8), Array((formatOne + text).utf8), Array(text.split(separator: "\n").prefix(2).joined(separator: "\n").utf8)]
}) { bytes in
    let keys = FuzzAuditKeys()
    let result = AuditChain.verify(bytes, keys: keys)
    precondition(result.entries >= result.unkeyed)
    if result.intact, let head = result.head {
        precondition(AuditChain.verify(bytes, keys: keys, heads: [head]).intact, "an intact chain fails against its own head")
        for (index, line) in bytes.split(separator: UInt8(ascii: "\n")).enumerated() {
            precondition(AuditChain.link(line, lineNumber: index + 1) != nil, "an entry of an intact chain is no link")
        }
    }
    _ = AuditChain.verify(bytes, keys: nil)
}

/// The FHIR server's answer to a transaction: the first byte picks the HTTP status, the second
/// how many entries were sent, the rest is the body (and the start of it a Retry-After).
let transactionResponse = FuzzTarget("transaction-response", seeds: {
    let ok = #"{"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":"201 Created"}},{"response":{"status":"200 OK"}}]}"#
    let batch = #"{"resourceType":"Bundle","type":"batch-response","entry":[{"response":{"status":"201"}},{"response":{"status":"422","outcome":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}}}]}"#
    let outcome = #"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","expression":["Bundle.entry[1].resource"],"location":["Bundle.entry[0]"]}]}"#
    return [[0, 2] + Array(ok.utf8), [0, 2] + Array(batch.utf8), [5, 2] + Array(outcome.utf8), [7, 1] + Array("120".utf8),
            [8, 1] + Array("Wed, 21 Oct 2026 07:28:00 GMT".utf8)]
}) { bytes in
    guard bytes.count >= 2 else { return }
    let statuses = [200, 201, 207, 400, 404, 409, 422, 429, 503, 500, 401, 302]
    let status = statuses[Int(bytes[0]) % statuses.count]
    let entries = 1 + Int(bytes[1] % 8)
    let body = Array(bytes.dropFirst(2))
    let now = Date(timeIntervalSince1970: 1_795_350_000)
    switch TransactionOutcome.classify(status: status, retryAfter: String(decoding: body.prefix(40), as: UTF8.self), body: body, entries: entries, now: now) {
    case .confirmed(let created, let existing):
        precondition(created + existing == entries && (200..<300).contains(status))
    case .rejected(let rejections):
        precondition(!rejections.isEmpty && rejections.keys.allSatisfy { $0 >= 0 && $0 < entries })
    case .retry(_, let after):
        if let after { precondition(after >= .zero && after <= .seconds(3_600)) }
    case .unattributed(let rejection):
        precondition(entries > 1 && TransactionOutcome.permanent.contains(rejection.status))
    }
}

/// The OAuth token endpoint's answer.
let tokenResponse = FuzzTarget("token-response", seeds: {
    [#"{"access_token":"eyJhbGciOi.x.y","token_type":"bearer","expires_in":300,"scope":"system/*.write"}"#,
     #"{"access_token":"t","expires_in":3600.0}"#, #"{"access_token":"","expires_in":-5}"#].map { Array($0.utf8) }
}) { bytes in
    guard let answer = TokenResponse.parse(status: 200, body: bytes) else { return }
    precondition(!answer.accessToken.isEmpty && (0...86_400).contains(answer.lifetimeSeconds))
}

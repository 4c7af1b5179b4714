/// One audit-log entry as the uplink sends it (one AuditEvent): its fields, its place in the
/// chain, and the line's exact bytes, so the hospital can set the box's log against what it holds
/// without the box's key (tools/fhir-endpoint/audit_check.py).
public struct AuditRecord: Sendable, Equatable {
    public var seq: UInt64
    /// Every member of the line but the chain's own (`seq`, `key`, `prev`, `mac`): `time`,
    /// `action`, who (`uid`, `user`, `role`, `pid`) and the action's details.
    public var fields: [String: String]
    /// The store key the entry is MAC'd under, or `none`.
    public var key: String
    public var prev: String
    public var mac: String
    public var line: [UInt8]

    public init(seq: UInt64, fields: [String: String], key: String, prev: String, mac: String, line: [UInt8]) {
        self.seq = seq
        self.fields = fields
        self.key = key
        self.prev = prev
        self.mac = mac
        self.line = line
    }
}

/// Where an uplink finds audit entries the hospital has not confirmed yet, and says which it
/// has (the agent's tail of the audit log, whose cursor survives restarts).
public protocol AuditSource: Sendable {
    /// The oldest unconfirmed entries, at most `limit`, in order.
    func pending(limit: Int) -> [AuditRecord]
    /// The hospital holds every entry through `record`.
    func confirmed(through record: AuditRecord)
}

import Foundation
import Logging
import Synchronization
import VigilProvisioning

/// The control socket's gate: the caller's roles from its peer credentials, what the request
/// asks to see, and the audit entry — written and synced before the answer leaves — for every
/// view of patient data and every refusal.
///
/// One entry per caller process and thing seen within ``repeatWindow``: `vigil sensor watch`
/// polls every second and is one entry, not one a second. At most ``perMinute`` entries a
/// minute per uid: beyond that a request for patient data is refused (it cannot be recorded)
/// and further refusals are counted, not written.
package final class ControlAccess: Sendable {
    package static let repeatWindow: Duration = .seconds(600)
    package static let perMinute = 60

    package let policy: AccessPolicy
    package let serviceUID: UInt32
    private let audit: AuditLog?
    private let resolve: @Sendable (HTTPListener.Peer) -> PeerIdentity
    private let logger: Logger
    private let clock = ContinuousClock()
    private struct Memory {
        var recent: [String: ContinuousClock.Instant] = [:]
        var minute: [UInt32: (start: ContinuousClock.Instant, count: Int)] = [:]
        var unrecordedRefusals = 0
    }
    private let memory = Mutex(Memory())

    init(policy: AccessPolicy, serviceUID: UInt32 = getuid(), audit: AuditLog?, logger: Logger,
                 resolve: @escaping @Sendable (HTTPListener.Peer) -> PeerIdentity = { UnixAccounts.identity(uid: $0.uid, gid: $0.gid, pid: $0.pid) }) {
        self.policy = policy
        self.serviceUID = serviceUID
        self.audit = audit
        self.logger = logger
        self.resolve = resolve
    }

    /// Who is asking.
    package struct Caller: Sendable {
        package var identity: PeerIdentity
        package var roles: Set<AccessRole>
        package var auditCaller: AuditCaller {
            AuditCaller(uid: identity.uid, user: identity.displayName, role: AccessPolicy.recordedRole(roles), pid: identity.pid)
        }
    }

    func caller(_ peer: HTTPListener.Peer?) -> Caller? {
        guard let peer else { return nil }
        let identity = resolve(peer)
        return Caller(identity: identity, roles: policy.roles(of: identity, serviceUID: serviceUID))
    }

    package enum Outcome: Equatable {
        case recorded
        /// Not written: the same caller process saw the same thing a moment ago.
        case repeated
        /// Not written, so not to be shown: the uid's per-minute allowance is spent, or the
        /// write failed.
        case unrecorded(String)
    }

    /// Records that `caller` was shown `what` (`subject`: device or patient).
    package func recordView(_ caller: Caller, what: String, subject: String?) -> Outcome {
        record(caller, action: "phi.view", key: "view \(what) \(subject ?? "")",
               details: [("what", what), ("subject", subject ?? "*"), ("via", "control-socket")])
    }

    /// Records that `caller` was refused `what`.
    @discardableResult
    package func recordRefusal(_ caller: Caller?, what: String, subject: String?) -> Outcome {
        let auditCaller = caller?.auditCaller ?? AuditCaller(uid: UInt32.max, user: "unknown", role: "none")
        let outcome = record(caller, as: auditCaller, action: "access.denied", key: "deny \(what) \(subject ?? "")",
                             details: [("what", what), ("subject", subject ?? "*"), ("via", "control-socket")])
        if case .unrecorded = outcome { memory.withLock { $0.unrecordedRefusals += 1 } }
        logger.notice("control socket request refused", metadata: [
            "uid": "\(auditCaller.uid)", "role": "\(auditCaller.role)", "what": "\(what)",
        ])
        return outcome
    }

    package var unrecordedRefusals: Int { memory.withLock { $0.unrecordedRefusals } }

    private func record(_ caller: Caller, action: String, key: String, details: [(String, String)]) -> Outcome {
        record(caller, as: caller.auditCaller, action: action, key: key, details: details)
    }

    private func record(_ caller: Caller?, as auditCaller: AuditCaller, action: String, key: String,
                        details: [(String, String)]) -> Outcome {
        guard let audit else { return .unrecorded("no audit log") }
        let now = clock.now
        let memoryKey = "\(auditCaller.uid) \(auditCaller.pid ?? -1) \(key)"
        let admitted: Outcome? = memory.withLock { memory in
            memory.recent = memory.recent.filter { now - $0.value < Self.repeatWindow }
            if memory.recent[memoryKey] != nil { return .repeated }
            var window = memory.minute[auditCaller.uid] ?? (now, 0)
            if now - window.start >= .seconds(60) { window = (now, 0) }
            guard window.count < Self.perMinute else { return .unrecorded("more than \(Self.perMinute) audited requests a minute from uid \(auditCaller.uid)") }
            window.count += 1
            memory.minute[auditCaller.uid] = window
            return nil
        }
        if let admitted { return admitted }
        do {
            try audit.append(action: action, details: details, caller: auditCaller)
            memory.withLock { $0.recent[memoryKey] = now }
            return .recorded
        } catch {
            logger.warning("cannot write the audit log", metadata: ["error": "\(error)"])
            return .unrecorded("the audit log cannot be written")
        }
    }
}

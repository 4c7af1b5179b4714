/// Who may see what through the control socket, decided from the caller's Unix identity (the
/// socket's peer credentials) and the configuration's `access` section. Pure.
///
/// | role       | status, sensors           | readings, coverage | audit log |
/// |------------|---------------------------|--------------------|-----------|
/// | operator   | yes, with patients/alerts | yes                | yes       |
/// | clinician  | yes, with patients/alerts | yes                | no        |
/// | technician | health only               | no                 | no        |
/// | auditor    | health only               | no                 | yes       |
///
/// Root and the agent's own user are operators. A caller with several roles has what each
/// allows; a caller with none is refused everything.
public enum AccessRole: String, CaseIterable, Sendable, Comparable {
    case `operator`, clinician, technician, auditor

    public static func < (a: AccessRole, b: AccessRole) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// A Unix account as the kernel reported it for a socket peer, with names resolved.
public struct PeerIdentity: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32
    public var user: String?
    /// Every group the account belongs to (primary and supplementary), by id and by name.
    public var groups: Set<UInt32>
    public var groupNames: Set<String>

    public init(uid: UInt32, gid: UInt32, pid: Int32, user: String?, groups: Set<UInt32>, groupNames: Set<String>) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.user = user
        self.groups = groups
        self.groupNames = groupNames
    }

    public var displayName: String { user ?? "uid \(uid)" }
}

public struct AccessPolicy: Sendable, Equatable {
    /// `user:<name>`, `group:<name>`, `uid:<n>` or `gid:<n>`.
    public enum Principal: Sendable, Hashable, CustomStringConvertible {
        case user(String), group(String), uid(UInt32), gid(UInt32)

        public init?(_ text: String) {
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty else { return nil }
            switch parts[0] {
            case "user": self = .user(parts[1])
            case "group": self = .group(parts[1])
            case "uid": guard let n = UInt32(parts[1]) else { return nil }; self = .uid(n)
            case "gid": guard let n = UInt32(parts[1]) else { return nil }; self = .gid(n)
            default: return nil
            }
        }

        public var description: String {
            switch self {
            case .user(let name): "user:\(name)"
            case .group(let name): "group:\(name)"
            case .uid(let n): "uid:\(n)"
            case .gid(let n): "gid:\(n)"
            }
        }

        func matches(_ peer: PeerIdentity) -> Bool {
            switch self {
            case .user(let name): peer.user == name
            case .group(let name): peer.groupNames.contains(name)
            case .uid(let n): peer.uid == n
            case .gid(let n): peer.groups.contains(n) || peer.gid == n
            }
        }
    }

    public var members: [AccessRole: [Principal]]

    public init(members: [AccessRole: [Principal]]) {
        self.members = members
    }

    /// One group per role, as the package's sysusers file creates them.
    public static let standard = AccessPolicy(members: Dictionary(uniqueKeysWithValues: AccessRole.allCases.map {
        ($0, [Principal.group("vigil-\($0.rawValue)")])
    }))

    /// The roles of `peer`; `serviceUID` is the agent's own user.
    public func roles(of peer: PeerIdentity, serviceUID: UInt32) -> Set<AccessRole> {
        if peer.uid == 0 || peer.uid == serviceUID { return [.operator] }
        return Set(members.compactMap { role, principals in principals.contains { $0.matches(peer) } ? role : nil })
    }

    /// What a request asks to see.
    public enum Subject: String, Sendable {
        /// Agent, broker, uplink, backlog, disk, clock, and each sensor's health.
        case health
        /// Patient references, clinical settings and open alerts (in status and sensor reports).
        case patients
        /// A sensor's readings, a patient's coverage.
        case readings
        /// The audit log and its verification.
        case audit
    }

    public static func allows(_ roles: Set<AccessRole>, _ subject: Subject) -> Bool {
        switch subject {
        case .health: !roles.isEmpty
        case .patients, .readings: roles.contains(.operator) || roles.contains(.clinician)
        case .audit: roles.contains(.operator) || roles.contains(.auditor)
        }
    }

    /// The name the audit log records: the most privileged role, or `none`.
    public static func recordedRole(_ roles: Set<AccessRole>) -> String {
        roles.sorted().map(\.rawValue).joined(separator: "+").nonEmpty ?? "none"
    }
}

extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}

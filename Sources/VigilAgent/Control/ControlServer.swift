import Foundation
import Logging
import NIOHTTP1
import ServiceLifecycle
import VigilFormats
import VigilProvisioning

/// The CLI's window into the running agent: JSON over HTTP on a Unix socket. Any local account
/// may connect (mode 0666); what it sees is decided per request from its peer credentials
/// (``ControlAccess``, roles in ``AccessPolicy``). Read-only: the CLI changes things through the
/// registry, the broker files and the audit log, never here.
///
///     GET /v1/status                          StatusReport          health; patients and alerts for clinician, operator
///     GET /v1/sensors                         [SensorReport]        the same
///     GET /v1/sensors/<id>                    SensorReport          the same (404 if neither provisioned nor seen)
///     GET /v1/sensors/<id>/readings?after=N   WatchBatch            clinician, operator
///     GET /v1/coverage?days=N&patient=P       [CoverageDay]         clinician, operator
///     GET /v1/audit/verify?anchor=SEQ:MAC     AuditVerificationReport  auditor, operator
///
/// Refusals are 403 with the reason; every refusal and every answer holding patient data is in
/// the audit log before the answer is sent (503 if it cannot be recorded).
package final class ControlServer: Service {
    private let path: String
    private let inspector: GatewayInspector
    private let access: ControlAccess
    private let audit: AuditLog?
    private let logger: Logger

    package init(path: String, inspector: GatewayInspector, access: ControlAccess, audit: AuditLog?, logger: Logger) {
        self.path = path
        self.inspector = inspector
        self.access = access
        self.audit = audit
        self.logger = logger
    }

    package func run() async throws {
        let listener = HTTPListener(address: .unix(path: path, mode: 0o666), logger: logger, name: "control socket") { [self] request, peer in
            self.respond(to: request.uri, peer: peer)
        }
        try await listener.run()
    }

    /// A request's path and query as the server understands them (fuzzed by vigil-fuzz-agent).
    package enum Route: Equatable {
        case status, sensors, sensor(String), readings(String, after: UInt64), coverage(patient: String?, days: Int)
        case auditVerify(anchor: String?)
        case unknown

        package init(_ uri: String) {
            let components = URLComponents(string: uri)
            let parts = (components?.path ?? uri).split(separator: "/").map(String.init)
            let query = components?.queryItems ?? []
            func value(_ name: String) -> String? { query.first(where: { $0.name == name })?.value }
            switch parts.count {
            case 2 where parts == ["v1", "status"]: self = .status
            case 2 where parts == ["v1", "sensors"]: self = .sensors
            case 3 where parts[0] == "v1" && parts[1] == "sensors": self = .sensor(parts[2])
            case 4 where parts[0] == "v1" && parts[1] == "sensors" && parts[3] == "readings":
                self = .readings(parts[2], after: value("after").flatMap(UInt64.init) ?? 0)
            case 2 where parts == ["v1", "coverage"]:
                self = .coverage(patient: value("patient"), days: max(1, min(366, value("days").flatMap(Int.init) ?? 7)))
            case 3 where parts == ["v1", "audit", "verify"]: self = .auditVerify(anchor: value("anchor"))
            default: self = .unknown
            }
        }

        /// What the audit log calls it, and whom it concerns.
        package var name: (what: String, subject: String?) {
            switch self {
            case .status: ("status", nil)
            case .sensors: ("sensors", nil)
            case .sensor(let id): ("sensor", id)
            case .readings(let id, _): ("readings", id)
            case .coverage(let patient, _): ("coverage", patient)
            case .auditVerify: ("audit.verify", nil)
            case .unknown: ("unknown", nil)
            }
        }

        package var subject: AccessPolicy.Subject {
            switch self {
            case .status, .sensors, .sensor, .unknown: .health
            case .readings, .coverage: .readings
            case .auditVerify: .audit
            }
        }
    }

    func respond(to uri: String, peer: HTTPListener.Peer?) -> HTTPListener.Response {
        let route = Route(uri)
        let (what, subject) = route.name
        guard let caller = access.caller(peer) else {
            access.recordRefusal(nil, what: what, subject: subject)
            return json(["error": "the caller's identity is unknown"], status: .forbidden)
        }
        guard AccessPolicy.allows(caller.roles, route.subject) else {
            access.recordRefusal(caller, what: what, subject: subject)
            let role = AccessPolicy.recordedRole(caller.roles)
            return json(["error": caller.roles.isEmpty
                ? "uid \(caller.identity.uid) holds no Vigil role (access.* in the configuration; groups vigil-operator, vigil-clinician, vigil-technician, vigil-auditor)"
                : "role \(role) may not see \(route.subject.rawValue)"], status: .forbidden)
        }
        // Patient references and alerts go only to those allowed, and only once on record.
        let full = AccessPolicy.allows(caller.roles, .patients)
        func shown(_ value: some Encodable) -> HTTPListener.Response {
            guard full || route.subject != .health else { return json(value) }
            if case .unrecorded(let why) = access.recordView(caller, what: what, subject: subject) {
                return json(["error": "not shown: \(why)"], status: .serviceUnavailable)
            }
            return json(value)
        }
        switch route {
        case .status:
            return shown(full ? inspector.status() : Self.redacted(inspector.status()))
        case .sensors:
            let reports = inspector.sensorReports()
            return shown(full ? reports : reports.map(Self.redacted))
        case .sensor(let id):
            guard let report = inspector.sensorReports().first(where: { $0.device == id }) else {
                return json(["error": "unknown device \(id)"], status: .notFound)
            }
            return shown(full ? report : Self.redacted(report))
        case .readings(let id, let after):
            return shown(inspector.sensors.readings(of: id, after: after))
        case .coverage(let patient, let days):
            return shown(inspector.coverage.report(patient: patient, days: days, now: GatewayInspector.now()))
        case .auditVerify(let anchor):
            guard let audit else { return json(["error": "no audit log"], status: .notFound) }
            guard let result = try? audit.verify(anchor: anchor.flatMap(AuditChain.Head.init)) else {
                return json(["error": "cannot read the audit log"], status: .internalServerError)
            }
            return json(AuditVerificationReport(result))
        case .unknown:
            return json(["error": "unknown path; try /v1/status, /v1/sensors, /v1/sensors/<id>, /v1/sensors/<id>/readings, /v1/coverage, /v1/audit/verify"],
                        status: .notFound)
        }
    }

    /// A sensor's health without whom it is worn by.
    static func redacted(_ report: SensorReport) -> SensorReport {
        var report = report
        report.patient = nil
        report.clinical = nil
        return report
    }

    static func redacted(_ status: StatusReport) -> StatusReport {
        var status = status
        status.redacted = status.openAlerts.isEmpty && status.sensors.allSatisfy { $0.patient == nil } ? nil : ["patients", "open_alerts"]
        status.openAlerts = []
        status.sensors = status.sensors.map(redacted)
        return status
    }

    private func json(_ value: some Encodable, status: HTTPResponseStatus = .ok) -> HTTPListener.Response {
        do {
            return .init(status: status, contentType: "application/json", body: Array(try ControlJSON.encoder().encode(value)))
        } catch {
            return .text(.internalServerError, "cannot encode the answer: \(error)\n")
        }
    }
}

import Foundation
import Logging
import NIOHTTP1
import ServiceLifecycle

/// The CLI's window into the running agent: JSON over HTTP on a Unix socket that only the
/// service's user and group may open (mode 0660 in a 0750 runtime directory). Read-only: the
/// CLI changes things through the registry, the broker files and the audit log, never here.
///
///     GET /v1/status                          StatusReport
///     GET /v1/sensors                         [SensorReport]
///     GET /v1/sensors/<id>                    SensorReport (404 if neither provisioned nor seen)
///     GET /v1/sensors/<id>/readings?after=N   WatchBatch (readings newer than index N)
///     GET /v1/coverage?days=N&patient=P       [CoverageDay] (each patient's last N days, today so far)
package final class ControlServer: Service {
    private let path: String
    private let inspector: GatewayInspector
    private let logger: Logger

    package init(path: String, inspector: GatewayInspector, logger: Logger) {
        self.path = path
        self.inspector = inspector
        self.logger = logger
    }

    package func run() async throws {
        let listener = HTTPListener(address: .unix(path: path, mode: 0o660), logger: logger, name: "control socket") { [inspector] request in
            Self.respond(to: request.uri, inspector: inspector)
        }
        try await listener.run()
    }

    static func respond(to uri: String, inspector: GatewayInspector) -> HTTPListener.Response {
        let components = URLComponents(string: uri)
        let parts = (components?.path ?? uri).split(separator: "/").map(String.init)
        switch parts.count {
        case 2 where parts == ["v1", "status"]:
            return json(inspector.status())
        case 2 where parts == ["v1", "sensors"]:
            return json(inspector.sensorReports())
        case 3 where parts[0] == "v1" && parts[1] == "sensors":
            guard let report = inspector.sensorReports().first(where: { $0.device == parts[2] }) else {
                return json(["error": "unknown device \(parts[2])"], status: .notFound)
            }
            return json(report)
        case 4 where parts[0] == "v1" && parts[1] == "sensors" && parts[3] == "readings":
            let after = components?.queryItems?.first(where: { $0.name == "after" })?.value.flatMap(UInt64.init) ?? 0
            return json(inspector.sensors.readings(of: parts[2], after: after))
        case 2 where parts == ["v1", "coverage"]:
            let query = components?.queryItems ?? []
            let days = query.first(where: { $0.name == "days" })?.value.flatMap(Int.init) ?? 7
            let patient = query.first(where: { $0.name == "patient" })?.value
            return json(inspector.coverage.report(patient: patient, days: max(1, days), now: GatewayInspector.now()))
        default:
            return json(["error": "unknown path; try /v1/status, /v1/sensors, /v1/sensors/<id>, /v1/sensors/<id>/readings, /v1/coverage"],
                        status: .notFound)
        }
    }

    private static func json(_ value: some Encodable, status: HTTPResponseStatus = .ok) -> HTTPListener.Response {
        do {
            return .init(status: status, contentType: "application/json", body: Array(try ControlJSON.encoder().encode(value)))
        } catch {
            return .text(.internalServerError, "cannot encode the answer: \(error)\n")
        }
    }
}

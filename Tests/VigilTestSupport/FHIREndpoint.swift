import Foundation

/// The receiving FHIR endpoint (`tools/fhir-endpoint/endpoint.py`, fhir.resources R4B validation,
/// conditional create, fault injection) on a free loopback port.
public final class FHIREndpoint: @unchecked Sendable {
    public let port: Int
    private let process: ChildProcess

    public init(directory: TemporaryDirectory, timeoutSeconds: Int = 3, arguments: [String] = []) throws {
        let root = repositoryRoot()
        let python = root.appendingPathComponent(".venv-endpoint/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw POSIXError(.ENOENT, userInfo: [NSLocalizedDescriptionKey: "run scripts/setup: \(python) is missing"])
        }
        port = try freeLoopbackPort()
        process = try ChildProcess(python, [root.appendingPathComponent("tools/fhir-endpoint/endpoint.py").path,
                                            "--port", "\(port)", "--timeout-seconds", "\(timeoutSeconds)"] + arguments,
                                   stdoutPath: directory.file("endpoint.out"), stderrPath: directory.file("endpoint.err"))
        let deadline = Date().addingTimeInterval(20)
        while (try? httpGet(port: port, path: "/_control/stats"))?.status != 200 {
            guard Date() < deadline else { throw POSIXError(.ETIMEDOUT) }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    public var baseURL: String { "http://127.0.0.1:\(port)/fhir" }
    public var tokenURL: String { "http://127.0.0.1:\(port)/token" }

    public func stats() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(httpGet(port: port, path: "/_control/stats").body.utf8)) as? [String: Any] ?? [:]
    }

    public func identifiers(type: String) throws -> [String] {
        try JSONSerialization.jsonObject(with: Data(httpGet(port: port, path: "/_control/identifiers?type=\(type)").body.utf8)) as? [String] ?? []
    }

    public func device(_ identifier: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(httpGet(port: port, path: "/_control/device?identifier=\(identifier)").body.utf8))
            as? [String: Any] ?? [:]
    }

    /// Where the AuditEvents it holds are listed (a searchset Bundle; what audit_check.py reads).
    public var auditURL: String { "http://127.0.0.1:\(port)/_control/audit" }

    public func auditEvents() throws -> [[String: Any]] {
        let bundle = try JSONSerialization.jsonObject(with: Data(httpGet(port: port, path: "/_control/audit").body.utf8)) as? [String: Any]
        return (bundle?["entry"] as? [[String: Any]] ?? []).compactMap { $0["resource"] as? [String: Any] }
    }

    public func injectFaults(_ json: String) throws {
        _ = try httpPost(port: port, path: "/_control/faults", json: json)
    }

    public func stop() { process.terminate() }
}

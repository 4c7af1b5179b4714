import Foundation

/// A throwaway CA and a broker certificate for 127.0.0.1/localhost, made with the openssl CLI.
public struct TestCertificates: Sendable {
    public let caFile: String
    public let serverCertFile: String
    public let serverKeyFile: String

    public init(in directory: TemporaryDirectory) async throws {
        caFile = directory.file("ca.pem")
        serverCertFile = directory.file("broker.pem")
        serverKeyFile = directory.file("broker.key")
        let caKey = directory.file("ca.key")
        let csr = directory.file("broker.csr")
        let ext = try directory.write("ext.cnf", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let steps: [[String]] = [
            ["req", "-x509"] + ec + ["-keyout", caKey, "-out", caFile, "-days", "2", "-subj", "/CN=vigil-test-ca"],
            ["req"] + ec + ["-keyout", serverKeyFile, "-out", csr, "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", csr, "-CA", caFile, "-CAkey", caKey, "-CAcreateserial", "-out", serverCertFile,
             "-days", "2", "-extfile", ext],
        ]
        for step in steps {
            let result = try await runProcess("/usr/bin/openssl", step)
            guard result.status == 0 else { throw MosquittoBroker.BrokerError.toolFailed("openssl \(step[0]): \(result.stderr)") }
        }
    }
}

import AsyncHTTPClient
import Foundation
import NIOCore
import VigilAgent

/// Talks to the running agent over its control socket (HTTP on a Unix socket).
struct ControlClient {
    let socket: String

    enum Failure: Error, CustomStringConvertible {
        /// The agent is not running, or this user may not open its socket.
        case unreachable(String, String)
        case notFound(String)
        /// The agent refused this user (its role), or could not put the view on record.
        case refused(String)
        case unexpected(String)

        var description: String {
            switch self {
            case .unreachable(let socket, let reason):
                "the agent is not reachable on \(socket) (\(reason)); is it running (systemctl status vigil), and are you in its group?"
            case .notFound(let message): message
            case .refused(let message): "refused by the agent: \(message)"
            case .unexpected(let message): "unexpected answer from the agent: \(message)"
            }
        }
    }

    init(configuration: VigilConfiguration?) {
        socket = configuration?.controlSocket ?? "/run/vigil/control.sock"
    }

    func get<T: Decodable>(_ path: String, as type: T.Type, timeout: TimeAmount = .seconds(5)) async throws(Failure) -> T {
        guard FileManager.default.fileExists(atPath: socket) else { throw .unreachable(socket, "no socket file") }
        guard let url = URL(httpURLWithSocketPath: socket, uri: path) else { throw .unexpected("bad path \(path)") }
        let body: ByteBuffer
        let status: UInt
        do {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url.absoluteString), timeout: timeout)
            status = response.status.code
            body = try await response.body.collect(upTo: 16 << 20)
        } catch {
            throw .unreachable(socket, Self.reason(error))
        }
        let data = Data(body.readableBytesView)
        if status == 404 {
            let message = (try? JSONDecoder().decode([String: String].self, from: data))?["error"] ?? "not found"
            throw .notFound(message)
        }
        if status == 403 || status == 503 {
            throw .refused((try? JSONDecoder().decode([String: String].self, from: data))?["error"] ?? "HTTP \(status)")
        }
        guard status == 200 else { throw .unexpected("HTTP \(status)") }
        do {
            return try ControlJSON.decoder().decode(T.self, from: data)
        } catch {
            throw .unexpected("\(error)")
        }
    }

    private static func reason(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if text.contains("Permission denied") || text.contains("EACCES") { return "permission denied" }
        return text
    }
}

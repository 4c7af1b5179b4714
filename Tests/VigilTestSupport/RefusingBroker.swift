import Foundation

/// A minimal MQTT 3.1.1 server that refuses subscriptions to filters starting with a prefix
/// (SUBACK 0x80), as brokers with subscribe ACLs do (EMQX, HiveMQ, AWS IoT; mosquitto 2.0's
/// `acl_file` grants the subscription and withholds the messages instead, so the real broker on
/// this machine cannot produce it). CONNECT, SUBSCRIBE, PINGREQ and DISCONNECT only.
public final class RefusingBroker: @unchecked Sendable {
    public let port: Int
    private let process: ChildProcess

    static let script = #"""
import socket, sys, threading
port, refused = int(sys.argv[1]), sys.argv[2].encode()
def read(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk: raise EOFError
        data += chunk
    return data
def serve(conn):
    try:
        while True:
            first = read(conn, 1)[0]
            length, shift = 0, 0
            while True:
                byte = read(conn, 1)[0]
                length |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80: break
            body = read(conn, length)
            kind = first >> 4
            if kind == 1: conn.sendall(b"\x20\x02\x00\x00")
            elif kind == 8:
                mid, rest, codes = body[:2], body[2:], b""
                while rest:
                    size = int.from_bytes(rest[:2], "big")
                    name, qos, rest = rest[2:2 + size], rest[2 + size], rest[3 + size:]
                    codes += b"\x80" if name.startswith(refused) else bytes([qos])
                conn.sendall(bytes([0x90, 2 + len(codes)]) + mid + codes)
            elif kind == 12: conn.sendall(b"\xd0\x00")
            elif kind == 14: break
    except (EOFError, OSError):
        pass
    conn.close()
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(8)
print("listening", flush=True)
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""#

    public init(refusing prefix: String, directory: TemporaryDirectory) throws {
        port = try freeLoopbackPort()
        process = try ChildProcess("/usr/bin/python3", ["-c", Self.script, "\(port)", prefix],
                                   stdoutPath: directory.file("refusing-broker.out"), stderrPath: directory.file("refusing-broker.err"))
        let deadline = Date().addingTimeInterval(10)
        while !((try? String(contentsOfFile: directory.file("refusing-broker.out"), encoding: .utf8)) ?? "").contains("listening") {
            guard Date() < deadline else { throw POSIXError(.ETIMEDOUT) }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    deinit { process.terminate() }
}

import Foundation

/// Paths of this package's built executables (they sit beside the test binary).
public func builtProduct(_ name: String) -> String {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent(),
        Bundle.main.bundleURL.deletingLastPathComponent(),
        Bundle.main.bundleURL,
    ]
    for directory in candidates {
        let path = directory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return candidates[0].appendingPathComponent(name).path
}

/// The result of a finished child process.
public struct ProcessOutput: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs an executable to completion, capturing both streams through temporary files (no pipe a
/// chatty child could fill). `timeout` only guards against hangs.
@discardableResult
public func runProcess(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
    stdin: String? = nil, timeout: Duration = .seconds(600)
) async throws -> ProcessOutput {
    let scratch = try TemporaryDirectory("proc")
    defer { scratch.remove() }
    let input = try scratch.write("stdin", stdin ?? "")
    let child = try ChildProcess(
        executable, arguments, environment: environment,
        stdinPath: input, stdoutPath: scratch.file("stdout"), stderrPath: scratch.file("stderr"))
    var status = await child.waitAsync(timeout: timeout)
    if status == nil {
        child.signal(SIGKILL)
        status = child.wait()
    }
    let out = (try? String(contentsOfFile: scratch.file("stdout"), encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: scratch.file("stderr"), encoding: .utf8)) ?? ""
    return ProcessOutput(status: status ?? -1, stdout: out, stderr: err)
}

/// Parses the single JSON object a `vigil-bench` run prints.
public func jsonObject(_ text: String) throws -> [String: Any] {
    let line = text.split(separator: "\n").last(where: { $0.hasPrefix("{") }) ?? ""
    guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
        throw CocoaError(.propertyListReadCorrupt)
    }
    return object
}

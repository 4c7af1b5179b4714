import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn` and reaped with `waitpid`.
///
/// Foundation's `Process.waitUntilExit` can hang on Linux when called from a task on the
/// cooperative pool (it spins a run loop); tests need something that cannot.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// - Parameters:
    ///   - stdoutPath/stderrPath: files that receive the streams (`/dev/null` by default).
    ///   - environment: the full environment; `nil` inherits this process's.
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        stdinPath: String = "/dev/null", stdoutPath: String = "/dev/null", stderrPath: String = "/dev/null"
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }

        // The test runner's threads block some signals, and a spawned child inherits that mask:
        // without resetting it, mosquitto would ignore SIGTERM and SIGHUP.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, env)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .ENOENT) }
        self.pid = pid
    }

    deinit {
        if status == nil {
            kill(pid, SIGKILL)
            _ = wait()
        }
    }

    public func signal(_ signal: Int32) { if status == nil { kill(pid, signal) } }
    public func terminate() { signal(SIGTERM) }

    /// The exit status if the child has ended (non-blocking).
    public var status: Int32? {
        lock.withLock {
            if exitStatus == nil { reap(options: WNOHANG) }
            return exitStatus
        }
    }

    public var isRunning: Bool { status == nil }

    /// Blocks this thread until the child exits; returns its exit code (128+N for signal N).
    @discardableResult
    public func wait() -> Int32 {
        lock.withLock {
            while exitStatus == nil { reap(options: 0) }
            return exitStatus!
        }
    }

    /// Polls (without blocking the cooperative pool) until the child exits or `timeout` passes.
    public func waitAsync(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if let status { return status }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return status
    }

    private func reap(options: Int32) {
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, options)
        if result == pid {
            let signalled = raw & 0x7F
            exitStatus = signalled == 0 ? (raw >> 8) & 0xFF : 128 + signalled
        } else if result < 0 && errno != EINTR {
            exitStatus = -1
        }
    }
}

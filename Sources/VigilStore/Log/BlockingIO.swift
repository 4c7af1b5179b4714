import NIOPosix

/// Runs blocking file work (the store's writes and fdatasyncs, its decrypting reads) on a thread
/// of its own, never on Swift's cooperative pool: a slow SD card then stalls the task that waits
/// for it, not every task of the agent (the pool has one thread per core: two on this box).
public final class BlockingIO: Sendable {
    private let pool: NIOThreadPool

    /// One thread: the store serialises its work under one lock anyway.
    public init(threads: Int = 1) {
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
    }

    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }

    public func shutdown() async {
        try? await pool.shutdownGracefully()
    }
}

import Foundation
import Testing
import VigilTestSupport

/// The wrapper's long runs, as separate processes so that their memory and descriptor figures
/// are theirs alone (the test runner's own memory moves with every parallel test).
@Suite struct WrapperStressTests {
    /// Bound documented in the README: 100k messages of 256 bytes (≈ 25 MiB of payload) arrive
    /// while the consumer is stalled; resident memory may grow by at most 16 MiB.
    @Test func stalledConsumerKeepsMemoryBoundedAndLosesNothing() async throws {
        let broker = try MosquittoBroker()
        let result = try await runProcess(builtProduct("vigil-bench"), ["stall", "--port", "\(broker.port)", "--messages", "100000"])
        #expect(result.status == 0, "\(result.stderr)")
        let figures = try jsonObject(result.stdout)
        #expect(figures["received"] as? Int == 100_000)
        #expect(figures["in_order"] as? Bool == true)
        // The inbox fills to its capacity; the loop thread no longer blocks inside the callback
        // but stops reading, so it may overshoot by the packets of its last read (and the
        // keepalive trickle, one read per quarter keepalive: none in this one-second stall).
        let peak = try #require(figures["inbox_peak"] as? Int)
        #expect((1_024...1_032).contains(peak), "inbox peak \(peak)")
        let growth = try #require(figures["rss_growth_kib"] as? Int)
        #expect(growth < 16 * 1_024, "RSS grew \(growth) KiB during the stall")
    }

    @Test func thousandConnectCyclesLeakNoMemoryDescriptorsOrThreads() async throws {
        let broker = try MosquittoBroker()
        let result = try await runProcess(builtProduct("vigil-bench"), ["cycles", "--port", "\(broker.port)", "--cycles", "1000"])
        #expect(result.status == 0, "\(result.stderr)")
        let figures = try jsonObject(result.stdout)
        // The baseline may catch the last few clients' threads and doorbell pipes on their way out,
        // so the end may show fewer; a leak would show hundreds more.
        #expect((figures["fds_final"] as? Int ?? .max) <= (figures["fds_baseline"] as? Int ?? 0))
        // Swift's cooperative pool starts workers lazily (up to one per core), so a loaded machine
        // can show one or two more threads at the end than at the baseline; a leak is one per cycle.
        let threadSlack = ProcessInfo.processInfo.activeProcessorCount
        #expect((figures["threads_final"] as? Int ?? .max) <= (figures["threads_baseline"] as? Int ?? 0) + threadSlack)
        let growth = try #require(figures["rss_growth_kib"] as? Int)
        // A leaked handle (≈ 20 KiB with its buffers) per cycle would be ≈ 18 MiB over 900 cycles.
        #expect(growth < 4 * 1_024, "RSS grew \(growth) KiB over the cycles")
    }
}

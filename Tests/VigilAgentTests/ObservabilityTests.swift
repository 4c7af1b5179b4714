import Foundation
import Logging
import Testing
import VigilTestSupport
@testable import VigilAgent

@Suite struct JournaldLogHandlerTests {
    @Test(arguments: [
        (Logger.Level.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
    ])
    func journaldLinesCarryTheSyslogPriority(level: Logger.Level, priority: Int) {
        let line = JournaldLogHandler.format(level: level, label: "vigil", message: "m", metadata: [:], style: .journald)
        #expect(line == "<\(priority)>vigil: m\n")
    }

    @Test func metadataIsSortedQuotedAndNewlinesCannotSplitAnEntry() {
        let line = JournaldLogHandler.format(
            level: .warning, label: "vigil", message: "rejected\nframe",
            metadata: ["reason": "bad hmac", "device": "dev-1"], style: .journald)
        #expect(line == "<4>vigil: rejected\\nframe device=dev-1 reason=\"bad hmac\"\n")
    }

    @Test func textLinesStartWithATimestamp() {
        let line = JournaldLogHandler.format(level: .info, label: "vigil", message: "hi", metadata: [:], style: .text)
        #expect(line.hasSuffix("info     vigil: hi\n"))
        #expect(line.first?.isNumber == true)
    }

    @Test func handlerHonoursItsLevel() {
        let lines = Lines()
        var logger = Logger(label: "t") { JournaldLogHandler(label: $0, level: .notice, style: .journald, sink: lines.append) }
        logger[metadataKey: "gateway"] = "gw-1"
        logger.info("dropped")
        logger.notice("kept")
        #expect(lines.all == ["<5>t: kept gateway=gw-1\n"])
    }
}

final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}

@Suite struct SystemdNotifierTests {
    @Test func sendsDatagramsToNotifySocket() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let listener = try NotifySocketListener(directory: dir)
        defer { listener.stop() }
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "4000000"])
        #expect(notifier.watchdogInterval == .seconds(4))
        notifier.ready(status: "up")
        notifier.watchdog()
        notifier.stopping(status: "bye")
        #expect(await eventually { listener.messages.count == 5 })
        #expect(listener.messages == ["READY=1", "STATUS=up", "WATCHDOG=1", "STOPPING=1", "STATUS=bye"])
    }

    @Test func isInertWithoutSystemdAndIgnoresAWatchdogMeantForAnotherProcess() {
        let none = SystemdNotifier(environment: [:])
        #expect(!none.isActive)
        #expect(!none.send("READY=1"))
        let other = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"])
        #expect(other.watchdogInterval == nil)
    }
}

@Suite struct WatchdogPolicyTests {
    typealias Sample = WatchdogPolicy.Sample

    @Test func firstSampleAndSteadyProgressAreHealthy() {
        var policy = WatchdogPolicy()
        #expect(policy.check(Sample(loopTicks: 1, processed: 0, inboxDepth: 0)) == .healthy)
        #expect(policy.check(Sample(loopTicks: 5, processed: 10, inboxDepth: 3)) == .healthy)
    }

    @Test func anIdlePipelineIsNotAStuckOne() {
        var policy = WatchdogPolicy()
        _ = policy.check(Sample(loopTicks: 1, processed: 7, inboxDepth: 0))
        #expect(policy.check(Sample(loopTicks: 9, processed: 7, inboxDepth: 0)) == .healthy)
    }

    @Test func aBacklogWithoutProgressWithholdsThePing() {
        var policy = WatchdogPolicy()
        _ = policy.check(Sample(loopTicks: 1, processed: 7, inboxDepth: 4))
        #expect(policy.check(Sample(loopTicks: 9, processed: 7, inboxDepth: 4)) == .pipelineStalled(backlog: 4))
        // Progress resumes: healthy again.
        #expect(policy.check(Sample(loopTicks: 12, processed: 8, inboxDepth: 3)) == .healthy)
    }

    @Test func aFrozenLoopThreadWithholdsThePing() {
        var policy = WatchdogPolicy()
        _ = policy.check(Sample(loopTicks: 3, processed: 0, inboxDepth: 0))
        #expect(policy.check(Sample(loopTicks: 3, processed: 0, inboxDepth: 0)) == .loopThreadStalled)
    }
}

import Foundation
import Synchronization

/// What reached the endpoint, from the sink's callback: backlog readings (boot 1) and the live
/// phase's readings and alerts (boot 2) matched to when they were published.
final class Arrivals: Sendable {
    struct State {
        var backlogReadings = 0
        /// "device#seq" of each backlog reading that arrived (to name what is missing).
        var backlogSeen: Set<String> = []
        var firstBacklogArrival: ContinuousClock.Instant?
        var lastBacklogArrival: ContinuousClock.Instant?
        /// Live readings by "device#seq", alerts by "Patient/device|t0".
        var sent: [String: ContinuousClock.Instant] = [:]
        var liveReadingLatencies: [Duration] = []
        var alertLatencies: [Duration] = []
        /// Every NEWS2 raise that arrived ("Patient/device|t0"), matched or not.
        var raises: Set<String> = []
        /// The NEWS2 episodes raised per patient (their start, Unix ms).
        var episodes: [String: Set<Int64>] = [:]
    }

    let state = Mutex(State())

    func published(device: String, seq: UInt32, t0: UInt64, abnormal: Bool, at instant: ContinuousClock.Instant) {
        state.withLock {
            $0.sent["\(device)#\(seq)"] = instant
            if abnormal { $0.sent["Patient/\(device)|\(t0)"] = instant }
        }
    }

    /// `urn:vigil:<gw>:obs:<device>:<boot>:<seq>:<vital>` (one reading: its SpO2), or
    /// `urn:vigil:<gw>:alert:<patient>:news2@<t0>:raise:<ms>`.
    func record(_ identifier: String, at instant: ContinuousClock.Instant) {
        if identifier.hasSuffix(":spo2"), let range = identifier.range(of: ":obs:") {
            let parts = identifier[range.upperBound...].split(separator: ":")
            guard parts.count == 4 else { return }
            state.withLock { state in
                if parts[1] == "1" {
                    state.backlogReadings += 1
                    state.backlogSeen.insert("\(parts[0])#\(parts[2])")
                    if state.firstBacklogArrival == nil { state.firstBacklogArrival = instant }
                    state.lastBacklogArrival = instant
                } else if let sent = state.sent["\(parts[0])#\(parts[2])"] {
                    state.liveReadingLatencies.append(instant - sent)
                }
            }
            return
        }
        guard identifier.contains(":raise:"), let at = identifier.range(of: "news2@") else { return }
        let patient = identifier.components(separatedBy: ":alert:").last?.components(separatedBy: ":").first ?? ""
        let t0 = identifier[at.upperBound...].prefix { $0.isNumber }
        state.withLock { state in
            state.raises.insert("\(patient)|\(t0)")
            if let since = Int64(t0) { state.episodes[patient, default: []].insert(since) }
            if let sent = state.sent["\(patient)|\(t0)"] { state.alertLatencies.append(instant - sent) }
        }
    }

    /// Polls until `done` holds (or the timeout passes: then returns what there is).
    func wait(agent: AgentUnderTest, timeout: Duration, until done: (State) -> Bool) async throws -> State {
        let deadline = ContinuousClock.now + timeout
        var report = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let snapshot = state.withLock { $0 }
            if done(snapshot) { return snapshot }
            if ContinuousClock.now >= report {
                report += .seconds(10)
                FileHandle.standardError.write(Data(("waiting: \(snapshot.backlogReadings) backlog readings, \(snapshot.liveReadingLatencies.count) live "
                                                     + "readings, \(snapshot.alertLatencies.count) alerts at the endpoint\n").utf8))
            }
            try agent.checkRunning()
            try await Task.sleep(for: .milliseconds(10))
        }
        return state.withLock { $0 }
    }
}

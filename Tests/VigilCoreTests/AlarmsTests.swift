import Testing
import VigilCore

@Suite("Alarms: the services' sleeps on one thread")
struct AlarmsTests {
    @Test("a sleep never ends before its deadline")
    func notEarly() async throws {
        for milliseconds in [1, 7, 30, 120] {
            let deadline = ContinuousClock.now + .milliseconds(milliseconds)
            try await Alarms.shared.sleep(until: deadline)
            #expect(ContinuousClock.now >= deadline)
        }
    }

    @Test("a sleep begun later with an earlier deadline ends at its own (the thread is rung, not left waiting)")
    func earlierDeadlineFirst() async throws {
        let longDeadline = ContinuousClock.now + .seconds(30)
        let long = Task { try await Alarms.shared.sleep(until: longDeadline) }
        // Let the thread settle on the long deadline first.
        try await Task.sleep(for: .milliseconds(50))
        try await Alarms.shared.sleep(for: .milliseconds(20))
        #expect(ContinuousClock.now < longDeadline)
        long.cancel()
        _ = try? await long.value
    }

    @Test("cancelling a sleep ends it at once with CancellationError", .timeLimit(.minutes(1)))
    func cancellation() async {
        let sleeper = Task { try await Alarms.shared.sleep(for: .seconds(3_600)) }
        try? await Task.sleep(for: .milliseconds(20))
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        // Already cancelled before it starts: throws without registering.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await Alarms.shared.sleep(for: .seconds(3_600))
        }
        await #expect(throws: CancellationError.self) { try await early.value }
    }

    @Test("many concurrent sleeps all end, each after its own deadline")
    func many() async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let deadline = ContinuousClock.now + .milliseconds(index % 37)
                    try await Alarms.shared.sleep(until: deadline)
                    return ContinuousClock.now >= deadline
                }
            }
            var ended = 0
            for try await onTime in group {
                #expect(onTime)
                ended += 1
            }
            #expect(ended == 200)
        }
    }
}

import Testing
import VigilCore
import VigilProtocol
@testable import VigilValidation

@Suite struct ValidatorTests {
    let device = DeviceID("spo2-ring-02")!
    var key: DeviceKey { DeviceKey(device: device, bytes: Array(0..<32))! }
    var profile: DeviceProfile { DeviceProfile(key: key, patient: "Patient/p-1") }
    let now = Duration.seconds(100)
    let received: Int64 = 1_795_350_000_000

    func frame(boot: UInt32 = 1, seq: UInt32, count: Int = 1, t0: UInt64 = 1_795_350_000_000,
               flags: FrameFlags = .clockSynced, key other: DeviceKey? = nil) -> [UInt8] {
        let records = (0..<count).map { FrameEncoder.RecordInput(dt: UInt32($0) * 1_000, values: [(.pulseRate, 720), (.spo2, 970)]) }
        return FrameEncoder.readings(key: other ?? key, boot: boot, seq: seq, t0: t0, records: records, flags: flags)
    }

    func accepted(_ outcome: Validator.Outcome) -> Validator.Accepted? {
        if case .accepted(let accepted) = outcome { return accepted }
        return nil
    }

    @Test func acceptsThenTreatsTheSameFrameAsADuplicateOnlyOnceCommitted() throws {
        var validator = Validator()
        let bytes = frame(seq: 0, count: 3)
        let first = try #require(accepted(validator.validate(bytes, from: device, profile: profile, now: now, receivedAt: received)))
        #expect(first.fresh == [0, 1, 2])
        #expect(first.patient == "Patient/p-1")
        // Not committed (say the disk was full): the resend is accepted again, not dropped.
        #expect(accepted(validator.validate(bytes, from: device, profile: profile, now: now, receivedAt: received)) != nil)
        let commit = validator.commit(first)
        #expect(commit == .init(ackThrough: 2, gaps: [], abandoned: nil))
        guard case .duplicate(_, let boot, let ack) = validator.validate(bytes, from: device, profile: profile, now: now, receivedAt: received) else {
            Issue.record("expected a duplicate")
            return
        }
        #expect(boot == 1 && ack == 2)
    }

    @Test func reportsGapsForResendAndClosesThem() throws {
        var validator = Validator()
        let a = try #require(accepted(validator.validate(frame(seq: 0, count: 2), from: device, profile: profile, now: now, receivedAt: received)))
        _ = validator.commit(a)
        let c = try #require(accepted(validator.validate(frame(seq: 5), from: device, profile: profile, now: now, receivedAt: received)))
        #expect(validator.commit(c) == .init(ackThrough: 1, gaps: [2...4], abandoned: nil))
        let resent = try #require(accepted(validator.validate(frame(seq: 2, count: 3, flags: [.clockSynced, .replay]),
                                                              from: device, profile: profile, now: now, receivedAt: received)))
        #expect(validator.commit(resent) == .init(ackThrough: 5, gaps: [], abandoned: nil))
    }

    @Test func partialOverlapKeepsOnlyFreshReadings() throws {
        var validator = Validator()
        _ = validator.commit(try #require(accepted(validator.validate(frame(seq: 0, count: 4), from: device, profile: profile, now: now, receivedAt: received))))
        let overlap = try #require(accepted(validator.validate(frame(seq: 2, count: 4), from: device, profile: profile, now: now, receivedAt: received)))
        #expect(overlap.fresh == [4, 5])
    }

    @Test func rejectionsCarryTheirReasons() {
        var validator = Validator()
        let forged = frame(seq: 0, key: DeviceKey(device: device, bytes: Array(repeating: 7, count: 32))!)
        func reason(_ outcome: Validator.Outcome) -> String? {
            if case .rejected(let reason) = outcome { return reason.code }
            return nil
        }
        #expect(reason(validator.validate(frame(seq: 0), from: device, profile: nil, now: now, receivedAt: received)) == "unprovisioned")
        #expect(reason(validator.validate(forged, from: device, profile: profile, now: now, receivedAt: received)) == "bad_mac")
        #expect(reason(validator.validate([0x56, 1], from: device, profile: profile, now: now, receivedAt: received)) == "truncated")
        let ack = FrameEncoder.ack(key: key, boot: 1, seq: 3)
        #expect(reason(validator.validate(ack, from: device, profile: profile, now: now, receivedAt: received)) == "unknown_type")
        let restricted = DeviceProfile(key: key, patient: "Patient/p-1", channels: [.spo2])
        #expect(reason(validator.validate(frame(seq: 0), from: device, profile: restricted, now: now, receivedAt: received)) == "unknown_channel")
    }

    @Test func oldBootsBeyondTheWindowAreReplays() throws {
        var validator = Validator()
        for boot in UInt32(10)...14 {
            _ = validator.commit(try #require(accepted(validator.validate(frame(boot: boot, seq: 0), from: device, profile: profile, now: now, receivedAt: received))))
        }
        guard case .rejected(.replayed) = validator.validate(frame(boot: 9, seq: 3), from: device, profile: profile, now: now, receivedAt: received) else {
            Issue.record("expected replayed")
            return
        }
    }

    @Test func aFloodIsRateLimitedPerDevice() {
        var validator = Validator(limits: .init(burst: 5, interval: .seconds(1)))
        var limited = 0
        for seq in UInt32(0)..<20 {
            if case .rejected(.rateLimited) = validator.validate(frame(seq: seq), from: device, profile: profile, now: now, receivedAt: received) {
                limited += 1
            }
        }
        #expect(limited == 15)
        // Another device is unaffected.
        let other = DeviceID("ecg-patch-01")!
        let otherKey = DeviceKey(device: other, bytes: Array(0..<32))!
        let bytes = FrameEncoder.readings(key: otherKey, boot: 1, seq: 0, t0: 0, records: [.init(dt: 0, values: [(.heartRate, 700)])])
        #expect(accepted(validator.validate(bytes, from: other, profile: DeviceProfile(key: otherKey, patient: "Patient/p-2"),
                                            now: now, receivedAt: received)) != nil)
    }

    @Test func uptimeClocksAreMappedFromTheLeastDelayedLiveFrame() throws {
        var validator = Validator()
        // Device uptime 10 s at the first frame, received at `received` (+300 ms transit).
        let first = try #require(accepted(validator.validate(frame(seq: 0, t0: 10_000, flags: []), from: device, profile: profile,
                                                             now: now, receivedAt: received + 300)))
        #expect(first.timeQuality == .estimated)
        #expect(first.mappedT0 == received + 300)
        _ = validator.commit(first)
        // A later frame with less transit (100 ms) refines the offset for every later mapping.
        let second = try #require(accepted(validator.validate(frame(seq: 1, t0: 20_000, flags: []), from: device, profile: profile,
                                                              now: now, receivedAt: received + 10_100)))
        #expect(second.mappedT0 == received + 10_100)
        _ = validator.commit(second)
        let third = try #require(accepted(validator.validate(frame(seq: 2, t0: 30_000, flags: []), from: device, profile: profile,
                                                             now: now, receivedAt: received + 20_900)))
        #expect(third.mappedT0 == received + 20_100)
    }
}

@Suite struct ClockMapperTests {
    @Test func syncedClocksAreTrustedWithinTolerance() {
        let mapper = ClockMapper()
        #expect(mapper.map(boot: 1, deviceTime: 1_000_000, synced: true, receivedAt: 1_000_500) == (1_000_000, .device))
        let far = mapper.map(boot: 1, deviceTime: 1_000_000, synced: true, receivedAt: 1_000_000 + ClockMapper.tolerance + 1)
        #expect(far.quality == .suspect)
    }

    @Test func replaysOfABootNeverSeenLiveGetTheReceiveTime() {
        var mapper = ClockMapper()
        mapper.observe(boot: 3, deviceTime: 5_000, synced: false, replay: true, receivedAt: 9_000_000)
        #expect(mapper.map(boot: 3, deviceTime: 5_000, synced: false, receivedAt: 9_000_000) == (9_000_000, .unknown))
    }
}

@Suite struct JSONFormValidationTests {
    let device = DeviceID("spo2-ring-02")!
    var key: DeviceKey { DeviceKey(device: device, bytes: Array(0..<32))! }
    var json: [UInt8] {
        JSONFrame.encode(key: key, boot: 1, seq: 0, t0: 1_795_350_000_000, records: [.init(dt: 0, values: [(.pulseRate, 720), (.spo2, 970)])],
                         flags: .clockSynced)
    }

    @Test func theJSONFormIsAcceptedOnlyWhenTheRegistryEnablesIt() throws {
        var validator = Validator()
        let off = DeviceProfile(key: key, patient: "Patient/p")
        guard case .rejected(let reason) = validator.validate(json, from: device, profile: off, now: .seconds(1), receivedAt: 0) else {
            Issue.record("a JSON frame was accepted from a device without json_debug")
            return
        }
        #expect(reason == .jsonDisabled && reason.code == "json_disabled")

        let on = DeviceProfile(key: key, patient: "Patient/p", jsonDebug: true)
        guard case .accepted(let accepted) = validator.validate(json, from: device, profile: on, now: .seconds(2), receivedAt: 0) else {
            Issue.record("the JSON frame was refused")
            return
        }
        #expect(accepted.fresh == [0])
        #expect(accepted.frame.records.map { Array($0.channels).map(\.value) } == [[720, 970]])
        // The binary frame with the same content is the same reading: a duplicate once stored.
        _ = validator.commit(accepted)
        let binary = FrameEncoder.readings(key: key, boot: 1, seq: 0, t0: 1_795_350_000_000,
                                           records: [.init(dt: 0, values: [(.pulseRate, 720), (.spo2, 970)])], flags: .clockSynced)
        guard case .duplicate = validator.validate(binary, from: device, profile: on, now: .seconds(3), receivedAt: 0) else {
            Issue.record("expected a duplicate")
            return
        }
    }
}

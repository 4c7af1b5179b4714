import CoreMetrics
import Foundation
import Logging
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilValidation

/// The state and decisions of the pipeline for one message at a time (owned by one task).
struct MessageHandler {
    let dependencies: PipelineService.Dependencies
    let tally: @Sendable (PipelineService.Key, Int, Int) -> Void
    var validator: Validator
    var resends = ResendScheduler()
    private var rejectLog = RateLimiter<String>(burst: 5, interval: .seconds(60))
    private var rejectCounters: [String: Counter] = [:]
    private var readingCounters: [DeviceID: Counter] = [:]
    private let duplicates: Counter
    private let gapsAbandoned: Counter
    private let resendRequests: Counter
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant

    init(dependencies: PipelineService.Dependencies, tally: @escaping @Sendable (PipelineService.Key, Int, Int) -> Void) {
        self.dependencies = dependencies
        self.tally = tally
        validator = Validator(limits: dependencies.limits)
        duplicates = dependencies.metrics.duplicates
        gapsAbandoned = dependencies.metrics.gapsAbandoned
        resendRequests = dependencies.metrics.resendRequests
        start = clock.now
    }

    private var logger: Logger { dependencies.logger }
    private var now: Duration { clock.now - start }

    mutating func handle(_ message: MQTTMessage) {
        guard let (device, kind) = dependencies.topics.parse(message.topic) else {
            reject("unknown_topic", device: nil, bytes: message.payload.count, detail: String(message.topic.prefix(96)))
            return
        }
        switch kind {
        case .up: handleReadings(message.payload, from: device)
        case .status: handleStatus(message.payload, from: device)
        case .ack, .config, .cmd: reject("unknown_type", device: device, bytes: message.payload.count)
        }
    }

    private mutating func handleReadings(_ payload: [UInt8], from device: DeviceID) {
        let receivedAt = Int64(Date().timeIntervalSince1970 * 1_000)
        let profile = dependencies.registry.profile(for: device)
        switch validator.validate(payload, from: device, profile: profile, now: now, receivedAt: receivedAt) {
        case .accepted(let accepted):
            // Issue 4: append to the encrypted log here, commit after its fsync, then ACK.
            let commit = validator.commit(accepted)
            counter(for: device).increment(by: accepted.fresh.count)
            tally(.init(device: device.rawValue, kind: "up"), payload.count, accepted.fresh.count)
            if let abandoned = commit.abandoned {
                gapsAbandoned.increment()
                logger.warning("gave up waiting for missing readings", metadata: [
                    "device": "\(device)", "boot": "\(accepted.frame.boot)",
                    "from_seq": "\(abandoned.lowerBound)", "to_seq": "\(abandoned.upperBound)",
                ])
            }
            if let request = resends.request(device: device, boot: accepted.frame.boot, gaps: commit.gaps, now: now),
               let profile {
                let frame = FrameEncoder.resend(key: profile.key, boot: request.boot, fromSeq: request.range.lowerBound, toSeq: request.range.upperBound)
                dependencies.publish(dependencies.topics.topic(device, .cmd), frame)
                resendRequests.increment()
                logger.info("requested a resend", metadata: [
                    "device": "\(device)", "boot": "\(request.boot)",
                    "from_seq": "\(request.range.lowerBound)", "to_seq": "\(request.range.upperBound)",
                ])
            }
        case .duplicate:
            duplicates.increment()
            tally(.init(device: device.rawValue, kind: "up"), payload.count, 0)
        case .rejected(let reason):
            reject(reason.code, device: device, bytes: payload.count)
        }
    }

    private mutating func handleStatus(_ payload: [UInt8], from device: DeviceID) {
        guard let profile = dependencies.registry.profile(for: device) else {
            reject("unprovisioned", device: device, bytes: payload.count)
            return
        }
        do {
            guard case .status(let status) = try FrameDecoder.decode(payload, key: profile.key) else {
                reject("unknown_type", device: device, bytes: payload.count)
                return
            }
            tally(.init(device: device.rawValue, kind: "status"), payload.count, 0)
            logger.notice(status.online ? "device online" : "device offline", metadata: [
                "device": "\(device)", "boot": "\(status.boot)", "firmware": "\(status.firmware)",
                "config_version": "\(status.configVersion)",
            ])
        } catch {
            reject(error.rawValue, device: device, bytes: payload.count)
        }
    }

    private mutating func counter(for device: DeviceID) -> Counter {
        if let existing = readingCounters[device] { return existing }
        let created = dependencies.metrics.readingsAccepted(device: device.rawValue)
        readingCounters[device] = created
        return created
    }

    /// Counts per reason; logs with the device id (not the payload) at a bounded rate per reason.
    private mutating func reject(_ reason: String, device: DeviceID?, bytes: Int, detail: String? = nil) {
        let counter = rejectCounters[reason] ?? dependencies.metrics.rejected(reason: reason)
        rejectCounters[reason] = counter
        counter.increment()
        guard case .emit(let suppressed) = rejectLog.check(reason, now: now) else { return }
        var metadata: Logger.Metadata = ["reason": "\(reason)", "bytes": "\(bytes)", "suppressed": "\(suppressed)"]
        if let device { metadata["device"] = "\(device)" }
        if let detail { metadata["topic"] = "\(detail)" }
        logger.warning("rejected a message", metadata: metadata)
    }
}

/// Decides when to ask a device to resend a gap: the first gap of a boot, at most once per
/// `interval` per device, at most `maxSpan` readings at a time (the device answers from its ring
/// buffer, which holds far fewer), and at most `maxAttempts` times per gap: a device that no
/// longer holds the readings cannot fill it, and asking forever is noise. Pure.
struct ResendScheduler {
    static let interval = Duration.seconds(5)
    static let maxSpan: UInt32 = 256
    static let maxAttempts = 3
    private var lastRequest: [DeviceID: Duration] = [:]
    private var attempts: [GapKey: Int] = [:]

    private struct GapKey: Hashable {
        let device: DeviceID
        let boot: UInt32
        let start: UInt32
    }

    struct Request: Equatable {
        let boot: UInt32
        let range: ClosedRange<UInt32>
    }

    mutating func request(device: DeviceID, boot: UInt32, gaps: [ClosedRange<UInt32>], now: Duration) -> Request? {
        if let last = lastRequest[device], now - last < Self.interval { return nil }
        guard let gap = gaps.first(where: { attempts[GapKey(device: device, boot: boot, start: $0.lowerBound), default: 0] < Self.maxAttempts })
        else { return nil }
        let key = GapKey(device: device, boot: boot, start: gap.lowerBound)
        attempts[key, default: 0] += 1
        if attempts.count > 4_096 { attempts.removeAll() }
        lastRequest[device] = now
        let upper = gap.upperBound - gap.lowerBound >= Self.maxSpan ? gap.lowerBound + Self.maxSpan - 1 : gap.upperBound
        return Request(boot: boot, range: gap.lowerBound...upper)
    }
}

/// The lifecycle of one patient's alert from a yes/no model (a quantized classifier): raise after
/// `raiseAfter` consecutive positive results (one noisy reading does not page anyone), stay
/// silent while active (de-duplication), clear after `clearAfter` consecutive negatives
/// (hysteresis).
public struct BinaryAlertTracker: Sendable, Equatable, Codable {
    public enum State: Sendable, Equatable, Codable {
        case quiet(positives: Int)
        case active(since: Int64, negatives: Int)
    }

    public enum Event: Sendable, Equatable {
        case raise(since: Int64)
        case clear(since: Int64)
    }

    public private(set) var state: State = .quiet(positives: 0)
    public let raiseAfter: Int
    public let clearAfter: Int
    private var firstPositive: Int64 = 0

    public init(raiseAfter: Int = 2, clearAfter: Int = 3) {
        precondition(raiseAfter >= 1 && clearAfter >= 1)
        self.raiseAfter = raiseAfter
        self.clearAfter = clearAfter
    }

    public mutating func update(positive: Bool, at time: Int64) -> Event? {
        switch state {
        case .quiet(let positives):
            guard positive else {
                state = .quiet(positives: 0)
                return nil
            }
            if positives == 0 { firstPositive = time }
            if positives + 1 >= raiseAfter {
                state = .active(since: firstPositive, negatives: 0)
                return .raise(since: firstPositive)
            }
            state = .quiet(positives: positives + 1)
            return nil
        case .active(let since, let negatives):
            if positive {
                state = .active(since: since, negatives: 0)
                return nil
            }
            if negatives + 1 >= clearAfter {
                state = .quiet(positives: 0)
                return .clear(since: since)
            }
            state = .active(since: since, negatives: negatives + 1)
            return nil
        }
    }
}

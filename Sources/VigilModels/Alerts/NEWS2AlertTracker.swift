/// The lifecycle of one patient's NEWS2 alert, as a state machine: raise when the response band
/// reaches low-medium or above, escalate when it rises, stay silent while it holds or dips
/// (de-duplication), and clear only after `clearAfter` consecutive low scores (hysteresis, so a
/// score wobbling around a threshold does not page the team again and again).
public struct NEWS2AlertTracker: Sendable, Equatable, Codable {
    public static let model = "news2"
    public static let version = "RCP-2017"

    public enum State: Sendable, Equatable, Codable {
        case quiet
        case active(risk: NEWS2.Risk, since: Int64, lowStreak: Int)
    }

    public struct Event: Sendable, Equatable {
        public enum Kind: String, Sendable { case raise, escalate, clear }
        public let kind: Kind
        public let risk: NEWS2.Risk
        public let score: Int
        /// The subscores that made the score (the explanation a clinician sees).
        public let parameters: [NEWS2.Parameter: Int]
        public let missing: [NEWS2.Parameter]
        /// Unix milliseconds: when the alert began, and the observation that caused this event.
        public let windowStart: Int64
        public let windowEnd: Int64
    }

    public private(set) var state: State = .quiet
    public let clearAfter: Int

    public init(clearAfter: Int = 2) {
        precondition(clearAfter >= 1)
        self.clearAfter = clearAfter
    }

    public mutating func update(_ score: NEWS2.Score, at time: Int64) -> Event? {
        func event(_ kind: Event.Kind, since: Int64) -> Event {
            Event(kind: kind, risk: score.risk, score: score.total, parameters: score.subscores, missing: score.missing,
                  windowStart: since, windowEnd: time)
        }
        switch state {
        case .quiet:
            guard score.risk >= .lowMedium else { return nil }
            state = .active(risk: score.risk, since: time, lowStreak: 0)
            return event(.raise, since: time)
        case .active(let risk, let since, let lowStreak):
            if score.risk > risk {
                state = .active(risk: score.risk, since: since, lowStreak: 0)
                return event(.escalate, since: since)
            }
            if score.risk == .low {
                if lowStreak + 1 >= clearAfter {
                    state = .quiet
                    return event(.clear, since: since)
                }
                state = .active(risk: risk, since: since, lowStreak: lowStreak + 1)
            } else {
                state = .active(risk: risk, since: since, lowStreak: 0)
            }
            return nil
        }
    }
}

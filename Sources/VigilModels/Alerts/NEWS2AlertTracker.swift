/// The lifecycle of one patient's NEWS2 alert, as a state machine: raise when the response band
/// reaches low-medium or above for `raiseAfter` scores in a row (persistence: on a wearable
/// stream one window's score is not yet a finding), escalate when a higher band holds as long,
/// stay silent while it holds or dips (de-duplication), and clear only after `clearAfter`
/// consecutive low scores (hysteresis, so a score wobbling around a threshold does not page the
/// team again and again). A raise or escalation reports the lowest band of its streak: the level
/// that persisted, not the worst single score.
public struct NEWS2AlertTracker: Sendable, Equatable, Codable {
    public static let model = "news2"
    public static let version = "RCP-2017"

    /// A run of consecutive scores at or above a band: how many, the lowest band among them,
    /// and when it began.
    public struct Streak: Sendable, Equatable, Codable {
        public var count: Int
        public var risk: NEWS2.Risk
        public var since: Int64
    }

    public enum State: Sendable, Equatable, Codable {
        /// `streak`: scores at low-medium or above so far, not yet persistent.
        case quiet(streak: Streak?)
        /// `higher`: scores above `risk` so far, not yet persistent.
        case active(risk: NEWS2.Risk, since: Int64, lowStreak: Int, higher: Streak?)
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

    public private(set) var state: State = .quiet(streak: nil)
    public let raiseAfter: Int
    public let clearAfter: Int

    /// `raiseAfter` 1 is the chart's rule (every observation set stands alone).
    public init(raiseAfter: Int = 1, clearAfter: Int = 2) {
        precondition(raiseAfter >= 1 && clearAfter >= 1)
        self.raiseAfter = raiseAfter
        self.clearAfter = clearAfter
    }

    private func extend(_ streak: Streak?, with risk: NEWS2.Risk, at time: Int64) -> Streak {
        guard let streak else { return Streak(count: 1, risk: risk, since: time) }
        return Streak(count: streak.count + 1, risk: min(streak.risk, risk), since: streak.since)
    }

    public mutating func update(_ score: NEWS2.Score, at time: Int64) -> Event? {
        func event(_ kind: Event.Kind, risk: NEWS2.Risk, since: Int64) -> Event {
            Event(kind: kind, risk: risk, score: score.total, parameters: score.subscores, missing: score.missing,
                  windowStart: since, windowEnd: time)
        }
        switch state {
        case .quiet(let streak):
            guard score.risk >= .lowMedium else {
                state = .quiet(streak: nil)
                return nil
            }
            let run = extend(streak, with: score.risk, at: time)
            guard run.count >= raiseAfter else {
                state = .quiet(streak: run)
                return nil
            }
            state = .active(risk: run.risk, since: run.since, lowStreak: 0, higher: nil)
            return event(.raise, risk: run.risk, since: run.since)
        case .active(let risk, let since, let lowStreak, let higher):
            if score.risk > risk {
                let run = extend(higher, with: score.risk, at: time)
                guard run.count >= raiseAfter else {
                    state = .active(risk: risk, since: since, lowStreak: 0, higher: run)
                    return nil
                }
                state = .active(risk: run.risk, since: since, lowStreak: 0, higher: nil)
                return event(.escalate, risk: run.risk, since: since)
            }
            if score.risk == .low {
                if lowStreak + 1 >= clearAfter {
                    state = .quiet(streak: nil)
                    return event(.clear, risk: score.risk, since: since)
                }
                state = .active(risk: risk, since: since, lowStreak: lowStreak + 1, higher: nil)
            } else {
                state = .active(risk: risk, since: since, lowStreak: 0, higher: nil)
            }
            return nil
        }
    }
}

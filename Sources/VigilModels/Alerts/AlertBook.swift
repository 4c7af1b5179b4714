/// The open alerts of every patient, for acknowledgement and reminders. Pure; time is passed in.
///
/// An alert episode runs from its raise to its clear and is named by ``id(key:since:)``, e.g.
/// `news2@1795000000000` or `drift/spo2@1795000060000`: what upstream acknowledges. An open
/// episode that nobody acknowledged is re-notified every `reminderMilliseconds` (a page can be
/// missed; an alert must not be lost); an escalation needs a new acknowledgement.
public struct AlertBook: Sendable, Equatable, Codable {
    public struct Episode: Sendable, Equatable, Codable {
        public let key: String
        public let since: Int64
        public var lastNotified: Int64
        public var acknowledged: Bool
        public var id: String { AlertBook.id(key: key, since: since) }
    }

    /// 0 turns reminders off.
    public let reminderMilliseconds: Int64
    public private(set) var open: [String: [String: Episode]] = [:]

    public init(reminderMilliseconds: Int64 = 30 * 60_000) {
        precondition(reminderMilliseconds >= 0)
        self.reminderMilliseconds = reminderMilliseconds
    }

    public static func id(key: String, since: Int64) -> String { "\(key)@\(since)" }

    /// Records a raise or escalation (`notified`: whether it paged someone) or a clear.
    public mutating func record(patient: String, key: String, since: Int64, event: String, at time: Int64, notified: Bool) {
        switch event {
        case "clear":
            close(patient: patient, key: key)
        case "raise", "escalate":
            var episode = open[patient]?[key] ?? Episode(key: key, since: since, lastNotified: time, acknowledged: false)
            episode.acknowledged = false
            if notified || event == "raise" { episode.lastNotified = time }
            open[patient, default: [:]][key] = episode
        default:
            break
        }
    }

    /// Takes over the open episodes of a checkpoint (keeping this book's reminder interval).
    public mutating func restore(open episodes: [String: [String: Episode]]) {
        open = episodes
    }

    /// Marks an open episode acknowledged; `nil` when no open episode has that id.
    public mutating func acknowledge(patient: String, id: String) -> Episode? {
        guard var episodes = open[patient], let key = episodes.first(where: { $0.value.id == id })?.key else { return nil }
        episodes[key]!.acknowledged = true
        open[patient] = episodes
        return episodes[key]
    }

    /// Closes an episode without a clear from its model (e.g. a drift alert whose new level was
    /// accepted on acknowledgement).
    public mutating func close(patient: String, key: String) {
        open[patient]?[key] = nil
        if open[patient]?.isEmpty == true { open[patient] = nil }
    }

    /// The patient's unacknowledged episodes due a reminder at `time`; each is marked notified.
    public mutating func reminders(patient: String, at time: Int64) -> [Episode] {
        guard reminderMilliseconds > 0, var episodes = open[patient] else { return [] }
        var due: [Episode] = []
        for (key, episode) in episodes where !episode.acknowledged && time - episode.lastNotified >= reminderMilliseconds {
            episodes[key]!.lastNotified = time
            due.append(episodes[key]!)
        }
        open[patient] = episodes
        return due.sorted { $0.key < $1.key }
    }
}

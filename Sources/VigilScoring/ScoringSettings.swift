import VigilModels

/// How live readings are scored (config `models.*`). The defaults are for a wearable stream;
/// ``perReading`` is the chart's rule, each reading standing alone (one abnormal reading alerts).
package struct ScoringSettings: Sendable, Equatable {
    /// A NEWS2 parameter absent from a window still counts for this long (e.g. a cuff reading).
    package var news2FreshnessMinutes = 60
    /// NEWS2 is scored on each window's per-parameter medians (0: on every reading).
    package var news2WindowSeconds = 300
    /// Windows (or readings) in a row at low-medium or above before an alert is raised.
    package var news2RaiseAfter = 3
    /// Windows (or readings) in a row back to low before it clears.
    package var news2ClearAfter = 6
    /// Wrist activity above this (mg) is exertion: NEWS2 and drift are defined at rest.
    package var activeAboveMilliG = 100
    /// After exertion, readings count as at rest again only after this long (recovery).
    package var restAfterMinutes = 10
    package var drift = true
    package var reminderMinutes = 30
    /// The gateway's local time against UTC: where coverage days begin (set at start from the
    /// system time zone; a change of daylight saving time takes effect at the next restart).
    package var utcOffsetMinutes = 0
    /// When technical alerts (no data, not worn, battery, …) are raised (config `technical.*`).
    package var technical = TechnicalSettings()
    /// Collect ordinary readings into minute rollups (the uplink's minute granularity).
    package var minuteRollups = false

    package init() {}

    package static var perReading: ScoringSettings { perReading() }

    package static func perReading(freshness: Int = 60, drift: Bool = true) -> ScoringSettings {
        var settings = ScoringSettings()
        settings.news2FreshnessMinutes = freshness
        settings.drift = drift
        settings.news2WindowSeconds = 0
        settings.news2RaiseAfter = 1
        settings.news2ClearAfter = 2
        return settings
    }
}

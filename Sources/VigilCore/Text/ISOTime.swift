/// RFC 3339 / ISO 8601 UTC text for Unix milliseconds, by integer civil-date arithmetic
/// (Hinnant's days-to-civil): Foundation's formatters are far too slow for one call per
/// resource, and this keeps the pure modules free of them. The one time formatter of the project.
public enum ISOTime {
    /// `2026-12-01T10:00:00.250Z`: FHIR instants and dateTimes.
    public static func milliseconds(_ milliseconds: Int64) -> String { text(milliseconds, fraction: true) }

    /// `2026-12-01T10:00:00Z` (the milliseconds dropped): alert windows.
    public static func seconds(_ milliseconds: Int64) -> String { text(milliseconds, fraction: false) }

    private static func text(_ milliseconds: Int64, fraction: Bool) -> String {
        let ms = Int(((milliseconds % 1_000) + 1_000) % 1_000)
        let seconds = (milliseconds - Int64(ms)) / 1_000
        var days = Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
        let secondOfDay = Int(seconds - Int64(days) * 86_400)
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        var text = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3_600, 2)):"
            + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))"
        if fraction { text += ".\(pad(ms, 3))" }
        return text + "Z"
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}

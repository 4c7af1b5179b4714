/// How much monitoring one patient had on one day (the gateway's local day), as recorded in the
/// log once the day is over and uploaded. Every minute of the day is exactly one of usable,
/// not worn (readings, none usable: detached, flat line) or silent (no reading at all), so the
/// three add up to the day's minutes.
public struct CoverageDay: Sendable, Equatable, Codable {
    public var patient: String
    /// `YYYY-MM-DD`.
    public var day: String
    /// The day's bounds (Unix ms, end exclusive); `end` is the report time for a day not over.
    public var start: Int64
    public var end: Int64
    public var usableMinutes: Int
    public var notWornMinutes: Int
    public var silentMinutes: Int
    /// Readings stored, and readings the sensors numbered (sequence spans per boot): their ratio
    /// is the share delivered of what the sensors measured.
    public var received: UInt64
    public var expected: UInt64
    /// Days with at least one reading in the 30 days ending with this one.
    public var daysWithReadings30: Int
    /// The patient's sensors heard that day.
    public var devices: [String]
    /// Usable minutes in each hour of the day (so far).
    public var hourlyUsable: [Int] = []
    /// 0 for the day's first report; more when readings that arrived late revised it.
    public var revision = 0

    public init(patient: String, day: String, start: Int64, end: Int64, usableMinutes: Int, notWornMinutes: Int, silentMinutes: Int,
                received: UInt64, expected: UInt64, daysWithReadings30: Int, devices: [String]) {
        self.patient = patient
        self.day = day
        self.start = start
        self.end = end
        self.usableMinutes = usableMinutes
        self.notWornMinutes = notWornMinutes
        self.silentMinutes = silentMinutes
        self.received = received
        self.expected = expected
        self.daysWithReadings30 = daysWithReadings30
        self.devices = devices
    }

    public var minutes: Int { usableMinutes + notWornMinutes + silentMinutes }
    /// Usable minutes as a share of the day's minutes.
    public var coverage: Double { minutes == 0 ? 0 : Double(usableMinutes) / Double(minutes) }
}

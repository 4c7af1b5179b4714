import VigilCore

/// Monitoring coverage per patient and day, accumulated as readings are scored (so it survives
/// the log being uploaded and trimmed: it is checkpointed with the scorer, and readings stored
/// after the checkpoint are replayed through it at start). Pure; time is passed in.
///
/// A day is the gateway's local day (`utcOffset`, fixed for a run). Each minute is usable (a
/// reading with a usable vital sign), not worn (readings, none usable) or silent (none). A
/// day is reported once it is over, when the patient was assigned or sent readings that day. Coverage
/// begins at the patient's first reading or assignment: the minutes before it on that first day
/// are not counted (a patient assigned at 18:00 has not been silent since midnight).
package struct CoverageLedger: Codable, Equatable, Sendable {
    /// A day's minutes as bits (1,440 of them).
    struct Minutes: Codable, Equatable, Sendable {
        var words = [UInt64](repeating: 0, count: 23)

        mutating func insert(_ minute: Int) { words[minute >> 6] |= 1 << UInt64(minute & 63) }

        func contains(_ minute: Int) -> Bool { words[minute >> 6] & (1 << UInt64(minute & 63)) != 0 }

        func count(through minute: Int) -> Int {
            var total = 0
            for (index, word) in words.enumerated() {
                let first = index << 6
                guard first <= minute else { break }
                let bits = minute - first >= 63 ? word : word & ((1 << UInt64(minute - first + 1)) - 1)
                total += bits.nonzeroBitCount
            }
            return total
        }
    }

    struct Span: Codable, Equatable, Sendable {
        var first: UInt32
        var last: UInt32
    }

    struct Day: Codable, Equatable, Sendable {
        var heard = Minutes()
        var usable = Minutes()
        var received: UInt64 = 0
        /// Sequence span per "device/boot" within the day.
        var spans: [String: Span] = [:]
        /// When a reading for this day was last recorded (gateway time), and when the day was
        /// last reported: readings that arrive late (a sensor's backlog) revise the report.
        var changedAt: Int64 = .min
        var reportedAt: Int64?
        /// Reports of this day so far.
        var revision = 0
    }

    struct Patient: Codable, Equatable, Sendable {
        var days: [Int: Day] = [:]
        /// When coverage began (Unix ms): the patient's first reading or assignment. Minutes
        /// before it are not counted at all, not even as silent.
        var since: Int64
        var lastAssignedDay: Int?
    }

    static let dayMilliseconds: Int64 = 86_400_000
    /// Days kept: today and the 30 before it (the 30-day count needs them).
    static let daysKept = 31
    /// A day is reported once no reading for it has arrived for this long (a backlog being
    /// delivered revises it once, not at every tick).
    static let settleMilliseconds: Int64 = 30_000

    private(set) var patients: [String: Patient] = [:]
    /// Milliseconds added to UTC to get the gateway's local time.
    var utcOffset: Int64

    package init(utcOffset: Int64 = 0) { self.utcOffset = utcOffset }

    func dayIndex(_ time: Int64) -> Int { Int((time + utcOffset).floorDiv(Self.dayMilliseconds)) }

    func dayStart(_ day: Int) -> Int64 { Int64(day) * Self.dayMilliseconds - utcOffset }

    // MARK: - Inputs

    /// A stored batch, with whether each reading had a usable vital sign. On the per-reading
    /// path: days past the window are pruned at the clock tick, not here.
    package mutating func record(_ batch: ReadingBatch, usable: [Bool]) {
        let today = dayIndex(batch.receivedAt)
        let key = "\(batch.device)/\(batch.boot)"
        var patient = patients[batch.patient] ?? Patient(since: batch.receivedAt)
        for (index, reading) in batch.readings.enumerated() {
            let day = dayIndex(reading.time)
            // A time in the future or beyond the days kept (a wrong clock) counts nowhere.
            guard day <= today, day > today - Self.daysKept else { continue }
            patient.since = min(patient.since, reading.time)
            let minute = Int((reading.time + utcOffset - Int64(day) * Self.dayMilliseconds) / 60_000)
            var entry = patient.days[day] ?? Day()
            if entry.received == 0 {
                // A day gains its first reading: the 30-day counts of later days reported change.
                for later in Array(patient.days.keys) where later > day {
                    guard var other = patient.days[later], other.reportedAt != nil else { continue }
                    other.changedAt = max(other.changedAt, batch.receivedAt)
                    patient.days[later] = other
                }
            }
            entry.heard.insert(minute)
            if index < usable.count, usable[index] { entry.usable.insert(minute) }
            entry.received += 1
            entry.changedAt = max(entry.changedAt, batch.receivedAt)
            let span = entry.spans[key].map { Span(first: min($0.first, reading.seq), last: max($0.last, reading.seq)) }
                ?? Span(first: reading.seq, last: reading.seq)
            entry.spans[key] = span
            patient.days[day] = entry
        }
        patients[batch.patient] = patient
    }

    /// The clock tick: notes who is assigned today and returns the days over that are due: not
    /// reported yet, or changed since (late readings), and settled (no reading for them for
    /// ``settleMilliseconds``). A patient's day is reported when they were assigned or sent
    /// readings that day.
    package mutating func closeDays(now: Int64, assigned: Set<String>) -> [CoverageDay] {
        let today = dayIndex(now)
        for name in assigned {
            var patient = patients[name] ?? Patient(since: now)
            patient.lastAssignedDay = today
            patients[name] = patient
        }
        var closed: [CoverageDay] = []
        for name in patients.keys.sorted() {
            guard var patient = patients[name] else { continue }
            let from = max(dayIndex(patient.since), today - Self.daysKept + 1)
            if from <= today - 1 {
                for day in from...(today - 1) where patient.days[day] != nil || (patient.lastAssignedDay ?? .min) >= day {
                    var entry = patient.days[day] ?? Day()
                    guard entry.reportedAt.map({ entry.changedAt > $0 }) ?? true,
                          entry.changedAt == .min || now - entry.changedAt >= Self.settleMilliseconds else { continue }
                    closed.append(summary(name, patient, day: day, now: now, revision: entry.revision))
                    entry.reportedAt = now
                    entry.revision += 1
                    patient.days[day] = entry
                }
            }
            prune(&patient, today: today)
            if patient.days.isEmpty, (patient.lastAssignedDay ?? .min) < today - Self.daysKept {
                patients[name] = nil
            } else {
                patients[name] = patient
            }
        }
        return closed
    }

    // MARK: - Reports

    /// The last `days` days of each patient (or of `patient`), today's up to `now`; oldest first.
    package func report(patient wanted: String? = nil, days: Int, now: Int64) -> [CoverageDay] {
        let today = dayIndex(now)
        var rows: [CoverageDay] = []
        for name in patients.keys.sorted() where wanted == nil || wanted == name {
            guard let patient = patients[name] else { continue }
            let from = max(dayIndex(patient.since), today - min(days, Self.daysKept) + 1)
            guard from <= today else { continue }
            for day in from...today { rows.append(summary(name, patient, day: day, now: now)) }
        }
        return rows
    }

    private func summary(_ name: String, _ patient: Patient, day: Int, now: Int64, revision: Int = 0) -> CoverageDay {
        let entry = patient.days[day] ?? Day()
        let dayBegins = dayStart(day)
        let over = now >= dayBegins + Self.dayMilliseconds
        // The first day counts from when coverage began; today, the minutes so far, this one included.
        let firstMinute = day == dayIndex(patient.since) ? Int((patient.since - dayBegins) / 60_000) : 0
        let lastMinute = over ? 1_439 : Int(max(0, now - dayBegins) / 60_000)
        func counted(_ minutes: Minutes) -> Int {
            minutes.count(through: lastMinute) - (firstMinute > 0 ? minutes.count(through: firstMinute - 1) : 0)
        }
        let heard = counted(entry.heard)
        let usable = counted(entry.usable)
        let daysWith = (day - 29...day).filter { (patient.days[$0]?.received ?? 0) > 0 }.count
        let devices = Set(entry.spans.keys.compactMap { $0.split(separator: "/").first.map(String.init) }).sorted()
        var result = CoverageDay(
            patient: name, day: Self.label(day), start: dayBegins + Int64(firstMinute) * 60_000,
            end: over ? dayBegins + Self.dayMilliseconds : now,
            usableMinutes: usable, notWornMinutes: heard - usable, silentMinutes: max(0, lastMinute - firstMinute + 1 - heard),
            received: entry.received, expected: entry.spans.values.reduce(0) { $0 + UInt64($1.last - $1.first) + 1 },
            daysWithReadings30: daysWith, devices: devices)
        result.revision = revision
        result.hourlyUsable = (0...(lastMinute / 60)).map { hour in
            (max(hour * 60, firstMinute)..<max(firstMinute, min(hour * 60 + 60, lastMinute + 1))).filter { entry.usable.contains($0) }.count
        }
        return result
    }

    private func prune(_ patient: inout Patient, today: Int) {
        patient.days = patient.days.filter { $0.key > today - Self.daysKept }
    }

    /// `YYYY-MM-DD` of a day counted from 1970-01-01.
    static func label(_ day: Int) -> String { String(ISOTime.seconds(Int64(day) * dayMilliseconds).prefix(10)) }
}

extension Int64 {
    fileprivate func floorDiv(_ divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}

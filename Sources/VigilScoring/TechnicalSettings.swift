/// When the gateway raises technical alerts (config `technical.*`): conditions that mean the
/// patient is not being monitored, or soon will not be, as opposed to what their vitals say
/// (IEC 60601-1-8 keeps the two apart; so do the FHIR categories, see docs/FHIR.md).
package struct TechnicalSettings: Sendable, Equatable {
    /// How long one kind of sensor may be silent before the team is told, and escalated.
    package struct Silence: Sendable, Equatable {
        package var after: Int
        package var escalateAfter: Int

        package init(after: Int, escalateAfter: Int) {
            self.after = after
            self.escalateAfter = escalateAfter
        }
    }

    package var enabled = true
    /// Seconds of silence from a wearable (or any kind without its own entry) before `no_data`.
    package var silence = Silence(after: 300, escalateAfter: 900)
    /// Per sensor kind (`vigil sensor add --kind`): a cuff or thermometer is used a few times a
    /// day, so silence means something only after a day without it.
    package var silenceByKind: [String: Silence] = [
        "bp-cuff": Silence(after: 26 * 3_600, escalateAfter: 50 * 3_600),
        "thermometer": Silence(after: 26 * 3_600, escalateAfter: 50 * 3_600),
    ]
    /// Seconds of readings without a usable vital sign (detached, flat line) before `not_worn` is
    /// raised at low priority (recorded and uploaded as routine: on the team's list, nobody paged),
    /// and before it escalates and notifies. A shower, a bath or washing up takes a ring off for
    /// 10–25 minutes every day; paging for each would be the noise that teaches a team to ignore
    /// technical alerts (IEC 60601-1-8: a sensor-off condition starts at low priority).
    package var notWornAfter = 300
    package var notWornNotifyAfter = 1_800
    /// A sensor on its charger (battery rising) is off the body on purpose: `not_worn` waits this long.
    package var chargingMax = 3 * 3_600
    /// Battery % at which `battery_low` is raised, and escalated.
    package var batteryLow = 20
    package var batteryCritical = 10
    /// Authentication failures from one device id within `authWindow` seconds before `auth_failures`.
    package var authFailures = 5
    package var authWindow = 600
    /// Seconds the hospital uplink may fail before `uplink_down` (stored; sent when it gets through).
    package var uplinkDownAfter = 1_800
    /// Seconds the gateway may go without reaching the sensors' local broker before `broker_down`.
    package var brokerDownAfter = 300
    /// Seconds the gateway's clock may be unsynchronised before `gateway_clock`.
    package var clockUnsyncedAfter = 3_600
    /// Free disk below this many MiB above the store's reserve: `disk_low`.
    package var diskLowMiB = 64

    package init() {}

    package func silence(kind: String?) -> Silence {
        kind.flatMap { silenceByKind[$0] } ?? silence
    }
}

import Synchronization

/// The latest facts each device reported about itself (STATUS frames): firmware and battery,
/// shared between the pipeline (which hears them) and the uplink (which sends them as the
/// sensor's Device). A `revision` per device tells the uplink when its Device needs updating.
package final class DeviceStatusBook: Sendable {
    package struct Status: Sendable, Equatable {
        package var firmware: String
        package var battery: Int?
        package var revision: Int
    }

    private let statuses = Mutex<[String: Status]>([:])

    package init() {}

    package func record(device: String, firmware: String, battery: Int?) {
        statuses.withLock { all in
            let previous = all[device]
            guard previous?.firmware != firmware || previous?.battery != battery else { return }
            all[device] = Status(firmware: firmware, battery: battery, revision: (previous?.revision ?? 0) + 1)
        }
    }

    package func status(of device: String) -> Status? { statuses.withLock { $0[device] } }
}

import VigilCore
import Foundation
import VigilMQTT

/// Lower-case hex of bytes (keys and frames in vectors and registry files).
public func hexString(_ bytes: [UInt8]) -> String { hexEncoded(bytes) }

/// Reads `count` messages from a client, or returns what it has after the (hang-guard) timeout.
public func receive(_ count: Int, from client: MQTTClient, timeout: Duration = .seconds(60)) async -> [MQTTMessage] {
    await receive(from: client, timeout: timeout) { received in received.count == count }
}

/// Messages from `client` until `done` says so for what has arrived (or `timeout` passes: then
/// whatever arrived, possibly nothing).
public func receive(from client: MQTTClient, timeout: Duration = .seconds(60),
                    until done: @escaping @Sendable ([MQTTMessage]) -> Bool) async -> [MQTTMessage] {
    await withTaskGroup(of: [MQTTMessage].self) { group in
        group.addTask {
            var received: [MQTTMessage] = []
            for await message in client.messages {
                received.append(message)
                if done(received) { break }
            }
            return received
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return []
        }
        let first = await group.next() ?? []
        group.cancelAll()
        return first
    }
}

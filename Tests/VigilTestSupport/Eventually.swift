import Foundation

/// Polls `condition` until it holds or `timeout` passes. Used to wait for real processes, never to
/// assert speed: the timeout is a generous upper bound that only a hang reaches.
public func eventually(
    timeout: Duration = .seconds(30), poll: Duration = .milliseconds(20), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: poll)
    }
    return try await condition()
}

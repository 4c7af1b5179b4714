/// The in-memory twin of a client's inbox: what a consumer of ``MQTTMessages`` (the pipeline)
/// receives, fed by a test instead of libmosquitto's loop thread. Same hand-off, same batching.
public struct MQTTMessageSource: Sendable {
    let inbox: MessageInbox

    /// Delivers a message as the broker would.
    public func yield(_ message: MQTTMessage) { _ = inbox.push(message) }

    /// Ends the sequence after what was delivered (as the client does when it stops).
    public func finish() { inbox.close() }
}

extension MQTTMessages {
    /// A sequence of messages and the source that feeds it.
    public static func inMemory(capacity: Int = 1_024) -> (messages: MQTTMessages, source: MQTTMessageSource) {
        let inbox = MessageInbox(capacity: capacity)
        return (MQTTMessages(inbox: inbox), MQTTMessageSource(inbox: inbox))
    }
}

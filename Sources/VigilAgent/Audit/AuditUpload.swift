import Logging
import Synchronization
import VigilFormats
import VigilProvisioning
import VigilUplink

/// The audit log's tail as the uplinks read it: entries as ``AuditRecord``s, and a cursor that
/// could not be synced logged (the entries are then sent again after a restart; the hospital's
/// repository keeps one copy of each by its id).
package final class AuditUpload: AuditSource {
    let tail: AuditTail
    let logger: Logger
    /// When a failed cursor sync was last logged: once a minute at most.
    private let lastWarning = Mutex<ContinuousClock.Instant?>(nil)

    package init(tail: AuditTail, logger: Logger) {
        self.tail = tail
        self.logger = logger
    }

    package func pending(limit: Int) -> [AuditRecord] {
        tail.pending(limit: limit).map {
            AuditRecord(seq: $0.seq, fields: $0.fields, key: $0.key, prev: $0.prev, mac: $0.mac, line: $0.line)
        }
    }

    package func confirmed(through record: AuditRecord) {
        do {
            try tail.confirm(through: AuditChain.Head(seq: record.seq, mac: record.mac))
        } catch {
            let now = ContinuousClock.now
            let warn = lastWarning.withLock { last in
                guard last.map({ now - $0 >= .seconds(60) }) ?? true else { return false }
                last = now
                return true
            }
            if warn {
                logger.warning("cannot record how far the hospital holds the audit log", metadata: [
                    "path": "\(tail.cursorPath)", "error": "\(error)",
                ])
            }
        }
    }
}

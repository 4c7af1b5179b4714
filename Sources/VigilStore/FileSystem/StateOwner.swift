#if canImport(Glibc)
import Glibc
#endif

/// Files root's CLI writes into the agent's state directory (`vigil sensor add`, `patient set`,
/// the audit log) belong to the directory's owner, the service user of systemd's StateDirectory=:
/// created root-owned 0600, the agent could no longer read its own registry.
public enum StateOwner {
    /// Gives `paths` the owner and group of `reference` when running as root and `reference`
    /// belongs to someone else; otherwise does nothing.
    public static func adopt(_ paths: [String], like reference: String) {
        guard geteuid() == 0 else { return }
        var owner = stat()
        guard stat(reference, &owner) == 0, owner.st_uid != 0 else { return }
        for path in paths { _ = chown(path, owner.st_uid, owner.st_gid) }
    }

    /// Runs `replace` (which replaces `path` by a new file) and gives the new file the old one's
    /// owner and group when running as root: `vigil keys rotate` must not leave the agent a key
    /// file it cannot read.
    public static func keeping<T>(ownerOf path: String, _ replace: () throws -> T) rethrows -> T {
        var old = stat()
        let known = geteuid() == 0 && stat(path, &old) == 0
        let result = try replace()
        if known { _ = chown(path, old.st_uid, old.st_gid) }
        return result
    }
}

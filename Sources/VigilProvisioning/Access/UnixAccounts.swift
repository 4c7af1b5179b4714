#if canImport(Glibc)
import Glibc
#endif

/// Names for the ids the kernel gives (SO_PEERCRED): the account's name and every group it
/// belongs to, from the system's user and group databases.
public enum UnixAccounts {
    public static func identity(uid: UInt32, gid: UInt32, pid: Int32) -> PeerIdentity {
        let user = userName(uid)
        var groups: Set<UInt32> = [gid]
        if let user {
            var count: Int32 = 64
            var list = [gid_t](repeating: 0, count: Int(count))
            if getgrouplist(user, gid, &list, &count) == -1 {
                list = [gid_t](repeating: 0, count: Int(count))
                _ = getgrouplist(user, gid, &list, &count)
            }
            groups.formUnion(list.prefix(Int(max(0, count))))
        }
        return PeerIdentity(uid: uid, gid: gid, pid: pid, user: user, groups: groups, groupNames: Set(groups.compactMap(groupName)))
    }

    static func userName(_ uid: UInt32) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4_096)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else { return nil }
        return String(cString: name)
    }

    static func groupName(_ gid: UInt32) -> String? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getgrgid_r(gid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.gr_name else { return nil }
        return String(cString: name)
    }
}

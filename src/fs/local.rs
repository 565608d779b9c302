//! Which filesystem types keep their calls local (never wait on a server): the rule the fast
//! path and symlink reading go by.

/// Filesystem types whose calls never wait on a server: their open, close, lookup and
/// readlink are served from memory or a local disk. (Never nfs*, fuse*, cifs/smb3, ceph,
/// 9p or autofs.)
pub fn is_local(fstype: &str) -> bool {
    const LOCAL: &[&str] = &[
        "ext2",
        "ext3",
        "ext4",
        "xfs",
        "btrfs",
        "f2fs",
        "tmpfs",
        "ramfs",
        "devtmpfs",
        "proc",
        "sysfs",
        "vfat",
        "exfat",
        "ntfs3",
        "squashfs",
        "erofs",
        "jfs",
        "cgroup2",
        "devpts",
        "mqueue",
        "hugetlbfs",
    ];
    LOCAL.contains(&fstype)
}

/// Filesystem types whose files' data lives in memory (of the local list): a read copies
/// pages that are there, or brings back one the kernel swapped out, as any page of the
/// process's own memory may be; it never waits for a disk or a server to fill the page
/// cache. tmpfs refuses `RWF_NOWAIT` (`EOPNOTSUPP`), so the fast path reads their files
/// with a plain `pread` instead.
pub fn in_memory(fstype: &str) -> bool {
    matches!(fstype, "tmpfs" | "ramfs")
}

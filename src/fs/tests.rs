//! Unit tests of the fs room: the table, attribution, the fds the library opened.

use super::ids::*;
use super::local::*;
use super::opened::*;
use super::resolve::*;
use super::table::*;
use super::*;
use crate::sys::{self, c_str};

const INFO: &[u8] = b"\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw
30 25 0:27 / /dev/shm rw,relatime shared:5 master:1 - tmpfs tmpfs rw
40 27 0:40 / /mnt/my\\040nfs rw - nfs4 srv:/x rw
41 27 0:41 / /mnt/my rw - tmpfs t rw
garbage line
";

fn at(t: &Table, p: &str) -> MountId {
    t.lookup(&normalize(p.as_bytes(), b"/home/u")).map_or(u64::MAX, |m| m.id)
}

#[test]
fn longest_whole_component_prefix_wins() {
    let t = Table::parse(INFO);
    assert_eq!(t.len(), 7);
    assert_eq!(at(&t, "/etc/passwd"), 27);
    assert_eq!(at(&t, "/"), 27);
    assert_eq!(at(&t, "/proc/self/fd"), 22);
    assert_eq!(at(&t, "/procx"), 27, "a prefix must end at a component");
    assert_eq!(at(&t, "/dev/null"), 24);
    assert_eq!(at(&t, "/mnt/my nfs/a"), 40, "escaped space in the mount point");
    assert_eq!(at(&t, "/mnt/my/a"), 41);
    assert_eq!(at(&t, "/mnt/myx"), 27);
}

#[test]
fn stacked_mounts_resolve_to_the_top_one() {
    let t = Table::parse(INFO);
    assert_eq!(at(&t, "/dev/shm/x"), 30, "30 is mounted on top of 25");
    assert_eq!(t.get(25).unwrap().fstype, "tmpfs", "hidden mounts stay describable");
    assert_eq!(t.get(40).unwrap().point, b"/mnt/my nfs");
    assert_eq!(t.get(40).unwrap().fstype, "nfs4");
}

#[test]
fn relative_and_dotted_paths_normalise() {
    assert_eq!(normalize(b"a/./b//c/", b"/home/u"), b"/home/u/a/b/c");
    assert_eq!(normalize(b"../../../x", b"/home/u"), b"/x");
    assert_eq!(normalize(b"/proc/../dev/shm", b"/"), b"/dev/shm");
    assert_eq!(normalize(b".", b"/"), b"/");
    for p in ["/", "/a", "/a/b.c", "/a/.b", "/a..b/c"] {
        assert!(is_normal(p.as_bytes()), "{p}");
        assert_eq!(normalize(p.as_bytes(), b"/"), p.as_bytes(), "{p}");
    }
    for p in ["//a", "/a/", "/a/./b", "/a/../b", "/a/.", "/a/.."] {
        assert!(!is_normal(p.as_bytes()), "{p}");
    }
    let t = Table::parse(INFO);
    assert_eq!(at(&t, "/proc/../dev/shm/f"), 30);
    assert_eq!(at(&t, "../../proc/1"), 22);
}

#[test]
fn filesystems_group_bind_mounts_and_network_servers() {
    let t = Table::parse(INFO);
    assert_eq!(t.get(25).unwrap().fs, fs_of_dev(0, 23));
    assert_eq!(t.get(40).unwrap().source, b"srv:/x");
    let text = b"\
50 27 0:50 / /a rw - nfs4 srv1:/export/a rw
51 27 0:51 / /b rw - nfs4 SRV1:/export/b rw
52 27 0:52 / /c rw - nfs [fe80::1]:/c rw
53 27 0:53 / /d rw - cifs //srv1/share rw
54 27 8:1 /sub /e rw - ext4 /dev/sda1 rw
55 27 8:1 / /f rw - ext4 /dev/sda1 rw
";
    let t = Table::parse(text);
    let fs = |id| t.get(id).unwrap().fs;
    assert_eq!(fs(50), fs(51), "two exports of one server are one group");
    assert_ne!(fs(50), fs(52));
    assert_eq!(fs(53), fs(50), "cifs and nfs of one host: one server");
    assert_eq!(fs(54), fs(55), "a bind mount is its filesystem");
    assert_eq!(fs(54), fs_of_dev(8, 1));
    assert!(fs(50) >> 63 == 1 && fs(50) != UNKNOWN);
    assert_eq!(t.mount_of_fs(fs(55)).unwrap().id, 54, "named by its first mount");
    // Unmounted (or detached by `umount -l`): named as it was, as long as the table
    // keeps it, through later re-reads too; mounted again, by its new mount.
    let sda1 = text.windows(3).position(|w| w == b"54 ").unwrap();
    let after = Table::parse(&text[..sda1]).keep_departed(&t);
    assert_eq!(after.len(), 4);
    let gone = after.mount_of_fs(fs(55)).unwrap();
    assert_eq!((gone.id, gone.point.as_slice(), gone.fstype.as_str()), (54, &b"/e"[..], "ext4"));
    let later = Table::parse(b"50 27 0:50 / /a rw - nfs4 srv1:/export/a rw\n").keep_departed(&after);
    assert_eq!(later.mount_of_fs(fs(53)).unwrap().point, b"/a", "its server is still mounted");
    assert_eq!(later.mount_of_fs(fs(55)).unwrap().point, b"/e");
    assert_eq!((later.mount_of_fs(fs(52)).unwrap().point.as_slice(), later.len()), (&b"/c"[..], 1));
    let again = Table::parse(b"60 27 8:1 / /g rw - ext4 /dev/sda1 rw\n").keep_departed(&later);
    assert_eq!(again.mount_of_fs(fs(55)).unwrap().id, 60);
    assert!(is_local("ext4") && is_local("tmpfs") && !is_local("nfs4") && !is_local("fuse"));
}

#[test]
fn a_close_is_charged_where_its_open_was_once() {
    let fd = sys::open(c_str(b"/proc/self/status\0"), libc::O_RDONLY, 0).unwrap();
    let proc_fs = of_fd(fd).unwrap();
    remember_opened(fd, 77);
    assert_eq!(of_closing_fd(fd), 77, "the open's filesystem, with no statx");
    assert_eq!(of_closing_fd(fd), proc_fs, "remembered once: then asked of the kernel");
    remember_opened(fd, 0);
    forget_opened(fd);
    assert_eq!(of_closing_fd(fd), proc_fs);
    sys::close_quietly(fd);
    assert_eq!(of_closing_fd(fd), UNKNOWN, "closed: unknown");
    assert_eq!(of_closing_fd(-1), UNKNOWN);
    remember_opened(i32::MAX, 5); // past the chunks: ignored
    assert_eq!(of_closing_fd(i32::MAX), UNKNOWN);
}

#[test]
fn this_process_files_are_attributed_through_symlinks_and_dots() {
    let root = of_path(c_str(b"/\0"), true);
    assert_ne!(root, UNKNOWN);
    // A descriptor's filesystem agrees with its path's.
    let fd = sys::open(c_str(b"/proc/self/status\0"), libc::O_RDONLY, 0).unwrap();
    assert_eq!(of_fd(fd), Some(of_path(c_str(b"/proc/self/status\0"), true)));
    sys::close_quietly(fd);
    assert_eq!(of_fd(-1), None);
    // /proc/self is a symlink on proc; through it and "..", and for a missing file, the
    // filesystem is still proc's.
    let proc_fs = of_path(c_str(b"/proc/self/status\0"), true);
    assert_ne!(proc_fs, root);
    assert_eq!(of_path(c_str(b"/proc/self/../self/nonexistent\0"), true), proc_fs);
    assert_eq!(of_path(c_str(b"/dev/../proc/self/fd\0"), true), proc_fs);
    assert!(!current().is_empty());
    release();
    assert_eq!(of_path(c_str(b"/proc/self/status\0"), true), proc_fs, "reopens after a release");
}

#[test]
fn a_mount_under_one_mounted_over_its_ancestor_is_hidden() {
    // NFS mounted over /dev (on top of devtmpfs 24, so its parent): /dev/shm (30, on 25 on 24)
    // is no longer reachable, and a path under it is the NFS mount's; a mount made on the
    // NFS mount afterwards, and one whose parent the table does not hold, are reachable.
    let text =
        [INFO, b"90 24 0:90 / /dev rw - nfs4 srv:/dev rw\n91 90 0:91 / /dev/x rw - tmpfs t rw\n"].concat();
    let text = [&text[..], b"92 999 0:92 / /dev/y rw - tmpfs t rw\n"].concat();
    let t = Table::parse(&text);
    assert_eq!(at(&t, "/dev/shm/f"), 90, "under the NFS mount now");
    assert_eq!(at(&t, "/dev/null"), 90);
    assert_eq!(at(&t, "/dev/x/f"), 91);
    assert_eq!(at(&t, "/dev/y/f"), 92, "a parent the table does not hold: kept");
    assert_eq!(at(&t, "/proc/1"), 22);
    assert_eq!(t.get(30).unwrap().fstype, "tmpfs", "hidden mounts stay describable");
    // Without it, INFO's mounts are all reachable (stacked ones by their top).
    let t = Table::parse(INFO);
    assert_eq!((at(&t, "/dev/shm/f"), at(&t, "/dev/null"), at(&t, "/mnt/my/a")), (30, 24, 41));
}

#[test]
fn this_machines_mounts_are_reachable_as_the_kernel_says() {
    // Every mount point the table names resolves, by a statx of the point, to the mount the
    // table's lookup gives for it (hidden ones excepted: their point is another's now).
    let text = match std::fs::read("/proc/self/mountinfo") {
        Ok(t) => t,
        Err(_) => return,
    };
    let t = Table::parse(&text);
    let mut checked = 0;
    for m in t.all_mounts() {
        let Ok(point) = std::ffi::CString::new(m.point.clone()) else { continue };
        let under = |o: &Mount| {
            m.point.starts_with(&o.point)
                && (o.point == b"/" || m.point.len() == o.point.len() || m.point[o.point.len()] == b'/')
        };
        // (only where every mount the walk may cross is local: a hung FUSE mount of another
        // test must not hold this one)
        if !is_normal(&m.point) || t.all_mounts().any(|o| under(o) && !is_local(&o.fstype)) {
            continue;
        }
        // SAFETY: statx is plain data; all zeroes is a valid value.
        let mut st: libc::statx = unsafe { std::mem::zeroed() };
        // SAFETY: `point` is NUL-terminated and `st` a valid out-pointer.
        let rc = unsafe {
            libc::statx(
                libc::AT_FDCWD,
                point.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT | libc::AT_STATX_DONT_SYNC,
                libc::STATX_MNT_ID,
                &mut st,
            )
        };
        if rc != 0 || st.stx_mask & libc::STATX_MNT_ID == 0 {
            continue;
        }
        let looked = t.lookup(&m.point).map(|l| l.id);
        assert_eq!(looked, Some(st.stx_mnt_id), "{}", String::from_utf8_lossy(&m.point));
        checked += 1;
    }
    assert!(checked > 0 || t.all_mounts().next().is_none());
}

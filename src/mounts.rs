//! Which mount holds a request's file, so that one dead mount cannot take the whole pool.
//!
//! An open is attributed by its path: the longest mount point from /proc/self/mountinfo
//! that is a whole-component prefix of the path, made absolute through the current
//! directory and normalised lexically (`.`, `..`, repeated `/`). Symbolic links are *not*
//! followed: resolving them would touch the very filesystem that may be hung, so a path
//! that reaches another mount through a symlink counts against the mount it is spelled in.
//! A close is attributed by its descriptor: `statx(STATX_MNT_ID)` with
//! `AT_STATX_DONT_SYNC` (cached attributes only, so never a wait on a file server), or on
//! kernels before 5.8 the path from /proc/self/fd.
//!
//! The table is parsed once per process and kept with /proc/self/mountinfo open (one
//! close-on-exec descriptor for the life of the process); lookups poll it for `POLLPRI`,
//! which the kernel raises when the mount table changes, and re-read it then. A poll costs
//! a syscall (~170 ns here), so lookups poll at most once per [`POLL_INTERVAL`]: a request
//! submitted within that time of a mount or unmount may still be attributed by the old
//! table, which affects only which mount's share it counts against.
//! A process that changes mount namespace (unshare, setns) after its first request keeps
//! seeing its first namespace's table. After fork the child reopens the file rather than
//! share the parent's poll state.

use crate::sys;
use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// A mount's id: the first field of its line in /proc/self/mountinfo.
pub type MountId = u64;

/// Requests whose mount could not be determined (no /proc, an unreadable cwd) share this.
pub const UNKNOWN: MountId = u64::MAX;

/// One line of /proc/self/mountinfo, as much of it as the library uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub id: MountId,
    pub parent: MountId,
    /// Where it is mounted (unescaped).
    pub point: Vec<u8>,
    /// Its filesystem type ("nfs4", "tmpfs", ...).
    pub fstype: String,
}

/// A parsed mount table.
#[derive(Debug, Default)]
pub struct Table {
    /// Visible mounts (the top of each stack of mounts on one point), longest point first.
    visible: Vec<Mount>,
    /// Every mount, for describing an id.
    all: Vec<Mount>,
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let oct = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(d) => {
                out.push(d.iter().fold(0u8, |v, c| v.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

fn parse_line(line: &[u8]) -> Option<Mount> {
    let mut f = line.split(|&b| b == b' ');
    let num = |s: Option<&[u8]>| std::str::from_utf8(s?).ok()?.parse::<u64>().ok();
    let id = num(f.next())?;
    let parent = num(f.next())?;
    let _dev = f.next()?;
    let _root = f.next()?;
    let point = unescape(f.next()?);
    // Optional fields end at a lone "-"; the filesystem type follows it.
    let fstype = f.by_ref().skip_while(|s| *s != b"-").nth(1)?;
    Some(Mount { id, parent, point, fstype: String::from_utf8_lossy(&unescape(fstype)).into_owned() })
}

/// Whether `point` is `path` or a whole-component prefix of it.
fn covers(point: &[u8], path: &[u8]) -> bool {
    path.starts_with(point)
        && (point.len() == path.len() || point.ends_with(b"/") || path[point.len()] == b'/')
}

impl Table {
    /// Parses the text of /proc/self/mountinfo; malformed lines are skipped.
    pub fn parse(text: &[u8]) -> Table {
        let all: Vec<Mount> = text.split(|&b| b == b'\n').filter_map(parse_line).collect();
        // Of several mounts on one point, the visible one is on top of the others: the one
        // that is no other's parent there. File order is not mount order, so ask the tree.
        let mut visible: Vec<Mount> = all
            .iter()
            .filter(|m| !all.iter().any(|o| o.point == m.point && o.parent == m.id && o.id != m.id))
            .cloned()
            .collect();
        // Longest first. Should two visible mounts still share a point, the later line wins:
        // reversing puts it first among equals, the sort is stable and dedup keeps the first.
        visible.reverse();
        visible.sort_by(|a, b| b.point.len().cmp(&a.point.len()).then_with(|| a.point.cmp(&b.point)));
        visible.dedup_by(|later, earlier| later.point == earlier.point);
        Table { visible, all }
    }

    /// The mount that holds the absolute, normalised `path`.
    pub fn lookup(&self, path: &[u8]) -> Option<&Mount> {
        self.visible.iter().find(|m| covers(&m.point, path))
    }

    /// The mount with this id, visible or not.
    pub fn get(&self, id: MountId) -> Option<&Mount> {
        self.all.iter().find(|m| m.id == id)
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}

/// `path` made absolute (relative to `cwd`) and normalised lexically: no `.`, `..` or empty
/// components, "/" for the root.
pub fn normalize(path: &[u8], cwd: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    let start: &[&[u8]] = if path.starts_with(b"/") { &[] } else { &[cwd] };
    for piece in start.iter().chain(std::iter::once(&path)) {
        for c in piece.split(|&b| b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
    }
    let mut out = Vec::with_capacity(path.len() + 1);
    for p in &parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// The process-wide view of the mount table.
struct Watch {
    /// /proc/self/mountinfo, polled for changes (-1 if it could not be opened).
    fd: i32,
    /// The fork generation that opened `fd`.
    generation: u64,
    table: Arc<Table>,
    /// When opening failed last, so that a process without /proc retries only now and then.
    failed_at: Option<Instant>,
}

static WATCH: RwLock<Option<Watch>> = RwLock::new(None);
const RETRY_OPEN: Duration = Duration::from_secs(1);
/// Lookups poll for a changed mount table at most this often.
pub const POLL_INTERVAL: Duration = Duration::from_millis(1);
/// When a lookup last polled (nanoseconds since `epoch()`, 0 = never).
static LAST_POLL: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn load(fd: i32) -> Option<Table> {
    sys::read_from_start(fd).ok().map(|t| Table::parse(&t))
}

/// The current mount table: polls for a change and re-reads on one.
pub fn current() -> Arc<Table> {
    let generation = crate::fork::generation();
    {
        let w = WATCH.read().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = w.as_ref().filter(|w| w.generation == generation && w.fd >= 0) {
            let now = epoch().elapsed().as_nanos() as u64 + 1;
            let last = LAST_POLL.load(Ordering::Relaxed);
            if last != 0 && now.saturating_sub(last) < POLL_INTERVAL.as_nanos() as u64 {
                return Arc::clone(&w.table);
            }
            LAST_POLL.store(now, Ordering::Relaxed);
            if sys::poll_pri_now(w.fd) == Ok(false) {
                return Arc::clone(&w.table);
            }
        }
    }
    let mut w = WATCH.write().unwrap_or_else(|e| e.into_inner());
    match w.as_mut() {
        Some(cur) if cur.generation == generation && cur.fd >= 0 => {
            // Changed (the poll above consumed the event): re-read. A change racing this
            // read raises the event again, and the next lookup re-reads once more.
            if let Some(t) = load(cur.fd) {
                cur.table = Arc::new(t);
            }
            Arc::clone(&cur.table)
        }
        Some(cur)
            if cur.generation == generation && cur.failed_at.is_some_and(|t| t.elapsed() < RETRY_OPEN) =>
        {
            Arc::clone(&cur.table)
        }
        _ => {
            if let Some(old) = w.as_ref().filter(|o| o.fd >= 0) {
                // Inherited across fork: the parent's poll state is not ours to consume.
                sys::close_quietly(old.fd);
            }
            let fd = sys::open(c_str(b"/proc/self/mountinfo\0"), libc::O_RDONLY, 0).unwrap_or(-1);
            let table = if fd >= 0 { load(fd) } else { None };
            let failed_at = table.is_none().then(Instant::now);
            let fd = if table.is_none() && fd >= 0 {
                sys::close_quietly(fd);
                -1
            } else {
                fd
            };
            let table = Arc::new(table.unwrap_or_default());
            *w = Some(Watch { fd, generation, table: Arc::clone(&table), failed_at });
            table
        }
    }
}

fn c_str(b: &'static [u8]) -> &'static CStr {
    CStr::from_bytes_with_nul(b).expect("a NUL-terminated literal")
}

/// Whether an absolute path is already in [`normalize`]'s form (the common case, which then
/// costs no copy).
fn is_normal(p: &[u8]) -> bool {
    p == b"/"
        || (!p.ends_with(b"/")
            && !p.windows(2).any(|w| w == b"//")
            && !p.windows(3).any(|w| w == b"/./" || w == b"/..")
            && !p.ends_with(b"/."))
}

/// The mount that holds `path` (see the module docs).
pub fn of_path(path: &CStr) -> MountId {
    let p = path.to_bytes();
    let owned;
    let abs: &[u8] = if p.starts_with(b"/") && is_normal(p) {
        p
    } else if p.starts_with(b"/") {
        owned = normalize(p, b"");
        &owned
    } else {
        match sys::getcwd() {
            Ok(cwd) => {
                owned = normalize(p, &cwd);
                &owned
            }
            Err(_) => return UNKNOWN,
        }
    };
    current().lookup(abs).map_or(UNKNOWN, |m| m.id)
}

/// The mount that holds the open file `fd` (see the module docs). Descriptors that are not
/// files of a listed mount (sockets, pipes) get their pseudo-filesystem's id, or `UNKNOWN`.
pub fn of_fd(fd: i32) -> MountId {
    match sys::mount_id_of_fd(fd) {
        Ok(id) => id,
        Err(libc::ENOSYS) | Err(libc::EINVAL) => match sys::fd_path(fd) {
            Ok(p) if p.starts_with(b"/") => current().lookup(&p).map_or(UNKNOWN, |m| m.id),
            _ => UNKNOWN,
        },
        Err(_) => UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        t.lookup(&normalize(p.as_bytes(), b"/home/u")).map_or(UNKNOWN, |m| m.id)
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
    fn this_process_mounts_are_found() {
        let t = current();
        assert!(!t.is_empty(), "/proc/self/mountinfo parsed");
        let root = of_path(c_str(b"/\0"));
        assert_ne!(root, UNKNOWN);
        assert_eq!(t.get(root).unwrap().point, b"/");
        // A descriptor's mount agrees with its path's.
        let fd = sys::open(c_str(b"/proc/self/status\0"), libc::O_RDONLY, 0).unwrap();
        assert_eq!(of_fd(fd), of_path(c_str(b"/proc/self/status\0")));
        sys::close_quietly(fd);
        assert_eq!(of_fd(-1), UNKNOWN);
    }
}

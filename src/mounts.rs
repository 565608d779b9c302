//! Which filesystem holds a request's file, so that one dead filesystem cannot take the pool.
//!
//! Requests are charged to a *filesystem*, not a mount: its device number (the superblock:
//! `st_dev`, mountinfo's major:minor), so a bind mount and the mount it shows are one
//! filesystem with one share. Network filesystems (nfs, nfs4, cifs, smb3, ceph, sshfs) are
//! grouped further, by *server* (from mountinfo's source, `server:/export` or
//! `//server/share`): one dead server hangs every export it serves, so its mounts share one
//! share instead of taking one each.
//!
//! An open is attributed by resolving its path the way the kernel will, as far as that is
//! known without waiting on any filesystem:
//! 1. `openat2(path, O_PATH, RESOLVE_CACHED)` (see `sys::open_path_cached`): the kernel
//!    walks the path, through symlinks, `..` and the working directory, from its caches
//!    alone, and never calls the filesystem's open; `statx` of that descriptor (cached
//!    attributes only) names its filesystem.
//! 2. Where the walk would have to ask a filesystem (EAGAIN), or the file does not exist,
//!    the deepest directory the cached walk reaches is found by trying shorter prefixes: the
//!    lookup that did not complete runs in that directory's filesystem. A symbolic link met
//!    there is read only where its filesystem keeps links locally ([`is_local`]), and the
//!    walk goes on from its target.
//! 3. Without openat2 (Linux before 5.12), the path is attributed lexically: the longest
//!    mount point from /proc/self/mountinfo that is a whole-component prefix of the path,
//!    made absolute through the current directory and normalised (`.`, `..`, `//`).
//!
//! A close is attributed by its descriptor: `statx(STATX_MNT_ID)` with `AT_STATX_DONT_SYNC`.
//!
//! An absolute path's attribution is cached for a second (see [`of_path`]).
//!
//! The table is parsed once and kept with /proc/self/mountinfo open (one close-on-exec
//! descriptor while any context exists; [`release`] closes it with the last one); lookups
//! poll it for `POLLPRI`, which the kernel raises when the mount table changes, and re-read
//! it then. A poll costs a syscall (~170 ns here), so lookups poll at most once per
//! [`POLL_INTERVAL`]: a request submitted within that time of a mount or unmount may still be
//! grouped by the old table, which affects only which share it counts against.
//! A process that changes mount namespace (unshare, setns) keeps seeing its first namespace's
//! table until its last context is freed. After fork the child reopens the file rather than
//! share the parent's poll state.

use crate::pathcache;
use crate::sys::{self, c_str};
use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// A mount's id: the first field of its line in /proc/self/mountinfo.
pub type MountId = u64;

/// A filesystem, as requests are charged to it: its device number (`major << 32 | minor`),
/// or for a network filesystem a hash of its server with the top bit set.
pub type FsId = u64;

/// Requests whose filesystem could not be determined share this.
pub const UNKNOWN: FsId = u64::MAX;

/// The id of the filesystem with this device number.
pub fn fs_of_dev(major: u32, minor: u32) -> FsId {
    (u64::from(major) << 32) | u64::from(minor)
}

/// One line of /proc/self/mountinfo, as much of it as the library uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub id: MountId,
    pub parent: MountId,
    /// Its filesystem's device number (major, minor).
    pub dev: (u32, u32),
    /// Where it is mounted (unescaped).
    pub point: Vec<u8>,
    /// Its filesystem type ("nfs4", "tmpfs", ...).
    pub fstype: String,
    /// What is mounted ("srv:/export", "/dev/vda", "tmpfs", ...; unescaped).
    pub source: Vec<u8>,
    /// The filesystem requests on it are charged to (see the module docs).
    pub fs: FsId,
}

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

/// The server of a network mount, from its source, or None for a local one.
fn server_of(fstype: &str, source: &[u8]) -> Option<Vec<u8>> {
    let host = match fstype {
        "nfs" | "nfs4" | "ceph" | "fuse.sshfs" => {
            // "host:/export", "[v6addr]:/export", "user@host:/path", "mon1,mon2:/path".
            let end = if source.starts_with(b"[") {
                source.iter().position(|&c| c == b']').map(|i| i + 1)?
            } else {
                source.iter().position(|&c| c == b':')?
            };
            let host = &source[..end];
            host.iter().rposition(|&c| c == b'@').map_or(host, |at| &host[at + 1..])
        }
        "cifs" | "smb3" | "smbfs" => {
            let rest = source.strip_prefix(b"//")?;
            &rest[..rest.iter().position(|&c| c == b'/').unwrap_or(rest.len())]
        }
        _ => return None,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// FNV-1a of `bytes`: a hash stable within the process, which is all its uses need.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The filesystem id of a mount (see the module docs).
fn fs_of_mount(fstype: &str, source: &[u8], dev: (u32, u32)) -> FsId {
    match server_of(fstype, source) {
        Some(host) => (fnv1a(&host) | (1 << 63)) & !1, // never UNKNOWN
        None => fs_of_dev(dev.0, dev.1),
    }
}

/// A parsed mount table.
#[derive(Debug, Default)]
pub struct Table {
    /// Visible mounts (the top of each stack of mounts on one point), longest point first.
    visible: Vec<Mount>,
    /// Every mount, for describing an id.
    all: Vec<Mount>,
    /// Index into `all` by mount id.
    by_id: std::collections::HashMap<MountId, usize>,
    /// Which parse of the process's table this is (each re-read gets a new one), so that
    /// what was learned from an older table is not reused.
    generation: u64,
    /// Whether the mount at "/" is of a local filesystem type (see [`is_local`]).
    root_is_local: bool,
    /// Filesystems earlier tables had and this one has not (unmounted, or detached by
    /// `umount -l` while calls still hang in them), each by the mount that named it then,
    /// newest first, at most [`DEPARTED_KEEP`]: requests may still wait on them.
    departed: Vec<Mount>,
}

/// How many departed filesystems a table keeps names for.
const DEPARTED_KEEP: usize = 64;

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
    let dev = f.next()?;
    let colon = dev.iter().position(|&c| c == b':')?;
    let dev = (num(Some(&dev[..colon]))? as u32, num(Some(&dev[colon + 1..]))? as u32);
    let _root = f.next()?;
    let point = unescape(f.next()?);
    // Optional fields end at a lone "-"; the filesystem type and source follow it.
    let fstype = f.by_ref().skip_while(|s| *s != b"-").nth(1)?;
    let fstype = String::from_utf8_lossy(&unescape(fstype)).into_owned();
    let source = unescape(f.next().unwrap_or_default());
    let fs = fs_of_mount(&fstype, &source, dev);
    Some(Mount { id, parent, dev, point, fstype, source, fs })
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
        let by_id = all.iter().enumerate().map(|(i, m)| (m.id, i)).collect();
        static PARSES: AtomicU64 = AtomicU64::new(1);
        let root_is_local = visible.iter().find(|m| m.point == b"/").is_some_and(|m| is_local(&m.fstype));
        Table {
            visible,
            all,
            by_id,
            generation: PARSES.fetch_add(1, Ordering::Relaxed),
            root_is_local,
            departed: Vec::new(),
        }
    }

    /// This table, a re-read of `old`, keeps the names of `old`'s filesystems that are gone
    /// from it (and of those `old` kept), for [`Table::mount_of_fs`].
    pub fn keep_departed(mut self, old: &Table) -> Table {
        let present: std::collections::HashSet<FsId> = self.all.iter().map(|m| m.fs).collect();
        let mut departed: Vec<Mount> = Vec::new();
        for m in old.all.iter().chain(&old.departed) {
            if !present.contains(&m.fs) && !departed.iter().any(|d| d.fs == m.fs) {
                departed.push(m.clone());
            }
        }
        departed.truncate(DEPARTED_KEEP);
        self.departed = departed;
        self
    }

    /// The mount that holds the absolute, normalised `path`.
    pub fn lookup(&self, path: &[u8]) -> Option<&Mount> {
        self.visible.iter().find(|m| covers(&m.point, path))
    }

    /// Whether the mount at "/" is of a local filesystem type.
    pub fn root_is_local(&self) -> bool {
        self.root_is_local
    }

    /// The mount with this id, visible or not.
    pub fn get(&self, id: MountId) -> Option<&Mount> {
        self.by_id.get(&id).map(|&i| &self.all[i])
    }

    /// A mount of filesystem `fs`, to name it: the first in mountinfo's order (the one
    /// mounted first, ahead of its bind mounts), or for a filesystem no longer mounted, the
    /// mount that named it when it was (see [`Table::keep_departed`]).
    pub fn mount_of_fs(&self, fs: FsId) -> Option<&Mount> {
        self.all.iter().find(|m| m.fs == fs).or_else(|| self.departed.iter().find(|m| m.fs == fs))
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
                cur.table = Arc::new(t.keep_departed(&cur.table));
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

/// Closes the watch on /proc/self/mountinfo and frees the table (the library calls it when
/// its last context is freed; the next lookup reopens them).
pub fn release() {
    PATH_CACHE.clear();
    let mut w = WATCH.write().unwrap_or_else(|e| e.into_inner());
    if let Some(old) = w.take() {
        if old.fd >= 0 && old.generation == crate::fork::generation() {
            sys::close_quietly(old.fd);
        }
    }
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

/// The filesystem of `path` by its spelling alone (step 3 of the module docs).
pub fn of_path_lexically(path: &[u8]) -> FsId {
    let owned;
    let abs: &[u8] = if path.starts_with(b"/") && is_normal(path) {
        path
    } else if path.starts_with(b"/") {
        owned = normalize(path, b"");
        &owned
    } else {
        match sys::getcwd() {
            Ok(cwd) => {
                owned = normalize(path, &cwd);
                &owned
            }
            Err(_) => return UNKNOWN,
        }
    };
    current().lookup(abs).map_or(UNKNOWN, |m| m.fs)
}

/// The filesystem that holds `path`, as an open with `O_NOFOLLOW` (`follow` false) or
/// without would reach it (see the module docs). Never waits on a filesystem.
///
/// An absolute path's answer is reused for [`pathcache::TTL`], while the mount table is
/// unchanged (a small cache, emptied with the last context): the cached walk costs about
/// 2 us (openat2, statx and close), as much as the open it attributes, and loops reopen the
/// same files. A symlink retargeted
/// meanwhile is seen when the entry expires; that affects only which share an open counts
/// against.
pub fn of_path(path: &CStr, follow: bool) -> FsId {
    let p = path.to_bytes();
    let cacheable = p.starts_with(b"/");
    let generation = if cacheable { current().generation } else { 0 };
    if cacheable {
        if let Some(fs) = PATH_CACHE.get(p, u64::from(follow), generation) {
            return fs;
        }
    }
    let mut hops = 0;
    let fs = match resolve(libc::AT_FDCWD, p, follow, &mut hops) {
        Ok(fs) => fs,
        Err(_) => of_path_lexically(p),
    };
    if cacheable {
        PATH_CACHE.put(p, u64::from(follow), generation, fs);
    }
    fs
}

/// The process's attributions of absolute paths (keyed by `follow`, of a mount table
/// generation).
static PATH_CACHE: pathcache::Shared<FsId> = pathcache::Shared::new();

/// Symbolic links followed by hand while attributing one path (the kernel allows 40).
const MAX_HOPS: u32 = 40;

/// An `O_PATH` descriptor, closed on drop (closing one never reaches the filesystem).
pub(crate) struct PathFd(pub(crate) i32);

impl Drop for PathFd {
    fn drop(&mut self) {
        sys::close_path_fd(self.0);
    }
}

/// Set once openat2 turned out to be missing (before Linux 5.12, a seccomp filter, or
/// valgrind), so attribution goes straight to the lexical lookup from then on.
static NO_OPENAT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `sys::open_path_cached` of `path` (bytes), as an owned [`PathFd`]; `Err(ENOSYS)` at once
/// once openat2 is known to be missing.
pub(crate) fn open_cached(dirfd: i32, path: &[u8], follow: bool) -> Result<PathFd, i32> {
    if NO_OPENAT2.load(Ordering::Relaxed) {
        return Err(libc::ENOSYS);
    }
    let c = std::ffi::CString::new(path).map_err(|_| libc::EINVAL)?;
    let r = sys::open_path_cached(dirfd, &c, follow).map(PathFd);
    if r.as_ref().err() == Some(&libc::ENOSYS) {
        NO_OPENAT2.store(true, Ordering::Relaxed);
    }
    r
}

/// Steps 1 and 2 of the module docs for `path` relative to `dirfd`. `Err` when openat2 is
/// missing or nothing at all resolves (then the caller falls back to the spelling).
fn resolve(dirfd: i32, path: &[u8], follow: bool, hops: &mut u32) -> Result<FsId, i32> {
    match open_cached(dirfd, path, follow) {
        Ok(fd) => return of_fd(fd.0).ok_or(libc::EBADF),
        Err(libc::ENOSYS) => return Err(libc::ENOSYS),
        Err(_) => {}
    }
    let abs = path.starts_with(b"/");
    let comps: Vec<&[u8]> = path.split(|&b| b == b'/').filter(|c| !c.is_empty()).collect();
    // The deepest prefix that resolves from the caches is where the walk stops.
    for k in (0..comps.len()).rev() {
        let mut prefix: Vec<u8> = if abs { b"/".to_vec() } else { b".".to_vec() };
        for c in &comps[..k] {
            if !prefix.ends_with(b"/") {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(c);
        }
        let Ok(dir) = open_cached(dirfd, &prefix, true) else { continue };
        let last = k + 1 == comps.len();
        let next = match open_cached(dir.0, comps[k], false) {
            Ok(next) => next,
            // The lookup of comps[k] would ask dir's filesystem.
            Err(_) => return of_fd(dir.0).ok_or(libc::EBADF),
        };
        let info = sys::fd_info(next.0).map_err(|_| libc::EBADF)?;
        let is_link = info.mode & libc::S_IFMT == libc::S_IFLNK;
        if !is_link || (last && !follow) {
            return of_fd(next.0).ok_or(libc::EBADF);
        }
        // A link whose target's walk is not cached: read it where that cannot wait, and go on
        // from its target; else charge the filesystem that holds the link.
        let readable = info.mount_id.and_then(|id| current().get(id).map(|m| is_local(&m.fstype)));
        if *hops >= MAX_HOPS || readable != Some(true) {
            return of_fd(next.0).ok_or(libc::EBADF);
        }
        let Ok(mut target) = sys::read_link_fd(next.0) else { return of_fd(next.0).ok_or(libc::EBADF) };
        *hops += 1;
        for c in &comps[k + 1..] {
            target.push(b'/');
            target.extend_from_slice(c);
        }
        return resolve(dir.0, &target, follow, hops);
    }
    Err(libc::ENOENT)
}

/// Descriptors the library opened, and the filesystem each open was charged to, so that
/// their close is charged without a statx: fd `n` is slot `n % CHUNK` of chunk `n / CHUNK`,
/// allocated on first use (0: nothing remembered). Process-wide, lock-free.
const CHUNK: usize = 4096;
static OPENED: [OnceLock<Box<[AtomicU64]>>; 256] = [const { OnceLock::new() }; 256];

fn opened_slot(fd: i32, create: bool) -> Option<&'static AtomicU64> {
    let fd = usize::try_from(fd).ok()?;
    let chunk = OPENED.get(fd / CHUNK)?;
    let slots = match chunk.get() {
        Some(s) => s,
        None if create => chunk.get_or_init(|| (0..CHUNK).map(|_| AtomicU64::new(0)).collect()),
        None => return None,
    };
    Some(&slots[fd % CHUNK])
}

/// Remembers that the library's open of a file on `fs` returned `fd` (see [`of_closing_fd`]).
pub fn remember_opened(fd: i32, fs: FsId) {
    if let Some(slot) = opened_slot(fd, true) {
        slot.store(fs.wrapping_add(1), Ordering::Relaxed);
    }
}

/// Forgets what [`remember_opened`] said of `fd` (it is being closed).
pub fn forget_opened(fd: i32) {
    if let Some(slot) = opened_slot(fd, false) {
        slot.store(0, Ordering::Relaxed);
    }
}

/// The filesystem a close of `fd` is charged to: the one its open was charged to if the
/// library opened it (no syscall), else [`of_fd`]'s answer. Either way the memory of `fd`
/// is dropped. A caller that closed a descriptor of the library's by other means and got the
/// number back from another open sees that close charged to the old file's filesystem: this
/// decides only which share the close counts against.
pub fn of_closing_fd(fd: i32) -> FsId {
    match opened_slot(fd, false).map(|s| s.swap(0, Ordering::Relaxed)) {
        Some(v) if v != 0 => v.wrapping_sub(1),
        _ => of_fd(fd).unwrap_or(UNKNOWN),
    }
}

/// The filesystem a call on the open descriptor `fd` is charged to: the one its open was
/// charged to if the library opened it (no syscall), else [`of_fd`]'s answer.
pub fn of_open_fd(fd: i32) -> FsId {
    match opened_slot(fd, false).map(|s| s.load(Ordering::Relaxed)) {
        Some(v) if v != 0 => v.wrapping_sub(1),
        _ => of_fd(fd).unwrap_or(UNKNOWN),
    }
}

/// The filesystem that holds the open file (or `O_PATH` descriptor) `fd`, from cached
/// attributes only; None if `fd` is not open.
pub fn of_fd(fd: i32) -> Option<FsId> {
    let info = sys::fd_info(fd).ok()?;
    let table = current();
    let mount = info.mount_id.and_then(|id| table.get(id));
    Some(match mount {
        Some(m) if m.fs >> 63 == 1 => m.fs, // a network server's group
        _ => fs_of_dev(info.dev.0, info.dev.1),
    })
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
}

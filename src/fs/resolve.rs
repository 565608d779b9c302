//! Path and descriptor attribution: which filesystem a request is charged to.
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

use crate::fs::ids::{fs_of_dev, FsId, UNKNOWN};
use crate::fs::local::is_local;
use crate::fs::pathcache;
use crate::fs::table::normalize;
use crate::fs::watch::{self, current};
use crate::sys;
use std::ffi::CStr;
use std::sync::atomic::Ordering;

/// Whether an absolute path is already in [`normalize`]'s form (the common case, which then
/// costs no copy).
pub(crate) fn is_normal(p: &[u8]) -> bool {
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

/// Closes the watch on /proc/self/mountinfo, frees the table and forgets cached answers (the
/// library calls it when its last context is freed; the next lookup reopens them).
pub fn release() {
    PATH_CACHE.clear();
    watch::release();
}

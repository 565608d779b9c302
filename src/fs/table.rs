//! The mount table: /proc/self/mountinfo parsed, looked up by path, mount id and filesystem.

use crate::fs::ids::{fnv1a, fs_of_dev, FsId, MountId};
use crate::fs::local::is_local;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

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
    by_id: HashMap<MountId, usize>,
    /// Which parse of the process's table this is (each re-read gets a new one), so that
    /// what was learned from an older table is not reused.
    pub(crate) generation: u64,
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

/// Of the mounts on top at their points (`top`, longest point first), those a walk can
/// reach, longest first: a mount under one mounted later over an ancestor of its point is
/// hidden (the walk to its point enters that one). A mount's parent, below any mounts
/// stacked on its own point, must be the longest reachable mount over its point; one whose
/// parent the table does not hold (the root's, or a mount's outside a chroot) is kept.
fn unhidden(top: Vec<Mount>, all: &[Mount], by_id: &HashMap<MountId, usize>) -> Vec<Mount> {
    let mut kept: Vec<Mount> = Vec::with_capacity(top.len());
    for m in top.into_iter().rev() {
        let mut below = m.parent;
        for _ in 0..all.len() {
            match by_id.get(&below).map(|&i| &all[i]) {
                Some(p) if p.point == m.point => below = p.parent,
                _ => break,
            }
        }
        let over = kept
            .iter()
            .filter(|o| o.point != m.point && covers(&o.point, &m.point))
            .max_by_key(|o| o.point.len());
        if !by_id.contains_key(&below) || over.map_or(true, |o| o.id == below) {
            kept.push(m);
        }
    }
    kept.reverse();
    kept
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
        let by_id: HashMap<MountId, usize> = all.iter().enumerate().map(|(i, m)| (m.id, i)).collect();
        let visible = unhidden(visible, &all, &by_id);
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

    #[cfg(test)]
    pub fn all_mounts(&self) -> impl Iterator<Item = &Mount> {
        self.all.iter()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// Whether a mount of filesystem `fs` is in the table (not only departed).
    pub fn has_live(&self, fs: FsId) -> bool {
        self.all.iter().any(|m| m.fs == fs)
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

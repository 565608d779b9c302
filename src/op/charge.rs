//! Attribution: which filesystem a call is charged to (its share, its blocked marking), found
//! on the submitting thread without waiting on any filesystem; and what a finished call
//! tells the fs room (an open's descriptor, so that its close is charged without a statx).

use crate::fs::{self, FsId};
use crate::op::{Op, OpKind};

/// Finds the filesystem a request's file is on; runs on the submitting thread, without
/// locks, and never waits on a filesystem.
pub type Attributor = fn(&Op) -> FsId;

/// The real attribution (see `fs::resolve`): a path call by its path (a rename by `from`), a
/// descriptor call by its descriptor.
pub fn attribute(op: &Op) -> FsId {
    match op {
        Op::Open { path, flags, .. } => fs::of_path(path, flags & libc::O_NOFOLLOW == 0),
        Op::Close { fd } => fs::of_closing_fd(*fd),
        Op::Fsync { fd, .. }
        | Op::Ftruncate { fd, .. }
        | Op::Read { fd, .. }
        | Op::Write { fd, .. }
        | Op::Getdents { fd, .. } => fs::of_open_fd(*fd),
        Op::Unlink { path, .. } | Op::Mkdir { path, .. } => fs::of_path(path, false),
        Op::Rename { from, .. } => fs::of_path(from, false),
        Op::Stat { path, flags, .. }
        | Op::Access { path, flags, .. }
        | Op::Chown { path, flags, .. }
        | Op::Utimens { path, flags, .. } => fs::of_path(path, flags & libc::AT_SYMLINK_NOFOLLOW == 0),
        Op::Readlink { path, .. } | Op::Symlink { link: path, .. } | Op::Link { from: path, .. } => {
            fs::of_path(path, false)
        }
        Op::Statfs { path, .. } | Op::Chmod { path, .. } => fs::of_path(path, true),
        Op::Fstat { fd, .. }
        | Op::Fstatfs { fd, .. }
        | Op::Fchmod { fd, .. }
        | Op::Fchown { fd, .. }
        | Op::Futimens { fd, .. }
        | Op::Fallocate { fd, .. }
        | Op::CopyFileRange { fd_in: fd, .. }
        | Op::Sendfile { in_fd: fd, .. } => fs::of_open_fd(*fd),
        Op::Call { fs_path: Some(path), .. } => fs::of_path(path, true),
        Op::Call { fs_fd, .. } if *fs_fd >= 0 => fs::of_open_fd(*fs_fd),
        Op::Call { .. } => fs::UNKNOWN,
    }
}

/// Records what a call that ran on `fs` left behind: an open's new descriptor is remembered
/// with its filesystem, so that its close is charged to the same one without a statx.
pub fn remember(kind: OpKind, result: i32, fs: FsId) {
    if let Some(fd) = kind.opened_fd(result) {
        fs::remember_opened(fd, fs);
    }
}

//! Which filesystem holds a request's file, so that one dead filesystem cannot take the pool.
//!
//! Requests are charged to a *filesystem*, not a mount: its device number (the superblock:
//! `st_dev`, mountinfo's major:minor), so a bind mount and the mount it shows are one
//! filesystem with one share. Network filesystems (nfs, nfs4, cifs, smb3, ceph, sshfs) are
//! grouped further, by *server* (from mountinfo's source, `server:/export` or
//! `//server/share`): one dead server hangs every export it serves, so its mounts share one
//! share instead of taking one each.
//!
//! Rooms: the mount table ([`table`]) and its watch ([`watch`]), path and descriptor
//! attribution ([`resolve`]) with a small cache of answers about absolute paths
//! ([`pathcache`]), the descriptors the library opened ([`opened`]), and which filesystem
//! types keep their calls local ([`local`]), and a change in a filesystem's state as a mount
//! event reports it ([`change`]). The ids and hashers they share: [`ids`].

pub mod change;
pub(crate) mod ids;
pub(crate) mod local;
pub(crate) mod opened;
pub(crate) mod pathcache;
pub(crate) mod resolve;
pub(crate) mod table;
#[cfg(test)]
mod tests;
pub(crate) mod watch;

pub use ids::{FsId, IdHasher, MountId, UNKNOWN};
pub use local::{in_memory, is_local};
pub use opened::{forget_opened, of_closing_fd, of_open_fd, remember_opened};
pub use resolve::{of_path, release};
pub(crate) use resolve::{open_cached, PathFd};
pub use table::Mount;
pub use watch::current;

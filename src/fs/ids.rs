//! The ids requests are charged by (filesystems, mounts) and the hashes the fs room uses.

use std::hash::Hasher;

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

/// FNV-1a of `bytes`: a hash stable within the process, which is all its uses need.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Hashes filesystem ids and mount ids (integers the kernel assigns, never chosen by an attacker) by one
/// multiply, instead of SipHash: the scheduler looks one up for each request, under the
/// context lock, whose hold time bounds throughput.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: the high bits, which hashbrown uses, depend on every input bit.
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

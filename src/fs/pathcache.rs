//! A small direct-mapped cache of answers about absolute paths, each good for [`TTL`] while a
//! caller-supplied generation is unchanged. Two questions cost a cached walk of about 2 µs
//! (an `O_PATH` openat2, a statx, a close), as much as the open they serve, and loops reopen
//! the same files: which filesystem a path reaches (`fs::of_path`), and whether it is a
//! plain file the fast path may open without looking first (`op::inline::open_nowait`).
//!
//! A process-wide cache ([`Shared`]) is never waited for: a caller that finds it locked goes
//! without it, so a forked child, whose copy may be locked by a thread that does not exist
//! there, never blocks on it.

use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

/// How long an answer is reused.
pub const TTL: Duration = Duration::from_secs(1);

const SLOTS: usize = 32;

/// The cache: `key` tells questions about the same path apart (open flags that change what
/// the path reaches).
pub struct PathCache<V> {
    slots: [Option<Entry<V>>; SLOTS],
}

struct Entry<V> {
    path: Vec<u8>,
    key: u64,
    generation: u64,
    at: Instant,
    value: V,
}

impl<V> Default for PathCache<V> {
    fn default() -> Self {
        PathCache { slots: std::array::from_fn(|_| None) }
    }
}

impl<V: Copy> PathCache<V> {
    fn slot(path: &[u8], key: u64) -> usize {
        ((crate::fs::ids::fnv1a(path) ^ key) % SLOTS as u64) as usize
    }

    /// The answer for exactly (`path`, `key`), if it is fresh and of `generation`.
    pub fn get(&self, path: &[u8], key: u64, generation: u64) -> Option<V> {
        let e = self.slots[Self::slot(path, key)].as_ref()?;
        let fresh = e.generation == generation && e.at.elapsed() < TTL;
        (fresh && e.key == key && e.path == path).then_some(e.value)
    }

    /// Records `value` for (`path`, `key`), replacing whatever shared its slot.
    pub fn put(&mut self, path: &[u8], key: u64, generation: u64, value: V) {
        let slot = &mut self.slots[Self::slot(path, key)];
        match slot {
            Some(e) => {
                e.path.clear();
                e.path.extend_from_slice(path);
                (e.key, e.generation, e.at, e.value) = (key, generation, Instant::now(), value);
            }
            None => *slot = Some(Entry { path: path.to_vec(), key, generation, at: Instant::now(), value }),
        }
    }
}

/// A process-wide [`PathCache`], empty until used and again after [`Shared::clear`].
pub struct Shared<V>(Mutex<Option<PathCache<V>>>);

impl<V: Copy> Shared<V> {
    pub const fn new() -> Self {
        Shared(Mutex::new(None))
    }

    /// The cache, unless another thread holds it.
    fn try_lock(&self) -> Option<MutexGuard<'_, Option<PathCache<V>>>> {
        match self.0.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// See [`PathCache::get`]; None also when the cache is busy.
    pub fn get(&self, path: &[u8], key: u64, generation: u64) -> Option<V> {
        self.try_lock().and_then(|c| c.as_ref().and_then(|c| c.get(path, key, generation)))
    }

    /// See [`PathCache::put`]; nothing when the cache is busy.
    pub fn put(&self, path: &[u8], key: u64, generation: u64, value: V) {
        if let Some(mut c) = self.try_lock() {
            c.get_or_insert_with(PathCache::default).put(path, key, generation, value);
        }
    }

    /// Frees the cache (the library calls it when its last context is freed).
    pub fn clear(&self) {
        if let Some(mut c) = self.try_lock() {
            *c = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_cache_is_exact_and_forgets_old_generations() {
        let mut c = PathCache::default();
        c.put(b"/a/b", 1, 7, 42);
        assert_eq!(c.get(b"/a/b", 1, 7), Some(42));
        assert_eq!(c.get(b"/a/b", 0, 7), None, "another key is another question");
        assert_eq!(c.get(b"/a/b", 1, 8), None, "the generation changed");
        assert_eq!(c.get(b"/a/c", 1, 7), None);
        // Colliding paths replace each other; they never answer for each other.
        let other = (0..10_000u32)
            .map(|i| format!("/x{i}").into_bytes())
            .find(|p| PathCache::<u64>::slot(p, 1) == PathCache::<u64>::slot(b"/a/b", 1))
            .unwrap();
        c.put(&other, 1, 7, 9);
        assert_eq!((c.get(b"/a/b", 1, 7), c.get(&other, 1, 7)), (None, Some(9)));
        c.slots[PathCache::<u64>::slot(&other, 1)].as_mut().unwrap().at -= TTL;
        assert_eq!(c.get(&other, 1, 7), None, "expired");
    }
}

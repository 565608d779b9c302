//! Where a context's requests live: a slab, each request in a slot named by its id, so a
//! lookup is an index and an id whose request is gone never finds the one that reuses its
//! slot. Ids are `generation << SLOT_BITS | slot`, positive and below [`INLINE`](crate::queue::ids::INLINE).
//!
//! The loop numbers a request when it submits, before any worker has seen it, so slots are
//! handed out without the pool lock by [`Slots`]: a lock-free list of freed slots (each
//! with its next generation) on a `crossbeam-channel` queue, and a counter of slots never
//! used. A slot's generation grows each time its request is removed, so an id comes back
//! only after its slot was reused [`GENERATIONS`] times.

use crate::queue::ids::Id;
use crate::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use crate::sync::chan::{unbounded, Receiver, Sender};
use crate::sync::Arc;

/// Bits of an id that name the slot.
const SLOT_BITS: u32 = 26;
/// Most slots a table may have.
pub(crate) const MAX_SLOTS: usize = 1 << SLOT_BITS;
/// Generations a slot goes through before its ids repeat (ids stay below 2^61).
pub(crate) const GENERATIONS: u64 = (1 << (61 - SLOT_BITS)) - 1;

fn split(id: Id) -> (usize, u64) {
    ((id & (MAX_SLOTS as u64 - 1)) as usize, id >> SLOT_BITS)
}

/// Hands out ids (free slots) without a lock: a freed slot first, else one never used.
pub struct Slots {
    free_tx: Sender<Id>,
    free_rx: Receiver<Id>,
    fresh: AtomicUsize,
}

impl Slots {
    pub fn new() -> Arc<Self> {
        let (free_tx, free_rx) = unbounded();
        Arc::new(Slots { free_tx, free_rx, fresh: AtomicUsize::new(0) })
    }

    /// The id of a free slot; `Err(EAGAIN)` when every slot is taken.
    pub fn take(&self) -> Result<Id, i32> {
        if let Ok(id) = self.free_rx.try_recv() {
            return Ok(id);
        }
        let slot = self.fresh.fetch_add(1, Relaxed);
        if slot >= MAX_SLOTS {
            self.fresh.fetch_sub(1, Relaxed);
            return Err(libc::EAGAIN);
        }
        Ok(1 << SLOT_BITS | slot as u64)
    }

    /// Frees the slot of `id`, whose request is gone: the slot's next id is of the next
    /// generation.
    pub fn give_back(&self, id: Id) {
        let (slot, generation) = split(id);
        let next = if generation >= GENERATIONS { 1 } else { generation + 1 };
        // Unbounded: never refused while the table lives.
        let _ = self.free_tx.try_send(next << SLOT_BITS | slot as u64);
    }
}

#[derive(Debug)]
struct Slot<V> {
    /// The generation of the value here.
    generation: u64,
    value: Option<V>,
}

/// Values keyed by ids from its [`Slots`], at most `limit` of them.
pub struct IdMap<V> {
    slots: Vec<Slot<V>>,
    ids: Arc<Slots>,
    len: usize,
    limit: usize,
}

impl<V> IdMap<V> {
    pub fn new() -> Self {
        Self::with_limit(MAX_SLOTS)
    }

    /// A map of at most `limit` values.
    pub fn with_limit(limit: usize) -> Self {
        IdMap { slots: Vec::new(), ids: Slots::new(), len: 0, limit: limit.min(MAX_SLOTS) }
    }

    /// The allocator of this map's ids, to share with whoever numbers requests.
    pub fn ids(&self) -> Arc<Slots> {
        Arc::clone(&self.ids)
    }

    /// The id of a free slot (see [`Slots::take`]).
    pub fn take_id(&self) -> Result<Id, i32> {
        self.ids.take()
    }

    /// Gives back `id`, taken and never used (its insert failed).
    pub fn release_id(&self, id: Id) {
        self.ids.give_back(id)
    }

    /// Stores `value` under `id` (taken from [`Self::ids`] and not in use); gives it back
    /// when the map is full.
    pub fn insert(&mut self, id: Id, value: V) -> Result<(), V> {
        let (index, generation) = split(id);
        if self.len >= self.limit || index >= self.limit {
            return Err(value);
        }
        if index >= self.slots.len() {
            self.slots.resize_with(index + 1, || Slot { generation: 1, value: None });
        }
        let slot = &mut self.slots[index];
        debug_assert!(slot.value.is_none(), "request id {id} given twice");
        slot.generation = generation;
        slot.value = Some(value);
        self.len += 1;
        Ok(())
    }

    pub fn get(&self, id: Id) -> Option<&V> {
        let (index, generation) = split(id);
        self.slots.get(index).filter(|s| s.generation == generation)?.value.as_ref()
    }

    pub fn get_mut(&mut self, id: Id) -> Option<&mut V> {
        let (index, generation) = split(id);
        self.slots.get_mut(index).filter(|s| s.generation == generation)?.value.as_mut()
    }

    /// Takes the value out and frees its slot; its id is dead from now on.
    pub fn remove(&mut self, id: Id) -> Option<V> {
        let (index, generation) = split(id);
        let slot = self.slots.get_mut(index).filter(|s| s.generation == generation)?;
        let value = slot.value.take()?;
        self.len -= 1;
        self.ids.give_back(id);
        Some(value)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Every value with its id, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (Id, &V)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.value.as_ref().map(|v| (s.generation << SLOT_BITS | i as u64, v)))
    }

    /// The ids of the values for which `select` holds.
    pub fn ids_where(&self, mut select: impl FnMut(&V) -> bool) -> Vec<Id> {
        self.iter().filter(|(_, v)| select(v)).map(|(id, _)| id).collect()
    }
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for IdMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdMap").field("len", &self.len).field("slots", &self.slots.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_id_never_finds_the_value_that_reuses_its_slot() {
        let mut s = IdMap::new();
        let a = s.ids().take().unwrap();
        s.insert(a, "a").unwrap();
        assert!(a > 0);
        assert_eq!(s.remove(a), Some("a"));
        let b = s.ids().take().unwrap();
        assert_ne!(a, b, "same slot, next generation");
        assert_eq!(b & (MAX_SLOTS as u64 - 1), a & (MAX_SLOTS as u64 - 1));
        s.insert(b, "b").unwrap();
        assert_eq!(s.get(a), None);
        assert_eq!(s.remove(a), None);
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn ids_stay_positive_and_below_the_inline_bit_across_the_generation_wrap() {
        let s: IdMap<u8> = IdMap::new();
        let last = GENERATIONS << SLOT_BITS | 5;
        assert!(last < crate::queue::ids::INLINE);
        s.ids().give_back(last);
        assert_eq!(s.ids().take().unwrap(), 1 << SLOT_BITS | 5, "generation 1 again, slot 5");
    }

    #[test]
    fn a_full_map_gives_the_value_back() {
        let mut s = IdMap::with_limit(2);
        let ids = s.ids();
        let a = ids.take().unwrap();
        s.insert(a, 'a').unwrap();
        s.insert(ids.take().unwrap(), 'b').unwrap();
        assert_eq!(s.insert(ids.take().unwrap(), 'c'), Err('c'));
        s.remove(a);
        assert!(s.insert(ids.take().unwrap(), 'c').is_ok(), "a's slot, freed");
        let mut all: Vec<char> = s.iter().map(|(_, &v)| v).collect();
        all.sort();
        assert_eq!(all, ['b', 'c']);
    }
}

//! A slab: values kept in reusable slots and named by ids that carry their slot's
//! generation, so a lookup is an index, and an id whose value is gone never finds the value
//! that reuses its slot.
//!
//! An id is `generation << SLOT_BITS | slot`: positive (generations start at 1) and below
//! 2^63, so it fits the C API's `int64_t`. A slot's generation grows each time its value is
//! removed, so an id comes back only after its slot was reused `GENERATIONS` times, that is
//! after at least that many later inserts.

/// Bits of an id that name the slot.
const SLOT_BITS: u32 = 26;
/// Most slots a slab may have.
pub(crate) const MAX_SLOTS: usize = 1 << SLOT_BITS;
/// Generations a slot goes through before its ids repeat.
pub(crate) const GENERATIONS: u64 = (1 << (63 - SLOT_BITS)) - 1;

#[derive(Debug)]
struct Slot<V> {
    /// The generation of the value here, or of the next one if the slot is free.
    generation: u64,
    value: Option<V>,
}

/// Values named by generation-checked ids.
#[derive(Debug)]
pub struct Slab<V> {
    slots: Vec<Slot<V>>,
    /// Free slots, the most recently freed last (reused first: its memory is warm).
    free: Vec<u32>,
    len: usize,
    limit: usize,
}

impl<V> Slab<V> {
    pub fn new() -> Self {
        Self::with_limit(MAX_SLOTS)
    }

    /// A slab of at most `limit` (at most [`MAX_SLOTS`]) slots.
    pub fn with_limit(limit: usize) -> Self {
        Slab { slots: Vec::new(), free: Vec::new(), len: 0, limit: limit.min(MAX_SLOTS) }
    }

    fn split(id: u64) -> (usize, u64) {
        ((id & (MAX_SLOTS as u64 - 1)) as usize, id >> SLOT_BITS)
    }

    /// Stores `value` and returns its id; gives it back when every slot is taken.
    pub fn insert(&mut self, value: V) -> Result<u64, V> {
        let index = match self.free.pop() {
            Some(i) => i as usize,
            None if self.slots.len() < self.limit => {
                self.slots.push(Slot { generation: 1, value: None });
                self.slots.len() - 1
            }
            None => return Err(value),
        };
        let slot = &mut self.slots[index];
        debug_assert!(slot.value.is_none());
        slot.value = Some(value);
        self.len += 1;
        Ok(slot.generation << SLOT_BITS | index as u64)
    }

    pub fn get(&self, id: u64) -> Option<&V> {
        let (index, generation) = Self::split(id);
        self.slots.get(index).filter(|s| s.generation == generation)?.value.as_ref()
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut V> {
        let (index, generation) = Self::split(id);
        self.slots.get_mut(index).filter(|s| s.generation == generation)?.value.as_mut()
    }

    /// Takes the value out; its id is dead from now on.
    pub fn remove(&mut self, id: u64) -> Option<V> {
        let (index, generation) = Self::split(id);
        let slot = self.slots.get_mut(index).filter(|s| s.generation == generation)?;
        let value = slot.value.take()?;
        slot.generation = if slot.generation == GENERATIONS { 1 } else { slot.generation + 1 };
        self.free.push(index as u32);
        self.len -= 1;
        Some(value)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Every value with its id, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.value.as_ref().map(|v| (s.generation << SLOT_BITS | i as u64, v)))
    }

    /// The ids of the values for which `select` holds.
    pub fn ids_where(&self, mut select: impl FnMut(&V) -> bool) -> Vec<u64> {
        self.iter().filter(|(_, v)| select(v)).map(|(id, _)| id).collect()
    }
}

impl<V> Default for Slab<V> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_id_never_finds_the_value_that_reuses_its_slot() {
        let mut s = Slab::new();
        let a = s.insert("a").unwrap();
        assert!(a > 0);
        assert_eq!(s.remove(a), Some("a"));
        let b = s.insert("b").unwrap();
        assert_ne!(a, b, "same slot, next generation");
        assert_eq!(s.get(a), None);
        assert_eq!(s.remove(a), None);
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn ids_stay_positive_and_int64_across_the_generation_wrap() {
        let mut s = Slab::new();
        s.slots.push(Slot { generation: GENERATIONS, value: None });
        s.free.push(0);
        let last = s.insert(1).unwrap();
        assert!(last > 0 && last <= i64::MAX as u64);
        s.remove(last);
        let first = s.insert(2).unwrap();
        assert_eq!(first, 1 << SLOT_BITS, "generation 1 again, slot 0");
        assert_eq!(s.get(last), None);
    }

    #[test]
    fn a_full_slab_gives_the_value_back() {
        let mut s = Slab::with_limit(2);
        let a = s.insert('a').unwrap();
        s.insert('b').unwrap();
        assert_eq!(s.insert('c'), Err('c'));
        s.remove(a);
        assert!(s.insert('c').is_ok());
        let mut all: Vec<char> = s.iter().map(|(_, &v)| v).collect();
        all.sort();
        assert_eq!(all, ['b', 'c']);
    }
}

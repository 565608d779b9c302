//! Where a context's requests live: values keyed by request id. Ids are given from outside
//! (see `queue::ids`): the loop draws a request's id when it submits, before any worker has
//! seen the request, so the table cannot choose them.

use crate::fs::IdHasher;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// Values keyed by request id, at most `limit` of them.
#[derive(Debug)]
pub struct IdMap<V> {
    map: HashMap<u64, V, BuildHasherDefault<IdHasher>>,
    limit: usize,
}

impl<V> IdMap<V> {
    pub fn new() -> Self {
        Self::with_limit(usize::MAX)
    }

    /// A map of at most `limit` values.
    pub fn with_limit(limit: usize) -> Self {
        IdMap { map: HashMap::default(), limit }
    }

    /// Stores `value` under `id` (not in use: ids are never reused); gives it back when the
    /// map is full.
    pub fn insert(&mut self, id: u64, value: V) -> Result<(), V> {
        if self.map.len() >= self.limit {
            return Err(value);
        }
        let old = self.map.insert(id, value);
        debug_assert!(old.is_none(), "request id {id} given twice");
        Ok(())
    }

    pub fn get(&self, id: u64) -> Option<&V> {
        self.map.get(&id)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut V> {
        self.map.get_mut(&id)
    }

    /// Takes the value out; its id is dead from now on.
    pub fn remove(&mut self, id: u64) -> Option<V> {
        self.map.remove(&id)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Every value with its id, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        self.map.iter().map(|(&id, v)| (id, v))
    }

    /// The ids of the values for which `select` holds.
    pub fn ids_where(&self, mut select: impl FnMut(&V) -> bool) -> Vec<u64> {
        self.iter().filter(|(_, v)| select(v)).map(|(id, _)| id).collect()
    }
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_map_gives_the_value_back() {
        let mut s = IdMap::with_limit(2);
        s.insert(1, 'a').unwrap();
        s.insert(2, 'b').unwrap();
        assert_eq!(s.insert(3, 'c'), Err('c'));
        assert_eq!(s.remove(1), Some('a'));
        assert_eq!(s.get(1), None);
        assert!(s.insert(3, 'c').is_ok());
        let mut all: Vec<char> = s.iter().map(|(_, &v)| v).collect();
        all.sort();
        assert_eq!(all, ['b', 'c']);
        assert_eq!(s.len(), 2);
    }
}

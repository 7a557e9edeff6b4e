//! A set of record ids as one bitmap per producer, indexed by record number: producers number
//! their records densely from 0, so a run's millions of records take a bit each, and a lookup is
//! two indexings where an ordered set walks a tree.

use crate::record::RecordId;

/// Record ids, a bit each.
#[derive(Clone, Debug, Default)]
pub struct RecordSet {
    by_producer: Vec<Vec<u64>>,
}

impl RecordSet {
    /// An empty set.
    pub fn new() -> RecordSet {
        RecordSet::default()
    }

    /// Adds `id`; whether it was not there yet.
    pub fn insert(&mut self, id: RecordId) -> bool {
        let producer = usize::from(id.producer);
        if self.by_producer.len() <= producer {
            self.by_producer.resize_with(producer + 1, Vec::new);
        }
        let words = &mut self.by_producer[producer];
        let (word, bit) = (id.n as usize / 64, 1u64 << (id.n % 64));
        if words.len() <= word {
            words.resize(word + 1, 0);
        }
        let fresh = words[word] & bit == 0;
        words[word] |= bit;
        fresh
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: RecordId) -> bool {
        self.by_producer
            .get(usize::from(id.producer))
            .and_then(|words| words.get(id.n as usize / 64))
            .is_some_and(|word| word & (1u64 << (id.n % 64)) != 0)
    }
}

impl FromIterator<RecordId> for RecordSet {
    fn from_iter<I: IntoIterator<Item = RecordId>>(ids: I) -> RecordSet {
        let mut set = RecordSet::new();
        for id in ids {
            set.insert(id);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_was_inserted_and_nothing_else() {
        let id = |producer, n| RecordId { producer, n };
        let mut set: RecordSet = [id(0, 0), id(0, 63), id(0, 64), id(2, 1_000_000)]
            .into_iter()
            .collect();
        for present in [id(0, 0), id(0, 63), id(0, 64), id(2, 1_000_000)] {
            assert!(set.contains(present), "{present:?}");
        }
        for absent in [id(0, 1), id(0, 65), id(1, 0), id(2, 999_999), id(3, 0)] {
            assert!(!set.contains(absent), "{absent:?}");
        }
        assert!(!set.insert(id(0, 63)), "already there");
        assert!(set.insert(id(1, 5)), "new");
        assert!(set.contains(id(1, 5)));
    }
}

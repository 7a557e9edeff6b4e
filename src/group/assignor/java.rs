//! The parts of Java that decide an assignor's output: `String.hashCode`, `String.compareTo`,
//! `TopicPartition.hashCode`, and the iteration order of `java.util.HashMap`/`HashSet`.
//!
//! Kafka's assignors iterate hash maps keyed by member ids and topic names, and one step of the
//! sticky assignor takes "the first" partition of a `HashSet`. Those orders are deterministic in
//! Java (a string's hash does not depend on the JVM), so they are reproduced here: a table of
//! power-of-two size that starts at 16 buckets, doubles when it is more than 3/4 full, keeps
//! each bucket in insertion order and splits buckets in order when it grows.
//!
//! Left out: Java turns a bucket of 9 or more entries into a red-black tree once the table has 64
//! buckets, which moves that bucket's root entry to the front. That needs nine keys in one bucket
//! of a large table; kafkasim keeps insertion order there.

use std::cmp::Ordering;

/// Java's `String.hashCode()`: `s[0]*31^(n-1) + … + s[n-1]` over UTF-16 code units, wrapping.
pub fn string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Java's `String.compareTo`: lexicographic over UTF-16 code units (not Unicode scalar values).
pub fn string_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Kafka's `TopicPartition.hashCode()`: `31 * (31 + partition) + topic.hashCode()`.
pub fn topic_partition_hash(topic: &str, partition: u32) -> i32 {
    31i32
        .wrapping_add(partition as i32)
        .wrapping_mul(31)
        .wrapping_add(string_hash(topic))
}

/// Buckets of a table that has never held an entry, as Java allocates them on first insert.
const INITIAL_CAPACITY: usize = 16;
/// A bucket this long gets a tree, or the table grows if it is smaller than
/// [`MIN_TREEIFY_CAPACITY`].
const TREEIFY_THRESHOLD: usize = 8;
/// Below this many buckets a long bucket makes the table grow instead of becoming a tree.
const MIN_TREEIFY_CAPACITY: usize = 64;

/// Java's `HashMap.hash`: the high half folded into the low half.
fn spread(hash: i32) -> usize {
    let h = hash as u32;
    (h ^ (h >> 16)) as usize
}

/// A `java.util.HashSet` built with `new HashSet<>()`, remembering Java's iteration order.
#[derive(Clone, Debug)]
pub struct JavaHashSet<T> {
    /// Each bucket's entries in Java's order, with the hash the entry was stored under.
    buckets: Vec<Vec<(i32, T)>>,
    len: usize,
}

impl<T: PartialEq> Default for JavaHashSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: PartialEq> JavaHashSet<T> {
    /// An empty set; like Java's, it allocates 16 buckets on the first insert.
    pub fn new() -> Self {
        Self {
            buckets: Vec::new(),
            len: 0,
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn index(&self, hash: i32) -> usize {
        spread(hash) & (self.buckets.len() - 1)
    }

    /// Adds `item` stored under Java hash `hash`; false if it was already there.
    pub fn insert(&mut self, hash: i32, item: T) -> bool {
        if self.buckets.is_empty() {
            self.resize();
        }
        let index = self.index(hash);
        if self.buckets[index].iter().any(|(_, x)| *x == item) {
            return false;
        }
        let bucket_len_before = self.buckets[index].len();
        self.buckets[index].push((hash, item));
        if bucket_len_before >= TREEIFY_THRESHOLD && self.buckets.len() < MIN_TREEIFY_CAPACITY {
            self.resize();
        }
        self.len += 1;
        if self.len > self.buckets.len() / 4 * 3 {
            self.resize();
        }
        true
    }

    /// Removes `item` stored under `hash`; false if it was not there. Java never shrinks.
    pub fn remove(&mut self, hash: i32, item: &T) -> bool {
        if self.buckets.is_empty() {
            return false;
        }
        let index = self.index(hash);
        let bucket = &mut self.buckets[index];
        match bucket.iter().position(|(_, x)| x == item) {
            Some(at) => {
                bucket.remove(at);
                self.len -= 1;
                true
            }
            None => false,
        }
    }

    /// The entries in Java's iteration order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.buckets.iter().flatten().map(|(_, x)| x)
    }

    /// Doubles the table (or allocates it), splitting each bucket in order as Java does.
    fn resize(&mut self) {
        let capacity = if self.buckets.is_empty() {
            INITIAL_CAPACITY
        } else {
            self.buckets.len() * 2
        };
        let mut buckets: Vec<Vec<(i32, T)>> = (0..capacity).map(|_| Vec::new()).collect();
        for (hash, item) in self.buckets.drain(..).flatten() {
            buckets[spread(hash) & (capacity - 1)].push((hash, item));
        }
        self.buckets = buckets;
    }
}

/// The order in which a default `HashMap<String, _>` (or `HashSet<String>`) that was filled
/// with `keys` in this order iterates them, as indices into `keys`. Keys must be distinct.
pub fn hash_order<S: AsRef<str>>(keys: &[S]) -> Vec<usize> {
    let mut set = JavaHashSet::new();
    for (i, key) in keys.iter().enumerate() {
        set.insert(string_hash(key.as_ref()), i);
    }
    set.iter().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_matches_java() {
        // Values from `"…".hashCode()` in Java.
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("a"), 97);
        assert_eq!(string_hash("t1"), 3645);
        assert_eq!(string_hash("hello"), 99_162_322);
        // The group coordinator facts: abs(hash(group)) % 50.
        for (group, partition) in [("my-group", 12), ("group", 47), ("group1", 40)] {
            assert_eq!(string_hash(group).unsigned_abs() % 50, partition, "{group}");
        }
    }

    #[test]
    fn compare_uses_utf16_code_units() {
        assert_eq!(string_cmp("a", "b"), Ordering::Less);
        assert_eq!(string_cmp("ab", "a"), Ordering::Greater);
        // U+FF21 (one unit 0xFF21) sorts after U+1F600 (surrogates 0xD83D…) in Java,
        // the other way round in UTF-8 byte order.
        assert_eq!(string_cmp("\u{FF21}", "\u{1F600}"), Ordering::Greater);
        assert!("\u{FF21}" < "\u{1F600}");
    }

    #[test]
    fn topic_partition_hash_matches_java() {
        // new TopicPartition("t1", 2).hashCode() == 31 * 33 + 3645
        assert_eq!(topic_partition_hash("t1", 2), 31 * 33 + 3645);
    }

    #[test]
    fn hash_order_follows_buckets_then_insertion() {
        // "t1".."t3" hash to 3645..3647: buckets 13, 14, 15 of 16.
        assert_eq!(hash_order(&["t3", "t1", "t2"]), vec![1, 2, 0]);
        // "a" (97 → bucket 1) and "q" (113 → bucket 1) collide: insertion order decides.
        assert_eq!(hash_order(&["q", "a"]), vec![0, 1]);
        assert_eq!(hash_order(&["a", "q"]), vec![0, 1]);
    }

    #[test]
    fn long_buckets_grow_the_table_and_keep_their_order() {
        // Twenty keys that all land in bucket 0 of 16: the ninth makes the table grow to 32,
        // a second long bucket makes it 64; each bucket keeps insertion order.
        let mut set = JavaHashSet::new();
        for i in 0..20u32 {
            assert!(set.insert(i as i32 * 16, i));
        }
        assert!(!set.insert(0, 0));
        assert_eq!(set.len(), 20);
        let order: Vec<u32> = set.iter().copied().collect();
        let mut expected: Vec<u32> = (0..20).collect();
        expected.sort_by_key(|i| (i * 16) % 64);
        assert_eq!(order, expected);
        assert!(set.remove(0, &0));
        assert!(!set.remove(0, &0));
    }
}

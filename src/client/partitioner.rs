//! The producer's partitioner: which partition a record goes to. A keyed record goes to
//! `(murmur2(key) & 0x7fffffff) % partitions`, bit for bit as Kafka's `BuiltInPartitioner` and
//! `Utils.murmur2` compute it (note the mask, not `abs`), so a key lands where it would in a real
//! cluster. A record without a key goes to the sticky partition — one partition until its batch
//! is full, then another — or, with the round-robin partitioner, to the next partition in turn.
//!
//! Left out: Kafka 3.3's adaptive sticky partitioning by broker queue sizes; the sticky choice
//! here is uniform over the partitions, drawn from the producer's seeded RNG.

use rand::RngExt;

use crate::sim::SimRng;

/// Kafka's `Utils.murmur2`: 32-bit MurmurHash2 with seed `0x9747b28c`, as a signed int.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h = SEED ^ (length as u32);
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        // Java sign-extends each byte before xoring it in.
        let byte = |i: usize| (tail[i] as i8) as i32 as u32;
        if tail.len() == 3 {
            h ^= (byte(2) & 0xff) << 16;
        }
        if tail.len() >= 2 {
            h ^= (byte(1) & 0xff) << 8;
        }
        h ^= byte(0) & 0xff;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows on `i32::MIN`).
pub fn to_positive(n: i32) -> u32 {
    (n & 0x7fff_ffff) as u32
}

/// The partition Kafka's default partitioner picks for a key.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has at least one partition");
    to_positive(murmur2(key)) % partitions
}

/// How records without a key are spread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NullKeyPartitioner {
    /// Kafka's built-in sticky partitioner: the current partition until a batch completes.
    Sticky {
        /// The partition records go to now, chosen on first use.
        current: Option<u32>,
    },
    /// `RoundRobinPartitioner`: each record to the next partition.
    RoundRobin {
        /// The partition the next record takes.
        next: u32,
    },
}

impl NullKeyPartitioner {
    /// The partition for the next record without a key.
    pub fn partition(&mut self, partitions: u32, rng: &mut SimRng) -> u32 {
        assert!(partitions > 0, "a topic has at least one partition");
        match self {
            NullKeyPartitioner::Sticky { current } => {
                *current.get_or_insert_with(|| rng.random_range(0..partitions)) % partitions
            }
            NullKeyPartitioner::RoundRobin { next } => {
                let partition = *next % partitions;
                *next = (partition + 1) % partitions;
                partition
            }
        }
    }

    /// A batch for the sticky partition completed: move to another partition (if any).
    pub fn on_batch_complete(&mut self, partitions: u32, rng: &mut SimRng) {
        if let NullKeyPartitioner::Sticky { current } = self
            && partitions > 1
        {
            let old = current.unwrap_or(0) % partitions;
            // Uniform over the other partitions, as Kafka's sticky partitioner moves on.
            let pick = rng.random_range(0..partitions - 1);
            *current = Some(if pick >= old { pick + 1 } else { pick });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{RootRng, Stream};

    #[test]
    fn murmur2_matches_kafkas_published_values() {
        let cases: [(&str, i32); 4] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("abc", 479_470_107),
            ("a-little-bit-long-string", -985_981_536),
        ];
        for (key, hash) in cases {
            assert_eq!(murmur2(key.as_bytes()), hash, "murmur2({key:?})");
        }
    }

    #[test]
    fn keys_land_where_kafka_puts_them() {
        assert_eq!(partition_for_key(b"key", 10), 1);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), 0x7fff_ffff);
    }

    #[test]
    fn round_robin_deals_in_turn_and_sticky_moves_on_after_a_batch() {
        let mut rng = RootRng::new(1).fork(Stream::Node(0));
        let mut rr = NullKeyPartitioner::RoundRobin { next: 0 };
        let dealt: Vec<u32> = (0..5).map(|_| rr.partition(3, &mut rng)).collect();
        assert_eq!(dealt, [0, 1, 2, 0, 1]);
        let mut sticky = NullKeyPartitioner::Sticky { current: None };
        let first = sticky.partition(4, &mut rng);
        assert_eq!(
            sticky.partition(4, &mut rng),
            first,
            "sticky until the batch completes"
        );
        sticky.on_batch_complete(4, &mut rng);
        assert_ne!(sticky.partition(4, &mut rng), first);
    }
}

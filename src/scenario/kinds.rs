//! The closed vocabularies of scenario files: protocols, `acks`, assignors, commit policies,
//! fault kinds and anomaly kinds. Each is an enum whose values are spelt exactly as in scenario
//! files (and in Kafka, where Kafka has the word). An unknown spelling is an error listing the
//! known ones, with a suggestion when one is close.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// Defines a fieldless enum whose values have fixed scenario spellings.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            /// Every value's spelling, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text,)+];

            /// The value's spelling in scenario files.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// The value spelt `name`, if there is one.
            pub fn from_name(name: &str) -> Option<$name> {
                match name { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Names;
                impl Visitor<'_> for Names {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "one of {}", quoted_list($name::NAMES))
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::from_name(v).ok_or_else(|| E::unknown_variant(v, $name::NAMES))
                    }
                }
                d.deserialize_str(Names)
            }
        }
    };
}

/// Formats names as "`a`, `b` or `c`".
pub(crate) fn quoted_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

named_enum! {
    /// How a replica decides where to truncate its log: `"replication.protocol"` in `[cluster]`.
    pub enum ReplicationProtocol {
        /// Kafka ≤ 0.10: truncate to the replica's own checkpointed high watermark.
        HwTruncation = "hw-truncation",
        /// Kafka 0.11 (KIP-101): ask the leader with `OffsetsForLeaderEpoch`.
        Kip101 = "kip-101",
        /// Kafka 2.0+ (KIP-279): the epoch lookup iterates to the divergence point.
        Kip279 = "kip-279",
    }
}

named_enum! {
    /// Which transaction protocol brokers speak: `"transactions.protocol"` in `[cluster]`.
    pub enum TransactionsProtocol {
        /// Before KIP-890: one producer epoch spans many transactions.
        Classic = "classic",
        /// KIP-890: the epoch is bumped at every transaction end and partitions are verified.
        Kip890 = "kip-890",
    }
}

named_enum! {
    /// A consumer's `isolation.level`.
    pub enum IsolationLevel {
        /// Read everything below the high watermark.
        ReadUncommitted = "read_uncommitted",
        /// Read below the last stable offset and skip aborted transactions.
        ReadCommitted = "read_committed",
    }
}

named_enum! {
    /// One assignor of `partition.assignment.strategy`.
    pub enum AssignmentStrategy {
        /// `RangeAssignor`: contiguous ranges per topic.
        Range = "range",
        /// `RoundRobinAssignor`: all partitions dealt in turn.
        RoundRobin = "roundrobin",
        /// `StickyAssignor`: balanced, keeping owned partitions (eager).
        Sticky = "sticky",
        /// `CooperativeStickyAssignor`: sticky with incremental (cooperative) rebalancing.
        CooperativeSticky = "cooperative-sticky",
    }
}

named_enum! {
    /// A consumer's `auto.offset.reset`.
    pub enum AutoOffsetReset {
        /// Start at the log start offset.
        Earliest = "earliest",
        /// Start at the high watermark (or last stable offset).
        Latest = "latest",
        /// Fail the poll with an error.
        None = "none",
    }
}

named_enum! {
    /// How a producer picks a partition for a record without a key.
    pub enum Partitioner {
        /// Kafka's built-in sticky partitioner: fill a batch for one partition, then move on.
        Sticky = "sticky",
        /// `RoundRobinPartitioner`: deal records to partitions in turn.
        RoundRobin = "round-robin",
    }
}

named_enum! {
    /// When a consumer commits its offsets: the entry's `commit` key.
    pub enum CommitPolicy {
        /// `enable.auto.commit`: commit the previous poll's position periodically.
        Auto = "auto",
        /// Commit after processing a poll's records (at-least-once).
        AfterProcessing = "after-processing",
        /// Commit before processing a poll's records (at-most-once).
        BeforeProcessing = "before-processing",
    }
}

named_enum! {
    /// What a `[[fault]]` does: its `action` key.
    pub enum FaultKind {
        /// The process dies; the page cache survives.
        Kill = "kill",
        /// The machine loses power; unsynced bytes are lost.
        PowerOff = "power-off",
        /// A crashed node boots again from its disk.
        Restart = "restart",
        /// The process stops running until resumed (or `for_ms` passed).
        Pause = "pause",
        /// A paused process runs again.
        Resume = "resume",
        /// The network splits into `groups`.
        Partition = "partition",
        /// One node is cut off from everyone.
        Isolate = "isolate",
        /// Messages from `from` no longer reach `to`.
        Cut = "cut",
        /// Every network fault is undone.
        Heal = "heal",
        /// Messages from `from` to `to` take `extra_ms` longer for `for_ms`.
        SlowLink = "slow-link",
        /// Syncs on a broker's disk take `extra_ms` longer for `for_ms`.
        SlowDisk = "slow-disk",
    }
}

impl FaultKind {
    /// The kinds the nemesis may draw at random (each has an undo: restart, resume, heal).
    pub const NEMESIS: &'static [FaultKind] = &[
        FaultKind::Kill,
        FaultKind::Restart,
        FaultKind::PowerOff,
        FaultKind::Pause,
        FaultKind::Partition,
        FaultKind::Isolate,
        FaultKind::Cut,
        FaultKind::SlowLink,
        FaultKind::SlowDisk,
    ];
}

named_enum! {
    /// An anomaly a checker reports (DESIGN §5); `[expect]` lists the kinds a run must show.
    pub enum AnomalyKind {
        /// An acknowledged record is missing from the final log of its partition.
        LostWrite = "lost-write",
        /// One sent record appears at more than one offset.
        Duplicate = "duplicate",
        /// One offset was read with different records at different times or by different readers.
        InconsistentOffsets = "inconsistent-offsets",
        /// After settling, two replicas differ at an offset below both high watermarks.
        ReplicaDivergence = "replica-divergence",
        /// A consumer read a record below the HW that is not in the final log.
        CommittedReadLost = "committed-read-lost",
        /// Two brokers accepted writes as leader of one partition in the same leader epoch.
        MultipleLeaders = "multiple-leaders",
        /// One producer's successive acked sends to a partition got decreasing offsets.
        NonmonotonicSend = "nonmonotonic-send",
        /// A consumer's successive polls skipped offsets that exist.
        PollSkip = "poll-skip",
        /// A consumer's next poll started at or before where the previous one ended.
        NonmonotonicPoll = "nonmonotonic-poll",
        /// A record of an aborted transaction (or a definitely failed send) was read.
        AbortedRead = "aborted-read",
        /// Part of a committed transaction is visible to read_committed readers and part is not.
        TornTransaction = "torn-transaction",
        /// A pipeline input record is reflected more than once in committed output.
        EosDuplicate = "eos-duplicate",
        /// A pipeline input record consumed by a committed offset is missing from the output.
        EosMissing = "eos-missing",
        /// After heal and settle: no leader, a stuck LSO, or writes that never complete.
        Liveness = "liveness",
        /// Two members of a group polled one partition in the same generation.
        DoubleOwnership = "double-ownership",
    }
}

impl Default for ReplicationProtocol {
    /// KIP-279, what every Kafka since 2.0 runs.
    fn default() -> Self {
        ReplicationProtocol::Kip279
    }
}

impl Default for TransactionsProtocol {
    /// The classic protocol, what Kafka ran before KIP-890.
    fn default() -> Self {
        TransactionsProtocol::Classic
    }
}

impl Default for Partitioner {
    /// The built-in sticky partitioner.
    fn default() -> Self {
        Partitioner::Sticky
    }
}

impl Default for CommitPolicy {
    /// Auto-commit, Kafka's `enable.auto.commit=true`.
    fn default() -> Self {
        CommitPolicy::Auto
    }
}

/// A producer's `acks`: how many replicas must have a batch before the leader answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Acks {
    /// `acks=0`: the producer expects no response at all.
    None,
    /// `acks=1`: the leader answers after its own append.
    Leader,
    /// `acks=all` (or -1): the leader answers once the high watermark passed the batch.
    All,
}

impl Acks {
    /// The value as Kafka's wire protocol carries it: 0, 1 or -1.
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }

    /// The value spelt `text` ("all", "-1", "0" or "1"), if any.
    pub fn from_name(text: &str) -> Option<Acks> {
        match text {
            "all" | "-1" => Some(Acks::All),
            "0" => Some(Acks::None),
            "1" => Some(Acks::Leader),
            _ => None,
        }
    }
}

impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        })
    }
}

impl<'de> Deserialize<'de> for Acks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AcksVisitor;
        impl Visitor<'_> for AcksVisitor {
            type Value = Acks;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"all\", -1, 0 or 1")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Acks, E> {
                Acks::from_name(v).ok_or_else(|| E::unknown_variant(v, &["all", "-1", "0", "1"]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Acks, E> {
                match v {
                    -1 => Ok(Acks::All),
                    0 => Ok(Acks::None),
                    1 => Ok(Acks::Leader),
                    _ => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Acks, E> {
                match i64::try_from(v) {
                    Ok(signed) => self.visit_i64(signed),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
                }
            }
        }
        d.deserialize_any(AcksVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in AnomalyKind::ALL {
            assert_eq!(AnomalyKind::from_name(kind.as_str()), Some(*kind));
        }
        for kind in FaultKind::ALL {
            assert_eq!(FaultKind::from_name(&kind.to_string()), Some(*kind));
        }
        assert_eq!(
            ReplicationProtocol::from_name("kip-101"),
            Some(ReplicationProtocol::Kip101)
        );
    }

    #[test]
    fn quoted_list_reads_as_english() {
        assert_eq!(quoted_list(&[]), "");
        assert_eq!(quoted_list(&["a"]), "\"a\"");
        assert_eq!(quoted_list(&["a", "b", "c"]), "\"a\", \"b\" or \"c\"");
    }

    #[test]
    fn acks_spellings() {
        assert_eq!(Acks::from_name("all"), Some(Acks::All));
        assert_eq!(Acks::from_name("-1"), Some(Acks::All));
        assert_eq!(Acks::from_name("0"), Some(Acks::None));
        assert_eq!(Acks::from_name("1"), Some(Acks::Leader));
        assert_eq!(Acks::from_name("2"), None);
        assert_eq!(Acks::All.as_i16(), -1);
    }
}

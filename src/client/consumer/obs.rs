//! What a consumer shows the checkers and the short log: each generation's assignment, every
//! poll (member, generation, partition, offsets, records), every processed poll, every position
//! set without a poll (a committed offset fetched, a reset) and every commit's outcome.

use std::fmt;
use std::sync::Arc;

use crate::protocol::KafkaError;
use crate::record::RecordId;

/// One consumer observation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ConsumerObs {
    /// The member received its assignment for a generation (after a rebalance).
    Assigned {
        /// The group.
        group: Arc<str>,
        /// The member id.
        member_id: Arc<str>,
        /// The generation.
        generation: i32,
        /// The partitions it owns now (names).
        partitions: Vec<Arc<str>>,
    },
    /// The member gave up partitions (revoked before a rebalance, or lost).
    Revoked {
        /// The group.
        group: Arc<str>,
        /// The partitions.
        partitions: Vec<Arc<str>>,
        /// Whether they were lost (no commit possible) rather than revoked.
        lost: bool,
    },
    /// A poll returned records of one partition at consecutive offsets.
    Poll {
        /// The group.
        group: Arc<str>,
        /// The member id.
        member_id: Arc<str>,
        /// The member's generation.
        generation: i32,
        /// The partition.
        partition: Arc<str>,
        /// The first record's offset.
        offset: u64,
        /// The records, in offset order.
        ids: Vec<RecordId>,
        /// Whether the member reads `read_committed` (it passes over aborted records).
        read_committed: bool,
        /// The position after the poll: past its last record, and past markers and aborted
        /// records a `read_committed` poll passed over among them.
        end: u64,
    },
    /// The application finished processing a poll's records of one partition.
    Processed {
        /// The group.
        group: Arc<str>,
        /// The partition.
        partition: Arc<str>,
        /// The first record's offset.
        offset: u64,
        /// The records.
        ids: Vec<RecordId>,
    },
    /// A partition's position was set without a poll: its committed offset, or a reset.
    Seek {
        /// The partition.
        partition: Arc<str>,
        /// The new position.
        offset: u64,
        /// Why: `committed`, `reset-earliest`, `reset-latest`.
        why: &'static str,
    },
    /// An offset commit's outcome.
    Commit {
        /// The group.
        group: Arc<str>,
        /// The member id.
        member_id: Arc<str>,
        /// The generation sent.
        generation: i32,
        /// The offsets.
        offsets: Vec<(Arc<str>, u64)>,
        /// Committed, or why not.
        result: Result<(), KafkaError>,
    },
}

impl ConsumerObs {
    /// Appends the observation's short-log text to `out`; polls and processed polls (the
    /// frequent kinds) without the formatting machinery, the rest by `Display`.
    pub fn write_to(&self, out: &mut String) {
        use crate::trace::push_u64;
        match self {
            ConsumerObs::Poll {
                generation,
                partition,
                offset,
                ids,
                ..
            } => {
                out.push_str("poll ");
                push_records(out, partition, *offset, ids.len());
                out.push_str(" (generation ");
                if *generation < 0 {
                    out.push('-');
                }
                push_u64(out, u64::from(generation.unsigned_abs()));
                out.push(')');
            }
            ConsumerObs::Processed {
                partition,
                offset,
                ids,
                ..
            } => {
                out.push_str("processed ");
                push_records(out, partition, *offset, ids.len());
            }
            _ => {
                use fmt::Write as _;
                write!(out, "{self}").expect("writing to a String cannot fail");
            }
        }
    }
}

/// Appends `<partition>@<offset> +<count>`, the records a poll line speaks of.
fn push_records(out: &mut String, partition: &str, offset: u64, count: usize) {
    out.push_str(partition);
    out.push('@');
    crate::trace::push_u64(out, offset);
    out.push_str(" +");
    crate::trace::push_u64(out, count as u64);
}

impl fmt::Display for ConsumerObs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsumerObs::Poll { .. } | ConsumerObs::Processed { .. } => {
                let mut text = String::new();
                self.write_to(&mut text);
                f.write_str(&text)
            }
            ConsumerObs::Assigned {
                group,
                member_id,
                generation,
                partitions,
            } => {
                let list: Vec<&str> = partitions.iter().map(|p| &**p).collect();
                write!(
                    f,
                    "group {group} {member_id} generation {generation} assigned {list:?}"
                )
            }
            ConsumerObs::Revoked {
                group,
                partitions,
                lost,
            } => {
                let list: Vec<&str> = partitions.iter().map(|p| &**p).collect();
                let what = if *lost { "lost" } else { "revoked" };
                write!(f, "group {group} {what} {list:?}")
            }
            ConsumerObs::Seek {
                partition,
                offset,
                why,
            } => write!(f, "seek {partition} -> {offset} ({why})"),
            ConsumerObs::Commit {
                generation,
                member_id,
                offsets,
                result,
                ..
            } => {
                let list: Vec<String> = offsets.iter().map(|(p, o)| format!("{p}@{o}")).collect();
                let outcome = match result {
                    Ok(()) => "ok".to_owned(),
                    Err(e) => e.to_string(),
                };
                write!(
                    f,
                    "commit {} by {member_id} generation {generation}: {outcome}",
                    list.join(" ")
                )
            }
        }
    }
}

//! Checkers: oracles outside the system. They read the history of client operations (from the
//! run's observations) and a god's-eye view of every replica's final log, never a broker's own
//! opinion, and report anomalies by their stable names (DESIGN §5). One checker per file.

mod aborted_read;
pub mod chunked;
mod committed_read_lost;
pub mod consumption;
mod divergence;
mod double_ownership;
mod duplicate;
pub mod exactly_once;
mod history;
mod inconsistent_offsets;
mod liveness;
mod lost_write;
mod multiple_leaders;
mod nonmonotonic_send;
mod poll_order;
mod record_set;
mod stuck_transaction;
pub mod tail_reads;
mod torn_transaction;

use std::fmt;

pub use history::{FinalPartition, History, Outcome, ReplicaView, SendOp, Truncation, TxnOutcome};

use crate::scenario::AnomalyKind;

/// Each partition the history sent to, by [`SendOp::partition_id`], with its final state if the
/// final reads have one: a checker walking millions of sends indexes this instead of looking each
/// partition up by name.
fn finals_by_sent_partition<'a>(
    history: &History,
    finals: &'a [FinalPartition],
) -> Vec<Option<&'a FinalPartition>> {
    let by_name: std::collections::BTreeMap<&str, &FinalPartition> =
        finals.iter().map(|p| (&*p.name, p)).collect();
    let sent = history.sent_partitions().iter();
    sent.map(|name| by_name.get(&**name).copied()).collect()
}

/// One anomaly found by a checker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// Which kind.
    pub kind: AnomalyKind,
    /// Partition name (`orders-0`); the topic and partition number split it.
    pub partition: String,
    /// The offset concerned.
    pub offset: u64,
    /// The record concerned (`p1-41`), or empty.
    pub record: String,
    /// When it became visible, in simulated ms.
    pub at_ms: u64,
    /// How it happened, in one paragraph.
    pub explanation: String,
}

impl Anomaly {
    /// The topic part of the partition name.
    pub fn topic(&self) -> &str {
        self.partition
            .rsplit_once('-')
            .map_or(&self.partition, |(t, _)| t)
    }

    /// The partition number.
    pub fn partition_number(&self) -> u32 {
        self.partition
            .rsplit_once('-')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(0)
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}@{} {}: {}",
            self.kind, self.partition, self.offset, self.record, self.explanation
        )
    }
}

/// Runs every checker over the history and the final logs.
pub fn check_all(history: &History, finals: &[FinalPartition], end_ms: u64) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    anomalies.extend(lost_write::check(history, finals, end_ms));
    anomalies.extend(duplicate::check(history, finals, end_ms));
    anomalies.extend(divergence::check(history, finals, end_ms));
    anomalies.extend(committed_read_lost::check(history, finals));
    anomalies.extend(inconsistent_offsets::check(history, finals, end_ms));
    anomalies.extend(multiple_leaders::check(history));
    anomalies.extend(nonmonotonic_send::check(history));
    anomalies.extend(liveness::check(history, finals, end_ms));
    anomalies.extend(poll_order::check(history, finals));
    anomalies.extend(double_ownership::check(history));
    anomalies.extend(aborted_read::check(history, finals));
    anomalies.extend(torn_transaction::check(history, finals));
    anomalies.extend(stuck_transaction::check(finals, end_ms));
    anomalies
}

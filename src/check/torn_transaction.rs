//! `torn-transaction`: part of a transaction its producer saw commit is visible to the
//! `read_committed` final read and part is not (on partitions that read finished).

use std::collections::BTreeSet;

use super::record_set::RecordSet;
use super::{Anomaly, FinalPartition, History};
use crate::record::RecordId;
use crate::scenario::AnomalyKind;

/// Finds committed transactions only partly visible to `read_committed`.
pub fn check(history: &History, finals: &[FinalPartition]) -> Vec<Anomaly> {
    if !history.transactions.iter().any(|t| t.committed) {
        return Vec::new();
    }
    let visible: RecordSet = finals
        .iter()
        .filter_map(|p| p.read_committed.as_ref())
        .flatten()
        .map(|(_, id)| *id)
        .collect();
    let read: BTreeSet<&str> = finals
        .iter()
        .filter(|p| p.read_committed.is_some())
        .map(|p| &*p.name)
        .collect();
    let partition_of = |id| history.send(id).map(|op| op.partition);
    let mut anomalies = Vec::new();
    for txn in history.transactions.iter().filter(|t| t.committed) {
        let judged: Vec<RecordId> = txn
            .records
            .iter()
            .copied()
            .filter(|&id| partition_of(id).is_some_and(|p| read.contains(p)))
            .collect();
        let (seen, missing): (Vec<RecordId>, Vec<RecordId>) =
            judged.iter().partition(|&&id| visible.contains(id));
        let Some(&first_missing) = missing.first() else {
            continue;
        };
        if seen.is_empty() {
            continue;
        }
        let partition = partition_of(first_missing).expect("judged records were sent");
        let name = history.record_name(first_missing);
        anomalies.push(Anomaly {
            kind: AnomalyKind::TornTransaction,
            partition: partition.to_string(),
            offset: 0,
            record: name.clone(),
            at_ms: txn.at.as_millis(),
            explanation: format!(
                "the transaction of {} (epoch {}) committed at {} ms: read_committed readers see \
                 {} of its {} records ({} first) but not {} ({name} first{}).",
                history.record_name(txn.records[0]),
                txn.epoch,
                txn.at.as_millis(),
                seen.len(),
                judged.len(),
                history.record_name(seen[0]),
                missing.len(),
                history.outcome_clause(first_missing)
            ),
        });
    }
    anomalies
}

//! `aborted-read`: the `read_committed` final read handed the application a record of a
//! transaction its producer aborted, or a record whose send failed for certain.

use std::collections::BTreeMap;

use super::{Anomaly, FinalPartition, History, Outcome};
use crate::record::RecordId;
use crate::scenario::AnomalyKind;

/// Finds aborted or definitely failed records in the `read_committed` view.
pub fn check(history: &History, finals: &[FinalPartition]) -> Vec<Anomaly> {
    let mut aborted: BTreeMap<RecordId, u64> = BTreeMap::new();
    for txn in history.transactions.iter().filter(|t| !t.committed) {
        for id in &txn.records {
            aborted.insert(*id, txn.at.as_millis());
        }
    }
    let mut anomalies = Vec::new();
    for partition in finals {
        let Some(read) = &partition.read_committed else {
            continue;
        };
        for &(offset, id) in read {
            let why = if let Some(at) = aborted.get(&id) {
                format!("its producer's transaction was aborted at {at} ms")
            } else if definitely_failed(history, id) {
                "its send failed for certain".to_string()
            } else {
                continue;
            };
            let name = history.record_name(id);
            let written = history.outcome_clause(id);
            anomalies.push(Anomaly {
                kind: AnomalyKind::AbortedRead,
                partition: partition.name.to_string(),
                offset,
                record: name.clone(),
                at_ms: history.transactions.last().map_or(0, |t| t.at.as_millis()),
                explanation: format!(
                    "a read_committed reader read {name} at offset {offset} of {}{written}, but \
                     {why}: a later COMMIT marker of the same producer covered it.",
                    partition.name
                ),
            });
        }
    }
    anomalies
}

fn definitely_failed(history: &History, id: RecordId) -> bool {
    history
        .send(id)
        .is_some_and(|op| matches!(op.outcome, Outcome::Failed { definite: true, .. }))
}

//! `duplicate`: one sent record appears at more than one offset of the final log.

use std::collections::{BTreeMap, BTreeSet};

use super::record_set::RecordSet;
use super::{Anomaly, FinalPartition, History};
use crate::record::RecordId;
use crate::scenario::AnomalyKind;

/// Finds records present at two or more offsets.
pub fn check(history: &History, finals: &[FinalPartition], end_ms: u64) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    for partition in finals {
        let mut seen = RecordSet::new();
        let twice: BTreeSet<RecordId> = partition
            .committed()
            .iter()
            .filter(|(_, id)| !seen.insert(*id))
            .map(|(_, id)| *id)
            .collect();
        if twice.is_empty() {
            continue;
        }
        let mut offsets_of: BTreeMap<RecordId, Vec<u64>> = BTreeMap::new();
        for (offset, id) in partition.committed() {
            if twice.contains(id) {
                offsets_of.entry(*id).or_default().push(*offset);
            }
        }
        for (id, offsets) in offsets_of {
            anomalies.push(Anomaly {
                kind: AnomalyKind::Duplicate,
                partition: partition.name.to_string(),
                offset: offsets[1],
                record: history.record_name(id),
                at_ms: end_ms,
                explanation: format!(
                    "{} is in the final log at offsets {offsets:?}{}: a retried send was written \
                     twice.",
                    history.record_name(id),
                    history.outcome_clause(id)
                ),
            });
        }
    }
    anomalies
}

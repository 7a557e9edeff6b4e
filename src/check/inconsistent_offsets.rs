//! `inconsistent-offsets`: one offset of a partition was seen holding different records — two
//! records acknowledged at the same offset, or an acknowledged offset that the final log fills
//! with another record.

use std::collections::BTreeMap;

use super::{Anomaly, FinalPartition, History, Outcome};
use crate::record::RecordId;
use crate::scenario::AnomalyKind;

/// Compares acknowledged offsets with each other and with the final log.
pub fn check(history: &History, finals: &[FinalPartition], end_ms: u64) -> Vec<Anomaly> {
    let mut acked: BTreeMap<(&str, u64), RecordId> = BTreeMap::new();
    let mut anomalies = Vec::new();
    let mut report = |partition: &str, offset: u64, id: RecordId, other: String, at_ms: u64| {
        anomalies.push(Anomaly {
            kind: AnomalyKind::InconsistentOffsets,
            partition: partition.to_owned(),
            offset,
            record: history.record_name(id),
            at_ms,
            explanation: format!(
                "offset {offset} of {partition} was acknowledged for {} but also holds {other}.",
                history.record_name(id)
            ),
        });
    };
    for (id, op) in &history.sends {
        let Outcome::Acked { offset, at } = op.outcome else {
            continue;
        };
        match acked.insert((&op.partition, offset), *id) {
            Some(other) if other != *id => {
                report(
                    &op.partition,
                    offset,
                    *id,
                    history.record_name(other),
                    at.as_millis(),
                );
            }
            _ => {}
        }
    }
    for partition in finals {
        let committed: BTreeMap<u64, RecordId> = partition.committed().iter().copied().collect();
        for (&(name, offset), &id) in
            acked.range((&*partition.name, 0)..=(&*partition.name, u64::MAX))
        {
            if let Some(&found) = committed.get(&offset)
                && found != id
            {
                report(
                    name,
                    offset,
                    id,
                    format!("{} in the final log", history.record_name(found)),
                    end_ms,
                );
            }
        }
    }
    anomalies
}

//! `inconsistent-offsets`: one offset of a partition was seen holding different records — two
//! records acknowledged at the same offset, or an acknowledged offset that the final log fills
//! with another record.

use std::collections::BTreeMap;

use super::{Anomaly, FinalPartition, History, Outcome};
use crate::record::RecordId;
use crate::scenario::AnomalyKind;

/// Compares acknowledged offsets with each other and with the final log.
pub fn check(history: &History, finals: &[FinalPartition], end_ms: u64) -> Vec<Anomaly> {
    // Acknowledgements per partition as (offset, record, ms), sorted by offset.
    let mut acked: BTreeMap<&str, Vec<(u64, RecordId, u64)>> = BTreeMap::new();
    for (id, op) in history.sends() {
        if let Outcome::Acked { offset, at, .. } = op.outcome {
            acked
                .entry(op.partition)
                .or_default()
                .push((offset, id, at.as_millis()));
        }
    }
    let committed: BTreeMap<&str, &[(u64, RecordId)]> =
        finals.iter().map(|p| (&*p.name, p.committed())).collect();
    let mut anomalies = Vec::new();
    for (partition, acks) in &mut acked {
        acks.sort_unstable();
        let log = committed.get(partition).copied().unwrap_or(&[]);
        for group in acks.chunk_by(|a, b| a.0 == b.0) {
            let offset = group[0].0;
            let final_record = log
                .binary_search_by_key(&offset, |(o, _)| *o)
                .ok()
                .map(|k| log[k].1);
            let mut ids: Vec<RecordId> = group.iter().map(|a| a.1).collect();
            ids.dedup();
            let odd = ids
                .iter()
                .find(|&&id| ids.len() > 1 || final_record.is_some_and(|f| f != id));
            let Some(&odd) = odd else { continue };
            let names: Vec<String> = ids.iter().map(|&id| history.record_name(id)).collect();
            let mut explanation = format!(
                "offset {offset} of {partition} was acknowledged for {}",
                names.join(" and ")
            );
            if let Some(found) = final_record {
                explanation +=
                    &format!("; the final log holds {} there", history.record_name(found));
            }
            let at_ms = if ids.len() > 1 {
                group.iter().map(|a| a.2).max().unwrap_or(end_ms)
            } else {
                end_ms
            };
            anomalies.push(Anomaly {
                kind: AnomalyKind::InconsistentOffsets,
                partition: (*partition).to_owned(),
                offset,
                record: history.record_name(odd),
                at_ms,
                explanation: explanation + ".",
            });
        }
    }
    anomalies
}

//! `inconsistent-offsets`: one offset of a partition was seen holding different records — two
//! records acknowledged at the same offset, or an acknowledged offset that the final log fills
//! with another record.

use super::{Anomaly, FinalPartition, History, Outcome, finals_by_sent_partition};
use crate::record::RecordId;
use crate::scenario::AnomalyKind;

/// Compares acknowledged offsets with each other and with the final log.
pub fn check(history: &History, finals: &[FinalPartition], end_ms: u64) -> Vec<Anomaly> {
    // Acknowledgements per sent partition as (offset, record, ms), then sorted by offset.
    let partitions = history.sent_partitions();
    let mut acked: Vec<Vec<(u64, RecordId, u64)>> = vec![Vec::new(); partitions.len()];
    for (id, op) in history.sends() {
        if let Outcome::Acked { offset, at, .. } = op.outcome {
            acked[op.partition_id as usize].push((offset, id, at.as_millis()));
        }
    }
    let finals = finals_by_sent_partition(history, finals);
    let mut by_name: Vec<usize> = (0..partitions.len()).collect();
    by_name.sort_by_key(|&i| &partitions[i]);
    let mut anomalies = Vec::new();
    for i in by_name {
        let (partition, acks) = (&*partitions[i], &mut acked[i]);
        if !acks.is_sorted() {
            acks.sort_unstable();
        }
        let log = finals[i].map_or(&[][..], FinalPartition::committed);
        // Both by offset: walk the log along the acknowledgements.
        let mut k = 0;
        for group in acks.chunk_by(|a, b| a.0 == b.0) {
            let offset = group[0].0;
            while log.get(k).is_some_and(|(o, _)| *o < offset) {
                k += 1;
            }
            let final_record = log.get(k).filter(|(o, _)| *o == offset).map(|(_, id)| *id);
            let first = group[0].1;
            if group.iter().all(|a| a.1 == first) && final_record.is_none_or(|f| f == first) {
                continue;
            }
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
                partition: partition.to_owned(),
                offset,
                record: history.record_name(odd),
                at_ms,
                explanation: explanation + ".",
            });
        }
    }
    anomalies
}

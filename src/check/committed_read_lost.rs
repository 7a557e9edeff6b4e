//! `committed-read-lost`: a consumer read a record — below the high watermark, as consumers only
//! read — that is not in the final log of its partition. The tail reader is that consumer.

use std::collections::BTreeMap;

use super::record_set::RecordSet;
use super::{Anomaly, FinalPartition, History};
use crate::scenario::AnomalyKind;

/// Finds records the tail reader read that the final reader did not find.
pub fn check(history: &History, finals: &[FinalPartition]) -> Vec<Anomaly> {
    let present: BTreeMap<&str, (u64, RecordSet)> = finals
        .iter()
        .filter(|p| p.read.is_some())
        .map(|p| {
            (
                &*p.name,
                (
                    p.log_start_offset(),
                    p.committed().iter().map(|(_, id)| *id).collect(),
                ),
            )
        })
        .collect();
    let mut reported = RecordSet::new();
    let mut anomalies = Vec::new();
    // A read hands over many records of one partition: look the partition up once per run of them.
    let mut last: Option<(&str, Option<&(u64, RecordSet)>)> = None;
    for (at, partition, offset, id) in history.tail_reads.iter() {
        let found = match last {
            Some((name, found)) if std::ptr::eq(name, &**partition) => found,
            _ => {
                let found = present.get(&**partition);
                last = Some((partition, found));
                found
            }
        };
        let Some((log_start, records)) = found else {
            continue;
        };
        // Below the log start, retention deleted it: no loss.
        if offset < *log_start || records.contains(id) || !reported.insert(id) {
            continue;
        }
        let record = history.record_name(id);
        anomalies.push(Anomaly {
            kind: AnomalyKind::CommittedReadLost,
            partition: partition.to_string(),
            offset,
            record: record.clone(),
            at_ms: at.as_millis(),
            explanation: format!(
                "a consumer read {record} at offset {offset} of {partition} at {} ms, below the high \
                 watermark; the final log does not have it.",
                at.as_millis()
            ),
        });
    }
    anomalies
}

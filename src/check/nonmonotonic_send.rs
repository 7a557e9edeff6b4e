//! `nonmonotonic-send`: one producer's successive acknowledged sends to a partition got
//! decreasing offsets.

use super::{Anomaly, History, Outcome};
use crate::record::RecordId;
use crate::scenario::AnomalyKind;

/// Walks each producer's acknowledged sends per partition in send order.
pub fn check(history: &History) -> Vec<Anomaly> {
    // The last acknowledged send of the current producer, by sent partition: sends come by
    // producer and then record number.
    let mut last: Vec<Option<(u64, RecordId)>> = vec![None; history.sent_partitions().len()];
    let mut producer = None;
    let mut anomalies = Vec::new();
    for (id, op) in history.sends() {
        if producer != Some(id.producer) {
            producer = Some(id.producer);
            last.fill(None);
        }
        let Outcome::Acked { offset, at, .. } = op.outcome else {
            continue;
        };
        let previous = last[op.partition_id as usize].replace((offset, id));
        if let Some((previous_offset, previous_id)) = previous
            && offset < previous_offset
        {
            let (name, previous_name) = (history.record_name(id), history.record_name(previous_id));
            anomalies.push(Anomaly {
                kind: AnomalyKind::NonmonotonicSend,
                partition: op.partition.to_string(),
                offset,
                record: name.clone(),
                at_ms: at.as_millis(),
                explanation: format!(
                    "{name} was acknowledged at {offset}, below {previous_name} at {previous_offset}."
                ),
            });
        }
    }
    anomalies
}

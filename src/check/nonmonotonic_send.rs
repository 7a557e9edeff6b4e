//! `nonmonotonic-send`: one producer's successive acknowledged sends to a partition got
//! decreasing offsets.

use std::collections::BTreeMap;

use super::{Anomaly, History, Outcome};
use crate::record::RecordId;
use crate::scenario::AnomalyKind;

/// Walks each producer's acknowledged sends per partition in send order.
pub fn check(history: &History) -> Vec<Anomaly> {
    let mut last: BTreeMap<(u16, &str), (u64, RecordId)> = BTreeMap::new();
    let mut anomalies = Vec::new();
    for (id, op) in history.sends() {
        let Outcome::Acked { offset, at, .. } = op.outcome else {
            continue;
        };
        let previous = last.insert((id.producer, op.partition), (offset, id));
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

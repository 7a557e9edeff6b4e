//! `nonmonotonic-send`: one producer's successive acknowledged sends to a partition got
//! decreasing offsets.

use std::collections::BTreeMap;

use super::{Anomaly, History, Outcome};
use crate::scenario::AnomalyKind;

/// Walks each producer's acknowledged sends per partition in send order.
pub fn check(history: &History) -> Vec<Anomaly> {
    let mut last: BTreeMap<(u16, &str), (u64, String)> = BTreeMap::new();
    let mut anomalies = Vec::new();
    for (id, op) in &history.sends {
        let Outcome::Acked { offset, at } = op.outcome else {
            continue;
        };
        let key = (id.producer, &*op.partition);
        let name = history.record_name(*id);
        if let Some((previous, previous_name)) = last.get(&key)
            && offset < *previous
        {
            anomalies.push(Anomaly {
                kind: AnomalyKind::NonmonotonicSend,
                partition: op.partition.to_string(),
                offset,
                record: name.clone(),
                at_ms: at.as_millis(),
                explanation: format!(
                    "{name} was acknowledged at {offset}, below {previous_name} at {previous}."
                ),
            });
        }
        last.insert(key, (offset, name));
    }
    anomalies
}

//! `multiple-leaders`: two brokers became leader of one partition in the same leader epoch.

use std::collections::BTreeMap;

use super::{Anomaly, History};
use crate::scenario::AnomalyKind;
use crate::sim::NodeId;

/// Finds an epoch led by two different brokers.
pub fn check(history: &History) -> Vec<Anomaly> {
    let mut leaders: BTreeMap<(&str, u32), NodeId> = BTreeMap::new();
    let mut anomalies = Vec::new();
    for (at, node, partition, epoch) in &history.leaderships {
        let first = *leaders.entry((partition, *epoch)).or_insert(*node);
        if first != *node {
            anomalies.push(Anomaly {
                kind: AnomalyKind::MultipleLeaders,
                partition: partition.to_string(),
                offset: 0,
                record: String::new(),
                at_ms: at.as_millis(),
                explanation: format!(
                    "{} and {} both led epoch {epoch}.",
                    history.node_name(first),
                    history.node_name(*node)
                ),
            });
        }
    }
    anomalies
}

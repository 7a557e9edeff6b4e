//! `poll-skip` and `nonmonotonic-poll`: a member's successive polls of a partition must go on
//! exactly where the previous one ended, unless a rebalance (a new assignment or a revocation)
//! or a seek (committed offset, `auto.offset.reset`) came in between. A later start that jumps
//! over offsets holding records in the final log is a skip; an earlier one re-reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::consumption::ConsumerEvent;
use super::{Anomaly, FinalPartition, History};
use crate::scenario::AnomalyKind;
use crate::sim::NodeId;

/// Whether any replica of the final log (or the final read) holds a record in `[from, to)`.
fn holds_records(finals: &[FinalPartition], partition: &str, from: u64, to: u64) -> bool {
    let Some(f) = finals.iter().find(|f| &*f.name == partition) else {
        return false;
    };
    let any_in = |records: &[(u64, crate::record::RecordId)]| {
        let k = records.partition_point(|(o, _)| *o < from);
        records.get(k).is_some_and(|(o, _)| *o < to)
    };
    f.read.as_deref().is_some_and(any_in) || f.replicas.iter().any(|r| any_in(&r.records))
}

/// Checks every member's polls.
pub fn check(history: &History, finals: &[FinalPartition]) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let mut ends: BTreeMap<(NodeId, Arc<str>), u64> = BTreeMap::new();
    for (at, node, event) in &history.consumption.events {
        match event {
            ConsumerEvent::Rebalanced => ends.retain(|(n, _), _| n != node),
            ConsumerEvent::Seek { partition } => {
                ends.remove(&(*node, partition.clone()));
            }
            ConsumerEvent::Poll {
                partition,
                offset,
                count,
                first,
                ..
            } => {
                let key = (*node, partition.clone());
                let name = &history.nodes[node.index()];
                if let Some(&end) = ends.get(&key) {
                    let record = history.record_name(*first);
                    if *offset > end && holds_records(finals, partition, end, *offset) {
                        anomalies.push(Anomaly {
                            kind: AnomalyKind::PollSkip,
                            partition: partition.to_string(),
                            offset: end,
                            record,
                            at_ms: at.as_millis(),
                            explanation: format!(
                                "{name}'s previous poll of {partition} ended at {end} but its next \
                                 poll started at {offset}, skipping offsets {end}..{offset} that \
                                 hold records, with no rebalance or seek in between"
                            ),
                        });
                    } else if *offset < end {
                        anomalies.push(Anomaly {
                            kind: AnomalyKind::NonmonotonicPoll,
                            partition: partition.to_string(),
                            offset: *offset,
                            record,
                            at_ms: at.as_millis(),
                            explanation: format!(
                                "{name}'s previous poll of {partition} ended at {end} but its next \
                                 poll started at {offset}, with no rebalance or seek in between"
                            ),
                        });
                    }
                }
                ends.insert(key, offset + count);
            }
        }
    }
    anomalies
}

//! `liveness`: after the heal and the settle phase, a partition without a leader, or sends that
//! never completed (unless their producer crashed with them).

use super::{Anomaly, FinalPartition, History, Outcome};
use crate::scenario::AnomalyKind;

/// Finds offline partitions and sends still pending at the end.
pub fn check(history: &History, finals: &[FinalPartition], end_ms: u64) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    for partition in finals.iter().filter(|p| p.read.is_none()) {
        anomalies.push(Anomaly {
            kind: AnomalyKind::Liveness,
            partition: partition.name.to_string(),
            offset: 0,
            record: String::new(),
            at_ms: end_ms,
            explanation: "the final reader could not read it to its high watermark after the heal \
                          and the settle phase (no leader answered)."
                .into(),
        });
    }
    for partition in finals.iter().filter(|p| p.read.is_some()) {
        let Some(leader) = partition.leader_replica() else {
            continue;
        };
        if leader.high_watermark < leader.log_end_offset {
            anomalies.push(Anomaly {
                kind: AnomalyKind::Liveness,
                partition: partition.name.to_string(),
                offset: leader.high_watermark,
                record: String::new(),
                at_ms: end_ms,
                explanation: format!(
                    "the high watermark is stuck at {} below the leader's log end {} after the \
                     settle phase: those writes never committed.",
                    leader.high_watermark, leader.log_end_offset
                ),
            });
        }
    }
    let pending: Vec<_> = history
        .sends()
        .filter(|(id, op)| op.outcome == Outcome::Pending && !history.died_after(*id, op.sent_at))
        .collect();
    if let Some((id, op)) = pending.first() {
        anomalies.push(Anomaly {
            kind: AnomalyKind::Liveness,
            partition: op.partition.to_string(),
            offset: 0,
            record: history.record_name(*id),
            at_ms: end_ms,
            explanation: format!(
                "{} sends never completed, the first sent at {} ms.",
                pending.len(),
                op.sent_at.as_millis()
            ),
        });
    }
    anomalies
}

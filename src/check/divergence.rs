//! `replica-divergence`: after settling, two replicas hold different records at an offset below
//! both their high watermarks.

use super::{Anomaly, FinalPartition, History, ReplicaView};
use crate::record::RecordId;
use crate::scenario::AnomalyKind;

/// Compares every pair of replicas below the smaller of their HWs.
pub fn check(history: &History, finals: &[FinalPartition], end_ms: u64) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    for partition in finals {
        for (i, a) in partition.replicas.iter().enumerate() {
            for b in &partition.replicas[i + 1..] {
                let below = a.high_watermark.min(b.high_watermark);
                // Both lists are by offset: walk b along a.
                let mut k = 0;
                let differs =
                    a.records
                        .iter()
                        .take_while(|(o, _)| *o < below)
                        .find_map(|&(o, id)| {
                            while b.records.get(k).is_some_and(|(ob, _)| *ob < o) {
                                k += 1;
                            }
                            let (ob, id_b) = *b.records.get(k)?;
                            (ob == o && id_b != id).then_some((o, id, id_b))
                        });
                if let Some((offset, id_a, id_b)) = differs {
                    anomalies.push(Anomaly {
                        kind: AnomalyKind::ReplicaDivergence,
                        partition: partition.name.to_string(),
                        offset,
                        record: String::new(),
                        at_ms: end_ms,
                        explanation: explain(history, partition, offset, [(a, id_a), (b, id_b)]),
                    });
                }
            }
        }
    }
    anomalies
}

/// Which record each replica holds, who acknowledged it, and how each replica came to hold it:
/// its elections and truncations on the partition.
fn explain(
    history: &History,
    partition: &FinalPartition,
    offset: u64,
    pair: [(&ReplicaView, RecordId); 2],
) -> String {
    let [(a, _), (b, _)] = pair;
    let mut text = format!(
        "brokers {} and {} hold different records at offset {offset}, below both HWs ({} and {})",
        a.broker, b.broker, a.high_watermark, b.high_watermark
    );
    for (replica, id) in pair {
        text += &format!(
            "; broker-{} holds {}{}",
            replica.broker,
            history.record_name(id),
            history.outcome_clause(id)
        );
    }
    let name = &partition.name;
    for (at, node, _, epoch) in history.leaderships.iter().filter(|(_, _, p, _)| p == name) {
        text += &format!(
            "; {} was elected at {} ms (epoch {epoch})",
            history.node_name(*node),
            at.as_millis()
        );
    }
    for t in history.truncations.iter().filter(|t| &t.partition == name) {
        text += &format!(
            "; {} truncated {} -> {} at {} ms by the {} rule",
            history.node_name(t.node),
            t.from,
            t.to,
            t.at.as_millis(),
            t.rule
        );
    }
    text + "."
}

//! `replica-divergence`: after settling, two replicas hold different records at an offset below
//! both their high watermarks.

use super::{Anomaly, FinalPartition};
use crate::scenario::AnomalyKind;

/// Compares every pair of replicas below the smaller of their HWs.
pub fn check(finals: &[FinalPartition], end_ms: u64) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    for partition in finals {
        for (i, a) in partition.replicas.iter().enumerate() {
            for b in &partition.replicas[i + 1..] {
                let below = a.high_watermark.min(b.high_watermark);
                let differs = a
                    .records
                    .iter()
                    .take_while(|(o, _)| *o < below)
                    .find(|(o, id)| {
                        b.records
                            .binary_search_by_key(o, |(ob, _)| *ob)
                            .is_ok_and(|k| b.records[k].1 != *id)
                    });
                if let Some((offset, _)) = differs {
                    anomalies.push(Anomaly {
                        kind: AnomalyKind::ReplicaDivergence,
                        partition: partition.name.to_string(),
                        offset: *offset,
                        record: String::new(),
                        at_ms: end_ms,
                        explanation: format!(
                            "brokers {} and {} hold different records at offset {offset}, below both HWs ({} and {}).",
                            a.broker, b.broker, a.high_watermark, b.high_watermark
                        ),
                    });
                }
            }
        }
    }
    anomalies
}

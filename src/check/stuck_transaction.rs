//! `liveness` for transactions: after the heal and the settle phase, a partition whose last
//! stable offset is stuck below its high watermark — a transaction that no marker will close
//! (a hanging transaction), so `read_committed` consumers stall.

use super::{Anomaly, FinalPartition};
use crate::scenario::AnomalyKind;

/// Finds partitions whose `read_committed` read ended at an LSO below the HW.
pub fn check(finals: &[FinalPartition], end_ms: u64) -> Vec<Anomaly> {
    finals
        .iter()
        .filter_map(|p| {
            let (lso, hw) = p.stable?;
            (lso < hw).then(|| Anomaly {
                kind: AnomalyKind::Liveness,
                partition: p.name.to_string(),
                offset: lso,
                record: String::new(),
                at_ms: end_ms,
                explanation: format!(
                    "the last stable offset is stuck at {lso} below the high watermark {hw} \
                     after the settle phase: a transaction open at offset {lso} was never closed \
                     by a marker, so read_committed consumers read nothing past it."
                ),
            })
        })
        .collect()
}

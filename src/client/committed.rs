//! How a `read_committed` consumer drops aborted data (Kafka's `CompletedFetch` with its
//! `abortedProducerIds`): a fetch response lists the aborted transactions overlapping it as
//! (producer id, first offset); walking the batches in offset order, a transaction's producer
//! becomes "aborted" once a batch at or past its first offset is reached, every transactional
//! batch of an aborted producer is dropped, and the producer's ABORT marker ends that. Control
//! batches never reach the application.

use std::collections::{BTreeSet, VecDeque};

use crate::record::{ControlType, RecordBatch};

/// The aborted-transaction filter of one fetch response.
#[derive(Clone, Debug, Default)]
pub struct AbortedFilter {
    /// Aborted transactions not reached yet, by first offset.
    upcoming: VecDeque<(i64, u64)>,
    /// Producers whose aborted transaction is being walked through.
    aborted: BTreeSet<i64>,
}

impl AbortedFilter {
    /// A filter for a response listing `aborted_transactions`.
    pub fn new(mut aborted_transactions: Vec<(i64, u64)>) -> AbortedFilter {
        aborted_transactions.sort_by_key(|&(producer, first)| (first, producer));
        AbortedFilter {
            upcoming: aborted_transactions.into(),
            aborted: BTreeSet::new(),
        }
    }

    /// Whether `batch` (the next in offset order) goes to the application.
    pub fn keep(&mut self, batch: &RecordBatch) -> bool {
        while let Some(&(producer, first)) = self.upcoming.front()
            && first <= batch.last_offset()
        {
            self.aborted.insert(producer);
            self.upcoming.pop_front();
        }
        if let Some(control) = batch.control {
            if control == ControlType::Abort {
                self.aborted.remove(&batch.producer_id);
            }
            return false;
        }
        !(batch.transactional && self.aborted.contains(&batch.producer_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Record, RecordId};

    fn batch(pid: i64, offset: u64, control: Option<ControlType>) -> RecordBatch {
        let record = Record {
            id: RecordId { producer: 0, n: 0 },
            key: None,
            size_bytes: 1,
        };
        RecordBatch {
            base_offset: offset,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: 0,
            base_sequence: 0,
            transactional: true,
            control,
            max_timestamp_ms: 0,
            records: if control.is_some() {
                Vec::new().into()
            } else {
                vec![record].into()
            },
        }
    }

    #[test]
    fn aborted_batches_are_dropped_until_their_abort_marker_and_markers_never_pass() {
        let mut filter = AbortedFilter::new(vec![(1, 1)]);
        let kept: Vec<bool> = [
            batch(1, 0, None),
            batch(1, 1, None),
            batch(2, 2, None),
            batch(1, 3, Some(ControlType::Abort)),
            batch(1, 4, None),
            batch(1, 5, Some(ControlType::Commit)),
        ]
        .iter()
        .map(|b| filter.keep(b))
        .collect();
        assert_eq!(kept, [true, false, true, false, true, false]);
    }
}

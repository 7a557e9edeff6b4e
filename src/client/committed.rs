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

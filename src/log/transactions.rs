//! What a partition log answers about transactions, from its producer state: the last stable
//! offset (LSO) below a high watermark, the aborted transactions a `read_committed` fetch range
//! overlaps, and the leader's check of a transaction marker's producer epoch.

use super::PartitionLog;
use crate::protocol::KafkaError;

impl PartitionLog {
    /// The last stable offset under `high_watermark` (Kafka's `UnifiedLog.lastStableOffset`):
    /// no `read_committed` consumer reads at or past it.
    pub fn last_stable_offset(&self, high_watermark: u64) -> u64 {
        self.producer_state.last_stable_offset(high_watermark)
    }

    /// The aborted transactions overlapping `[from, to)`, as (producer id, first offset).
    pub fn aborted_transactions(&self, from: u64, to: u64) -> Vec<(i64, u64)> {
        self.producer_state.aborted_between(from, to)
    }

    /// The high watermark moved: closed transactions below it no longer hold the LSO back.
    pub fn on_high_watermark(&mut self, high_watermark: u64) {
        self.producer_state.on_high_watermark(high_watermark);
    }

    /// A leader's check of a transaction marker for `producer_id` at `producer_epoch`.
    pub fn check_marker(&self, producer_id: i64, producer_epoch: i16) -> Result<(), KafkaError> {
        self.producer_state
            .check_marker(producer_id, producer_epoch)
    }
}

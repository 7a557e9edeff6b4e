//! Records and batches. A simulated record is an identity, not a payload: which producer sent
//! it and as which of its records (`p1-41`), its key, and a simulated size in bytes that
//! byte-based configs (`batch.size`, `segment.bytes`, `retention.bytes`) count. Logs store
//! batches, as Kafka's do: offsets, the leader epoch, the producer id/epoch/sequence header and
//! the control flag live once per batch.

use std::fmt;
use std::sync::Arc;

/// Kafka's "no producer id" (`RecordBatch.NO_PRODUCER_ID`).
pub const NO_PRODUCER_ID: i64 = -1;
/// Kafka's "no producer epoch".
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// Kafka's "no sequence".
pub const NO_SEQUENCE: i32 = -1;

/// Which record of which producer: shown as `<producer>-<n>` once the producer's name is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    /// Index of the producing client among the scenario's producers (and pipelines).
    pub producer: u16,
    /// The producer's n-th record, from 0.
    pub n: u32,
}

/// One record of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// The record's identity (its "value").
    pub id: RecordId,
    /// Key index `i` for key `key-<i>`, or none.
    pub key: Option<u32>,
    /// Simulated size in bytes.
    pub size_bytes: u32,
}

/// A transaction marker's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ControlType {
    /// The transaction committed.
    Commit,
    /// The transaction aborted.
    Abort,
}

impl fmt::Display for ControlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ControlType::Commit => "COMMIT",
            ControlType::Abort => "ABORT",
        })
    }
}

/// A batch of records as stored in a log and carried by Produce and Fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordBatch {
    /// Offset of the first record (assigned by the leader on append).
    pub base_offset: u64,
    /// Leader epoch of the leader that appended it.
    pub partition_leader_epoch: u32,
    /// Producer id, or [`NO_PRODUCER_ID`].
    pub producer_id: i64,
    /// Producer epoch, or [`NO_PRODUCER_EPOCH`].
    pub producer_epoch: i16,
    /// Sequence number of the first record, or [`NO_SEQUENCE`].
    pub base_sequence: i32,
    /// Whether the batch belongs to a transaction.
    pub transactional: bool,
    /// A control batch (transaction marker) holds one marker and no records.
    pub control: Option<ControlType>,
    /// The largest record timestamp, in simulated ms (drives time-based retention).
    pub max_timestamp_ms: u64,
    /// The records; empty for a control batch. Shared, never changed once the batch is made:
    /// a fetch, a follower's log and a consumer hold the leader's records, not copies.
    pub records: Arc<[Record]>,
}

impl RecordBatch {
    /// How many offsets the batch takes (a control batch takes one).
    pub fn offset_count(&self) -> u64 {
        if self.control.is_some() {
            1
        } else {
            self.records.len() as u64
        }
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> u64 {
        self.base_offset + self.offset_count() - 1
    }

    /// The offset after the batch.
    pub fn next_offset(&self) -> u64 {
        self.base_offset + self.offset_count()
    }

    /// Simulated size: Kafka's 61-byte batch header plus the records' sizes.
    pub fn size_bytes(&self) -> u64 {
        61 + self
            .records
            .iter()
            .map(|r| u64::from(r.size_bytes))
            .sum::<u64>()
    }
}

//! The producer state of one partition replica (Kafka's `ProducerStateManager`,
//! `ProducerStateEntry` and `ProducerAppendInfo`): for every idempotent producer id seen in the
//! log, its epoch and the metadata of its last [`BATCHES_RETAINED`] batches. A leader checks each
//! produced batch against it — a retried batch that matches a cached one is a duplicate and is
//! answered with its original offsets, a sequence gap is `OUT_OF_ORDER_SEQUENCE_NUMBER`, an older
//! epoch is `INVALID_PRODUCER_EPOCH` — and every replica updates it as it appends, leader or
//! follower, so a new leader has it already.
//!
//! Durability: the state is volatile but implied by the log. It is rebuilt by replaying batches
//! from the log start, or from a snapshot (`<offset>.snapshot`, Kafka's name) that the log writes
//! when it rolls a segment; recovery and truncation load the newest snapshot at or below the log
//! end and replay the rest. Left out: `producer.id.expiration.ms`, transactions (the first offset
//! of an open transaction, coordinator epochs) and Kafka's binary snapshot format.

use std::collections::{BTreeMap, VecDeque};

use crate::protocol::KafkaError;
use crate::record::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID, RecordBatch};

/// How many batches' metadata a producer entry keeps (Kafka's `NUM_BATCHES_TO_RETAIN`): a retry
/// of any of them is recognised as a duplicate. The producer keeps at most this many in flight.
pub const BATCHES_RETAINED: usize = 5;

/// The snapshot file of the state at `offset` in `dir`.
pub fn snapshot_file_name(dir: &str, offset: u64) -> String {
    format!("{dir}/{offset:020}.snapshot")
}

/// The sequence number `increment` after `sequence`, wrapping past `i32::MAX` to 0 as Kafka's
/// `DefaultRecordBatch.incrementSequence` does.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// Whether `next` directly follows `last` (Kafka's `inSequence`, wrapping at `i32::MAX`).
pub fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

/// The metadata of one appended batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMetadata {
    /// The batch's base sequence.
    pub first_sequence: i32,
    /// The sequence of its last record.
    pub last_sequence: i32,
    /// Its first offset.
    pub first_offset: u64,
    /// Its last offset.
    pub last_offset: u64,
    /// Its max timestamp, in simulated ms.
    pub timestamp_ms: u64,
}

/// One producer's state on a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerStateEntry {
    /// The newest epoch appended.
    pub producer_epoch: i16,
    /// The last batches of that epoch, oldest first, at most [`BATCHES_RETAINED`].
    pub batches: VecDeque<BatchMetadata>,
}

impl ProducerStateEntry {
    /// The last sequence appended in the current epoch, if any.
    pub fn last_sequence(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_sequence)
    }

    /// The cached batch a retry of `batch` would duplicate (same epoch, same first and last
    /// sequence), if any (Kafka's `findDuplicateBatch`).
    fn find_duplicate(&self, batch: &RecordBatch) -> Option<BatchMetadata> {
        if batch.producer_epoch != self.producer_epoch {
            return None;
        }
        let last = last_sequence_of(batch);
        self.batches
            .iter()
            .find(|b| b.first_sequence == batch.base_sequence && b.last_sequence == last)
            .copied()
    }
}

/// What a leader should do with a produced batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendCheck {
    /// Append it.
    Append,
    /// It was appended before: answer with these offsets, append nothing.
    Duplicate {
        /// The original batch's first offset.
        first_offset: u64,
        /// The original batch's last offset.
        last_offset: u64,
    },
}

/// The sequence of the last record of `batch`.
pub fn last_sequence_of(batch: &RecordBatch) -> i32 {
    let count = i32::try_from(batch.offset_count()).unwrap_or(i32::MAX);
    increment_sequence(batch.base_sequence, count - 1)
}

/// Every producer's state on one partition replica, by producer id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: BTreeMap<i64, ProducerStateEntry>,
}

impl ProducerStateManager {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry of a producer id, if the log has seen it.
    pub fn entry(&self, producer_id: i64) -> Option<&ProducerStateEntry> {
        self.producers.get(&producer_id)
    }

    /// How many producers have state.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Whether no producer has state.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// A leader's check of a produced batch before appending it (Kafka's
    /// `analyzeAndValidateProducerState` for a client append): duplicates first, then the epoch,
    /// then the sequence. A batch without a producer id is always appended.
    pub fn check_append(&self, batch: &RecordBatch) -> Result<AppendCheck, KafkaError> {
        if batch.producer_id == NO_PRODUCER_ID {
            return Ok(AppendCheck::Append);
        }
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            // No state (a new producer, or its batches were deleted): any sequence is accepted.
            return Ok(AppendCheck::Append);
        };
        if let Some(duplicate) = entry.find_duplicate(batch) {
            return Ok(AppendCheck::Duplicate {
                first_offset: duplicate.first_offset,
                last_offset: duplicate.last_offset,
            });
        }
        if batch.producer_epoch < entry.producer_epoch {
            return Err(KafkaError::InvalidProducerEpoch);
        }
        if batch.producer_epoch != entry.producer_epoch {
            // A bumped epoch starts its sequences over.
            if batch.base_sequence != 0 && entry.producer_epoch != NO_PRODUCER_EPOCH {
                return Err(KafkaError::OutOfOrderSequenceNumber);
            }
            return Ok(AppendCheck::Append);
        }
        match entry.last_sequence() {
            Some(last) if !in_sequence(last, batch.base_sequence) => {
                Err(KafkaError::OutOfOrderSequenceNumber)
            }
            _ => Ok(AppendCheck::Append),
        }
    }

    /// Records an appended batch, as leader or follower or while replaying the log (Kafka's
    /// `ProducerAppendInfo.append` with `updateProducerState`); no validation.
    pub fn update(&mut self, batch: &RecordBatch) {
        if batch.producer_id == NO_PRODUCER_ID || batch.control.is_some() {
            return;
        }
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerStateEntry {
                producer_epoch: batch.producer_epoch,
                batches: VecDeque::new(),
            });
        if batch.producer_epoch != entry.producer_epoch {
            entry.producer_epoch = batch.producer_epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(BatchMetadata {
            first_sequence: batch.base_sequence,
            last_sequence: last_sequence_of(batch),
            first_offset: batch.base_offset,
            last_offset: batch.last_offset(),
            timestamp_ms: batch.max_timestamp_ms,
        });
        while entry.batches.len() > BATCHES_RETAINED {
            entry.batches.pop_front();
        }
    }

    /// The snapshot file's content: a version line, then one line per producer:
    /// `<producer id> <epoch> <first seq>:<last seq>:<first offset>:<last offset>:<ts>…`.
    pub fn encode(&self) -> Vec<u8> {
        let mut text = String::from("producer-snapshot 1\n");
        for (id, entry) in &self.producers {
            text.push_str(&format!("{id} {}", entry.producer_epoch));
            for b in &entry.batches {
                text.push_str(&format!(
                    " {}:{}:{}:{}:{}",
                    b.first_sequence,
                    b.last_sequence,
                    b.first_offset,
                    b.last_offset,
                    b.timestamp_ms
                ));
            }
            text.push('\n');
        }
        text.into_bytes()
    }

    /// Reads a snapshot file's content; `None` if it is not one.
    pub fn decode(bytes: &[u8]) -> Option<ProducerStateManager> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        if lines.next()? != "producer-snapshot 1" {
            return None;
        }
        let mut producers = BTreeMap::new();
        for line in lines {
            let mut fields = line.split(' ');
            let id: i64 = fields.next()?.parse().ok()?;
            let producer_epoch: i16 = fields.next()?.parse().ok()?;
            let mut batches = VecDeque::new();
            for field in fields {
                let parts: Vec<&str> = field.split(':').collect();
                let [first_seq, last_seq, first_offset, last_offset, ts] = parts[..] else {
                    return None;
                };
                batches.push_back(BatchMetadata {
                    first_sequence: first_seq.parse().ok()?,
                    last_sequence: last_seq.parse().ok()?,
                    first_offset: first_offset.parse().ok()?,
                    last_offset: last_offset.parse().ok()?,
                    timestamp_ms: ts.parse().ok()?,
                });
            }
            if batches.len() > BATCHES_RETAINED {
                return None;
            }
            producers.insert(
                id,
                ProducerStateEntry {
                    producer_epoch,
                    batches,
                },
            );
        }
        Some(ProducerStateManager { producers })
    }
}

#[cfg(test)]
mod tests;

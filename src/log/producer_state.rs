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
//! end and replay the rest.
//!
//! Transactions: a producer's first transactional batch after its last marker opens a transaction
//! at that offset (Kafka's `currentTxnFirstOffset`); a COMMIT or ABORT control batch closes it. An
//! aborted transaction goes into the aborted transaction index (Kafka's `.txnindex`: producer id,
//! first offset, marker offset), kept in the snapshots with the producer entries so it is rebuilt
//! with them. The last stable offset is computed from the open transactions and from the ones
//! whose marker is not yet below the high watermark.
//!
//! Left out: `producer.id.expiration.ms`, the coordinator epoch of the last marker (markers do
//! not carry it here; the broker checks it in volatile state) and Kafka's binary snapshot format.

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
    /// The first offset of its open transaction on this partition, if one is open.
    pub current_txn_first_offset: Option<u64>,
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

/// One aborted transaction of the index (Kafka's `AbortedTxn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer id.
    pub producer_id: i64,
    /// Its first offset on this partition.
    pub first_offset: u64,
    /// The offset of its ABORT marker.
    pub last_offset: u64,
}

/// Every producer's state on one partition replica, by producer id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: BTreeMap<i64, ProducerStateEntry>,
    /// The aborted transaction index, in marker order.
    aborted: Vec<AbortedTxn>,
    /// Transactions closed by a marker the high watermark may not have passed yet: (first
    /// offset, marker offset). Pruned by [`ProducerStateManager::on_high_watermark`].
    unreplicated: Vec<(u64, u64)>,
    /// A transactional batch appended with an epoch older than its producer's (a fenced
    /// producer writing after the fence): (producer id, epoch, offset). Never expected.
    fenced_append: Option<(i64, i16, u64)>,
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

    /// A leader's check of a transaction marker: an older producer epoch than the entry's is
    /// `INVALID_PRODUCER_EPOCH` (Kafka's `checkProducerEpoch` for a marker).
    pub fn check_marker(&self, producer_id: i64, producer_epoch: i16) -> Result<(), KafkaError> {
        match self.producers.get(&producer_id) {
            Some(entry) if producer_epoch < entry.producer_epoch => {
                Err(KafkaError::InvalidProducerEpoch)
            }
            _ => Ok(()),
        }
    }

    /// Records an appended batch, as leader or follower or while replaying the log (Kafka's
    /// `ProducerAppendInfo.append` with `updateProducerState`); no validation.
    pub fn update(&mut self, batch: &RecordBatch) {
        if batch.producer_id == NO_PRODUCER_ID {
            return;
        }
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerStateEntry {
                producer_epoch: batch.producer_epoch,
                batches: VecDeque::new(),
                current_txn_first_offset: None,
            });
        if batch.transactional && batch.producer_epoch < entry.producer_epoch {
            self.fenced_append.get_or_insert((
                batch.producer_id,
                batch.producer_epoch,
                batch.base_offset,
            ));
        }
        if batch.producer_epoch != entry.producer_epoch {
            entry.producer_epoch = batch.producer_epoch;
            entry.batches.clear();
        }
        if let Some(control) = batch.control {
            // A marker closes the producer's open transaction here, if it has one.
            if let Some(first_offset) = entry.current_txn_first_offset.take() {
                let last_offset = batch.base_offset;
                if control == crate::record::ControlType::Abort {
                    self.aborted.push(AbortedTxn {
                        producer_id: batch.producer_id,
                        first_offset,
                        last_offset,
                    });
                }
                self.unreplicated.push((first_offset, last_offset));
            }
            return;
        }
        if batch.transactional && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(batch.base_offset);
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

    /// The last stable offset below `high_watermark`: the first offset of the earliest
    /// transaction still open, or closed by a marker the HW has not passed.
    pub fn last_stable_offset(&self, high_watermark: u64) -> u64 {
        let open = self
            .producers
            .values()
            .filter_map(|e| e.current_txn_first_offset);
        let unreplicated = self
            .unreplicated
            .iter()
            .filter(|(_, marker)| *marker >= high_watermark)
            .map(|(first, _)| *first);
        open.chain(unreplicated).fold(high_watermark, u64::min)
    }

    /// Forgets the closed transactions whose marker is below `high_watermark`.
    pub fn on_high_watermark(&mut self, high_watermark: u64) {
        self.unreplicated
            .retain(|(_, marker)| *marker >= high_watermark);
    }

    /// The aborted transactions overlapping `[from, to)`: (producer id, first offset), as a
    /// `read_committed` fetch response lists them.
    pub fn aborted_between(&self, from: u64, to: u64) -> Vec<(i64, u64)> {
        self.aborted
            .iter()
            .filter(|a| a.last_offset >= from && a.first_offset < to)
            .map(|a| (a.producer_id, a.first_offset))
            .collect()
    }

    /// A transactional append from a fenced producer epoch, if one happened (an invariant
    /// violation: the leader's checks refuse those).
    pub fn fenced_append(&self) -> Option<(i64, i16, u64)> {
        self.fenced_append
    }

    /// The aborted transaction index.
    pub fn aborted(&self) -> &[AbortedTxn] {
        &self.aborted
    }

    /// The snapshot file's content: a version line, then one line per producer:
    /// `<producer id> <epoch> <open txn first offset or -> <first seq>:<last seq>:<first
    /// offset>:<last offset>:<ts>…`, then one line per aborted transaction:
    /// `aborted <producer id> <first offset> <marker offset>`.
    pub fn encode(&self) -> Vec<u8> {
        let mut text = String::from("producer-snapshot 2\n");
        for (id, entry) in &self.producers {
            let open = entry
                .current_txn_first_offset
                .map_or("-".to_string(), |o| o.to_string());
            text.push_str(&format!("{id} {} {open}", entry.producer_epoch));
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
        for a in &self.aborted {
            text.push_str(&format!(
                "aborted {} {} {}\n",
                a.producer_id, a.first_offset, a.last_offset
            ));
        }
        text.into_bytes()
    }

    /// Reads a snapshot file's content; `None` if it is not one.
    pub fn decode(bytes: &[u8]) -> Option<ProducerStateManager> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        if lines.next()? != "producer-snapshot 2" {
            return None;
        }
        let mut producers = BTreeMap::new();
        let mut aborted = Vec::new();
        for line in lines {
            let mut fields = line.split(' ');
            let first = fields.next()?;
            if first == "aborted" {
                let mut number = || fields.next()?.parse::<u64>().ok();
                let (producer_id, first_offset, last_offset) = (number()?, number()?, number()?);
                aborted.push(AbortedTxn {
                    producer_id: producer_id as i64,
                    first_offset,
                    last_offset,
                });
                continue;
            }
            let id: i64 = first.parse().ok()?;
            let producer_epoch: i16 = fields.next()?.parse().ok()?;
            let current_txn_first_offset = match fields.next()? {
                "-" => None,
                offset => Some(offset.parse().ok()?),
            };
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
                    current_txn_first_offset,
                },
            );
        }
        Some(ProducerStateManager {
            producers,
            aborted,
            unreplicated: Vec::new(),
            fenced_append: None,
        })
    }
}

#[cfg(test)]
mod tests;

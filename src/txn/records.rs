//! How the transaction coordinator's state is written to `__transaction_state`: Kafka's
//! `TransactionLogKey` → `TransactionLogValue` (producer id, epoch, timeout, state, partitions,
//! start time), packed into simulated records under producer indices no scenario client has:
//!
//! | record | `id.producer` | `id.n` | `key` |
//! |---|---|---|---|
//! | metadata | [`TXN_METADATA`] | the producer id | txn (12 bits), state (4), epoch (16) |
//! | timing | [`TXN_TIMING`] | transaction start, ms | `transaction.timeout.ms` |
//! | one partition | [`TXN_PARTITION`] | the partition | the topic index |
//!
//! One transition is one batch: its metadata record, its timing record, then its partitions.
//! Left out: tombstones and compaction (the log keeps every record).

use std::collections::BTreeSet;

use super::state::{TxnMetadata, TxnState};
use crate::protocol::TopicPartition;
use crate::record::{Record, RecordId};

/// `id.producer` of a metadata record.
pub const TXN_METADATA: u16 = u16::MAX - 3;
/// `id.producer` of the timing record after a metadata record.
pub const TXN_TIMING: u16 = u16::MAX - 4;
/// `id.producer` of one partition of the metadata record before it.
pub const TXN_PARTITION: u16 = u16::MAX - 5;
/// Most transactional ids a run may have (12 bits in a metadata record's key).
pub const TXN_IDS_MAX: usize = 4_096;

/// Simulated size of a metadata record (Kafka's key and value schemas).
const METADATA_RECORD_BYTES: u32 = 70;
/// Simulated size of one partition in it.
const PARTITION_RECORD_BYTES: u32 = 30;

fn record(producer: u16, n: u32, key: u32, size_bytes: u32) -> Record {
    Record {
        id: RecordId { producer, n },
        key: Some(key),
        size_bytes,
    }
}

/// The records of one transition to `metadata`.
pub fn encode(metadata: &TxnMetadata) -> Vec<Record> {
    assert!(
        (metadata.txn as usize) < TXN_IDS_MAX,
        "txn index fits 12 bits"
    );
    let key = (metadata.txn << 20)
        | (u32::from(metadata.state.id()) << 16)
        | u32::from(metadata.producer_epoch as u16);
    let mut records = vec![
        record(
            TXN_METADATA,
            metadata.producer_id as u32,
            key,
            METADATA_RECORD_BYTES,
        ),
        record(
            TXN_TIMING,
            metadata.txn_start_ms as u32,
            metadata.timeout_ms.min(u64::from(u32::MAX)) as u32,
            0,
        ),
    ];
    for tp in &metadata.partitions {
        records.push(record(
            TXN_PARTITION,
            tp.partition,
            tp.topic,
            PARTITION_RECORD_BYTES,
        ));
    }
    records
}

/// The metadata the records hold, in log order (other records are skipped).
pub fn decode<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<TxnMetadata> {
    let mut out: Vec<TxnMetadata> = Vec::new();
    let mut open = false;
    for r in records {
        let key = r.key.unwrap_or(0);
        match r.id.producer {
            TXN_METADATA => {
                let Some(state) = TxnState::from_id(((key >> 16) & 0xf) as u8) else {
                    open = false;
                    continue;
                };
                out.push(TxnMetadata {
                    txn: key >> 20,
                    producer_id: i64::from(r.id.n),
                    producer_epoch: (key & 0xffff) as u16 as i16,
                    timeout_ms: 0,
                    state,
                    partitions: BTreeSet::new(),
                    txn_start_ms: 0,
                });
                open = true;
            }
            TXN_TIMING if open => {
                let last = out.last_mut().expect("open");
                last.txn_start_ms = u64::from(r.id.n);
                last.timeout_ms = u64::from(key);
            }
            TXN_PARTITION if open => {
                let last = out.last_mut().expect("open");
                last.partitions.insert(TopicPartition {
                    topic: key,
                    partition: r.id.n,
                });
            }
            _ => open = false,
        }
    }
    out
}

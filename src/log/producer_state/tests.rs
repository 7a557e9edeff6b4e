//! The producer-state rules: duplicates within the last five batches, gaps, epochs, wrapping
//! sequences, transactions (open transactions, markers, the LSO, the aborted index) and the
//! snapshot format.

use super::*;
use crate::record::{ControlType, Record, RecordId};

/// A batch of `count` records from producer `pid` at `epoch`, sequences from `seq`, appended at
/// `offset`.
fn batch(pid: i64, epoch: i16, seq: i32, count: u32, offset: u64) -> RecordBatch {
    let record = Record {
        id: RecordId { producer: 0, n: 0 },
        key: None,
        size_bytes: 10,
    };
    RecordBatch {
        base_offset: offset,
        partition_leader_epoch: 0,
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        transactional: false,
        control: None,
        max_timestamp_ms: offset,
        records: vec![record; count as usize].into(),
    }
}

/// Appends batches of `sizes` records for producer 7 at epoch 0, one after the other.
fn state_after(sizes: &[u32]) -> ProducerStateManager {
    let mut state = ProducerStateManager::new();
    let (mut seq, mut offset) = (0, 0);
    for &size in sizes {
        state.update(&batch(7, 0, seq, size, offset));
        seq += size as i32;
        offset += u64::from(size);
    }
    state
}

#[test]
fn a_retry_of_any_of_the_last_five_batches_is_a_duplicate_with_its_original_offsets() {
    let state = state_after(&[2, 2, 2, 2, 2, 2]);
    // Batches at seq 2, 4, 6, 8, 10 are cached; seq 0 fell out.
    for (seq, first) in [(2, 2), (4, 4), (6, 6), (8, 8), (10, 10)] {
        assert_eq!(
            state.check_append(&batch(7, 0, seq, 2, 99)),
            Ok(AppendCheck::Duplicate {
                first_offset: first,
                last_offset: first + 1
            }),
            "seq {seq}"
        );
    }
    assert_eq!(
        state.check_append(&batch(7, 0, 0, 2, 99)),
        Err(KafkaError::OutOfOrderSequenceNumber),
        "older than the cached five: no longer recognised"
    );
}

#[test]
fn a_duplicate_must_match_first_and_last_sequence() {
    let state = state_after(&[3]);
    assert_eq!(
        state.check_append(&batch(7, 0, 0, 2, 9)),
        Err(KafkaError::OutOfOrderSequenceNumber)
    );
}

#[test]
fn the_next_sequence_is_appended_and_a_gap_is_out_of_order() {
    let state = state_after(&[2, 3]);
    assert_eq!(
        state.check_append(&batch(7, 0, 5, 1, 5)),
        Ok(AppendCheck::Append)
    );
    assert_eq!(
        state.check_append(&batch(7, 0, 6, 1, 5)),
        Err(KafkaError::OutOfOrderSequenceNumber)
    );
    assert_eq!(
        state.check_append(&batch(7, 0, 4, 1, 5)),
        Err(KafkaError::OutOfOrderSequenceNumber),
        "overlapping a cached batch without matching it"
    );
}

#[test]
fn an_unknown_producer_may_start_at_any_sequence() {
    let state = state_after(&[2]);
    assert_eq!(
        state.check_append(&batch(8, 0, 42, 1, 2)),
        Ok(AppendCheck::Append)
    );
    assert_eq!(
        state.check_append(&batch(8, 3, 0, 1, 2)),
        Ok(AppendCheck::Append)
    );
}

#[test]
fn epochs_older_are_refused_and_newer_must_start_at_zero() {
    let mut state = state_after(&[2]);
    state.update(&batch(7, 1, 0, 1, 2));
    assert_eq!(
        state.check_append(&batch(7, 0, 2, 1, 3)),
        Err(KafkaError::InvalidProducerEpoch)
    );
    assert_eq!(
        state.check_append(&batch(7, 2, 5, 1, 3)),
        Err(KafkaError::OutOfOrderSequenceNumber)
    );
    assert_eq!(
        state.check_append(&batch(7, 2, 0, 1, 3)),
        Ok(AppendCheck::Append)
    );
    assert_eq!(
        state.check_append(&batch(7, 1, 1, 1, 3)),
        Ok(AppendCheck::Append)
    );
    let entry = state.entry(7).expect("known");
    assert_eq!(entry.producer_epoch, 1);
    assert_eq!(
        entry.batches.len(),
        1,
        "a new epoch forgets the old batches"
    );
}

#[test]
fn a_duplicate_of_an_older_epoch_is_refused_not_answered() {
    let mut state = state_after(&[2]);
    state.update(&batch(7, 1, 0, 1, 2));
    assert_eq!(
        state.check_append(&batch(7, 0, 0, 2, 9)),
        Err(KafkaError::InvalidProducerEpoch)
    );
}

#[test]
fn sequences_wrap_at_i32_max() {
    assert_eq!(increment_sequence(i32::MAX, 1), 0);
    assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
    assert_eq!(increment_sequence(5, 3), 8);
    assert!(in_sequence(i32::MAX, 0));
    assert!(!in_sequence(i32::MAX, 1));
    let mut state = ProducerStateManager::new();
    // Sequences MAX - 1, MAX, 0.
    let wrapping = batch(7, 0, i32::MAX - 1, 3, 0);
    assert_eq!(last_sequence_of(&wrapping), 0);
    state.update(&wrapping);
    assert_eq!(
        state.check_append(&batch(7, 0, 2, 1, 3)),
        Err(KafkaError::OutOfOrderSequenceNumber)
    );
    assert_eq!(
        state.check_append(&batch(7, 0, 1, 1, 3)),
        Ok(AppendCheck::Append)
    );
    assert_eq!(
        state.check_append(&batch(7, 0, i32::MAX - 1, 3, 3)),
        Ok(AppendCheck::Duplicate {
            first_offset: 0,
            last_offset: 2
        })
    );
}

#[test]
fn batches_without_a_producer_id_are_not_tracked() {
    let mut state = ProducerStateManager::new();
    state.update(&batch(NO_PRODUCER_ID, NO_PRODUCER_EPOCH, -1, 3, 0));
    assert!(state.is_empty());
    let plain = batch(NO_PRODUCER_ID, NO_PRODUCER_EPOCH, -1, 3, 0);
    assert_eq!(state.check_append(&plain), Ok(AppendCheck::Append));
}

#[test]
fn a_snapshot_decodes_to_the_state_it_encodes() {
    let mut state = state_after(&[1, 2, 3, 4, 5, 6, 7]);
    state.update(&batch(9, 2, 100, 1, 28));
    let bytes = state.encode();
    assert_eq!(ProducerStateManager::decode(&bytes), Some(state));
    assert_eq!(ProducerStateManager::decode(b"garbage"), None);
    assert_eq!(
        ProducerStateManager::decode(b"producer-snapshot 1\n7 0 1:2:3\n"),
        None
    );
    assert_eq!(
        snapshot_file_name("orders-0", 42),
        "orders-0/00000000000000000042.snapshot"
    );
}

/// A transactional batch, as [`batch`].
fn txn_batch(pid: i64, epoch: i16, seq: i32, count: u32, offset: u64) -> RecordBatch {
    RecordBatch {
        transactional: true,
        ..batch(pid, epoch, seq, count, offset)
    }
}

/// A transaction marker of `pid` at `epoch`, appended at `offset`.
fn marker(pid: i64, epoch: i16, control: ControlType, offset: u64) -> RecordBatch {
    RecordBatch {
        base_sequence: -1,
        control: Some(control),
        records: Vec::new().into(),
        ..txn_batch(pid, epoch, -1, 1, offset)
    }
}

#[test]
fn an_open_transaction_holds_the_lso_at_its_first_offset_until_its_marker_is_replicated() {
    let mut state = ProducerStateManager::new();
    state.update(&txn_batch(1, 0, 0, 2, 0));
    state.update(&txn_batch(2, 0, 0, 2, 2));
    state.update(&txn_batch(1, 0, 2, 1, 4));
    assert_eq!(state.last_stable_offset(5), 0);
    state.update(&marker(1, 0, ControlType::Commit, 5));
    assert_eq!(
        state.last_stable_offset(5),
        0,
        "the marker is not below the HW yet"
    );
    assert_eq!(
        state.last_stable_offset(6),
        2,
        "producer 2 is still open at 2"
    );
    state.on_high_watermark(6);
    state.update(&marker(2, 0, ControlType::Abort, 6));
    assert_eq!(state.last_stable_offset(7), 7);
    assert_eq!(state.last_stable_offset(6), 2);
}

#[test]
fn an_abort_marker_indexes_the_aborted_transaction_and_a_commit_does_not() {
    let mut state = ProducerStateManager::new();
    state.update(&txn_batch(1, 0, 0, 3, 0));
    state.update(&marker(1, 0, ControlType::Abort, 3));
    state.update(&txn_batch(1, 0, 3, 2, 4));
    state.update(&marker(1, 0, ControlType::Commit, 6));
    assert_eq!(
        state.aborted(),
        [AbortedTxn {
            producer_id: 1,
            first_offset: 0,
            last_offset: 3
        }]
    );
    assert_eq!(state.aborted_between(2, 10), [(1, 0)]);
    assert_eq!(state.aborted_between(4, 10), []);
}

#[test]
fn a_marker_with_a_bumped_epoch_fences_the_older_epoch() {
    let mut state = ProducerStateManager::new();
    state.update(&txn_batch(1, 0, 0, 1, 0));
    state.update(&marker(1, 1, ControlType::Abort, 1));
    assert_eq!(
        state.check_append(&txn_batch(1, 0, 1, 1, 2)),
        Err(KafkaError::InvalidProducerEpoch)
    );
    assert_eq!(
        state.check_marker(1, 0),
        Err(KafkaError::InvalidProducerEpoch)
    );
    assert_eq!(state.fenced_append(), None);
}

#[test]
fn open_transactions_and_the_aborted_index_survive_a_snapshot() {
    let mut state = ProducerStateManager::new();
    state.update(&txn_batch(1, 0, 0, 2, 0));
    state.update(&marker(1, 0, ControlType::Abort, 2));
    state.update(&txn_batch(2, 3, 0, 2, 3));
    let decoded = ProducerStateManager::decode(&state.encode()).expect("decodes");
    assert_eq!(decoded.aborted(), state.aborted());
    assert_eq!(decoded.last_stable_offset(10), 3);
    assert_eq!(
        decoded.entry(2).and_then(|e| e.current_txn_first_offset),
        Some(3)
    );
}

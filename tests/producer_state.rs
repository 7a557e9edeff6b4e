//! The producer state a partition log keeps for idempotent producers: duplicates answered with
//! their original offsets, state followed by followers, rebuilt after a truncation, and rebuilt
//! after a restart from the snapshot written at a segment roll plus the batches after it.

use kafkasim::disk::{Disk, DiskModel};
use kafkasim::log::{AppendCheck, PartitionLog};
use kafkasim::protocol::KafkaError;
use kafkasim::record::{Record, RecordBatch, RecordId};
use kafkasim::scenario::LogConfig;
use kafkasim::sim::DiskOp;

const DIR: &str = "orders-0";

/// Segments of about three small batches, so appends roll and write snapshots.
fn config() -> LogConfig {
    LogConfig {
        retention_ms: -1,
        retention_bytes: -1,
        segment_bytes: 400,
        segment_ms: 1 << 40,
        min_insync_replicas: 1,
        unclean_leader_election_enable: false,
        index_interval_bytes: 4096,
    }
}

fn apply(disk: &mut Disk, ops: Vec<DiskOp>) {
    for op in ops {
        match op {
            DiskOp::Append { file, bytes } => disk.append(&file, &bytes),
            DiskOp::Truncate { file, len } => disk.truncate(&file, len),
            DiskOp::Delete { file } => disk.delete(&file),
            DiskOp::WriteAtomic { file, bytes, .. } => disk.replace_durably(&file, bytes),
            DiskOp::Sync { file, .. } => {
                let ticket = disk.begin_sync(&file);
                disk.complete_sync(&ticket);
            }
        }
    }
}

/// A batch of two 50-byte records of producer `pid` at `epoch` from sequence `seq`.
fn batch(pid: i64, epoch: i16, seq: i32) -> RecordBatch {
    let record = Record {
        id: RecordId {
            producer: 0,
            n: seq as u32,
        },
        key: None,
        size_bytes: 50,
    };
    RecordBatch {
        base_offset: 0,
        partition_leader_epoch: 0,
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        transactional: false,
        control: None,
        max_timestamp_ms: 0,
        records: vec![record; 2].into(),
    }
}

/// A log with `batches` batches of producer 7 (sequences 0, 2, 4, …) and its disk.
fn log_with(batches: i32) -> (PartitionLog, Disk) {
    let mut disk = Disk::new(DiskModel::default());
    let mut out = Vec::new();
    let mut log = PartitionLog::create(DIR, config(), 0, &mut out);
    for i in 0..batches {
        let b = batch(7, 0, 2 * i);
        assert_eq!(log.check_producer_append(&b), Ok(AppendCheck::Append));
        log.append_as_leader(b, 0, 0, &mut out);
    }
    apply(&mut disk, out);
    (log, disk)
}

#[test]
fn a_retried_batch_is_answered_with_its_original_offsets() {
    let (log, _) = log_with(3);
    assert_eq!(
        log.check_producer_append(&batch(7, 0, 2)),
        Ok(AppendCheck::Duplicate {
            first_offset: 2,
            last_offset: 3
        })
    );
    assert_eq!(
        log.check_producer_append(&batch(7, 0, 8)),
        Err(KafkaError::OutOfOrderSequenceNumber)
    );
}

#[test]
fn a_follower_builds_the_same_state_from_the_batches_it_fetches() {
    let (leader, _) = log_with(4);
    let mut out = Vec::new();
    let mut follower = PartitionLog::create(DIR, config(), 0, &mut out);
    let fetched: Vec<_> = leader.batches_from(0).cloned().collect();
    follower.append_as_follower(fetched, 0, &mut out);
    assert_eq!(follower.producer_state(), leader.producer_state());
}

#[test]
fn a_truncation_rebuilds_the_state_from_what_is_left() {
    let (mut log, _) = log_with(6);
    assert!(
        !log.producer_snapshot_offsets().is_empty(),
        "the rolls wrote snapshots"
    );
    let mut out = Vec::new();
    log.truncate_to(6, 0, &mut out);
    let entry = log.producer_state().entry(7).expect("producer 7 kept");
    assert_eq!(entry.last_sequence(), Some(5));
    assert!(log.producer_snapshot_offsets().iter().all(|&o| o <= 6));
    // The truncated batch is no longer a duplicate: it is the next one.
    assert_eq!(
        log.check_producer_append(&batch(7, 0, 6)),
        Ok(AppendCheck::Append)
    );
    log.truncate_to(0, 0, &mut out);
    assert!(log.producer_state().is_empty());
}

#[test]
fn a_restart_rebuilds_the_state_from_the_snapshot_and_the_batches_after_it() {
    let (log, mut disk) = log_with(7);
    let snapshots = log.producer_snapshot_offsets();
    assert!(!snapshots.is_empty());
    for offset in &snapshots {
        let file = format!("{DIR}/{offset:020}.snapshot");
        assert!(disk.exists(&file), "{file} on disk");
    }
    let mut out = Vec::new();
    let (recovered, _) = PartitionLog::recover(DIR, config(), &disk, 0, &mut out);
    apply(&mut disk, out);
    assert_eq!(recovered.producer_state(), log.producer_state());
    assert_eq!(recovered.producer_snapshot_offsets(), snapshots);
}

#[test]
fn a_snapshot_past_the_recovered_log_end_is_deleted() {
    let (log, mut disk) = log_with(7);
    let last = *log.producer_snapshot_offsets().last().expect("a snapshot");
    // Lose the segments from the one before the last snapshot on, as a torn disk might.
    let cut = *log
        .segments()
        .iter()
        .rfind(|&&base| base < last)
        .expect("a segment before the snapshot");
    let later: Vec<String> = disk
        .list(&format!("{DIR}/"))
        .filter(|f| f.ends_with(".log") || f.ends_with(".index"))
        .filter(|f| f[DIR.len() + 1..DIR.len() + 21].parse::<u64>().unwrap() >= cut)
        .map(str::to_owned)
        .collect();
    for file in later {
        disk.delete(&file);
    }
    let mut out = Vec::new();
    let (recovered, _) = PartitionLog::recover(DIR, config(), &disk, 0, &mut out);
    assert!(recovered.log_end_offset() < last);
    assert!(
        recovered
            .producer_snapshot_offsets()
            .iter()
            .all(|&o| o < last)
    );
    let deleted = format!("{DIR}/{last:020}.snapshot");
    assert!(
        out.iter()
            .any(|op| matches!(op, DiskOp::Delete { file } if **file == *deleted))
    );
    let end_seq = recovered.log_end_offset() as i32 - 1;
    let entry = recovered.producer_state().entry(7).expect("known");
    assert_eq!(entry.last_sequence(), Some(end_seq));
}

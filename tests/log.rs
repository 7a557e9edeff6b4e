//! The partition log as a specification: segment files and names, the sparse index, rolling,
//! retention, reads, truncation, the leader-epoch lookups of KIP-101 and KIP-279, checkpoint
//! files, recovery after kill, power-off and torn tails, and a property test against a plain
//! `Vec<RecordBatch>` model.

use std::sync::Arc;

use kafkasim::disk::{Disk, DiskModel};
use kafkasim::log::{
    EpochEntry, LogError, OffsetIndex, PartitionLog, RecoveryReport, Truncation,
    decode_offset_checkpoint, encode_offset_checkpoint,
};
use kafkasim::record::{Record, RecordBatch, RecordId};
use kafkasim::scenario::LogConfig;
use kafkasim::sim::{DiskOp, RootRng, Stream};
use proptest::prelude::*;

const DIR: &str = "orders-0";

/// Small segments and a small index interval so a handful of batches shows every rule.
fn config() -> LogConfig {
    LogConfig {
        retention_ms: -1,
        retention_bytes: -1,
        segment_bytes: 1 << 20,
        segment_ms: 1 << 40,
        min_insync_replicas: 1,
        unclean_leader_election_enable: false,
        index_interval_bytes: 4096,
    }
}

/// Applies a log's disk operations as the simulator would, with every sync completing at once.
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

/// One replica: its log, its disk and its clock.
struct Replica {
    log: PartitionLog,
    disk: Disk,
    now_ms: u64,
    next_n: u32,
}

impl Replica {
    fn new(config: LogConfig) -> Replica {
        let mut disk = Disk::new(DiskModel::default());
        let mut out = Vec::new();
        let log = PartitionLog::create(DIR, config, 0, &mut out);
        apply(&mut disk, out);
        Replica {
            log,
            disk,
            now_ms: 0,
            next_n: 0,
        }
    }

    /// A batch of `records` records of `record_bytes` each, stamped with the current time.
    fn batch(&mut self, records: u32, record_bytes: u32) -> RecordBatch {
        let first = self.next_n;
        self.next_n += records;
        batch(first, records, record_bytes, self.now_ms)
    }

    /// Appends `records` records as leader of `epoch`; a 1-record batch is 100 bytes.
    fn lead(&mut self, records: u32, epoch: u32) -> (u64, u64) {
        let batch = self.batch(records, 39);
        self.lead_batch(batch, epoch)
    }

    fn lead_batch(&mut self, batch: RecordBatch, epoch: u32) -> (u64, u64) {
        let mut out = Vec::new();
        let offsets = self
            .log
            .append_as_leader(batch, epoch, self.now_ms, &mut out);
        apply(&mut self.disk, out);
        offsets
    }

    fn follow(&mut self, batches: &[Arc<RecordBatch>]) {
        let mut out = Vec::new();
        self.log
            .append_as_follower(batches.to_vec(), self.now_ms, &mut out);
        apply(&mut self.disk, out);
    }

    fn truncate_to(&mut self, offset: u64) -> u64 {
        let mut out = Vec::new();
        let removed = self.log.truncate_to(offset, self.now_ms, &mut out);
        apply(&mut self.disk, out);
        removed
    }

    fn retain(&mut self, high_watermark: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let deleted = self
            .log
            .apply_retention(self.now_ms, high_watermark, &mut out);
        apply(&mut self.disk, out);
        deleted
    }

    fn flush(&mut self) {
        let mut out = Vec::new();
        self.log.flush(&mut out);
        apply(&mut self.disk, out);
    }

    /// Recovers from the disk as it is; returns the log, the report and the repairs (unapplied).
    fn recovered(&self) -> (PartitionLog, RecoveryReport, Vec<DiskOp>) {
        let mut out = Vec::new();
        let config = *self.log.config();
        let (log, report) = PartitionLog::recover(DIR, config, &self.disk, self.now_ms, &mut out);
        (log, report, out)
    }

    /// Restarts the process: recovers, applies the repairs and carries on with the new log.
    fn restart(&mut self) -> RecoveryReport {
        let (log, report, out) = self.recovered();
        apply(&mut self.disk, out);
        self.log = log;
        report
    }

    fn files(&self) -> Vec<&str> {
        self.disk.list("orders-0/").collect()
    }

    fn batches(&self) -> Vec<Arc<RecordBatch>> {
        self.log.batches_from(0).cloned().collect()
    }

    fn epochs(&self) -> Vec<(u32, u64)> {
        let entries = self.log.epoch_cache().entries();
        entries.iter().map(|e| (e.epoch, e.start_offset)).collect()
    }
}

fn batch(first_n: u32, records: u32, record_bytes: u32, timestamp_ms: u64) -> RecordBatch {
    RecordBatch {
        base_offset: 0,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        transactional: false,
        control: None,
        max_timestamp_ms: timestamp_ms,
        records: (first_n..first_n + records)
            .map(|n| Record {
                id: RecordId { producer: 1, n },
                key: Some(n % 7),
                size_bytes: record_bytes,
            })
            .collect(),
    }
}

/// Asserts that a recovered log equals the live one in every observable way, except an epoch
/// entry at the LEO, which a restart forgets as Kafka's does.
fn assert_same_log(live: &PartitionLog, recovered: &PartitionLog) {
    assert_eq!(recovered.log_end_offset(), live.log_end_offset());
    assert_eq!(recovered.log_start_offset(), live.log_start_offset());
    assert_eq!(recovered.segments(), live.segments());
    let mut epochs = live.epoch_cache().clone();
    epochs.truncate_from_end(live.log_end_offset());
    assert_eq!(recovered.epoch_cache(), &epochs);
    assert!(recovered.batches_from(0).eq(live.batches_from(0)));
    for base in live.segments() {
        let (a, b) = (
            live.segment(base).unwrap(),
            recovered.segment(base).unwrap(),
        );
        assert_eq!(a.index(), b.index(), "index of segment {base}");
        assert_eq!(a.size_bytes(), b.size_bytes());
    }
}

// ---- segments, index, rolling ----

#[test]
fn segment_files_are_named_by_20_digit_base_offsets() {
    let mut r = Replica::new(LogConfig {
        segment_bytes: 250,
        ..config()
    });
    for _ in 0..5 {
        r.lead(1, 0);
    }
    assert_eq!(r.log.segments(), [0, 2, 4]);
    assert_eq!(
        r.files(),
        [
            "orders-0/00000000000000000000.index",
            "orders-0/00000000000000000000.log",
            "orders-0/00000000000000000002.index",
            "orders-0/00000000000000000002.log",
            "orders-0/00000000000000000004.index",
            "orders-0/00000000000000000004.log",
            "orders-0/leader-epoch-checkpoint",
        ]
    );
}

#[test]
fn the_index_gets_an_entry_after_index_interval_bytes_with_the_last_offset_and_start_position() {
    let mut r = Replica::new(LogConfig {
        index_interval_bytes: 250,
        ..config()
    });
    for _ in 0..8 {
        let batch = r.batch(3, 13); // 100 simulated bytes
        r.lead_batch(batch, 0);
    }
    let segment = r.log.segment(0).unwrap();
    let entries: Vec<(u32, u32)> = segment
        .index()
        .entries()
        .iter()
        .map(|e| (e.relative_offset, e.position))
        .collect();
    // The first append gets none; the batch at 300 (offsets 9..=11) is the first past 250
    // bytes, the batch at 600 (offsets 18..=20) the next.
    assert_eq!(entries, [(11, 300), (20, 600)]);
    let on_disk = r.disk.read("orders-0/00000000000000000000.index").unwrap();
    assert_eq!(
        OffsetIndex::decode(on_disk).unwrap(),
        segment.index().entries()
    );
    assert_eq!(&on_disk[..8], &[0, 0, 0, 11, 0, 0, 1, 44]);
}

#[test]
fn index_lookup_finds_the_largest_entry_at_or_below_then_scans_forward() {
    let mut r = Replica::new(LogConfig {
        index_interval_bytes: 250,
        ..config()
    });
    for _ in 0..8 {
        let batch = r.batch(3, 13);
        r.lead_batch(batch, 0);
    }
    let segment = r.log.segment(0).unwrap();
    let cases = [
        (0, 0, 0),
        (10, 0, 300),
        (11, 300, 300),
        (17, 300, 500),
        (20, 600, 600),
    ];
    for (offset, lookup, position) in cases {
        assert_eq!(segment.lookup(offset), lookup, "lookup({offset})");
        assert_eq!(
            segment.position_of(offset),
            Some(position),
            "position_of({offset})"
        );
    }
    assert_eq!(segment.position_of(24), None, "at the LEO");
}

#[test]
fn segments_roll_when_the_next_batch_would_pass_segment_bytes() {
    let mut r = Replica::new(LogConfig {
        segment_bytes: 300,
        ..config()
    });
    for _ in 0..3 {
        r.lead(1, 0);
    }
    assert_eq!(r.log.segments(), [0], "exactly segment.bytes fits");
    r.lead(1, 0);
    assert_eq!(r.log.segments(), [0, 3]);
    r.lead(10, 0); // a batch larger than a segment still goes in whole
    assert_eq!(r.log.segments(), [0, 3, 4]);
    r.lead(1, 0);
    assert_eq!(r.log.segments(), [0, 3, 4, 14]);
}

#[test]
fn segments_roll_once_more_than_segment_ms_passed_since_creation() {
    let mut r = Replica::new(LogConfig {
        segment_ms: 1_000,
        ..config()
    });
    r.lead(1, 0);
    r.now_ms = 1_000;
    r.lead(1, 0);
    assert_eq!(r.log.segments(), [0]);
    r.now_ms = 1_001;
    r.lead(1, 0);
    assert_eq!(r.log.segments(), [0, 2]);
    assert_eq!(r.log.active_segment().created_ms(), 1_001);
}

// ---- retention ----

/// Five 100-byte batches, one per second, two per segment: segments 0, 2 and 4.
fn five_seconds(config: LogConfig) -> Replica {
    let mut r = Replica::new(LogConfig {
        segment_bytes: 250,
        ..config
    });
    for i in 0..5 {
        r.now_ms = i * 1_000;
        r.lead(1, if i < 2 { 0 } else { 1 });
    }
    r
}

#[test]
fn retention_by_time_deletes_old_segments_below_the_hw_and_moves_the_log_start() {
    let mut r = five_seconds(LogConfig {
        retention_ms: 10_000,
        ..config()
    });
    r.now_ms = 11_000;
    assert_eq!(
        r.retain(5),
        Vec::<u64>::new(),
        "exactly retention.ms old is kept"
    );
    r.now_ms = 11_001;
    assert_eq!(
        r.retain(1),
        Vec::<u64>::new(),
        "segment 0 is not entirely below the HW"
    );
    assert_eq!(r.retain(2), [0]);
    assert_eq!(r.log.log_start_offset(), 2);
    assert!(!r.disk.exists("orders-0/00000000000000000000.log"));
    assert_eq!(r.epochs(), [(1, 2)]);
    assert_eq!(
        r.disk.read("orders-0/leader-epoch-checkpoint"),
        Some(&b"0\n1\n1 2\n"[..])
    );
}

#[test]
fn retention_never_deletes_the_active_segment() {
    let mut r = five_seconds(LogConfig {
        retention_ms: 0,
        ..config()
    });
    r.now_ms = 1 << 30;
    assert_eq!(r.retain(5), [0, 2]);
    assert_eq!(r.log.segments(), [4]);
    assert_eq!(r.log.log_start_offset(), 4);
    assert_eq!(r.retain(5), Vec::<u64>::new());
}

#[test]
fn retention_by_size_deletes_while_the_log_stays_at_or_above_retention_bytes() {
    let mut r = five_seconds(LogConfig {
        retention_bytes: 250,
        ..config()
    });
    assert_eq!(r.retain(5), [0], "500 - 200 = 300 >= 250; 300 - 200 < 250");
    assert_eq!(r.log.size_bytes(), 300);
    let mut r = five_seconds(LogConfig {
        retention_bytes: 100,
        ..config()
    });
    assert_eq!(r.retain(3), [0], "segment 2 ends at 4, above the HW");
    assert_eq!(r.retain(5), [2]);
}

#[test]
fn retention_forever_and_unlimited_keeps_everything() {
    let mut r = five_seconds(config());
    r.now_ms = u64::MAX / 2;
    assert_eq!(r.retain(5), Vec::<u64>::new());
}

// ---- reads ----

/// Four 3-record batches: offsets 0-2, 3-5, 6-8, 9-11, 100 bytes each.
fn four_batches() -> Replica {
    let mut r = Replica::new(config());
    for _ in 0..4 {
        let batch = r.batch(3, 13);
        r.lead_batch(batch, 0);
    }
    r
}

#[test]
fn reads_outside_the_log_are_offset_out_of_range_and_at_the_leo_empty() {
    let r = four_batches();
    let out_of_range = Err(LogError::OffsetOutOfRange {
        log_start_offset: 0,
        log_end_offset: 12,
    });
    assert_eq!(r.log.read(13, 1_000, 12), out_of_range);
    assert_eq!(r.log.read(12, 1_000, 12), Ok(vec![]));
    let mut r = five_seconds(LogConfig {
        retention_ms: 0,
        ..config()
    });
    r.now_ms = 1 << 30;
    r.retain(5);
    assert!(matches!(
        r.log.read(3, 1_000, 5),
        Err(LogError::OffsetOutOfRange {
            log_start_offset: 4,
            log_end_offset: 5
        })
    ));
}

#[test]
fn reads_return_whole_batches_and_at_least_one_past_max_bytes() {
    let r = four_batches();
    let bases = |fetch, bytes_max, bound| -> Vec<u64> {
        let batches = r.log.read(fetch, bytes_max, bound).unwrap();
        batches.iter().map(|b| b.base_offset).collect()
    };
    assert_eq!(bases(4, 1, 12), [3], "one batch even past max bytes");
    assert_eq!(bases(4, 250, 12), [3, 6]);
    assert_eq!(bases(0, u64::MAX, 12), [0, 3, 6, 9]);
}

#[test]
fn reads_return_nothing_at_or_above_the_upper_bound() {
    let r = four_batches();
    let bases = |fetch, bound| -> Vec<u64> {
        let batches = r.log.read(fetch, u64::MAX, bound).unwrap();
        batches.iter().map(|b| b.base_offset).collect()
    };
    assert_eq!(
        bases(0, 8),
        [0, 3],
        "the batch ending at 8 crosses the bound"
    );
    assert_eq!(bases(6, 6), Vec::<u64>::new());
    assert_eq!(bases(7, 8), Vec::<u64>::new());
    assert_eq!(
        bases(10, 9),
        Vec::<u64>::new(),
        "between HW and LEO: empty, not an error"
    );
}

// ---- truncation ----

#[test]
fn truncation_removes_later_segments_and_epoch_entries() {
    let mut r = Replica::new(LogConfig {
        segment_bytes: 250,
        ..config()
    });
    for epoch in [0, 0, 1, 1, 2, 2] {
        r.lead(1, epoch);
    }
    assert_eq!(r.epochs(), [(0, 0), (1, 2), (2, 4)]);
    assert_eq!(r.truncate_to(3), 3);
    assert_eq!(r.log.log_end_offset(), 3);
    assert_eq!(r.log.segments(), [0, 2]);
    assert!(!r.disk.exists("orders-0/00000000000000000004.log"));
    assert_eq!(r.epochs(), [(0, 0), (1, 2)]);
    assert_eq!(
        r.disk.read("orders-0/leader-epoch-checkpoint"),
        Some(&b"0\n2\n0 0\n1 2\n"[..])
    );
    let (recovered, _, repairs) = r.recovered();
    assert_eq!(repairs, []);
    assert_same_log(&r.log, &recovered);
}

#[test]
fn truncation_rounds_down_to_the_start_of_the_containing_batch() {
    let mut r = four_batches();
    assert_eq!(r.truncate_to(7), 6);
    assert_eq!(r.log.log_end_offset(), 6);
    assert_eq!(r.truncate_to(6), 0, "at the LEO nothing goes");
}

#[test]
fn truncation_at_the_leo_drops_an_epoch_that_never_appended() {
    // Kafka's truncateTo does this even when no data goes: the entry would otherwise conflict
    // with the new leader's batches.
    let mut r = four_batches();
    let mut out = Vec::new();
    assert!(r.log.assign_epoch_start(3, &mut out));
    apply(&mut r.disk, out);
    assert_eq!(r.epochs(), [(0, 0), (3, 12)]);
    assert_eq!(r.truncate_to(12), 0);
    assert_eq!(r.epochs(), [(0, 0)]);
}

#[test]
fn truncation_below_the_log_start_starts_the_log_over_there() {
    let mut r = five_seconds(LogConfig {
        retention_ms: 0,
        ..config()
    });
    r.now_ms = 1 << 30;
    r.retain(5);
    assert_eq!(r.truncate_to(2), 1);
    assert_eq!((r.log.log_start_offset(), r.log.log_end_offset()), (2, 2));
    assert_eq!(r.log.segments(), [2]);
    assert_eq!(r.epochs(), []);
    assert_eq!(r.lead(1, 4), (2, 2));
}

// ---- leader epochs: KIP-101 and KIP-279 ----

/// The R3 shape (KAFKA-6361): the leader wrote offsets 0-1 in epoch 0 and 2 in epoch 2; the
/// follower wrote 0 in epoch 0 and 1 in epoch 1 (a leader that never replicated it).
fn r3() -> (Replica, Replica) {
    let mut leader = Replica::new(config());
    leader.lead(1, 0);
    leader.lead(1, 0);
    leader.lead(1, 2);
    let mut follower = Replica::new(config());
    follower.lead(1, 0);
    follower.lead(1, 1);
    assert_eq!(leader.epochs(), [(0, 0), (2, 2)]);
    assert_eq!(follower.epochs(), [(0, 0), (1, 1)]);
    (leader, follower)
}

#[test]
fn kip_101_answers_the_next_epochs_start_and_the_follower_keeps_a_divergent_offset() {
    let (leader, mut follower) = r3();
    assert_eq!(leader.log.start_offset_of_first_epoch_after(1), Some(2));
    assert_eq!(
        leader.log.start_offset_of_first_epoch_after(2),
        Some(3),
        "latest: the LEO"
    );
    assert_eq!(leader.log.start_offset_of_first_epoch_after(3), None);
    let answer = leader.log.start_offset_of_first_epoch_after(1).unwrap();
    follower.truncate_to(answer.min(follower.log.log_end_offset()));
    let fetched = leader.log.read(2, u64::MAX, 3).unwrap();
    follower.follow(&fetched);
    let epochs_at_1 = |r: &Replica| r.log.read(1, 1, 2).unwrap()[0].partition_leader_epoch;
    assert_eq!(
        (epochs_at_1(&leader), epochs_at_1(&follower)),
        (0, 1),
        "diverged at offset 1"
    );
}

#[test]
fn kip_279_answers_the_largest_epoch_at_or_below_and_the_follower_truncates_the_divergence() {
    let (leader, mut follower) = r3();
    assert_eq!(leader.log.end_offset_for_epoch(1), Some((0, 2)));
    assert_eq!(leader.log.end_offset_for_epoch(2), Some((2, 3)));
    assert_eq!(leader.log.end_offset_for_epoch(3), None);
    let (epoch, end_offset) = leader.log.end_offset_for_epoch(1).unwrap();
    let leo = follower.log.log_end_offset();
    let step = follower
        .log
        .epoch_cache()
        .follower_truncation(epoch, end_offset, leo);
    assert_eq!(
        step,
        Truncation {
            offset: 1,
            complete: true
        }
    );
    follower.truncate_to(step.offset);
    let fetched = leader.log.read(1, u64::MAX, 3).unwrap();
    follower.follow(&fetched);
    assert_eq!(follower.batches(), leader.batches());
    assert_eq!(follower.epochs(), leader.epochs());
}

#[test]
fn kip_279_follower_without_the_answered_epoch_truncates_to_its_smaller_epoch_and_asks_again() {
    // Leader (0,0),(1,3),(3,5); follower (0,0),(2,4) with LEO 6 asks for epoch 2 and hears
    // (1, 5): it has no epoch 1, so it cuts to the end of its epoch 0 and asks for 0.
    let entries = [(0, 0), (2, 4)].map(|(epoch, start_offset)| EpochEntry {
        epoch,
        start_offset,
    });
    let mut follower = kafkasim::log::EpochCache::from_entries(entries.to_vec()).unwrap();
    let step = follower.follower_truncation(1, 5, 6);
    assert_eq!(
        step,
        Truncation {
            offset: 4,
            complete: false
        }
    );
    follower.truncate_from_end(step.offset);
    let step = follower.follower_truncation(0, 3, 4);
    assert_eq!(
        step,
        Truncation {
            offset: 3,
            complete: true
        }
    );
}

// ---- checkpoint files ----

#[test]
fn the_leader_epoch_checkpoint_is_kafkas_text_format_written_atomically() {
    let (leader, _) = r3();
    let file = "orders-0/leader-epoch-checkpoint";
    assert_eq!(leader.disk.read(file), Some(&b"0\n2\n0 0\n2 2\n"[..]));
    assert_eq!(leader.disk.durable_len(file), leader.disk.written_len(file));
}

#[test]
fn offset_checkpoints_round_trip_and_reject_garbage() {
    let entries = vec![
        ("orders".to_owned(), 3, 1_234),
        ("orders-out".to_owned(), 0, 0),
    ];
    let bytes = encode_offset_checkpoint(&entries);
    assert_eq!(bytes, b"0\n2\norders 3 1234\norders-out 0 0\n");
    assert_eq!(decode_offset_checkpoint(&bytes), Ok(entries));
    for garbage in [
        &b"0\n3\norders 3 1234\n"[..],
        b"junk",
        b"0\n1\norders x 1\n",
        b"9\n0\n",
    ] {
        assert!(decode_offset_checkpoint(garbage).is_err());
    }
}

// ---- recovery ----

/// Twelve appends over several segments, leader and follower, epochs 0 to 2.
fn busy(config: LogConfig) -> Replica {
    let mut r = Replica::new(LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 150,
        ..config
    });
    for i in 0..12u32 {
        r.now_ms = u64::from(i) * 10;
        if i % 3 == 2 {
            let mut b = r.batch(1 + i % 4, 30);
            b.base_offset = r.log.log_end_offset();
            b.partition_leader_epoch = i / 5;
            r.follow(&[Arc::new(b)]);
        } else {
            r.lead(1 + i % 4, i / 5);
        }
    }
    r
}

#[test]
fn recovery_after_kill_reproduces_the_log_without_repairs() {
    let r = busy(config());
    assert!(r.log.segments().len() > 3);
    let (recovered, report, repairs) = r.recovered();
    assert_eq!(repairs, []);
    assert_eq!(report.cut, None);
    assert_eq!(report.batches_loaded, 12);
    assert_same_log(&r.log, &recovered);
}

#[test]
fn recovery_after_power_off_keeps_the_durable_prefix_only() {
    let mut r = busy(config());
    r.flush();
    let (durable_leo, durable) = (r.log.log_end_offset(), r.batches());
    r.lead(2, 3);
    r.lead(30, 3); // rolls: the new segment's file survives empty
    r.disk
        .power_off(false, &mut RootRng::new(1).fork(Stream::Disk));
    let report = r.restart();
    assert_eq!(r.log.log_end_offset(), durable_leo);
    assert_eq!(r.batches(), durable);
    assert_eq!(report.deleted_segments.len(), 1);
    assert_eq!(
        r.log.epoch_cache().latest_epoch(),
        Some(2),
        "epoch 3's data is gone"
    );
}

#[test]
fn recovery_after_a_torn_tail_drops_the_torn_batch_and_keeps_everything_before_it() {
    let mut cuts = 0;
    for seed in 0..40 {
        let mut r = busy(config());
        r.flush();
        let durable_leo = r.log.log_end_offset();
        for _ in 0..6 {
            r.lead(3, 3);
        }
        let written = r.batches();
        r.disk
            .power_off(true, &mut RootRng::new(seed).fork(Stream::Disk));
        let report = r.restart();
        cuts += usize::from(report.cut.is_some());
        let kept = r.batches();
        assert!(r.log.log_end_offset() >= durable_leo, "seed {seed}");
        assert_eq!(
            kept[..],
            written[..kept.len()],
            "seed {seed}: a prefix survives"
        );
        let (again, report, repairs) = r.recovered();
        assert_eq!(
            (repairs, report.cut),
            (vec![], None),
            "seed {seed}: repairs are final"
        );
        assert_same_log(&r.log, &again);
    }
    assert!(cuts > 10, "torn tails were cut in {cuts} of 40 runs");
}

#[test]
fn recovery_catches_a_garbled_batch_by_its_crc() {
    let mut r = busy(config());
    let segment = r.log.segments()[1];
    let file = format!("orders-0/{segment:020}.log");
    let first_len = kafkasim::log::codec::decode_batch(r.disk.read(&file).unwrap())
        .unwrap()
        .1;
    let mut bytes = r.disk.read(&file).unwrap().to_vec();
    bytes[first_len + 12] ^= 0x01; // inside the second batch's body
    r.disk.replace_durably(&file, bytes);
    let second_batch = r.log.segment(segment).unwrap().batches()[1].base_offset;
    let segments_after = r.log.segments().len() - 2;
    let report = r.restart();
    assert!(
        report.cut.as_deref().unwrap().contains("crc mismatch"),
        "{report:?}"
    );
    assert_eq!(r.log.log_end_offset(), second_batch);
    assert_eq!(report.deleted_segments.len(), segments_after);
    assert_eq!(r.disk.written_len(&file), first_len);
}

#[test]
fn recovery_rebuilds_a_missing_index_and_deletes_a_stray_one() {
    let mut r = busy(config());
    let live = r.log.clone();
    let segment = r.log.segments()[0];
    r.disk.delete(&format!("orders-0/{segment:020}.index"));
    r.disk
        .append("orders-0/00000000000000099999.index", &[1; 8]);
    let report = r.restart();
    assert_eq!(report.rebuilt_indexes, 1);
    assert!(!r.disk.exists("orders-0/00000000000000099999.index"));
    assert_same_log(&live, &r.log);
    let index = r
        .disk
        .read(&format!("orders-0/{segment:020}.index"))
        .unwrap();
    assert_eq!(index, live.segment(segment).unwrap().index().encode());
}

#[test]
fn recovery_rebuilds_the_epoch_cache_from_the_batches_and_rewrites_a_stale_checkpoint() {
    let mut r = busy(config());
    let live = r.log.clone();
    r.disk.replace_durably(
        "orders-0/leader-epoch-checkpoint",
        b"0\n1\n7 1000\n".to_vec(),
    );
    let report = r.restart();
    assert!(report.epoch_checkpoint_rewritten);
    assert_eq!(r.log.epoch_cache(), live.epoch_cache());
    let checkpoint = r.disk.read("orders-0/leader-epoch-checkpoint").unwrap();
    assert_eq!(checkpoint, live.epoch_cache().encode());
}

#[test]
fn a_restart_forgets_an_epoch_that_started_at_the_leo_and_never_appended() {
    let mut r = four_batches();
    let mut out = Vec::new();
    r.log.assign_epoch_start(3, &mut out);
    apply(&mut r.disk, out);
    let report = r.restart();
    assert!(report.epoch_checkpoint_rewritten);
    assert_eq!(
        r.epochs(),
        [(0, 0)],
        "as Kafka's loader truncates the cache to the LEO"
    );
}

#[test]
fn an_empty_directory_recovers_to_an_empty_log() {
    let r = Replica {
        disk: Disk::new(DiskModel::default()),
        ..Replica::new(config())
    };
    let (log, report, repairs) = r.recovered();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    assert_eq!(report.segments_loaded, 1);
    assert_eq!(repairs.len(), 2, "creates the first segment's files");
}

#[test]
fn a_stored_record_costs_little_on_disk_and_in_memory() {
    let mut r = Replica::new(config());
    for _ in 0..100 {
        r.lead(10, 0);
    }
    let disk_bytes: usize = r.files().iter().map(|f| r.disk.written_len(f)).sum();
    let per_record_on_disk = disk_bytes / 1_000;
    assert!(
        per_record_on_disk < 16,
        "{per_record_on_disk} bytes per record on disk"
    );
    let in_memory = std::mem::size_of::<Record>() + (std::mem::size_of::<RecordBatch>() + 16) / 10;
    assert!(
        per_record_on_disk + in_memory <= 64,
        "{in_memory} bytes per record in memory"
    );
}

// ---- property: the log against a plain Vec model ----

#[derive(Clone, Debug)]
enum Op {
    Lead {
        records: u32,
        record_bytes: u32,
        new_epoch: bool,
    },
    Follow {
        batches: Vec<(u32, u32)>,
        new_epoch: bool,
    },
    Truncate {
        back: u64,
    },
    Retain {
        hw_back: u64,
    },
    Tick {
        ms: u64,
    },
    Read {
        at: u64,
        bytes_max: u64,
        bound_back: u64,
    },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u32..5, 0u32..120, prop::bool::weighted(0.1)).prop_map(
            |(records, record_bytes, new_epoch)| Op::Lead { records, record_bytes, new_epoch }
        ),
        2 => (prop::collection::vec((1u32..4, 0u32..120), 1..4), prop::bool::weighted(0.1))
            .prop_map(|(batches, new_epoch)| Op::Follow { batches, new_epoch }),
        1 => (0u64..14).prop_map(|back| Op::Truncate { back }),
        1 => (0u64..6).prop_map(|hw_back| Op::Retain { hw_back }),
        2 => (0u64..3_000).prop_map(|ms| Op::Tick { ms }),
        2 => (0u64..64, 0u64..400, 0u64..6)
            .prop_map(|(at, bytes_max, bound_back)| Op::Read { at, bytes_max, bound_back }),
        1 => Just(Op::Restart),
    ]
}

fn log_config() -> impl Strategy<Value = LogConfig> {
    let retention_ms = prop_oneof![Just(-1i64), 0i64..8_000];
    let retention_bytes = prop_oneof![Just(-1i64), 0i64..3_000];
    (
        100u64..1_500,
        500u64..10_000,
        retention_ms,
        retention_bytes,
        0u32..400,
    )
        .prop_map(
            |(segment_bytes, segment_ms, retention_ms, retention_bytes, index_interval_bytes)| {
                LogConfig {
                    segment_bytes,
                    segment_ms,
                    retention_ms,
                    retention_bytes,
                    index_interval_bytes,
                    ..config()
                }
            },
        )
}

/// The model: the batches from the log start, nothing else.
struct Model {
    batches: Vec<RecordBatch>,
    log_start: u64,
    log_end: u64,
}

impl Model {
    fn push(&mut self, batch: RecordBatch) {
        assert_eq!(batch.base_offset, self.log_end);
        self.log_end = batch.next_offset();
        self.batches.push(batch);
    }

    fn read(&self, fetch: u64, bytes_max: u64, bound: u64) -> Result<Vec<RecordBatch>, LogError> {
        if fetch < self.log_start || fetch > self.log_end {
            return Err(LogError::OffsetOutOfRange {
                log_start_offset: self.log_start,
                log_end_offset: self.log_end,
            });
        }
        let mut read: Vec<RecordBatch> = Vec::new();
        let mut total = 0;
        for b in self.batches.iter().filter(|b| b.last_offset() >= fetch) {
            if b.next_offset() > bound || (!read.is_empty() && total + b.size_bytes() > bytes_max) {
                break;
            }
            total += b.size_bytes();
            read.push(b.clone());
        }
        Ok(read)
    }

    fn truncate_to(&mut self, offset: u64) -> u64 {
        let before = self.log_end;
        if offset >= self.log_end {
            return 0;
        }
        if offset < self.log_start {
            let removed = before - self.log_start;
            self.batches.clear();
            (self.log_start, self.log_end) = (offset, offset);
            return removed;
        }
        let keep = self.batches.partition_point(|b| b.last_offset() < offset);
        self.batches.truncate(keep);
        self.log_end = self
            .batches
            .last()
            .map_or(self.log_start, RecordBatch::next_offset);
        before - self.log_end
    }

    /// The first offset of each epoch: what the epoch cache must say.
    fn epochs(&self) -> Vec<(u32, u64)> {
        let mut epochs: Vec<(u32, u64)> = Vec::new();
        for b in &self.batches {
            if epochs
                .last()
                .is_none_or(|&(e, _)| e != b.partition_leader_epoch)
            {
                epochs.push((b.partition_leader_epoch, b.base_offset));
            }
        }
        epochs
    }
}

fn check(r: &Replica, m: &Model) {
    assert_eq!(r.log.check_invariants(), Ok(()));
    assert_eq!(
        (r.log.log_start_offset(), r.log.log_end_offset()),
        (m.log_start, m.log_end)
    );
    let batches: Vec<RecordBatch> = r.batches().iter().map(|b| (**b).clone()).collect();
    assert_eq!(batches, m.batches);
    let size: u64 = m.batches.iter().map(RecordBatch::size_bytes).sum();
    assert_eq!(r.log.size_bytes(), size);
    if m.batches.is_empty() {
        assert!(r.epochs().iter().all(|&(_, start)| start == m.log_end));
    } else {
        assert_eq!(r.epochs(), m.epochs());
    }
}

/// Retention against the model: whole batches from the start go, within the rules.
fn retain(r: &mut Replica, m: &mut Model, hw_back: u64) {
    let high_watermark = m.log_end.saturating_sub(hw_back).max(m.log_start);
    let deleted = r.retain(high_watermark);
    let new_start = r.log.log_start_offset();
    assert_eq!(deleted.is_empty(), new_start == m.log_start);
    assert!(deleted.is_empty() || deleted[0] == m.log_start);
    assert!(new_start <= high_watermark);
    assert!(new_start == m.log_end || m.batches.iter().any(|b| b.base_offset == new_start));
    let gone: Vec<RecordBatch> = m
        .batches
        .drain(..m.batches.partition_point(|b| b.base_offset < new_start))
        .collect();
    m.log_start = new_start;
    let config = *r.log.config();
    if config.retention_ms < 0 && config.retention_bytes < 0 {
        assert!(deleted.is_empty());
    }
    if config.retention_ms < 0 && !deleted.is_empty() {
        assert!(r.log.size_bytes() as i64 >= config.retention_bytes);
    }
    if config.retention_bytes < 0 {
        let age_ms = |b: &RecordBatch| (r.now_ms - b.max_timestamp_ms) as i64;
        assert!(gone.iter().all(|b| age_ms(b) > config.retention_ms));
    }
}

/// A kill and restart: recovery needs no repair but (maybe) the epoch checkpoint's, and
/// reproduces the log.
fn restart(r: &mut Replica) {
    let (log, report, repairs) = r.recovered();
    assert_eq!((report.cut, report.rebuilt_indexes), (None, 0));
    assert!(report.deleted_segments.is_empty());
    assert!(
        repairs
            .iter()
            .all(|op| matches!(op, DiskOp::WriteAtomic { .. }))
    );
    assert_same_log(&r.log, &log);
    apply(&mut r.disk, repairs);
    r.log = log;
}

fn run(config: LogConfig, ops: Vec<Op>) {
    let mut r = Replica::new(config);
    let mut m = Model {
        batches: Vec::new(),
        log_start: 0,
        log_end: 0,
    };
    let mut epoch = 0;
    for op in ops {
        match op {
            Op::Lead {
                records,
                record_bytes,
                new_epoch,
            } => {
                epoch += u32::from(new_epoch);
                let mut batch = r.batch(records, record_bytes);
                let (first, last) = r.lead_batch(batch.clone(), epoch);
                assert_eq!(
                    (first, last),
                    (m.log_end, m.log_end + u64::from(records) - 1)
                );
                (batch.base_offset, batch.partition_leader_epoch) = (first, epoch);
                m.push(batch);
            }
            Op::Follow { batches, new_epoch } => {
                epoch += u32::from(new_epoch);
                let mut fetched: Vec<RecordBatch> = Vec::new();
                for (records, record_bytes) in batches {
                    let mut batch = r.batch(records, record_bytes);
                    batch.base_offset = fetched.last().map_or(m.log_end, RecordBatch::next_offset);
                    batch.partition_leader_epoch = epoch;
                    fetched.push(batch);
                }
                let shared: Vec<Arc<RecordBatch>> = fetched.iter().cloned().map(Arc::new).collect();
                r.follow(&shared);
                fetched.into_iter().for_each(|b| m.push(b));
            }
            Op::Truncate { back } => {
                let offset = (m.log_end + 2).saturating_sub(back);
                assert_eq!(
                    r.truncate_to(offset),
                    m.truncate_to(offset),
                    "truncate to {offset}"
                );
            }
            Op::Retain { hw_back } => retain(&mut r, &mut m, hw_back),
            Op::Tick { ms } => r.now_ms += ms,
            Op::Read {
                at,
                bytes_max,
                bound_back,
            } => {
                let fetch = (m.log_start + at % (m.log_end - m.log_start + 3)).saturating_sub(1);
                let bound = (m.log_end + 1).saturating_sub(bound_back);
                let expected = m.read(fetch, bytes_max, bound);
                let read = r.log.read(fetch, bytes_max, bound);
                let read = read.map(|batches| batches.iter().map(|b| (**b).clone()).collect());
                assert_eq!(read, expected, "read {fetch} {bound}");
            }
            Op::Restart => restart(&mut r),
        }
        check(&r, &m);
    }
    restart(&mut r);
    check(&r, &m);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_log_agrees_with_a_vec_model_and_survives_restarts(
        config in log_config(),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        run(config, ops);
    }
}

//! Log recovery on restart (Kafka's `LogLoader` and `LogSegment.recover`): the disk is the
//! truth, so the log is rebuilt from the files in its directory alone. Segments are read in
//! offset order; every batch's length and CRC are checked, and its offsets must continue the log
//! without a gap. At the first batch that fails, the `.log` file is truncated there and every
//! later segment is deleted; each kept segment's sparse index is rebuilt by the append rule and
//! its `.index` rewritten where it disagrees; the leader-epoch cache is rebuilt from the batches'
//! epochs (what Kafka's loader ends with when it recovers every segment), and
//! `leader-epoch-checkpoint` rewritten if it says otherwise.
//!
//! Fault model: after a `kill` every written byte is there and recovery reproduces the log; after
//! a power-off each file holds its durable prefix, or a torn tail that ends inside a batch, or
//! nothing (a file created but never synced). Segments after a cut would leave a gap in the
//! offsets, so they go too: Kafka tolerates offset gaps (compaction makes them), kafkasim's logs
//! are contiguous. Left out: Kafka's recovery point (every segment is re-validated, not only
//! those after it) and the `.swap`/`.cleaned`/`.deleted` files of interrupted operations. The
//! producer state is rebuilt from its snapshots and the batches (`producer_snapshots`).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::disk::Disk;
use crate::scenario::LogConfig;
use crate::sim::DiskOp;

use super::PartitionLog;
use super::checkpoint::LEADER_EPOCH_CHECKPOINT;
use super::codec;
use super::epoch_cache::EpochCache;
use super::segment::{RELATIVE_OFFSET_MAX, Segment, index_file_name, log_file_name};

/// What recovery found on the disk and what it cut.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments kept.
    pub segments_loaded: usize,
    /// Batches kept.
    pub batches_loaded: u64,
    /// `.log` bytes removed: invalid or torn tails cut, plus the files of deleted segments.
    pub truncated_bytes: u64,
    /// Valid batches discarded because they came after the cut.
    pub dropped_batches: u64,
    /// Base offsets of the segments deleted because they came after the cut.
    pub deleted_segments: Vec<u64>,
    /// Where and why the log was cut, if it was.
    pub cut: Option<String>,
    /// `.index` files rewritten because they disagreed with the rebuilt index.
    pub rebuilt_indexes: usize,
    /// Whether `leader-epoch-checkpoint` disagreed with the recovered cache and was rewritten.
    pub epoch_checkpoint_rewritten: bool,
}

impl PartitionLog {
    /// Rebuilds the log in `dir` from `disk` after a restart, pushing the repairs (truncations,
    /// deletions, index and checkpoint rewrites) into `out`. Segments count as created at
    /// `now_ms`, as Kafka's reopened segments do. A directory without segments gives an empty
    /// log at offset 0.
    pub fn recover(
        dir: &str,
        config: LogConfig,
        disk: &Disk,
        now_ms: u64,
        out: &mut Vec<DiskOp>,
    ) -> (PartitionLog, RecoveryReport) {
        let mut report = RecoveryReport::default();
        let bases = segment_files(dir, disk, out);
        let mut segments: Vec<Segment> = Vec::new();
        for base in bases {
            let log_end = segments.last().map(Segment::next_offset);
            if report.cut.is_none()
                && let Some(log_end) = log_end.filter(|&end| end != base)
            {
                report.cut = Some(format!(
                    "segment {base:020} does not start at the log end {log_end}"
                ));
            }
            if report.cut.is_some() {
                drop_segment(dir, base, disk, &mut report, out);
                continue;
            }
            let segment = load_segment(dir, base, &config, disk, now_ms, &mut report, out);
            repair_index(dir, &segment, disk, &mut report, out);
            segments.push(segment);
        }
        if segments.is_empty() {
            let segment = Segment::new(0, config.index_interval_bytes, now_ms);
            segment.create_files(dir, out);
            segments.push(segment);
        }
        report.segments_loaded = segments.len();
        report.batches_loaded = segments.iter().map(|s| s.batches().len() as u64).sum();
        let epochs = recover_epochs(dir, &segments, disk, &mut report, out);
        let mut log = PartitionLog::from_parts(dir, config, segments, epochs);
        log.load_producer_state(disk, out);
        (log, report)
    }
}

/// The base offsets of the directory's `.log` files, in order; deletes `.index` files whose
/// `.log` is gone. Other files (checkpoints, snapshots) are left alone.
fn segment_files(dir: &str, disk: &Disk, out: &mut Vec<DiskOp>) -> Vec<u64> {
    let prefix = format!("{dir}/");
    let mut logs = BTreeSet::new();
    let mut indexes = BTreeSet::new();
    for name in disk.list(&prefix) {
        let rest = &name[prefix.len()..];
        let Some((digits, extension)) = rest.split_once('.') else {
            continue;
        };
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(base) = digits.parse::<u64>() else {
            continue;
        };
        match extension {
            "log" => logs.insert(base),
            "index" => indexes.insert(base),
            _ => false,
        };
    }
    for stray in indexes.difference(&logs) {
        out.push(DiskOp::Delete {
            file: index_file_name(dir, *stray).into(),
        });
    }
    logs.into_iter().collect()
}

/// Reads one segment's valid prefix; truncates its `.log` at the first invalid batch.
fn load_segment(
    dir: &str,
    base: u64,
    config: &LogConfig,
    disk: &Disk,
    now_ms: u64,
    report: &mut RecoveryReport,
    out: &mut Vec<DiskOp>,
) -> Segment {
    let file = log_file_name(dir, base);
    let bytes = disk.read(&file).unwrap_or(&[]);
    let decoded = codec::decode_all(bytes);
    let mut cut = decoded.error.map(|(at, error)| (at, error.to_string()));
    let mut segment = Segment::new(base, config.index_interval_bytes, now_ms);
    let count = decoded.batches.len();
    for (i, stored) in decoded.batches.into_iter().enumerate() {
        let (batch, expected) = (stored.batch, segment.next_offset());
        if batch.base_offset != expected || batch.last_offset() - base > RELATIVE_OFFSET_MAX {
            let why = format!(
                "batch at offset {} where {expected} belongs",
                batch.base_offset
            );
            cut = Some((stored.file_position, why));
            report.dropped_batches += (count - i) as u64;
            break;
        }
        segment.push(Arc::new(batch), stored.encoded_len as u64);
    }
    if let Some((at, why)) = cut {
        report.truncated_bytes += (bytes.len() - at) as u64;
        report.cut = Some(format!("{file} at byte {at}: {why}"));
        out.push(DiskOp::Truncate {
            file: file.into(),
            len: at,
        });
    }
    segment
}

/// Deletes a segment that follows the cut, counting what it held.
fn drop_segment(
    dir: &str,
    base: u64,
    disk: &Disk,
    report: &mut RecoveryReport,
    out: &mut Vec<DiskOp>,
) {
    let file = log_file_name(dir, base);
    let bytes = disk.read(&file).unwrap_or(&[]);
    report.dropped_batches += codec::decode_all(bytes).batches.len() as u64;
    report.truncated_bytes += bytes.len() as u64;
    report.deleted_segments.push(base);
    out.push(DiskOp::Delete { file: file.into() });
    out.push(DiskOp::Delete {
        file: index_file_name(dir, base).into(),
    });
}

/// Rewrites the segment's `.index` from the first byte where it differs from the rebuilt one.
fn repair_index(
    dir: &str,
    segment: &Segment,
    disk: &Disk,
    report: &mut RecoveryReport,
    out: &mut Vec<DiskOp>,
) {
    let file = segment.index_file(dir);
    let wanted = segment.index().encode();
    let stored = disk.read(&file);
    if stored == Some(wanted.as_slice()) {
        return;
    }
    let stored = stored.unwrap_or(&[]);
    let common = stored
        .iter()
        .zip(&wanted)
        .take_while(|(a, b)| a == b)
        .count();
    if stored.len() > common {
        out.push(DiskOp::Truncate {
            file: file.as_str().into(),
            len: common,
        });
    }
    // An append creates the file when it is missing, even with nothing to add.
    out.push(DiskOp::Append {
        file: file.into(),
        bytes: wanted[common..].to_vec(),
    });
    report.rebuilt_indexes += 1;
}

/// The epoch cache the batches imply, as Kafka's loader leaves it after `truncateFromEnd(LEO)`
/// and the re-assignment of every recovered batch's epoch (an entry for an epoch that started at
/// the LEO and never appended is gone: the new leader assigns it again). Rewrites the checkpoint
/// if it differs.
fn recover_epochs(
    dir: &str,
    segments: &[Segment],
    disk: &Disk,
    report: &mut RecoveryReport,
    out: &mut Vec<DiskOp>,
) -> EpochCache {
    let mut cache = EpochCache::new();
    for batch in segments.iter().flat_map(Segment::batches) {
        cache.assign(batch.partition_leader_epoch, batch.base_offset);
    }
    let file = format!("{dir}/{LEADER_EPOCH_CHECKPOINT}");
    let agrees = match disk.read(&file).map(EpochCache::decode) {
        Some(Ok(stored)) => stored == cache,
        Some(Err(_)) => false,
        None => cache.entries().is_empty(),
    };
    if !agrees {
        report.epoch_checkpoint_rewritten = true;
        out.push(DiskOp::WriteAtomic {
            file: file.into(),
            bytes: cache.encode(),
            token: 0,
        });
    }
    cache
}

//! One log segment (Kafka's `LogSegment`): the batches from a base offset on, kept in memory as
//! they are in the `<base>.log` file, with their simulated byte positions and the sparse
//! [`OffsetIndex`] mirrored in `<base>.index`. A segment only computes: it pushes the
//! [`DiskOp`]s that keep its two files equal to its memory and never reads the disk.
//!
//! Fault model: the in-memory state is volatile and the files are the truth after a restart;
//! [`PartitionLog::recover`](super::PartitionLog::recover) rebuilds a segment from its `.log`.
//! Sizes that configs count (`segment.bytes`, `retention.bytes`) are simulated sizes, while the
//! files hold the compact [`codec`](super::codec) encoding, so each batch remembers both
//! positions. Left out: the time index, the transaction index and Kafka's roll jitter.

use std::sync::Arc;

use crate::record::RecordBatch;
use crate::scenario::LogConfig;
use crate::sim::DiskOp;

use super::codec;
use super::index::OffsetIndex;

/// The largest segment Kafka allows: `segment.bytes` is a Java int, and index positions are too.
pub const SEGMENT_BYTES_MAX: u64 = i32::MAX as u64;
/// The largest offset distance from a segment's base the 4-byte relative offsets can hold.
pub const RELATIVE_OFFSET_MAX: u64 = i32::MAX as u64;
/// The `.log` file length past which a segment rolls, so that file positions fit 4 bytes as in
/// Kafka. Encoded batches are smaller than their simulated sizes for any record size a run can
/// hold in memory, so `segment.bytes` always rolls first; this only bounds the file.
const FILE_BYTES_MAX: u64 = i32::MAX as u64;

/// How many of the last batches a lookup scans before it searches the whole segment.
const TAIL_SCAN_BATCHES: usize = 8;

/// Where one batch starts: in simulated bytes and in the `.log` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Placement {
    position: u32,
    file_position: u32,
}

/// One segment of a partition log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    base_offset: u64,
    /// Each batch is shared: every replica's log, fetch answers and readers hold the one the
    /// leader appended.
    batches: Vec<Arc<RecordBatch>>,
    /// Parallel to `batches`: kept so a lookup can scan from an index position and a truncation
    /// knows where to cut the `.log` file.
    placements: Vec<Placement>,
    size_bytes: u64,
    file_len_bytes: u64,
    index: OffsetIndex,
    created_ms: u64,
    max_timestamp_ms: u64,
    /// Written since the last flush (volatile; only [`Segment::flush`] cares).
    dirty: bool,
    /// The `.log` and `.index` file names, formatted on first append (every append names them).
    file_names: Option<(Arc<str>, Arc<str>)>,
}

/// The `.log` file name of the segment at `base_offset` in `dir`.
pub fn log_file_name(dir: &str, base_offset: u64) -> String {
    format!("{dir}/{base_offset:020}.log")
}

/// The `.index` file name of the segment at `base_offset` in `dir`.
pub fn index_file_name(dir: &str, base_offset: u64) -> String {
    format!("{dir}/{base_offset:020}.index")
}

impl Segment {
    /// An empty segment in memory; [`Segment::create_files`] puts it on disk.
    pub fn new(base_offset: u64, index_interval_bytes: u32, created_ms: u64) -> Segment {
        Segment {
            base_offset,
            batches: Vec::new(),
            placements: Vec::new(),
            size_bytes: 0,
            file_len_bytes: 0,
            index: OffsetIndex::new(base_offset, index_interval_bytes),
            created_ms,
            max_timestamp_ms: 0,
            dirty: false,
            file_names: None,
        }
    }

    /// Creates the segment's two files, empty.
    pub fn create_files(&self, dir: &str, out: &mut Vec<DiskOp>) {
        for file in [self.log_file(dir), self.index_file(dir)] {
            out.push(DiskOp::Append {
                file: file.into(),
                bytes: Vec::new(),
            });
        }
    }

    /// The offset of the first batch (or where the first batch will go).
    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// The offset after the last batch: the segment's share of the log end offset.
    pub fn next_offset(&self) -> u64 {
        self.batches
            .last()
            .map_or(self.base_offset, |batch| batch.next_offset())
    }

    /// Whether the segment holds no batch.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// The batches, in offset order.
    pub fn batches(&self) -> &[Arc<RecordBatch>] {
        &self.batches
    }

    /// Simulated size: the sum of the batches' simulated sizes.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Length of the `.log` file.
    pub fn file_len_bytes(&self) -> u64 {
        self.file_len_bytes
    }

    /// The sparse offset index.
    pub fn index(&self) -> &OffsetIndex {
        &self.index
    }

    /// When the segment was created (or reopened by recovery), in simulated ms.
    pub fn created_ms(&self) -> u64 {
        self.created_ms
    }

    /// The largest batch timestamp (0 when empty): what time-based retention looks at.
    pub fn max_timestamp_ms(&self) -> u64 {
        self.max_timestamp_ms
    }

    /// This segment's `.log` file name.
    pub fn log_file(&self, dir: &str) -> String {
        log_file_name(dir, self.base_offset)
    }

    /// This segment's `.index` file name.
    pub fn index_file(&self, dir: &str) -> String {
        index_file_name(dir, self.base_offset)
    }

    /// Whether `batch` must go to a new segment (Kafka's `LogSegment.shouldRoll`): never for an
    /// empty segment; else when it would pass `segment.bytes`, when more than `segment.ms`
    /// passed since the segment was created, or when its offsets would not fit the index (or
    /// its file positions 4 bytes).
    pub fn should_roll(&self, batch: &RecordBatch, config: &LogConfig, now_ms: u64) -> bool {
        if self.is_empty() {
            return false;
        }
        let segment_bytes = config.segment_bytes.min(SEGMENT_BYTES_MAX);
        self.size_bytes + batch.size_bytes() > segment_bytes
            || self.file_len_bytes > FILE_BYTES_MAX
            || now_ms.saturating_sub(self.created_ms) > config.segment_ms
            || batch.last_offset() - self.base_offset > RELATIVE_OFFSET_MAX
    }

    /// Appends `batch` (which must start at [`Segment::next_offset`]) and writes it.
    pub fn append(&mut self, dir: &str, batch: Arc<RecordBatch>, out: &mut Vec<DiskOp>) {
        let bytes = codec::encode_batch_to_vec(&batch);
        let base_offset = self.base_offset;
        if self.file_names.is_none() {
            let names = (
                log_file_name(dir, base_offset).into(),
                index_file_name(dir, base_offset).into(),
            );
            self.file_names = Some(names);
        }
        if let Some(entry) = self.push(batch, bytes.len() as u64) {
            let (_, index_name) = self.file_names.as_ref().expect("named above");
            out.push(DiskOp::Append {
                file: index_name.clone(),
                bytes: entry.to_bytes().to_vec(),
            });
        }
        let (log_name, _) = self.file_names.as_ref().expect("named above");
        out.push(DiskOp::Append {
            file: log_name.clone(),
            bytes,
        });
        self.dirty = true;
    }

    /// Adds `batch`, `encoded_len` bytes in the `.log`, to memory only (appends and recovery
    /// share it); returns the index entry it added, if any.
    pub(crate) fn push(
        &mut self,
        batch: Arc<RecordBatch>,
        encoded_len: u64,
    ) -> Option<super::index::IndexEntry> {
        assert_eq!(
            batch.base_offset,
            self.next_offset(),
            "batch not at the segment's end"
        );
        assert!(batch.offset_count() > 0, "empty batch");
        assert!(
            batch.last_offset() - self.base_offset <= RELATIVE_OFFSET_MAX,
            "batch past the segment's relative offsets"
        );
        let entry = self
            .index
            .maybe_append(batch.last_offset(), self.size_bytes);
        self.placements.push(Placement {
            position: u32::try_from(self.size_bytes).expect("segment position past u32"),
            file_position: u32::try_from(self.file_len_bytes).expect("segment file past u32"),
        });
        self.size_bytes += batch.size_bytes();
        self.file_len_bytes += encoded_len;
        self.max_timestamp_ms = self.max_timestamp_ms.max(batch.max_timestamp_ms);
        self.batches.push(batch);
        entry
    }

    /// The simulated position the index says to start scanning from for `offset`.
    pub fn lookup(&self, offset: u64) -> u32 {
        self.index.lookup(offset)
    }

    /// The position of the batch holding `offset`.
    pub fn position_of(&self, offset: u64) -> Option<u32> {
        self.batch_index_of(offset)
            .map(|i| self.placements[i].position)
    }

    /// Which batch holds `offset`, if the segment has it. Kafka's `translateOffset` looks the
    /// offset up in the sparse index and scans the file forward from there; the batches here
    /// are in memory, so a binary search over them finds the same batch.
    pub fn batch_index_of(&self, offset: u64) -> Option<usize> {
        if offset < self.base_offset || offset >= self.next_offset() {
            return None;
        }
        // Fetches mostly read the last few batches: look there before searching the rest.
        let tail = self.batches.len().saturating_sub(TAIL_SCAN_BATCHES);
        let found = match self.batches[tail..]
            .iter()
            .rposition(|b| b.base_offset <= offset)
        {
            Some(i) => tail + i,
            None => self.batches[..tail].partition_point(|b| b.base_offset <= offset) - 1,
        };
        debug_assert!(self.batches[found].last_offset() >= offset);
        Some(found)
    }

    /// Cuts the segment at the start of the batch holding `offset` (or keeps everything when
    /// `offset` is at or past the end) and truncates both files; returns the offsets removed.
    /// A segment cut to empty counts as created now, as in Kafka.
    pub fn truncate_to(
        &mut self,
        dir: &str,
        offset: u64,
        now_ms: u64,
        out: &mut Vec<DiskOp>,
    ) -> u64 {
        let Some(keep) = self.batch_index_of(offset.max(self.base_offset)) else {
            return 0;
        };
        let removed = self.next_offset() - self.batches[keep].base_offset;
        let cut = self.placements[keep];
        self.batches.truncate(keep);
        self.placements.truncate(keep);
        self.size_bytes = u64::from(cut.position);
        self.file_len_bytes = u64::from(cut.file_position);
        self.max_timestamp_ms = self
            .batches
            .iter()
            .map(|b| b.max_timestamp_ms)
            .max()
            .unwrap_or(0);
        let index_len = self.index.truncate_to(self.next_offset());
        if self.is_empty() {
            self.created_ms = now_ms;
        }
        out.push(DiskOp::Truncate {
            file: self.log_file(dir).into(),
            len: cut.file_position as usize,
        });
        out.push(DiskOp::Truncate {
            file: self.index_file(dir).into(),
            len: index_len,
        });
        removed
    }

    /// Removes both files.
    pub fn delete_files(&self, dir: &str, out: &mut Vec<DiskOp>) {
        out.push(DiskOp::Delete {
            file: self.log_file(dir).into(),
        });
        out.push(DiskOp::Delete {
            file: self.index_file(dir).into(),
        });
    }

    /// Syncs both files if written since the last flush.
    pub fn flush(&mut self, dir: &str, token: u64, out: &mut Vec<DiskOp>) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        for file in [self.log_file(dir), self.index_file(dir)] {
            out.push(DiskOp::Sync {
                file: file.into(),
                token,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record, RecordId};

    fn config() -> LogConfig {
        LogConfig {
            retention_ms: -1,
            retention_bytes: -1,
            segment_bytes: 1_000,
            segment_ms: 60_000,
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
            index_interval_bytes: 150,
        }
    }

    /// A batch of `records` records of 13 bytes each: 61 + 13 * 3 = 100 bytes for 3.
    fn batch(base_offset: u64, records: u32) -> RecordBatch {
        RecordBatch {
            base_offset,
            partition_leader_epoch: 0,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            transactional: false,
            control: None,
            max_timestamp_ms: base_offset,
            records: (0..records)
                .map(|n| Record {
                    id: RecordId { producer: 0, n },
                    key: None,
                    size_bytes: 13,
                })
                .collect(),
        }
    }

    fn filled(batches: u64) -> (Segment, Vec<DiskOp>) {
        let mut segment = Segment::new(10, 150, 0);
        let mut out = Vec::new();
        for i in 0..batches {
            segment.append("t-0", batch(10 + 3 * i, 3).into(), &mut out);
        }
        (segment, out)
    }

    #[test]
    fn appends_write_the_log_and_the_index_entries_of_the_rule() {
        let (segment, out) = filled(5);
        assert_eq!(segment.size_bytes(), 500);
        assert_eq!(segment.next_offset(), 25);
        let index_writes = out.iter().filter(|op| {
            matches!(op, DiskOp::Append { file, .. } if &**file == "t-0/00000000000000000010.index")
        });
        assert_eq!(index_writes.count(), 2);
        assert_eq!(segment.index().entries().len(), 2);
    }

    #[test]
    fn lookups_scan_forward_from_the_index_position() {
        let (segment, _) = filled(5);
        assert_eq!(segment.lookup(17), 0);
        assert_eq!(segment.position_of(17), Some(200));
        assert_eq!(segment.position_of(24), Some(400));
        assert_eq!(segment.position_of(9), None);
        assert_eq!(segment.position_of(25), None);
    }

    #[test]
    fn rolls_on_size_time_and_never_when_empty() {
        let config = config();
        let empty = Segment::new(0, 150, 0);
        assert!(!empty.should_roll(&batch(0, 100), &config, u64::MAX));
        let (segment, _) = filled(9);
        assert!(!segment.should_roll(&batch(37, 3), &config, 60_000));
        assert!(segment.should_roll(&batch(37, 4), &config, 0));
        assert!(segment.should_roll(&batch(37, 1), &config, 60_001));
    }

    #[test]
    fn truncation_cuts_at_the_containing_batch_start() {
        let (mut segment, _) = filled(5);
        let mut out = Vec::new();
        assert_eq!(segment.truncate_to("t-0", 20, 5, &mut out), 6);
        assert_eq!((segment.next_offset(), segment.size_bytes()), (19, 300));
        assert_eq!(segment.index().entries().len(), 1);
        let log_len = segment.file_len_bytes() as usize;
        assert!(out.contains(&DiskOp::Truncate {
            file: "t-0/00000000000000000010.log".into(),
            len: log_len
        }));
        assert_eq!(segment.truncate_to("t-0", 30, 5, &mut Vec::new()), 0);
        assert_eq!(segment.truncate_to("t-0", 0, 5, &mut Vec::new()), 9);
        assert!(segment.is_empty());
        assert_eq!((segment.file_len_bytes(), segment.created_ms()), (0, 5));
    }
}

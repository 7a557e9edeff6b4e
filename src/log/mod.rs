//! One replica's partition log on the node's virtual disk (Kafka's `UnifiedLog` and `LocalLog`):
//! segments of record batches in the directory `<topic>-<partition>`, each a `<base>.log` file
//! of encoded batches with a sparse `<base>.index`, a log start offset, a log end offset (LEO,
//! exclusive) and the leader-epoch cache persisted in `leader-epoch-checkpoint`.
//!
//! Sans-I/O: methods change the in-memory state and push the [`DiskOp`]s that bring the files in
//! line into `out`; the simulator applies them. Memory mirrors the disk so reads never touch it;
//! only [`PartitionLog::recover`] reads the disk, and after a restart the disk is the truth.
//! Like Kafka by default, the log never fsyncs on its own (durability comes from replication);
//! [`PartitionLog::flush`] syncs on request.
//!
//! Fault model: a `kill` keeps every written byte, so recovery reproduces the log; a power-off
//! keeps each file's durable prefix or a torn tail, which recovery cuts at the first batch whose
//! length or CRC is wrong, dropping every later segment so offsets stay contiguous. Left out:
//! compaction, the time index (the transaction index lives in the producer state, see
//! [`producer_state`]), `DeleteRecords`
//! (the log start offset is always the first segment's base), and Kafka's recovery point (all
//! segments are re-validated on every recovery).
//!
//! ```
//! use kafkasim::log::PartitionLog;
//! use kafkasim::record::{Record, RecordBatch, RecordId};
//! # let config = kafkasim::scenario::LogConfig { retention_ms: -1, retention_bytes: -1,
//! #     segment_bytes: 1 << 30, segment_ms: 604_800_000, min_insync_replicas: 1,
//! #     unclean_leader_election_enable: false, index_interval_bytes: 4096 };
//! let mut out = Vec::new();
//! let mut log = PartitionLog::create("orders-0", config, 0, &mut out);
//! let record = Record { id: RecordId { producer: 0, n: 0 }, key: None, size_bytes: 100 };
//! let batch = RecordBatch { base_offset: 0, partition_leader_epoch: 0, producer_id: -1,
//!     producer_epoch: -1, base_sequence: -1, transactional: false, control: None,
//!     max_timestamp_ms: 0, records: vec![record; 3].into() };
//! assert_eq!(log.append_as_leader(batch, 1, 5, &mut out), (0, 2));
//! assert_eq!(log.log_end_offset(), 3);
//! assert_eq!(log.read(1, 1, 3).unwrap().len(), 1, "the whole batch holding offset 1");
//! ```

mod checkpoint;
pub mod codec;
mod epoch_cache;
mod index;
mod producer_snapshots;
pub mod producer_state;
mod recovery;
mod retention;
mod segment;
mod transactions;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::protocol::KafkaError;
use crate::record::RecordBatch;
use crate::scenario::LogConfig;
use crate::sim::DiskOp;

pub use checkpoint::{
    CHECKPOINT_VERSION, LEADER_EPOCH_CHECKPOINT, PartitionOffset, RECOVERY_POINT_OFFSET_CHECKPOINT,
    REPLICATION_OFFSET_CHECKPOINT, decode_offset_checkpoint, encode_offset_checkpoint,
};
pub use codec::DecodeError;
pub use epoch_cache::{EpochCache, EpochEntry, Truncation};
pub use index::{INDEX_ENTRY_BYTES, IndexEntry, OffsetIndex};
pub use producer_state::{AppendCheck, ProducerStateManager};
pub use recovery::RecoveryReport;
pub use segment::{
    RELATIVE_OFFSET_MAX, SEGMENT_BYTES_MAX, Segment, index_file_name, log_file_name,
};

/// An error a log read reports to its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogError {
    /// Kafka's `OFFSET_OUT_OF_RANGE`: the fetch offset is below the log start or above the LEO.
    OffsetOutOfRange {
        /// The log start offset at the time of the read.
        log_start_offset: u64,
        /// The log end offset at the time of the read.
        log_end_offset: u64,
    },
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::OffsetOutOfRange {
                log_start_offset,
                log_end_offset,
            } => write!(
                f,
                "OFFSET_OUT_OF_RANGE: log holds [{log_start_offset}, {log_end_offset})"
            ),
        }
    }
}

impl std::error::Error for LogError {}

/// One replica's log of one partition.
#[derive(Clone, Debug)]
pub struct PartitionLog {
    /// The directory, `<topic>-<partition>` (durable: it names the files).
    dir: String,
    config: LogConfig,
    /// Ascending base offsets, contiguous; the last is the active segment. Only the active one
    /// may be empty. A `Vec` because segments come and go only at the two ends.
    segments: Vec<Segment>,
    /// Durable as the first segment's base offset.
    log_start_offset: u64,
    /// Volatile: where the active segment ends, kept here because nearly every request asks
    /// (the invariant check compares it with the segments).
    log_end_offset: u64,
    /// Durable in `leader-epoch-checkpoint` (and rebuilt from the batches by recovery).
    epoch_cache: EpochCache,
    /// Volatile: the token of the syncs and atomic writes this log issues.
    sync_token: u64,
    /// Volatile: every idempotent producer's state, implied by the batches (rebuilt on recovery
    /// and truncation from the snapshots and the log).
    producer_state: ProducerStateManager,
    /// Durable in `<offset>.snapshot` files: the producer state at segment rolls.
    producer_snapshots: BTreeMap<u64, ProducerStateManager>,
}

impl PartitionLog {
    /// A new empty log in `dir` starting at offset 0; creates the first segment's files.
    pub fn create(dir: &str, config: LogConfig, now_ms: u64, out: &mut Vec<DiskOp>) -> Self {
        assert!(
            !dir.is_empty() && !dir.ends_with('/'),
            "bad log directory {dir:?}"
        );
        let segment = Segment::new(0, config.index_interval_bytes, now_ms);
        segment.create_files(dir, out);
        Self::from_parts(dir, config, vec![segment], EpochCache::new())
    }

    /// A log from recovered parts.
    fn from_parts(
        dir: &str,
        config: LogConfig,
        segments: Vec<Segment>,
        epochs: EpochCache,
    ) -> Self {
        let log = PartitionLog {
            dir: dir.to_owned(),
            config,
            log_start_offset: segments[0].base_offset(),
            log_end_offset: segments.last().expect("a log has a segment").next_offset(),
            segments,
            epoch_cache: epochs,
            sync_token: 0,
            producer_state: ProducerStateManager::new(),
            producer_snapshots: BTreeMap::new(),
        };
        log.assert_invariants();
        log
    }

    /// The directory holding the log's files.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// The topic's effective log configuration.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Sets the token carried by this log's `Sync` and `WriteAtomic` ops (default 0).
    pub fn set_sync_token(&mut self, token: u64) {
        self.sync_token = token;
    }

    /// The offset the next batch gets (exclusive end of the log).
    pub fn log_end_offset(&self) -> u64 {
        self.log_end_offset
    }

    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> u64 {
        self.log_start_offset
    }

    /// Simulated size of the log: the sum of its segments' sizes.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(Segment::size_bytes).sum()
    }

    /// The segments' base offsets, oldest first.
    pub fn segments(&self) -> Vec<u64> {
        self.segments.iter().map(Segment::base_offset).collect()
    }

    /// The segment with this base offset.
    pub fn segment(&self, base_offset: u64) -> Option<&Segment> {
        let i = self
            .segments
            .binary_search_by_key(&base_offset, Segment::base_offset);
        i.ok().map(|i| &self.segments[i])
    }

    /// The segment appends go to.
    pub fn active_segment(&self) -> &Segment {
        self.segments.last().expect("a log has a segment")
    }

    /// The leader-epoch cache.
    pub fn epoch_cache(&self) -> &EpochCache {
        &self.epoch_cache
    }

    /// The batches holding offsets at or after `offset` (from the log start if it is below).
    pub fn batches_from(&self, offset: u64) -> impl Iterator<Item = &Arc<RecordBatch>> + '_ {
        let offset = offset.max(self.log_start_offset);
        let (first_segment, first_batch) = self.locate(offset).unwrap_or((self.segments.len(), 0));
        self.segments[first_segment..]
            .iter()
            .enumerate()
            .flat_map(move |(i, segment)| {
                let skip = if i == 0 { first_batch } else { 0 };
                segment.batches()[skip..].iter()
            })
    }

    /// Appends a producer's batch as the leader of `leader_epoch`: stamps the base offset (the
    /// LEO) and the epoch, records the epoch's start in the cache if it is new, and returns the
    /// first and last offsets.
    pub fn append_as_leader(
        &mut self,
        mut batch: RecordBatch,
        leader_epoch: u32,
        now_ms: u64,
        out: &mut Vec<DiskOp>,
    ) -> (u64, u64) {
        assert!(
            self.epoch_cache
                .latest_epoch()
                .is_none_or(|latest| leader_epoch >= latest),
            "leader epoch {leader_epoch} below the log's latest"
        );
        batch.base_offset = self.log_end_offset();
        batch.partition_leader_epoch = leader_epoch;
        let offsets = (batch.base_offset, batch.last_offset());
        let epochs_changed = self.epoch_cache.assign(leader_epoch, batch.base_offset);
        self.append_batch(Arc::new(batch), now_ms, out);
        if epochs_changed {
            self.write_epoch_checkpoint(out);
        }
        offsets
    }

    /// A leader's check of a produced batch against the producer state, before appending it.
    pub fn check_producer_append(&self, batch: &RecordBatch) -> Result<AppendCheck, KafkaError> {
        self.producer_state.check_append(batch)
    }

    /// Appends batches fetched from the leader, which carry their offsets and epochs; they must
    /// start at the LEO and be contiguous. Each batch's epoch goes into the cache.
    pub fn append_as_follower(
        &mut self,
        batches: Vec<Arc<RecordBatch>>,
        now_ms: u64,
        out: &mut Vec<DiskOp>,
    ) {
        let mut epochs_changed = false;
        for batch in batches {
            assert_eq!(
                batch.base_offset,
                self.log_end_offset(),
                "follower batches must start at the log end offset and be contiguous"
            );
            epochs_changed |= self
                .epoch_cache
                .assign(batch.partition_leader_epoch, batch.base_offset);
            self.append_batch(batch, now_ms, out);
        }
        if epochs_changed {
            self.write_epoch_checkpoint(out);
        }
    }

    /// Records that `leader_epoch` starts at the LEO, as a new leader does before its first
    /// append (Kafka's `maybeAssignEpochStartOffset`). Returns whether the cache changed.
    pub fn assign_epoch_start(&mut self, leader_epoch: u32, out: &mut Vec<DiskOp>) -> bool {
        let changed = self.epoch_cache.assign(leader_epoch, self.log_end_offset());
        if changed {
            self.write_epoch_checkpoint(out);
        }
        changed
    }

    /// The KIP-101 answer to `OffsetsForLeaderEpoch(epoch)` from this log as leader.
    pub fn start_offset_of_first_epoch_after(&self, epoch: u32) -> Option<u64> {
        let log_end = self.log_end_offset();
        self.epoch_cache
            .start_offset_of_first_epoch_after(epoch, log_end)
    }

    /// The KIP-279 answer to `OffsetsForLeaderEpoch(epoch)`: (largest epoch ≤ it, its end).
    pub fn end_offset_for_epoch(&self, epoch: u32) -> Option<(u32, u64)> {
        self.epoch_cache
            .end_offset_for(epoch, self.log_end_offset())
    }

    /// Whole batches from the one holding `fetch_offset`, each ending below `upper_bound` (the
    /// HW or LSO for consumers, the LEO for followers), within `bytes_max` except that the first
    /// batch is always returned. At the LEO (or at/above the bound) the answer is empty; below
    /// the log start or above the LEO it is `OFFSET_OUT_OF_RANGE`. Unlike Kafka, one read may
    /// span segments.
    pub fn read(
        &self,
        fetch_offset: u64,
        bytes_max: u64,
        upper_bound: u64,
    ) -> Result<Vec<Arc<RecordBatch>>, LogError> {
        let log_end_offset = self.log_end_offset();
        if fetch_offset < self.log_start_offset || fetch_offset > log_end_offset {
            return Err(LogError::OffsetOutOfRange {
                log_start_offset: self.log_start_offset,
                log_end_offset,
            });
        }
        let upper_bound = upper_bound.min(log_end_offset);
        let mut batches = Vec::new();
        if fetch_offset >= upper_bound {
            // Nothing to return (a caught-up fetch): skip finding the batch.
            return Ok(batches);
        }
        let mut total_bytes = 0;
        for batch in self.batches_from(fetch_offset) {
            let size = batch.size_bytes();
            let over_budget = !batches.is_empty() && total_bytes + size > bytes_max;
            if batch.next_offset() > upper_bound || over_budget {
                break;
            }
            total_bytes += size;
            batches.push(batch.clone());
        }
        Ok(batches)
    }

    /// Removes every offset at and above `offset`, rounded down to the start of the batch
    /// holding it (Kafka cuts a segment at a batch boundary), deleting later segments and the
    /// epoch entries starting at or after the new LEO. Below the log start the log is emptied
    /// to start at `offset`, as Kafka does. Returns how many offsets were removed.
    pub fn truncate_to(&mut self, offset: u64, now_ms: u64, out: &mut Vec<DiskOp>) -> u64 {
        let log_end = self.log_end_offset();
        if offset >= log_end {
            // Kafka truncates the cache even then: a leader that assigned its epoch's start at
            // the LEO but never appended must drop that entry before it follows another leader.
            if self.epoch_cache.truncate_from_end(log_end) {
                self.write_epoch_checkpoint(out);
            }
            return 0;
        }
        if offset < self.log_start_offset {
            let removed = log_end - self.log_start_offset;
            self.truncate_fully_and_start_at(offset, now_ms, out);
            return removed;
        }
        let (keep, _) = self.locate(offset).expect("offset inside the log");
        for segment in self.segments.drain(keep + 1..) {
            segment.delete_files(&self.dir, out);
        }
        let active = self.segments.last_mut().expect("kept segment");
        active.truncate_to(&self.dir, offset, now_ms, out);
        self.log_end_offset = active.next_offset();
        let new_end = self.log_end_offset();
        if self.epoch_cache.truncate_from_end(new_end) {
            self.write_epoch_checkpoint(out);
        }
        self.reload_producer_state(out);
        self.assert_invariants();
        log_end - new_end
    }

    /// Deletes every segment and starts an empty log at `offset` (Kafka's
    /// `truncateFullyAndStartAt`, for a follower whose fetch offset is out of the leader's
    /// range); the epoch cache is cleared.
    pub fn truncate_fully_and_start_at(&mut self, offset: u64, now_ms: u64, out: &mut Vec<DiskOp>) {
        for segment in self.segments.drain(..) {
            segment.delete_files(&self.dir, out);
        }
        let segment = Segment::new(offset, self.config.index_interval_bytes, now_ms);
        segment.create_files(&self.dir, out);
        self.segments.push(segment);
        self.log_start_offset = offset;
        self.log_end_offset = offset;
        if self.epoch_cache.clear() {
            self.write_epoch_checkpoint(out);
        }
        self.clear_producer_state(out);
        self.assert_invariants();
    }

    /// Syncs the files of every segment written since the last flush.
    pub fn flush(&mut self, out: &mut Vec<DiskOp>) {
        for segment in &mut self.segments {
            segment.flush(&self.dir, self.sync_token, out);
        }
    }

    /// Checks the log's invariants: contiguous segments starting at the log start, only the
    /// active one empty, epoch entries between the log start and the LEO.
    pub fn check_invariants(&self) -> Result<(), String> {
        let first = self.segments.first().ok_or("a log without segments")?;
        if first.base_offset() != self.log_start_offset {
            return Err(format!(
                "log start {} is not the first segment's base {}",
                self.log_start_offset,
                first.base_offset()
            ));
        }
        for pair in self.segments.windows(2) {
            if pair[0].is_empty() || pair[0].next_offset() != pair[1].base_offset() {
                return Err(format!(
                    "segment {} (empty: {}) does not end where {} starts",
                    pair[0].base_offset(),
                    pair[0].is_empty(),
                    pair[1].base_offset()
                ));
            }
        }
        let log_end = self.log_end_offset();
        let active_end = self.active_segment().next_offset();
        if log_end != active_end {
            return Err(format!(
                "LEO {log_end} is not where the active segment ends ({active_end})"
            ));
        }
        let entries = self.epoch_cache.entries();
        let outside = entries
            .iter()
            .find(|e| e.start_offset < self.log_start_offset || e.start_offset > log_end);
        match outside {
            Some(e) => Err(format!(
                "epoch {} starts at {} outside [{}, {log_end}]",
                e.epoch, e.start_offset, self.log_start_offset
            )),
            None => Ok(()),
        }
    }

    fn assert_invariants(&self) {
        if let Err(problem) = self.check_invariants() {
            panic!("partition log {}: {problem}", self.dir);
        }
    }

    /// Rolls if the batch does not belong in the active segment, then appends it there.
    fn append_batch(&mut self, batch: Arc<RecordBatch>, now_ms: u64, out: &mut Vec<DiskOp>) {
        if self
            .active_segment()
            .should_roll(&batch, &self.config, now_ms)
        {
            self.take_producer_snapshot(out);
            let base_offset = self.log_end_offset();
            let segment = Segment::new(base_offset, self.config.index_interval_bytes, now_ms);
            segment.create_files(&self.dir, out);
            self.segments.push(segment);
        }
        self.producer_state.update(&batch);
        self.log_end_offset = batch.next_offset();
        let active = self.segments.last_mut().expect("a log has a segment");
        active.append(&self.dir, batch, out);
    }

    fn write_epoch_checkpoint(&self, out: &mut Vec<DiskOp>) {
        out.push(DiskOp::WriteAtomic {
            file: format!("{}/{LEADER_EPOCH_CHECKPOINT}", self.dir).into(),
            bytes: self.epoch_cache.encode(),
            token: self.sync_token,
        });
    }

    /// The (segment, batch) indexes of the batch holding `offset`, if the log has it.
    fn locate(&self, offset: u64) -> Option<(usize, usize)> {
        if offset < self.log_start_offset || offset >= self.log_end_offset() {
            return None;
        }
        let segment = self.segments.partition_point(|s| s.base_offset() <= offset) - 1;
        let batch = self.segments[segment].batch_index_of(offset)?;
        Some((segment, batch))
    }
}

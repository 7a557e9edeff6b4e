//! How a partition log keeps its [`ProducerStateManager`] in line with its batches: every append
//! updates it, a segment roll writes a snapshot `<offset>.snapshot` of the state at the new
//! segment's base offset (Kafka's `takeSnapshot` on roll), a truncation deletes the snapshots past
//! the new log end and rebuilds the state from the newest one left (Kafka's `truncateAndReload`),
//! and recovery does the same from the files on disk.
//!
//! Fault model: snapshots are written atomically and durably, so a power-off keeps or loses a
//! whole file; one that does not decode, or that lies past the recovered log end (its segments
//! were torn away), is deleted and the state replays from an older one or from the log start.

use std::collections::BTreeMap;

use crate::disk::Disk;
use crate::sim::DiskOp;

use super::PartitionLog;
use super::producer_state::{ProducerStateManager, snapshot_file_name};

impl PartitionLog {
    /// The producer state implied by the log.
    pub fn producer_state(&self) -> &ProducerStateManager {
        &self.producer_state
    }

    /// The offsets of the producer-state snapshots on disk, oldest first.
    pub fn producer_snapshot_offsets(&self) -> Vec<u64> {
        self.producer_snapshots.keys().copied().collect()
    }

    /// Writes a snapshot of the producer state at the log end (on a segment roll). An empty state
    /// writes none: replaying from the log start gives the same (no idempotent batch precedes).
    pub(super) fn take_producer_snapshot(&mut self, out: &mut Vec<DiskOp>) {
        if self.producer_state.is_empty() {
            return;
        }
        let offset = self.log_end_offset();
        out.push(DiskOp::WriteAtomic {
            file: snapshot_file_name(&self.dir, offset).into(),
            bytes: self.producer_state.encode(),
            token: self.sync_token,
        });
        self.producer_snapshots
            .insert(offset, self.producer_state.clone());
    }

    /// Deletes the snapshots past the log end and rebuilds the state from the newest one left,
    /// replaying the batches after it (from the log start without one).
    pub(super) fn reload_producer_state(&mut self, out: &mut Vec<DiskOp>) {
        let log_end = self.log_end_offset();
        let stale: Vec<u64> = self
            .producer_snapshots
            .range(log_end + 1..)
            .map(|(&o, _)| o)
            .collect();
        for offset in stale {
            self.producer_snapshots.remove(&offset);
            out.push(DiskOp::Delete {
                file: snapshot_file_name(&self.dir, offset).into(),
            });
        }
        self.producer_state = self.replay_producer_state();
    }

    /// The state from the newest snapshot at or below the log end plus the batches after it.
    fn replay_producer_state(&self) -> ProducerStateManager {
        let (from, mut state) = self
            .producer_snapshots
            .range(..=self.log_end_offset())
            .next_back()
            .map_or(
                (self.log_start_offset, ProducerStateManager::new()),
                |(&o, s)| (o, s.clone()),
            );
        for batch in self.batches_from(from).filter(|b| b.base_offset >= from) {
            state.update(batch);
        }
        state
    }

    /// Forgets the producer state and deletes every snapshot (the log was emptied).
    pub(super) fn clear_producer_state(&mut self, out: &mut Vec<DiskOp>) {
        for offset in std::mem::take(&mut self.producer_snapshots).into_keys() {
            out.push(DiskOp::Delete {
                file: snapshot_file_name(&self.dir, offset).into(),
            });
        }
        self.producer_state = ProducerStateManager::new();
    }

    /// Recovery: reads the snapshot files of the log's directory, deletes those that do not
    /// decode or lie past the log end, and rebuilds the state.
    pub(super) fn load_producer_state(&mut self, disk: &Disk, out: &mut Vec<DiskOp>) {
        let prefix = format!("{}/", self.dir);
        let log_end = self.log_end_offset();
        let mut snapshots = BTreeMap::new();
        for name in disk.list(&prefix) {
            let Some(offset) = snapshot_offset(&name[prefix.len()..]) else {
                continue;
            };
            let state = disk.read(name).and_then(ProducerStateManager::decode);
            match state {
                Some(state) if offset <= log_end => {
                    snapshots.insert(offset, state);
                }
                _ => out.push(DiskOp::Delete { file: name.into() }),
            }
        }
        self.producer_snapshots = snapshots;
        self.producer_state = self.replay_producer_state();
    }
}

/// The offset of a `<20 digits>.snapshot` file name.
fn snapshot_offset(file: &str) -> Option<u64> {
    let digits = file.strip_suffix(".snapshot")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

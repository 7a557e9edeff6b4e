//! The leader-epoch cache (Kafka's `LeaderEpochFileCache`, KIP-101): for each leader epoch that
//! wrote to this replica's log, the offset where it started. Entries are strictly increasing in
//! both epoch and start offset. Two lookups answer `OffsetsForLeaderEpoch`:
//!
//! - KIP-101 (Kafka 0.11): [`EpochCache::start_offset_of_first_epoch_after`], the start offset of
//!   the first epoch larger than the requested one (the log end offset if the requested one is
//!   the latest). Asked about an epoch it never saw, the leader can answer an offset that belongs
//!   to a *different* epoch's history: the KAFKA-6361 divergence (R3).
//! - KIP-279 (Kafka 2.0): [`EpochCache::end_offset_for`], the largest epoch at or below the
//!   requested one and where it ends; the follower side is [`EpochCache::follower_truncation`].
//!
//! Fault model: the cache is persisted to `leader-epoch-checkpoint` after every change, but a
//! crash can leave the file a step behind; recovery rebuilds the cache from the batches' epochs
//! (see [`PartitionLog::recover`](super::PartitionLog::recover)). Left out: Kafka's asynchronous
//! flush on truncation from the start and its warnings for non-monotonic assignments (the
//! entries are simply truncated).

use super::checkpoint::{decode_lines, encode_lines, fields, parse};

/// One cache entry: leader epoch `epoch` wrote its first batch at `start_offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: u32,
    /// The first offset written in that epoch.
    pub start_offset: u64,
}

/// Where a follower truncates after one `OffsetsForLeaderEpoch` answer (KIP-279).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// Truncate the log to this offset.
    pub offset: u64,
    /// Whether truncation is done; `false` means ask again with the follower's new latest epoch.
    pub complete: bool,
}

/// The leader-epoch cache of one replica's partition log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EpochCache {
    /// Strictly increasing in epoch and start offset; a `Vec` since appends and truncations
    /// happen at the ends and lookups binary-search.
    entries: Vec<EpochEntry>,
}

impl EpochCache {
    /// An empty cache.
    pub fn new() -> EpochCache {
        EpochCache::default()
    }

    /// A cache holding `entries`, which must be strictly increasing in epoch and start offset.
    pub fn from_entries(entries: Vec<EpochEntry>) -> Result<EpochCache, String> {
        let increasing = entries
            .windows(2)
            .all(|w| w[0].epoch < w[1].epoch && w[0].start_offset < w[1].start_offset);
        if !increasing {
            return Err(format!("epoch entries not increasing: {entries:?}"));
        }
        Ok(EpochCache { entries })
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The latest entry.
    pub fn latest_entry(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// The latest leader epoch, if any wrote to the log.
    pub fn latest_epoch(&self) -> Option<u32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// The epoch of the leader that wrote `offset`, by the cache.
    pub fn epoch_at(&self, offset: u64) -> Option<u32> {
        let above = self.entries.partition_point(|e| e.start_offset <= offset);
        above.checked_sub(1).map(|i| self.entries[i].epoch)
    }

    /// Records that `epoch` starts at `start_offset` (Kafka's `assign`): nothing if it is the
    /// latest epoch already, else entries with an epoch or start offset at or above the new one
    /// are dropped first. Returns whether the cache changed.
    pub fn assign(&mut self, epoch: u32, start_offset: u64) -> bool {
        if let Some(latest) = self.latest_entry()
            && latest.epoch == epoch
            && start_offset >= latest.start_offset
        {
            return false;
        }
        let keep = self
            .entries
            .iter()
            .rposition(|e| e.epoch < epoch && e.start_offset < start_offset)
            .map_or(0, |i| i + 1);
        self.entries.truncate(keep);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// Drops entries starting at or after `end_offset`, as a log truncation to it requires
    /// (Kafka's `truncateFromEnd`). Returns whether the cache changed.
    pub fn truncate_from_end(&mut self, end_offset: u64) -> bool {
        let keep = self
            .entries
            .partition_point(|e| e.start_offset < end_offset);
        let changed = keep < self.entries.len();
        self.entries.truncate(keep);
        changed
    }

    /// Drops entries before a new log start offset, keeping the last of them moved up to start
    /// there (Kafka's `truncateFromStart`). Returns whether the cache changed.
    pub fn truncate_from_start(&mut self, start_offset: u64) -> bool {
        let at_or_below = self
            .entries
            .partition_point(|e| e.start_offset <= start_offset);
        let Some(last) = at_or_below.checked_sub(1) else {
            return false;
        };
        let changed = last > 0 || self.entries[last].start_offset != start_offset;
        self.entries.drain(..last);
        self.entries[0].start_offset = start_offset;
        changed
    }

    /// Empties the cache; returns whether it held anything.
    pub fn clear(&mut self) -> bool {
        let changed = !self.entries.is_empty();
        self.entries.clear();
        changed
    }

    /// The KIP-101 leader's answer to `OffsetsForLeaderEpoch(epoch)`: the log end offset if
    /// `epoch` is the latest, else the start offset of the first larger epoch; `None`
    /// (UNDEFINED_EPOCH_OFFSET) when `epoch` is below the first entry or above the latest.
    pub fn start_offset_of_first_epoch_after(
        &self,
        epoch: u32,
        log_end_offset: u64,
    ) -> Option<u64> {
        let latest = self.latest_epoch()?;
        if epoch == latest {
            return Some(log_end_offset);
        }
        if epoch < self.entries[0].epoch {
            return None;
        }
        self.first_after(epoch).map(|e| e.start_offset)
    }

    /// The KIP-279 leader's answer to `OffsetsForLeaderEpoch(epoch)`: the largest epoch at or
    /// below `epoch` and its end offset (the next epoch's start, or the log end offset for the
    /// latest). `None` (UNDEFINED) when `epoch` is above the latest or the cache is empty. For an
    /// epoch below every entry Kafka answers `(epoch, first entry's start offset)`, and so does
    /// this.
    pub fn end_offset_for(&self, epoch: u32, log_end_offset: u64) -> Option<(u32, u64)> {
        if self.latest_epoch() == Some(epoch) {
            return Some((epoch, log_end_offset));
        }
        let next = self.first_after(epoch)?;
        let floor = self.entries.iter().rev().find(|e| e.epoch <= epoch);
        Some((floor.map_or(epoch, |e| e.epoch), next.start_offset))
    }

    /// The KIP-279 follower's step after the leader answered `(leader_epoch, leader_end_offset)`
    /// (Kafka's `AbstractFetcherThread.getOffsetTruncationState`): if this replica has that
    /// epoch, truncate to the smaller end offset and stop; if not, truncate to the end of its own
    /// largest smaller epoch and ask again; with no such epoch, take the leader's offset.
    pub fn follower_truncation(
        &self,
        leader_epoch: u32,
        leader_end_offset: u64,
        log_end_offset: u64,
    ) -> Truncation {
        match self.end_offset_for(leader_epoch, log_end_offset) {
            Some((epoch, end_offset)) if epoch == leader_epoch => Truncation {
                offset: end_offset.min(leader_end_offset).min(log_end_offset),
                complete: true,
            },
            Some((_, end_offset)) => Truncation {
                offset: end_offset.min(log_end_offset),
                complete: false,
            },
            _ => Truncation {
                offset: leader_end_offset.min(log_end_offset),
                complete: true,
            },
        }
    }

    /// The `leader-epoch-checkpoint` file's content in Kafka's text format.
    pub fn encode(&self) -> Vec<u8> {
        let lines: Vec<String> = self
            .entries
            .iter()
            .map(|e| format!("{} {}", e.epoch, e.start_offset))
            .collect();
        encode_lines(&lines)
    }

    /// Parses a `leader-epoch-checkpoint` file.
    pub fn decode(bytes: &[u8]) -> Result<EpochCache, String> {
        let entries = decode_lines(bytes, |line| {
            let [epoch, start_offset] = fields(line)?;
            Ok(EpochEntry {
                epoch: parse(epoch, "epoch")?,
                start_offset: parse(start_offset, "start offset")?,
            })
        })?;
        EpochCache::from_entries(entries)
    }

    fn first_after(&self, epoch: u32) -> Option<EpochEntry> {
        let i = self.entries.partition_point(|e| e.epoch <= epoch);
        self.entries.get(i).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(u32, u64)]) -> EpochCache {
        let entries = entries
            .iter()
            .map(|&(epoch, start_offset)| EpochEntry {
                epoch,
                start_offset,
            })
            .collect();
        EpochCache::from_entries(entries).expect("increasing")
    }

    #[test]
    fn assign_adds_new_epochs_and_truncates_conflicting_ones() {
        let mut c = EpochCache::new();
        assert!(c.assign(0, 0));
        assert!(!c.assign(0, 5), "same epoch later: no change");
        assert!(c.assign(2, 10));
        assert!(c.assign(3, 10), "same start, newer epoch replaces");
        assert_eq!(c, cache(&[(0, 0), (3, 10)]));
        assert!(c.assign(1, 8), "an older epoch drops what follows it");
        assert_eq!(c, cache(&[(0, 0), (1, 8)]));
    }

    #[test]
    fn truncation_from_either_end() {
        let mut c = cache(&[(0, 0), (2, 10), (5, 20)]);
        assert!(!c.truncate_from_end(21));
        assert!(c.truncate_from_end(20));
        assert_eq!(c, cache(&[(0, 0), (2, 10)]));
        assert!(!c.truncate_from_start(0));
        assert!(c.truncate_from_start(12));
        assert_eq!(c, cache(&[(2, 12)]));
        assert!(!c.truncate_from_start(12));
        assert!(!c.truncate_from_start(5), "never moves an entry back");
    }

    #[test]
    fn checkpoint_text_round_trips() {
        let c = cache(&[(0, 0), (2, 10)]);
        assert_eq!(c.encode(), b"0\n2\n0 0\n2 10\n");
        assert_eq!(EpochCache::decode(&c.encode()), Ok(c));
        assert!(EpochCache::decode(b"0\n2\n2 0\n1 10\n").is_err());
        assert!(EpochCache::decode(b"0\n1\n1 2 3\n").is_err());
    }
}

//! Retention (Kafka's `UnifiedLog.deleteOldSegments`): whole segments are deleted, oldest first,
//! by size (`retention.bytes` per partition, -1 = no limit) and then by time (`retention.ms`,
//! -1 = forever), and the log start offset moves to the first remaining segment's base; the
//! leader-epoch cache forgets what lies before it. The broker calls this every
//! `log.retention.check.interval.ms`.
//!
//! Rules: only a segment that lies entirely below the high watermark is deletable (its end, the
//! next segment's base, is at or below the HW), and never the active segment; deletion stops at
//! the first segment that does not qualify. By size, a segment goes while the log stays at or
//! above `retention.bytes` without it; by time, when its largest batch timestamp is more than
//! `retention.ms` old.
//!
//! Fault model: deleting files is durable at once, so a crash after retention never resurrects a
//! segment, while a stale `leader-epoch-checkpoint` is fixed by recovery. Left out: Kafka's
//! deletion of the active segment (by rolling first when it is expired), the asynchronous
//! `.deleted` renaming, `DeleteRecords` and remote (tiered) storage.

use crate::sim::DiskOp;

use super::PartitionLog;
use super::segment::Segment;

impl PartitionLog {
    /// Deletes the segments retention allows at `now_ms` with the given high watermark; returns
    /// their base offsets, oldest first.
    pub fn apply_retention(
        &mut self,
        now_ms: u64,
        high_watermark: u64,
        out: &mut Vec<DiskOp>,
    ) -> Vec<u64> {
        assert!(
            high_watermark <= self.log_end_offset(),
            "high watermark {high_watermark} past the log end"
        );
        let deletable = self.deletable_below(high_watermark);
        let by_size = by_size(
            &self.segments[..deletable],
            self.size_bytes(),
            self.config.retention_bytes,
        );
        let by_time = by_time(
            &self.segments[by_size..deletable],
            now_ms,
            self.config.retention_ms,
        );
        self.delete_oldest(by_size + by_time, out)
    }

    /// How many of the oldest segments lie entirely below `high_watermark` (never the active).
    fn deletable_below(&self, high_watermark: u64) -> usize {
        self.segments
            .windows(2)
            .take_while(|pair| pair[1].base_offset() <= high_watermark)
            .count()
    }

    /// Deletes the `count` oldest segments and moves the log start offset past them.
    fn delete_oldest(&mut self, count: usize, out: &mut Vec<DiskOp>) -> Vec<u64> {
        if count == 0 {
            return Vec::new();
        }
        assert!(
            count < self.segments.len(),
            "retention never deletes the active segment"
        );
        let deleted: Vec<u64> = self
            .segments
            .drain(..count)
            .map(|segment| {
                segment.delete_files(&self.dir, out);
                segment.base_offset()
            })
            .collect();
        self.log_start_offset = self.segments[0].base_offset();
        if self.epoch_cache.truncate_from_start(self.log_start_offset) {
            self.write_epoch_checkpoint(out);
        }
        self.assert_invariants();
        deleted
    }
}

/// How many of `candidates` (oldest first) go for `retention.bytes`: each while the log, of
/// `log_bytes` in all, stays at or above the limit without it.
fn by_size(candidates: &[Segment], log_bytes: u64, retention_bytes: i64) -> usize {
    let Ok(limit_bytes) = u64::try_from(retention_bytes) else {
        return 0;
    };
    let mut excess_bytes = log_bytes.saturating_sub(limit_bytes);
    candidates
        .iter()
        .take_while(|segment| {
            let fits = segment.size_bytes() <= excess_bytes;
            if fits {
                excess_bytes -= segment.size_bytes();
            }
            fits
        })
        .count()
}

/// How many of `candidates` (oldest first) go for `retention.ms`: each whose newest batch is
/// more than `retention_ms` older than `now_ms`.
fn by_time(candidates: &[Segment], now_ms: u64, retention_ms: i64) -> usize {
    let Ok(limit_ms) = u64::try_from(retention_ms) else {
        return 0;
    };
    candidates
        .iter()
        .take_while(|segment| now_ms.saturating_sub(segment.max_timestamp_ms()) > limit_ms)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Record, RecordBatch, RecordId};

    /// Segments of one batch each, of the given simulated sizes (at least 61) and timestamps.
    fn segments(shapes: &[(u32, u64)]) -> Vec<Segment> {
        let mut segments = Vec::new();
        for (base_offset, &(size_bytes, max_timestamp_ms)) in (0u64..).zip(shapes) {
            let mut segment = Segment::new(base_offset, 4096, 0);
            let record = Record {
                id: RecordId { producer: 0, n: 0 },
                key: None,
                size_bytes: size_bytes - 61,
            };
            let batch = RecordBatch {
                base_offset,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                base_sequence: -1,
                transactional: false,
                control: None,
                max_timestamp_ms,
                records: vec![record].into(),
            };
            segment.push(batch.into(), 10);
            segments.push(segment);
        }
        segments
    }

    #[test]
    fn size_retention_deletes_while_the_rest_stays_at_or_above_the_limit() {
        let s = segments(&[(100, 0), (100, 0), (100, 0)]);
        assert_eq!(by_size(&s, 400, -1), 0, "-1: no limit");
        assert_eq!(by_size(&s, 400, 400), 0);
        assert_eq!(by_size(&s, 400, 300), 1, "exactly the limit remains");
        assert_eq!(by_size(&s, 400, 299), 1);
        assert_eq!(by_size(&s, 400, 0), 3);
        let uneven = segments(&[(300, 0), (100, 0)]);
        assert_eq!(
            by_size(&uneven, 500, 250),
            0,
            "the oldest is too big: stop there"
        );
    }

    #[test]
    fn time_retention_deletes_segments_older_than_retention_ms_oldest_first() {
        let s = segments(&[(100, 1_000), (100, 5_000), (100, 2_000)]);
        assert_eq!(
            by_time(&s, 11_000, 10_000),
            0,
            "exactly retention.ms old stays"
        );
        assert_eq!(by_time(&s, 11_001, 10_000), 1);
        assert_eq!(by_time(&s, 15_001, 10_000), 3);
        assert_eq!(
            by_time(&s, 14_000, 10_000),
            1,
            "a newer segment stops the scan"
        );
        assert_eq!(by_time(&s, u64::MAX, -1), 0, "-1: forever");
        assert_eq!(
            by_time(&s, 0, 0),
            0,
            "timestamps from the future are not old"
        );
    }
}

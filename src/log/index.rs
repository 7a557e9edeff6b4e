//! A segment's sparse offset index (Kafka's `OffsetIndex`): 8-byte entries of a 4-byte offset
//! relative to the segment's base offset and a 4-byte position, both big-endian as Java writes
//! them. Positions are *simulated* byte positions within the segment (the sum of the preceding
//! batches' [`RecordBatch::size_bytes`](crate::record::RecordBatch::size_bytes)), so the index
//! answers the question Kafka's does: where in a `segment.bytes`-sized file does an offset start.
//!
//! The rule (Kafka's `LogSegment.append` and `recover`): before a batch is appended, if more than
//! `index.interval.bytes` were appended since the last entry (or since the segment start), an
//! entry is added with that batch's *last* offset and its *start* position; so the first batch of
//! a segment never gets one. A lookup finds the largest entry at or below the target by binary
//! search; the caller then scans forward from that position.
//!
//! Fault model: the index is derived data; recovery rebuilds it from the `.log` and rewrites the
//! file where it disagrees. Left out: Kafka's preallocated, memory-mapped index files (ours grow
//! by appends) and the time index. One deliberate difference: after a truncation Kafka resets its
//! "bytes since the last entry" counter to 0, while here it is measured from the last remaining
//! entry, so the live index always equals the one recovery rebuilds.

/// Bytes per index entry on disk.
pub const INDEX_ENTRY_BYTES: usize = 8;

/// One entry: an offset relative to the segment's base and the simulated position of the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// Offset minus the segment's base offset.
    pub relative_offset: u32,
    /// Simulated byte position of the batch that ends at this offset.
    pub position: u32,
}

impl IndexEntry {
    /// The entry as it is stored: relative offset then position, big-endian.
    pub fn to_bytes(self) -> [u8; INDEX_ENTRY_BYTES] {
        let mut bytes = [0; INDEX_ENTRY_BYTES];
        bytes[..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        bytes[4..].copy_from_slice(&self.position.to_be_bytes());
        bytes
    }
}

/// A segment's sparse offset index, in memory; the `.index` file holds the same entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetIndex {
    base_offset: u64,
    interval_bytes: u32,
    entries: Vec<IndexEntry>,
}

impl OffsetIndex {
    /// An empty index for the segment at `base_offset`.
    pub fn new(base_offset: u64, interval_bytes: u32) -> OffsetIndex {
        OffsetIndex {
            base_offset,
            interval_bytes,
            entries: Vec::new(),
        }
    }

    /// The entries, in offset order.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// Applies the index rule before appending a batch ending at `last_offset` at `position`;
    /// returns the entry to write when one is added.
    pub fn maybe_append(&mut self, last_offset: u64, position: u64) -> Option<IndexEntry> {
        let last_position = self.entries.last().map_or(0, |e| u64::from(e.position));
        assert!(position >= last_position, "index positions go backwards");
        if position - last_position <= u64::from(self.interval_bytes) {
            return None;
        }
        let entry = IndexEntry {
            relative_offset: self.relative(last_offset),
            position: u32::try_from(position).expect("segment position past u32"),
        };
        if let Some(last) = self.entries.last() {
            assert!(
                entry.relative_offset > last.relative_offset,
                "index offsets not increasing"
            );
        }
        self.entries.push(entry);
        Some(entry)
    }

    /// The simulated position to start scanning from for `offset`: the position of the largest
    /// entry at or below it, or 0 (the segment start) when there is none.
    pub fn lookup(&self, offset: u64) -> u32 {
        self.lookup_entry(offset).map_or(0, |e| e.position)
    }

    /// The largest entry whose offset is at or below `offset`, found by binary search.
    pub fn lookup_entry(&self, offset: u64) -> Option<IndexEntry> {
        if offset < self.base_offset {
            return None;
        }
        let target = offset - self.base_offset;
        let above = self
            .entries
            .partition_point(|e| u64::from(e.relative_offset) <= target);
        above.checked_sub(1).map(|i| self.entries[i])
    }

    /// Drops the entries at or above `offset`; returns the new file length in bytes.
    pub fn truncate_to(&mut self, offset: u64) -> usize {
        let keep = self
            .entries
            .partition_point(|e| self.base_offset + u64::from(e.relative_offset) < offset);
        self.entries.truncate(keep);
        self.file_len_bytes()
    }

    /// The length of the `.index` file holding these entries.
    pub fn file_len_bytes(&self) -> usize {
        self.entries.len() * INDEX_ENTRY_BYTES
    }

    /// The `.index` file's content.
    pub fn encode(&self) -> Vec<u8> {
        self.entries.iter().flat_map(|e| e.to_bytes()).collect()
    }

    /// Parses an `.index` file's content (for tests and tools; recovery rebuilds instead).
    pub fn decode(bytes: &[u8]) -> Result<Vec<IndexEntry>, String> {
        if !bytes.len().is_multiple_of(INDEX_ENTRY_BYTES) {
            return Err(format!(
                "index length {} is not a multiple of 8",
                bytes.len()
            ));
        }
        let entries: Vec<IndexEntry> = bytes
            .chunks_exact(INDEX_ENTRY_BYTES)
            .map(|c| IndexEntry {
                relative_offset: u32::from_be_bytes(c[..4].try_into().expect("4 bytes")),
                position: u32::from_be_bytes(c[4..].try_into().expect("4 bytes")),
            })
            .collect();
        let increasing = entries
            .windows(2)
            .all(|w| w[0].relative_offset < w[1].relative_offset && w[0].position < w[1].position);
        if !increasing {
            return Err("index entries not increasing".to_owned());
        }
        Ok(entries)
    }

    fn relative(&self, offset: u64) -> u32 {
        assert!(
            offset >= self.base_offset,
            "offset below the segment's base"
        );
        u32::try_from(offset - self.base_offset).expect("relative offset past u32")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends batches of `sizes` bytes and `records` offsets each, as a segment does.
    fn build(base: u64, interval: u32, batches: &[(u64, u64)]) -> OffsetIndex {
        let mut index = OffsetIndex::new(base, interval);
        let (mut offset, mut position) = (base, 0);
        for &(records, size) in batches {
            index.maybe_append(offset + records - 1, position);
            offset += records;
            position += size;
        }
        index
    }

    #[test]
    fn entries_record_the_last_offset_and_start_position_after_the_interval() {
        // Positions 0, 100, 200, 300, 400; offsets 10..12, 13..15, ...
        let index = build(10, 150, &[(3, 100); 5]);
        assert_eq!(
            index.entries(),
            [
                IndexEntry {
                    relative_offset: 8,
                    position: 200
                },
                IndexEntry {
                    relative_offset: 14,
                    position: 400
                },
            ]
        );
    }

    #[test]
    fn lookup_finds_the_largest_entry_at_or_below() {
        let index = build(10, 150, &[(3, 100); 5]);
        let cases = [
            (5, 0),
            (10, 0),
            (17, 0),
            (18, 200),
            (23, 200),
            (24, 400),
            (99, 400),
        ];
        for (offset, position) in cases {
            assert_eq!(index.lookup(offset), position, "offset {offset}");
        }
    }

    #[test]
    fn truncation_drops_entries_at_and_above() {
        let mut index = build(10, 150, &[(3, 100); 5]);
        assert_eq!(index.truncate_to(25), 16);
        assert_eq!(index.truncate_to(24), 8);
        assert_eq!(index.truncate_to(18), 0);
    }

    #[test]
    fn the_file_round_trips_and_garbage_is_rejected() {
        let index = build(0, 0, &[(1, 10); 4]);
        assert_eq!(
            OffsetIndex::decode(&index.encode()),
            Ok(index.entries().to_vec())
        );
        assert_eq!(&index.encode()[..8], &[0, 0, 0, 1, 0, 0, 0, 10]);
        assert!(OffsetIndex::decode(&[0; 7]).is_err());
        assert!(OffsetIndex::decode(&[0; 16]).is_err());
    }
}

//! What the tail reader read, kept compact for the `committed-read-lost` checker. The tail
//! reader reads every record of a run once, a few at a time, so a busy run holds millions of
//! them: one 24-byte entry per read (when, which partition by index, the first offset, how many)
//! and the records themselves in one flat list, 8 bytes each, instead of a 40-byte tuple per
//! record. Partition names are kept once each.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::chunked::Chunked;
use crate::record::RecordId;
use crate::sim::SimTime;

/// One read: `count` consecutive offsets of one partition from `offset`.
#[derive(Clone, Copy, Debug)]
struct Read {
    at: SimTime,
    offset: u64,
    partition: u32,
    count: u32,
}

/// Every record the tail reader read, in the order read.
#[derive(Clone, Debug, Default)]
pub struct TailReads {
    reads: Chunked<Read>,
    records: Chunked<RecordId>,
    partitions: Vec<Arc<str>>,
    partition_index: BTreeMap<Arc<str>, u32>,
}

impl TailReads {
    /// Keeps one read of `ids` at consecutive offsets of `partition` from `offset`, made at `at`.
    pub fn push(&mut self, at: SimTime, partition: &Arc<str>, offset: u64, ids: &[RecordId]) {
        if ids.is_empty() {
            return;
        }
        let index = match self.partition_index.get(partition) {
            Some(&index) => index,
            None => {
                let index = u32::try_from(self.partitions.len()).expect("under 2^32 partitions");
                self.partitions.push(partition.clone());
                self.partition_index.insert(partition.clone(), index);
                index
            }
        };
        let count = u32::try_from(ids.len()).expect("a read holds under 2^32 records");
        self.reads.push(Read {
            at,
            offset,
            partition: index,
            count,
        });
        for &id in ids {
            self.records.push(id);
        }
    }

    /// Every record read as (when, partition, offset, record), in the order read.
    pub fn iter(&self) -> impl Iterator<Item = (SimTime, &Arc<str>, u64, RecordId)> {
        let starts = self.reads.iter().scan(0usize, |next, read| {
            let start = *next;
            *next += read.count as usize;
            Some((read, start))
        });
        starts.flat_map(move |(read, start)| {
            let partition = &self.partitions[read.partition as usize];
            let ids = self.records.range(start, read.count as usize);
            ids.enumerate()
                .map(move |(k, &id)| (read.at, partition, read.offset + k as u64, id))
        })
    }

    /// How many records were read.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing was read.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Heap bytes of the reads and records lists at their capacity (the partition names left
    /// out), for the model benchmark.
    pub fn heap_bytes(&self) -> usize {
        self.reads.heap_bytes() + self.records.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_come_back_record_by_record_in_the_order_read() {
        let mut reads = TailReads::default();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("orders-0"), Arc::from("orders-1"));
        let id = |n| RecordId { producer: 0, n };
        let at = SimTime::from_millis;
        reads.push(at(1), &a, 10, &[id(0), id(1)]);
        reads.push(at(2), &b, 0, &[id(2)]);
        reads.push(at(3), &a, 12, &[]);
        reads.push(at(4), &a, 12, &[id(3)]);
        let all: Vec<(u64, &str, u64, u32)> = reads
            .iter()
            .map(|(at, p, offset, id)| (at.as_millis(), &**p, offset, id.n))
            .collect();
        assert_eq!(
            all,
            [
                (1, "orders-0", 10, 0),
                (1, "orders-0", 11, 1),
                (2, "orders-1", 0, 2),
                (4, "orders-0", 12, 3)
            ]
        );
        assert_eq!(reads.len(), 4);
        assert_eq!(reads.partitions.len(), 2, "a partition's name is kept once");
    }
}

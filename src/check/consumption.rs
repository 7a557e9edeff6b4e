//! What consumer group members did, gathered from their observations for the consumer checkers:
//! every poll (without its records), every event that legitimately moves a position (a new
//! assignment, a revocation, a seek), how many times each group polled and processed each
//! record (the delivery counts), and each group's last acknowledged committed offsets. A busy
//! run polls a million times, so an event names its group, member and partition by a [`Name`]
//! (an index into [`Names`]) and events sit in a [`Chunked`] list: 64 bytes an event.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::chunked::Chunked;
use crate::client::consumer::ConsumerObs;
use crate::record::RecordId;
use crate::sim::{NodeId, SimTime};

/// A group, member id or partition name, kept once in [`Names`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(u32);

impl Name {
    /// Its position among the [`Names`] kept.
    pub fn index(self) -> u32 {
        self.0
    }
}

/// Up to how many names [`Names::intern`] looks for the very same `Arc` before the text.
const POINTER_SCAN_MAX: usize = 32;

/// The names consumer events use, each kept once.
#[derive(Clone, Debug, Default)]
pub struct Names {
    names: Vec<Arc<str>>,
    index: BTreeMap<Arc<str>, Name>,
}

impl Names {
    /// The [`Name`] of `name`, kept if new.
    pub fn intern(&mut self, name: &Arc<str>) -> Name {
        // Observers hand in their own shared names again and again: while there are few names,
        // a pointer compare finds one without comparing its text.
        if self.names.len() <= POINTER_SCAN_MAX
            && let Some(i) = self.names.iter().position(|known| Arc::ptr_eq(known, name))
        {
            return Name(i as u32);
        }
        if let Some(&known) = self.index.get(name) {
            return known;
        }
        let known = Name(u32::try_from(self.names.len()).expect("under 2^32 names"));
        self.names.push(name.clone());
        self.index.insert(name.clone(), known);
        known
    }

    /// The [`Name`]s of `names`, kept if new.
    pub fn intern_all(&mut self, names: &[Arc<str>]) -> Vec<Name> {
        names.iter().map(|name| self.intern(name)).collect()
    }

    /// The text of `name`.
    pub fn get(&self, name: Name) -> &Arc<str> {
        &self.names[name.0 as usize]
    }

    /// Every name, in the order kept: a [`Name`]'s [`Name::index`] indexes it.
    pub fn as_slice(&self) -> &[Arc<str>] {
        &self.names
    }
}

/// One consumer event the poll checkers follow, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerEvent {
    /// A poll returned `count` records of `partition` from `offset`.
    Poll {
        /// The group.
        group: Name,
        /// The member id.
        member_id: Name,
        /// The member's generation.
        generation: i32,
        /// The partition.
        partition: Name,
        /// The first offset.
        offset: u64,
        /// How many records (at consecutive offsets).
        count: u32,
        /// The first record.
        first: RecordId,
        /// Whether the member reads `read_committed`.
        read_committed: bool,
        /// The position after the poll (past markers and aborted records among its records).
        end: u64,
    },
    /// The member received its assignment: partitions it did not own before start afresh;
    /// partitions it keeps (cooperative, or a re-assignment without revocation) go on.
    Assigned {
        /// The partitions it owns now.
        partitions: Vec<Name>,
    },
    /// The member gave up (or lost) these partitions: their positions may move.
    Revoked {
        /// The partitions.
        partitions: Vec<Name>,
    },
    /// A partition's position was set without a poll.
    Seek {
        /// The partition.
        partition: Name,
    },
}

/// Per record (by producer, then record number), how many times it was delivered: a byte per
/// record (a run delivers millions, almost all of them once), with the rare count of 255 or more
/// kept aside.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    by_producer: Vec<Vec<u8>>,
    /// Counts from 255 up, by record.
    many: BTreeMap<RecordId, u32>,
}

impl Counts {
    /// Counts one more delivery of `id`.
    pub fn bump(&mut self, id: RecordId) {
        let producer = usize::from(id.producer);
        if self.by_producer.len() <= producer {
            self.by_producer.resize_with(producer + 1, Vec::new);
        }
        let records = &mut self.by_producer[producer];
        let n = id.n as usize;
        if records.len() <= n {
            records.resize(n + 1, 0);
        }
        match records[n] {
            u8::MAX => *self.many.get_mut(&id).expect("counted aside from 255") += 1,
            254 => {
                records[n] = u8::MAX;
                self.many.insert(id, 255);
            }
            _ => records[n] += 1,
        }
    }

    /// How many times `id` was delivered.
    pub fn get(&self, id: RecordId) -> u32 {
        let count = self
            .by_producer
            .get(usize::from(id.producer))
            .and_then(|r| r.get(id.n as usize))
            .copied()
            .unwrap_or(0);
        match count {
            u8::MAX => self.many[&id],
            count => u32::from(count),
        }
    }

    /// Heap bytes of the per-record counts, at their capacity.
    pub fn heap_bytes(&self) -> usize {
        self.by_producer.iter().map(Vec::capacity).sum()
    }
}

/// Delivery counts of one group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupDeliveries {
    /// How many times each record was returned by a poll.
    pub polled: Counts,
    /// How many times each record's processing finished.
    pub processed: Counts,
}

/// Everything consumers did.
#[derive(Clone, Debug, Default)]
pub struct Consumption {
    /// Poll-checker events: (time, node, event).
    pub events: Chunked<(SimTime, NodeId, ConsumerEvent)>,
    /// The names the events use.
    pub names: Names,
    /// Delivery counts by group.
    pub deliveries: BTreeMap<Arc<str>, GroupDeliveries>,
    /// Records returned by polls, over all groups.
    pub polled_total: u64,
    /// Each group's last acknowledged committed offset, by (group, partition).
    pub committed: BTreeMap<(Arc<str>, Arc<str>), u64>,
}

impl Consumption {
    /// Takes in one consumer observation.
    pub fn observe(&mut self, at: SimTime, node: NodeId, obs: &ConsumerObs) {
        match obs {
            ConsumerObs::Poll {
                group,
                member_id,
                generation,
                partition,
                offset,
                ids,
                read_committed,
                end,
            } => {
                let Some(&first) = ids.first() else {
                    return;
                };
                let counts = self.deliveries.entry(group.clone()).or_default();
                for id in ids {
                    counts.polled.bump(*id);
                }
                self.polled_total += ids.len() as u64;
                let names = &mut self.names;
                self.events.push((
                    at,
                    node,
                    ConsumerEvent::Poll {
                        group: names.intern(group),
                        member_id: names.intern(member_id),
                        generation: *generation,
                        partition: names.intern(partition),
                        offset: *offset,
                        count: u32::try_from(ids.len()).expect("a poll returns under 2^32"),
                        first,
                        read_committed: *read_committed,
                        end: *end,
                    },
                ));
            }
            ConsumerObs::Processed { group, ids, .. } => {
                let counts = self.deliveries.entry(group.clone()).or_default();
                for id in ids {
                    counts.processed.bump(*id);
                }
            }
            ConsumerObs::Assigned { partitions, .. } => self.events.push((
                at,
                node,
                ConsumerEvent::Assigned {
                    partitions: self.names.intern_all(partitions),
                },
            )),
            ConsumerObs::Revoked { partitions, .. } => self.events.push((
                at,
                node,
                ConsumerEvent::Revoked {
                    partitions: self.names.intern_all(partitions),
                },
            )),
            ConsumerObs::Seek { partition, .. } => self.events.push((
                at,
                node,
                ConsumerEvent::Seek {
                    partition: self.names.intern(partition),
                },
            )),
            ConsumerObs::Commit {
                group,
                offsets,
                result: Ok(()),
                ..
            } => {
                for (partition, offset) in offsets {
                    self.committed
                        .insert((group.clone(), partition.clone()), *offset);
                }
            }
            ConsumerObs::Commit { .. } => {}
        }
    }
}

/// How many times a record was delivered, from `counts`.
pub fn count_of(counts: &Counts, id: RecordId) -> u32 {
    counts.get(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_one_name_whether_found_by_pointer_or_by_text() {
        let mut names = Names::default();
        let orders: Arc<str> = "orders-0".into();
        let a = names.intern(&orders);
        assert_eq!(names.intern(&orders), a, "the same Arc");
        assert_eq!(
            names.intern(&"orders-0".into()),
            a,
            "another Arc, the same text"
        );
        let b = names.intern(&"orders-1".into());
        assert_ne!(a, b);
        assert_eq!(names.get(b).as_ref(), "orders-1");
        assert_eq!((a.index(), b.index()), (0, 1));
        // Past the pointer scan's reach, names are still found by their text.
        for i in 2..2 * POINTER_SCAN_MAX {
            names.intern(&format!("orders-{i}").into());
        }
        assert_eq!(names.intern(&"orders-1".into()), b);
        assert_eq!(names.as_slice().len(), 2 * POINTER_SCAN_MAX);
    }

    #[test]
    fn counts_past_a_byte_are_kept_aside() {
        let mut counts = Counts::default();
        let (a, b) = (
            RecordId { producer: 1, n: 3 },
            RecordId { producer: 0, n: 0 },
        );
        for _ in 0..300 {
            counts.bump(a);
        }
        counts.bump(b);
        assert_eq!((counts.get(a), counts.get(b)), (300, 1));
        assert_eq!(counts.get(RecordId { producer: 1, n: 2 }), 0);
        assert_eq!(counts.get(RecordId { producer: 5, n: 0 }), 0);
        assert_eq!(counts.many.len(), 1);
    }
}

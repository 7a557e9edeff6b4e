//! What consumer group members did, gathered from their observations for the consumer checkers:
//! every poll (without its records), every event that legitimately moves a position (a new
//! assignment, a revocation, a seek), how many times each group polled and processed each
//! record (the delivery counts), and each group's last acknowledged committed offsets.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::client::consumer::ConsumerObs;
use crate::record::RecordId;
use crate::sim::{NodeId, SimTime};

/// One consumer event the poll checkers follow, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerEvent {
    /// A poll returned `count` records of `partition` from `offset`.
    Poll {
        /// The group.
        group: Arc<str>,
        /// The member id.
        member_id: Arc<str>,
        /// The member's generation.
        generation: i32,
        /// The partition.
        partition: Arc<str>,
        /// The first offset.
        offset: u64,
        /// How many records (at consecutive offsets).
        count: u64,
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
        partitions: Vec<Arc<str>>,
    },
    /// The member gave up (or lost) these partitions: their positions may move.
    Revoked {
        /// The partitions.
        partitions: Vec<Arc<str>>,
    },
    /// A partition's position was set without a poll.
    Seek {
        /// The partition.
        partition: Arc<str>,
    },
}

/// Per record (by producer, then record number), how many times it was delivered.
pub type Counts = Vec<Vec<u32>>;

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
    pub events: Vec<(SimTime, NodeId, ConsumerEvent)>,
    /// Delivery counts by group.
    pub deliveries: BTreeMap<Arc<str>, GroupDeliveries>,
    /// Records returned by polls, over all groups.
    pub polled_total: u64,
    /// Each group's last acknowledged committed offset, by (group, partition).
    pub committed: BTreeMap<(Arc<str>, Arc<str>), u64>,
}

fn bump(counts: &mut Counts, id: RecordId) {
    let producer = id.producer as usize;
    if counts.len() <= producer {
        counts.resize_with(producer + 1, Vec::new);
    }
    let records = &mut counts[producer];
    let n = id.n as usize;
    if records.len() <= n {
        records.resize(n + 1, 0);
    }
    records[n] += 1;
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
                    bump(&mut counts.polled, *id);
                }
                self.polled_total += ids.len() as u64;
                self.events.push((
                    at,
                    node,
                    ConsumerEvent::Poll {
                        group: group.clone(),
                        member_id: member_id.clone(),
                        generation: *generation,
                        partition: partition.clone(),
                        offset: *offset,
                        count: ids.len() as u64,
                        first,
                        read_committed: *read_committed,
                        end: *end,
                    },
                ));
            }
            ConsumerObs::Processed { group, ids, .. } => {
                let counts = self.deliveries.entry(group.clone()).or_default();
                for id in ids {
                    bump(&mut counts.processed, *id);
                }
            }
            ConsumerObs::Assigned { partitions, .. } => self.events.push((
                at,
                node,
                ConsumerEvent::Assigned {
                    partitions: partitions.clone(),
                },
            )),
            ConsumerObs::Revoked { partitions, .. } => self.events.push((
                at,
                node,
                ConsumerEvent::Revoked {
                    partitions: partitions.clone(),
                },
            )),
            ConsumerObs::Seek { partition, .. } => self.events.push((
                at,
                node,
                ConsumerEvent::Seek {
                    partition: partition.clone(),
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
    counts
        .get(id.producer as usize)
        .and_then(|r| r.get(id.n as usize))
        .copied()
        .unwrap_or(0)
}

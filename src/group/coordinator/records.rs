//! How the group coordinator's state is written to `__consumer_offsets`: Kafka's offset commit
//! records (`OffsetCommitKey` → `OffsetCommitValue`) and group metadata records
//! (`GroupMetadataKey` → `GroupMetadataValue`), packed into simulated records.
//!
//! A simulated record is an identity (producer index, number, key index, size), so the values are
//! packed into those fields under producer indices no scenario client has, and what does not fit
//! is a value in the run's [`RecordValues`] numbered by `id.n`:
//!
//! | record | `id.producer` | `id.n` | `key` |
//! |---|---|---|---|
//! | offset commit | [`OFFSET_COMMIT`] | its value: offset, leader epoch | group (8 bits), topic (8), partition (16) |
//! | group metadata | [`GROUP_METADATA`] | the generation | group (24 bits), protocol (8) |
//! | one member of it | [`GROUP_MEMBER`] | the member id's number | client (30 bits), leader, static |
//! | one field of that member | [`GROUP_MEMBER_FIELD`] | a value | field (4 bits), partition (24) |
//!
//! A group metadata record is followed by its members' records, each followed by its fields, in
//! the same batch: as Kafka's `GroupMetadataValue`, the protocol type is implicitly `consumer`
//! and a member keeps its member id, `group.instance.id` (its client name when static), client id
//! (the client index; the host is the client's node, named the same), session and rebalance
//! timeouts, supported assignors, subscription (topics, owned partitions and their generation)
//! and assignment. Left out: tombstones and compaction (the log keeps every record).

use std::sync::{Arc, Mutex};

use crate::group::assignor::Strategy;
use crate::protocol::TopicPartition;
use crate::protocol::consumer::{CommittedOffset, Subscription};
use crate::record::{Record, RecordId};

/// `id.producer` of an offset commit record.
pub const OFFSET_COMMIT: u16 = u16::MAX;
/// `id.producer` of a group metadata record.
pub const GROUP_METADATA: u16 = u16::MAX - 1;
/// `id.producer` of one member of the group metadata record before it.
pub const GROUP_MEMBER: u16 = u16::MAX - 2;
/// `id.producer` of one field of the member record before it.
pub const GROUP_MEMBER_FIELD: u16 = u16::MAX - 3;
/// Most groups a run may have (the group index has 8 bits in an offset commit's key).
pub const GROUPS_MAX: usize = 255;
/// Most topics a run may have with consumer groups (8 bits in an offset commit's key).
pub const TOPICS_MAX: usize = 255;
/// Most partitions per topic with consumer groups (16 bits in an offset commit's key).
pub const PARTITIONS_MAX: u32 = 65_535;

/// Simulated size of an offset commit record (key and value with Kafka's schemas).
const OFFSET_RECORD_BYTES: u32 = 90;
/// Simulated size of a group metadata record and of one member in it.
const METADATA_RECORD_BYTES: u32 = 80;
const MEMBER_RECORD_BYTES: u32 = 120;
/// Simulated size of one member field (a timeout, an assignor name, a topic or a partition).
const FIELD_RECORD_BYTES: u32 = 8;

/// The values of the run's `__consumer_offsets` records, numbered in the order written.
///
/// A simulated record carries no bytes, so a record whose value does not fit its identity names
/// the value by number in this append-only table, which stands for the record's bytes: every
/// broker's coordinator shares it, yet reaches a value only through a record in its own log, so
/// a coordinator loads exactly what its log holds (a truncated record's value is out of reach).
#[derive(Clone, Debug, Default)]
pub struct RecordValues(Arc<Mutex<Vec<Arc<[u64]>>>>);

impl RecordValues {
    /// Stores `value`; returns its number.
    fn push(&self, value: Vec<u64>) -> u32 {
        let mut values = self.0.lock().expect("record values lock");
        values.push(value.into());
        u32::try_from(values.len() - 1).expect("fewer than 2^32 group record values")
    }

    /// The value numbered `n`, if written.
    fn get(&self, n: u32) -> Option<Arc<[u64]>> {
        let values = self.0.lock().expect("record values lock");
        values.get(n as usize).cloned()
    }
}

/// Specs holding the same table are equal: it is the run's, not part of what a spec says.
impl PartialEq for RecordValues {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RecordValues {}

/// Leader epoch word of a committed offset without one.
const NO_LEADER_EPOCH: u64 = u64::MAX;

/// The member fields a [`GROUP_MEMBER_FIELD`] record can hold (the top 4 bits of its key).
mod field {
    pub const SESSION_TIMEOUT_MS: u32 = 1;
    pub const REBALANCE_TIMEOUT_MS: u32 = 2;
    pub const PROTOCOL: u32 = 3;
    pub const SUBSCRIBED_TOPIC: u32 = 4;
    pub const OWNED_PARTITION: u32 = 5;
    pub const SUBSCRIPTION_GENERATION: u32 = 6;
    /// The assignment is known; its partitions follow.
    pub const ASSIGNMENT: u32 = 7;
    pub const ASSIGNED_PARTITION: u32 = 8;
}

/// A member as stored in a group metadata record (Kafka's `MemberMetadata` in
/// `GroupMetadataValue`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMember {
    /// Index of its client (node name) among the run's consumer instances.
    pub client: u32,
    /// The number in its member id (`<client>-<number>`).
    pub number: u32,
    /// Whether it leads the group.
    pub leader: bool,
    /// Whether it is static (`group.instance.id` = its client name).
    pub is_static: bool,
    /// `session.timeout.ms`.
    pub session_timeout_ms: u64,
    /// Its rebalance timeout (`max.poll.interval.ms`).
    pub rebalance_timeout_ms: u64,
    /// The assignors it supports, in preference order.
    pub protocols: Vec<Strategy>,
    /// Its subscription.
    pub subscription: Subscription,
    /// Its partitions in the stored generation, if known.
    pub assignment: Option<Vec<TopicPartition>>,
}

/// One logical record of `__consumer_offsets`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupRecord {
    /// `group` committed `offset` for `tp`.
    Offset {
        /// Group index.
        group: u32,
        /// The partition.
        tp: TopicPartition,
        /// The next offset to read and its leader epoch.
        offset: CommittedOffset,
    },
    /// The group's membership after a rebalance (or when it empties).
    Metadata {
        /// Group index.
        group: u32,
        /// The generation.
        generation: i32,
        /// The chosen assignor, if the group has members.
        protocol: Option<Strategy>,
        /// The members.
        members: Vec<StoredMember>,
    },
}

fn protocol_code(protocol: Option<Strategy>) -> u32 {
    protocol.map_or(0, |p| p as u32 + 1)
}

fn protocol_of(code: u32) -> Option<Strategy> {
    code.checked_sub(1)
        .and_then(|i| Strategy::ALL.get(i as usize).copied())
}

fn record(producer: u16, n: u32, key: u32, size_bytes: u32) -> Record {
    Record {
        id: RecordId { producer, n },
        key: Some(key),
        size_bytes,
    }
}

/// The simulated records of `records`, in order, their values stored in `values`.
pub fn encode(values: &RecordValues, records: &[GroupRecord]) -> Vec<Record> {
    let mut out = Vec::new();
    for r in records {
        match r {
            GroupRecord::Offset { group, tp, offset } => {
                let key = (group & 0xff) << 24 | (tp.topic & 0xff) << 16 | (tp.partition & 0xffff);
                let epoch = offset.leader_epoch.map_or(NO_LEADER_EPOCH, u64::from);
                let n = values.push(vec![offset.offset, epoch]);
                out.push(record(OFFSET_COMMIT, n, key, OFFSET_RECORD_BYTES));
            }
            GroupRecord::Metadata {
                group,
                generation,
                protocol,
                members,
            } => {
                let key = (group & 0xff_ffff) << 8 | protocol_code(*protocol);
                let n = (*generation).max(0) as u32;
                out.push(record(GROUP_METADATA, n, key, METADATA_RECORD_BYTES));
                for m in members {
                    let key = (m.client & 0x3fff_ffff) << 2
                        | u32::from(m.leader) << 1
                        | u32::from(m.is_static);
                    out.push(record(GROUP_MEMBER, m.number, key, MEMBER_RECORD_BYTES));
                    encode_fields(m, &mut out);
                }
            }
        }
    }
    out
}

fn field_record(field: u32, n: u32, payload: u32) -> Record {
    record(
        GROUP_MEMBER_FIELD,
        n,
        field << 28 | (payload & 0x0fff_ffff),
        FIELD_RECORD_BYTES,
    )
}

fn partition_payload(tp: &TopicPartition) -> u32 {
    (tp.topic & 0xff) << 16 | (tp.partition & 0xffff)
}

fn partition_of(payload: u32) -> TopicPartition {
    TopicPartition {
        topic: (payload >> 16) & 0xff,
        partition: payload & 0xffff,
    }
}

/// The field records of member `m`.
fn encode_fields(m: &StoredMember, out: &mut Vec<Record>) {
    let ms = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    out.push(field_record(
        field::SESSION_TIMEOUT_MS,
        ms(m.session_timeout_ms),
        0,
    ));
    out.push(field_record(
        field::REBALANCE_TIMEOUT_MS,
        ms(m.rebalance_timeout_ms),
        0,
    ));
    for p in &m.protocols {
        out.push(field_record(field::PROTOCOL, *p as u32, 0));
    }
    for t in &m.subscription.topics {
        out.push(field_record(field::SUBSCRIBED_TOPIC, *t, 0));
    }
    for tp in &m.subscription.owned_partitions {
        out.push(field_record(
            field::OWNED_PARTITION,
            0,
            partition_payload(tp),
        ));
    }
    let generation = m.subscription.generation as u32;
    out.push(field_record(field::SUBSCRIPTION_GENERATION, generation, 0));
    if let Some(assignment) = &m.assignment {
        out.push(field_record(field::ASSIGNMENT, 0, 0));
        for tp in assignment {
            out.push(field_record(
                field::ASSIGNED_PARTITION,
                0,
                partition_payload(tp),
            ));
        }
    }
}

/// Applies one field record to the member it follows.
fn decode_field(m: &mut StoredMember, r: &Record) {
    let key = r.key.unwrap_or(0);
    let (kind, payload, n) = (key >> 28, key & 0x0fff_ffff, r.id.n);
    match kind {
        field::SESSION_TIMEOUT_MS => m.session_timeout_ms = u64::from(n),
        field::REBALANCE_TIMEOUT_MS => m.rebalance_timeout_ms = u64::from(n),
        field::PROTOCOL => m.protocols.extend(Strategy::ALL.get(n as usize).copied()),
        field::SUBSCRIBED_TOPIC => m.subscription.topics.push(n),
        field::OWNED_PARTITION => m.subscription.owned_partitions.push(partition_of(payload)),
        field::SUBSCRIPTION_GENERATION => m.subscription.generation = n as i32,
        field::ASSIGNMENT => m.assignment = Some(Vec::new()),
        field::ASSIGNED_PARTITION => m
            .assignment
            .get_or_insert_with(Vec::new)
            .push(partition_of(payload)),
        _ => {}
    }
}

/// The committed offset an offset commit record's value holds.
fn committed_offset(value: &[u64]) -> Option<CommittedOffset> {
    let [offset, epoch] = *value else {
        return None;
    };
    Some(CommittedOffset {
        offset,
        leader_epoch: u32::try_from(epoch).ok(),
    })
}

/// The logical records packed in `records`, their values read from `values` (records of other
/// kinds are skipped).
pub fn decode<'a>(
    values: &RecordValues,
    records: impl IntoIterator<Item = &'a Record>,
) -> Vec<GroupRecord> {
    let mut out: Vec<GroupRecord> = Vec::new();
    for r in records {
        let key = r.key.unwrap_or(0);
        match r.id.producer {
            OFFSET_COMMIT => {
                let Some(offset) = values.get(r.id.n).as_deref().and_then(committed_offset) else {
                    continue;
                };
                out.push(GroupRecord::Offset {
                    group: key >> 24,
                    tp: TopicPartition {
                        topic: (key >> 16) & 0xff,
                        partition: key & 0xffff,
                    },
                    offset,
                });
            }
            GROUP_METADATA => out.push(GroupRecord::Metadata {
                group: key >> 8,
                generation: i32::try_from(r.id.n).unwrap_or(i32::MAX),
                protocol: protocol_of(key & 0xff),
                members: Vec::new(),
            }),
            GROUP_MEMBER => {
                if let Some(GroupRecord::Metadata { members, .. }) = out.last_mut() {
                    members.push(StoredMember {
                        client: key >> 2,
                        number: r.id.n,
                        leader: key & 2 != 0,
                        is_static: key & 1 != 0,
                        session_timeout_ms: 0,
                        rebalance_timeout_ms: 0,
                        protocols: Vec::new(),
                        subscription: Subscription {
                            topics: Vec::new(),
                            owned_partitions: Vec::new(),
                            generation: crate::protocol::consumer::NO_GENERATION,
                        },
                        assignment: None,
                    });
                }
            }
            GROUP_MEMBER_FIELD => {
                if let Some(GroupRecord::Metadata { members, .. }) = out.last_mut()
                    && let Some(m) = members.last_mut()
                {
                    decode_field(m, r);
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: u32, partition: u32) -> TopicPartition {
        TopicPartition { topic, partition }
    }

    #[test]
    fn group_records_round_trip_with_every_member_field() {
        let records = vec![
            GroupRecord::Offset {
                group: 3,
                tp: TopicPartition {
                    topic: 2,
                    partition: 11,
                },
                offset: CommittedOffset {
                    offset: 123_456,
                    leader_epoch: Some(4),
                },
            },
            GroupRecord::Offset {
                group: 3,
                tp: tp(2, 12),
                offset: CommittedOffset {
                    offset: 7,
                    leader_epoch: None,
                },
            },
            GroupRecord::Metadata {
                group: 1,
                generation: 7,
                protocol: Some(Strategy::CooperativeSticky),
                members: vec![
                    StoredMember {
                        client: 4,
                        number: 99,
                        leader: true,
                        is_static: false,
                        session_timeout_ms: 45_000,
                        rebalance_timeout_ms: 300_000,
                        protocols: vec![Strategy::Range, Strategy::CooperativeSticky],
                        subscription: Subscription {
                            topics: vec![0, 2],
                            owned_partitions: vec![tp(2, 11)],
                            generation: 6,
                        },
                        assignment: Some(vec![tp(0, 1), tp(2, 11)]),
                    },
                    StoredMember {
                        client: 5,
                        number: 100,
                        leader: false,
                        is_static: true,
                        session_timeout_ms: 10_000,
                        rebalance_timeout_ms: 60_000,
                        protocols: vec![Strategy::CooperativeSticky],
                        subscription: Subscription {
                            topics: vec![0],
                            owned_partitions: Vec::new(),
                            generation: -1,
                        },
                        assignment: Some(Vec::new()),
                    },
                ],
            },
            GroupRecord::Metadata {
                group: 0,
                generation: 2,
                protocol: None,
                members: vec![],
            },
        ];
        let values = RecordValues::default();
        assert_eq!(decode(&values, &encode(&values, &records)), records);
    }
}

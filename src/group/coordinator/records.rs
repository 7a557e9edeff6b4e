//! How the group coordinator's state is written to `__consumer_offsets`: Kafka's offset commit
//! records (`OffsetCommitKey` → `OffsetCommitValue`) and group metadata records
//! (`GroupMetadataKey` → `GroupMetadataValue`), packed into simulated records.
//!
//! A simulated record is an identity (producer index, number, key index, size), so a record is
//! told apart by a producer index no scenario client has, its key packs the record's key, and its
//! value is the run's [`RecordValues`] entry numbered `id.n`:
//!
//! | record | `id.producer` | `key` | value |
//! |---|---|---|---|
//! | offset commit | [`OFFSET_COMMIT`] | group (8 bits), topic (8), partition (16) | offset, leader epoch |
//! | group metadata | [`GROUP_METADATA`] | group | generation, protocol, every member |
//!
//! As Kafka does, a rebalance writes one group metadata record per group holding all members; the
//! protocol type is implicitly `consumer` and a member keeps its member id, `group.instance.id`
//! (its client name when static), client id (the client index; the host is the client's node,
//! named the same), session and rebalance timeouts, supported assignors, subscription (topics,
//! owned partitions and their generation) and assignment. Its simulated size is Kafka's: a fixed
//! part and a part per member growing with its fields. Left out: tombstones and compaction (the
//! log keeps every record).

use std::sync::{Arc, Mutex};

use crate::group::assignor::Strategy;
use crate::protocol::TopicPartition;
use crate::protocol::consumer::{CommittedOffset, Subscription};
use crate::record::{Record, RecordId};

/// `id.producer` of an offset commit record.
pub const OFFSET_COMMIT: u16 = u16::MAX;
/// `id.producer` of a group metadata record.
pub const GROUP_METADATA: u16 = u16::MAX - 1;
/// Most groups a run may have (the group index has 8 bits in an offset commit's key).
pub const GROUPS_MAX: usize = 255;
/// Most topics a run may have with consumer groups (8 bits in an offset commit's key).
pub const TOPICS_MAX: usize = 255;
/// Most partitions per topic with consumer groups (16 bits in an offset commit's key).
pub const PARTITIONS_MAX: u32 = 65_535;

/// Simulated size of an offset commit record (key and value with Kafka's schemas).
const OFFSET_RECORD_BYTES: u32 = 90;
/// Simulated size of a group metadata record without members, of one member without its lists,
/// and of one entry of a member's lists (an assignor name, a topic or a partition).
const METADATA_RECORD_BYTES: u32 = 80;
const MEMBER_BYTES: u32 = 120;
const MEMBER_LIST_ENTRY_BYTES: u32 = 8;

/// Value word of an absent generation, protocol, leader epoch or assignment.
const ABSENT: u64 = u64::MAX;

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

fn record(producer: u16, n: u32, key: u32, size_bytes: u32) -> Record {
    Record {
        id: RecordId { producer, n },
        key: Some(key),
        size_bytes,
    }
}

/// The simulated records of `records`, in order, their values stored in `values`.
pub fn encode(values: &RecordValues, records: &[GroupRecord]) -> Vec<Record> {
    records
        .iter()
        .map(|r| match r {
            GroupRecord::Offset { group, tp, offset } => {
                let key = (group & 0xff) << 24 | (tp.topic & 0xff) << 16 | (tp.partition & 0xffff);
                let epoch = offset.leader_epoch.map_or(ABSENT, u64::from);
                let n = values.push(vec![offset.offset, epoch]);
                record(OFFSET_COMMIT, n, key, OFFSET_RECORD_BYTES)
            }
            GroupRecord::Metadata {
                group,
                generation,
                protocol,
                members,
            } => {
                let mut value = vec![
                    generation_word(*generation),
                    protocol.map_or(ABSENT, |p| p as u64),
                    members.len() as u64,
                ];
                let mut size_bytes = METADATA_RECORD_BYTES;
                for m in members {
                    size_bytes += encode_member(m, &mut value);
                }
                record(GROUP_METADATA, values.push(value), *group, size_bytes)
            }
        })
        .collect()
}

fn generation_word(generation: i32) -> u64 {
    u64::from(generation as u32)
}

fn partition_word(tp: &TopicPartition) -> u64 {
    u64::from(tp.topic) << 32 | u64::from(tp.partition)
}

/// Appends member `m` to a group metadata value; returns its simulated size.
fn encode_member(m: &StoredMember, value: &mut Vec<u64>) -> u32 {
    let flags = u64::from(m.leader) << 1 | u64::from(m.is_static);
    value.extend([
        u64::from(m.client),
        u64::from(m.number),
        flags,
        m.session_timeout_ms,
        m.rebalance_timeout_ms,
    ]);
    value.push(m.protocols.len() as u64);
    value.extend(m.protocols.iter().map(|p| *p as u64));
    value.push(m.subscription.topics.len() as u64);
    value.extend(m.subscription.topics.iter().map(|t| u64::from(*t)));
    let owned = &m.subscription.owned_partitions;
    value.push(owned.len() as u64);
    value.extend(owned.iter().map(partition_word));
    value.push(generation_word(m.subscription.generation));
    match &m.assignment {
        None => value.push(ABSENT),
        Some(assignment) => {
            value.push(assignment.len() as u64);
            value.extend(assignment.iter().map(partition_word));
        }
    }
    let entries = m.protocols.len()
        + m.subscription.topics.len()
        + owned.len()
        + m.assignment.as_ref().map_or(0, Vec::len);
    MEMBER_BYTES + MEMBER_LIST_ENTRY_BYTES * entries as u32
}

/// Reads a record value word by word; every read fails past the end.
struct Words<'a>(std::slice::Iter<'a, u64>);

impl Words<'_> {
    fn next(&mut self) -> Option<u64> {
        self.0.next().copied()
    }

    fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.next()?).ok()
    }

    fn generation(&mut self) -> Option<i32> {
        Some(self.u32()? as i32)
    }

    fn strategy(&mut self) -> Option<Strategy> {
        Strategy::ALL
            .get(usize::try_from(self.next()?).ok()?)
            .copied()
    }

    fn partition(&mut self) -> Option<TopicPartition> {
        let word = self.next()?;
        Some(TopicPartition {
            topic: u32::try_from(word >> 32).ok()?,
            partition: word as u32,
        })
    }

    /// A length-prefixed list of items read by `item`.
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let len = self.next()?;
        (0..len).map(|_| item(self)).collect()
    }
}

/// The member a group metadata value holds next.
fn decode_member(words: &mut Words<'_>) -> Option<StoredMember> {
    let (client, number, flags) = (words.u32()?, words.u32()?, words.next()?);
    let (session_timeout_ms, rebalance_timeout_ms) = (words.next()?, words.next()?);
    let protocols = words.list(Words::strategy)?;
    let topics = words.list(Words::u32)?;
    let owned_partitions = words.list(Words::partition)?;
    let generation = words.generation()?;
    let assignment = match words.next()? {
        ABSENT => None,
        len => Some(
            (0..len)
                .map(|_| words.partition())
                .collect::<Option<Vec<_>>>()?,
        ),
    };
    Some(StoredMember {
        client,
        number,
        leader: flags & 2 != 0,
        is_static: flags & 1 != 0,
        session_timeout_ms,
        rebalance_timeout_ms,
        protocols,
        subscription: Subscription {
            topics,
            owned_partitions,
            generation,
        },
        assignment,
    })
}

/// The group metadata a value holds.
fn decode_metadata(group: u32, value: &[u64]) -> Option<GroupRecord> {
    let mut words = Words(value.iter());
    let generation = words.generation()?;
    let protocol = match words.next()? {
        ABSENT => None,
        code => Some(*Strategy::ALL.get(usize::try_from(code).ok()?)?),
    };
    let members = words.list(decode_member)?;
    Some(GroupRecord::Metadata {
        group,
        generation,
        protocol,
        members,
    })
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
    let mut out = Vec::new();
    for r in records {
        let key = r.key.unwrap_or(0);
        let decoded = match r.id.producer {
            OFFSET_COMMIT => values
                .get(r.id.n)
                .as_deref()
                .and_then(committed_offset)
                .map(|offset| GroupRecord::Offset {
                    group: key >> 24,
                    tp: TopicPartition {
                        topic: (key >> 16) & 0xff,
                        partition: key & 0xffff,
                    },
                    offset,
                }),
            GROUP_METADATA => values
                .get(r.id.n)
                .and_then(|value| decode_metadata(key, &value[..])),
            _ => None,
        };
        out.extend(decoded);
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
    fn group_records_round_trip_one_record_each_with_every_member_field() {
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
        let encoded = encode(&values, &records);
        assert_eq!(decode(&values, &encoded), records);
        assert_eq!(
            encoded.len(),
            records.len(),
            "one record per group, members included"
        );
        let sizes: Vec<u32> = encoded.iter().map(|r| r.size_bytes).collect();
        assert_eq!(sizes, [90, 90, 80 + 120 + 8 * 7 + 120 + 8 * 2, 80]);
    }
}

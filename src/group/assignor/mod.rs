//! Kafka's consumer-group partition assignors — `range`, `roundrobin`, `sticky` and
//! `cooperative-sticky` — reproducing the results of Kafka's `RangeAssignor`,
//! `RoundRobinAssignor`, `StickyAssignor` and `CooperativeStickyAssignor` (Kafka 3.5 and later,
//! where the sticky assignors sort a member's owned partitions), including the order of each
//! member's list.
//!
//! The input is what the group leader's assignor sees: each member's subscription, the
//! partitions it owns (for the sticky assignors) with its generation, and the partition count of
//! every topic. Members are given in the order the JoinGroup response lists them: Kafka puts them
//! in a `HashMap` keyed by member id, and that order decides ties (see [`java`]).
//!
//! Left out: rack-aware assignment (`client.rack`), which only changes results when both members
//! and partition replicas have racks; custom assignors; the consumer protocol (KIP-848)
//! server-side assignors.
//!
//! ```
//! use std::collections::BTreeMap;
//! use kafkasim::group::assignor::{assign, Member, Strategy, TopicPartition};
//!
//! let topics = BTreeMap::from([("t0".to_owned(), 3), ("t1".to_owned(), 3)]);
//! let members = [Member::new("C0", &["t0", "t1"]), Member::new("C1", &["t0", "t1"])];
//! let assignment = assign(Strategy::Range, &topics, &members).unwrap();
//! let tp = |t: &str, p| TopicPartition::new(t, p);
//! assert_eq!(assignment["C0"], [tp("t0", 0), tp("t0", 1), tp("t1", 0), tp("t1", 1)]);
//! assert_eq!(assignment["C1"], [tp("t0", 2), tp("t1", 2)]);
//! ```

mod constrained;
mod general;
pub mod java;
mod range;
mod roundrobin;
mod sticky;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Kafka's `DEFAULT_GENERATION`: the member has no generation (it never completed a rebalance).
pub const DEFAULT_GENERATION: i32 = -1;
/// Most partitions, over all topics, that one assignment accepts; the sticky assignor's general
/// case does work quadratic in this.
pub const PARTITIONS_MAX: u64 = 100_000;
/// Most members one assignment accepts.
pub const MEMBERS_MAX: usize = 10_000;

/// A partition named by its topic, as the assignors see it (the rest of kafkasim numbers topics).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic's name.
    pub topic: String,
    /// The partition number.
    pub partition: u32,
}

impl TopicPartition {
    /// The partition `partition` of `topic`.
    pub fn new(topic: &str, partition: u32) -> Self {
        Self {
            topic: topic.to_owned(),
            partition,
        }
    }

    /// Kafka's `TopicPartition.hashCode()`.
    fn java_hash(&self) -> i32 {
        java::topic_partition_hash(&self.topic, self.partition)
    }

    /// Kafka's usual partition order: topic (Java string order), then partition number.
    fn cmp_topic_then_partition(&self, other: &Self) -> Ordering {
        java::string_cmp(&self.topic, &other.topic).then(self.partition.cmp(&other.partition))
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// One group member as the leader's assignor sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// `group.instance.id` for a static member (KIP-345).
    pub group_instance_id: Option<String>,
    /// The topics it subscribes to.
    pub topics: Vec<String>,
    /// The partitions it owns from the previous generation (the sticky assignors' user data).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which it owned them; [`DEFAULT_GENERATION`] if none.
    pub generation: i32,
}

impl Member {
    /// A dynamic member with no owned partitions and no generation.
    pub fn new(member_id: &str, topics: &[&str]) -> Self {
        Self {
            member_id: member_id.to_owned(),
            group_instance_id: None,
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            owned_partitions: Vec::new(),
            generation: DEFAULT_GENERATION,
        }
    }

    /// This member, owning `owned` since generation `generation`.
    pub fn owning(mut self, owned: &[(&str, u32)], generation: i32) -> Self {
        self.owned_partitions = owned
            .iter()
            .map(|(t, p)| TopicPartition::new(t, *p))
            .collect();
        self.generation = generation;
        self
    }

    /// This member, made static with `group.instance.id` `instance_id`.
    pub fn with_instance_id(mut self, instance_id: &str) -> Self {
        self.group_instance_id = Some(instance_id.to_owned());
        self
    }

    /// Kafka's `MemberInfo` order: static members first by instance id, then dynamic ones by
    /// member id.
    fn cmp_member_info(&self, other: &Self) -> Ordering {
        match (&self.group_instance_id, &other.group_instance_id) {
            (Some(a), Some(b)) => java::string_cmp(a, b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => java::string_cmp(&self.member_id, &other.member_id),
        }
    }
}

/// A partition assignment strategy (`partition.assignment.strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strategy {
    /// `RangeAssignor`: contiguous ranges of each topic, per topic.
    Range,
    /// `RoundRobinAssignor`: all partitions dealt in turn over the members.
    RoundRobin,
    /// `StickyAssignor`: balanced, keeping owned partitions; eager rebalancing.
    Sticky,
    /// `CooperativeStickyAssignor`: sticky, but a partition changing owner is first revoked.
    CooperativeSticky,
}

impl Strategy {
    /// Every strategy's Kafka name, in the order of [`Strategy::ALL`].
    pub const NAMES: [&'static str; 4] = ["range", "roundrobin", "sticky", "cooperative-sticky"];
    /// Every strategy.
    pub const ALL: [Strategy; 4] = [
        Strategy::Range,
        Strategy::RoundRobin,
        Strategy::Sticky,
        Strategy::CooperativeSticky,
    ];

    /// Kafka's name for the strategy, as `ConsumerPartitionAssignor.name()` returns it.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The strategy Kafka calls `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Each member's partitions, in the order Kafka's assignor lists them; every member is present.
pub type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// Why no assignment was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssignError {
    /// The input is not something a Kafka group leader could be given.
    BadInput(String),
    /// Kafka's assignor itself throws on this input; the message says where.
    KafkaThrows(String),
}

impl fmt::Display for AssignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssignError::BadInput(message) => f.write_str(message),
            AssignError::KafkaThrows(message) => {
                write!(f, "Kafka's assignor throws on this input: {message}")
            }
        }
    }
}

impl std::error::Error for AssignError {}

/// Assigns the partitions of `partitions_per_topic` (topic → partition count) to `members` as
/// Kafka's `strategy` assignor does. Topics nobody subscribes to and topics with no partitions
/// are left out, as Kafka's `AbstractPartitionAssignor` leaves them out.
pub fn assign(
    strategy: Strategy,
    partitions_per_topic: &BTreeMap<String, u32>,
    members: &[Member],
) -> Result<Assignment, AssignError> {
    validate(partitions_per_topic, members)?;
    let subscribed: BTreeSet<&str> = members
        .iter()
        .flat_map(|m| m.topics.iter().map(String::as_str))
        .collect();
    let partitions_per_topic: BTreeMap<String, u32> = partitions_per_topic
        .iter()
        .filter(|(topic, count)| **count > 0 && subscribed.contains(topic.as_str()))
        .map(|(topic, count)| (topic.clone(), *count))
        .collect();
    // The order in which the leader's `subscriptions` HashMap iterates the members.
    let ids: Vec<&str> = members.iter().map(|m| m.member_id.as_str()).collect();
    let members: Vec<&Member> = java::hash_order(&ids)
        .into_iter()
        .map(|i| &members[i])
        .collect();
    let assignment = match strategy {
        Strategy::Range => range::assign(&partitions_per_topic, &members),
        Strategy::RoundRobin => roundrobin::assign(&partitions_per_topic, &members),
        Strategy::Sticky => sticky::assign(&partitions_per_topic, &members, false)?,
        Strategy::CooperativeSticky => sticky::assign(&partitions_per_topic, &members, true)?,
    };
    debug_assert_eq!(assignment.len(), members.len());
    Ok(assignment)
}

/// Rejects input a Kafka group leader could not be given, naming the member and the field.
fn validate(
    partitions_per_topic: &BTreeMap<String, u32>,
    members: &[Member],
) -> Result<(), AssignError> {
    let bad = |message: String| Err(AssignError::BadInput(message));
    let total: u64 = partitions_per_topic.values().map(|n| u64::from(*n)).sum();
    if total > PARTITIONS_MAX {
        return bad(format!(
            "partitions_per_topic: {total} partitions in all, more than the {PARTITIONS_MAX} \
             kafkasim assign accepts"
        ));
    }
    if members.len() > MEMBERS_MAX {
        return bad(format!(
            "members: {} members, more than the {MEMBERS_MAX} kafkasim assign accepts",
            members.len()
        ));
    }
    let mut member_ids = BTreeMap::new();
    let mut instance_ids = BTreeMap::new();
    for (i, member) in members.iter().enumerate() {
        let id = &member.member_id;
        if let Some(first) = member_ids.insert(id.as_str(), i) {
            return bad(format!(
                "members[{i}]: duplicate member_id {id:?} (also members[{first}])"
            ));
        }
        if let Some(instance) = &member.group_instance_id
            && let Some(first) = instance_ids.insert(instance.as_str(), i)
        {
            return bad(format!(
                "members[{i}] ({id:?}): duplicate group_instance_id {instance:?} \
                 (also members[{first}])"
            ));
        }
        validate_member(member, i, partitions_per_topic)?;
    }
    Ok(())
}

/// Checks one member's topics, owned partitions and generation.
fn validate_member(
    member: &Member,
    i: usize,
    partitions_per_topic: &BTreeMap<String, u32>,
) -> Result<(), AssignError> {
    let id = &member.member_id;
    let bad = |message: String| {
        Err(AssignError::BadInput(format!(
            "members[{i}] ({id:?}): {message}"
        )))
    };
    let mut topics = BTreeSet::new();
    for topic in &member.topics {
        if !partitions_per_topic.contains_key(topic) {
            return bad(format!(
                "subscribes to topic {topic:?}, which is not in partitions_per_topic"
            ));
        }
        if !topics.insert(topic) {
            return bad(format!("topic {topic:?} is listed twice in topics"));
        }
    }
    let mut owned = BTreeSet::new();
    for tp in &member.owned_partitions {
        // A topic missing from the metadata is a deleted topic, which Kafka ignores; a partition
        // beyond the count cannot be (Kafka never removes partitions).
        if let Some(&count) = partitions_per_topic.get(&tp.topic)
            && tp.partition >= count
        {
            return bad(format!(
                "owns {tp}, but topic {:?} has {count} partitions",
                tp.topic
            ));
        }
        if !owned.insert(tp) {
            return bad(format!("owns {tp} twice"));
        }
    }
    if member.generation < DEFAULT_GENERATION {
        return bad(format!(
            "generation {} is below -1 (no generation)",
            member.generation
        ));
    }
    Ok(())
}

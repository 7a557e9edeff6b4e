//! One consumer group as its coordinator holds it (Kafka's `GroupMetadata` and `MemberMetadata`):
//! the state, the generation, the chosen assignor, the leader, the members with their sessions
//! and the requests they wait on, and the committed offsets.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::group::assignor::Strategy;
use crate::protocol::consumer::{CommittedOffset, JoinedMember, Subscription};
use crate::protocol::{KafkaError, TopicPartition};
use crate::sim::{NodeId, SimTime};

/// Kafka's group states (`GroupState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupState {
    /// No members (offsets may remain).
    Empty,
    /// Members are (re)joining; JoinGroup answers wait for the rebalance to complete.
    PreparingRebalance,
    /// The generation is formed; the leader's SyncGroup with the assignment is awaited.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// The group is gone (its coordinator unloaded it).
    Dead,
}

impl GroupState {
    /// Kafka's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A request a member waits on an answer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    /// The member's node.
    pub node: NodeId,
    /// The request's correlation id.
    pub correlation: u64,
}

/// One member (Kafka's `MemberMetadata`).
#[derive(Clone, Debug)]
pub struct Member {
    /// The member id (`<client>-<number>`).
    pub member_id: Arc<str>,
    /// Index of its client among the run's consumer instances.
    pub client: u32,
    /// The number in its member id.
    pub number: u32,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<Arc<str>>,
    /// `session.timeout.ms`.
    pub session_timeout_ms: u64,
    /// `max.poll.interval.ms`: the longest a rebalance waits for it.
    pub rebalance_timeout_ms: u64,
    /// Assignors it supports, in preference order.
    pub protocols: Vec<Strategy>,
    /// Its subscription.
    pub subscription: Subscription,
    /// Its JoinGroup waiting for the rebalance to complete.
    pub awaiting_join: Option<Waiter>,
    /// Its SyncGroup waiting for the leader's assignment.
    pub awaiting_sync: Option<Waiter>,
    /// Its partitions in the current generation; `None` until the leader's SyncGroup.
    pub assignment: Option<Vec<TopicPartition>>,
    /// When its session expires unless it heartbeats.
    pub session_deadline: SimTime,
}

impl Member {
    /// Whether the session timer keeps the member regardless of heartbeats: a member waiting on
    /// a JoinGroup or SyncGroup answer is alive by definition (Kafka's `shouldKeepAlive`).
    pub fn kept_alive(&self) -> bool {
        self.awaiting_join.is_some() || self.awaiting_sync.is_some()
    }
}

/// A member id handed out with `MEMBER_ID_REQUIRED` whose JoinGroup has not come back yet
/// (Kafka's `pendingMembers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingMember {
    /// Index of its client among the run's consumer instances.
    pub client: u32,
    /// The number in its member id.
    pub number: u32,
    /// When it is forgotten unless it joins (its `session.timeout.ms`).
    pub deadline: SimTime,
}

/// A group (Kafka's `GroupMetadata`).
#[derive(Clone, Debug)]
pub struct Group {
    /// The group id.
    pub name: Arc<str>,
    /// Its index among the run's groups (for its records).
    pub index: u32,
    /// The state.
    pub state: GroupState,
    /// The generation: bumped by every completed rebalance.
    pub generation: i32,
    /// The assignor chosen for the generation.
    pub protocol: Option<Strategy>,
    /// The leader's member id.
    pub leader: Option<Arc<str>>,
    /// Members by member id.
    pub members: BTreeMap<Arc<str>, Member>,
    /// Member ids given out and not yet joined with, by member id.
    pub pending_members: BTreeMap<Arc<str>, PendingMember>,
    /// Members of the generation that have not sent SyncGroup yet (Kafka's
    /// `pendingSyncMembers`).
    pub pending_sync: BTreeSet<Arc<str>>,
    /// When members still in `pending_sync` are removed (the rebalance timeout after the join
    /// completed).
    pub sync_deadline: Option<SimTime>,
    /// Committed offsets (applied once their records are replicated).
    pub offsets: BTreeMap<TopicPartition, CommittedOffset>,
    /// Where in the group's partition the record of each committed offset ends: a commit
    /// replaces an offset only if its record comes later in the log (Kafka's `olderThan`).
    pub committed_at: BTreeMap<TopicPartition, u64>,
    /// When the rebalance in progress completes at the latest.
    pub join_deadline: Option<SimTime>,
    /// While the initial rebalance delay runs: the longest it may still be extended to.
    pub initial_delay_until: Option<SimTime>,
}

impl Group {
    /// An empty group of generation 0.
    pub fn new(name: Arc<str>, index: u32) -> Group {
        Group {
            name,
            index,
            state: GroupState::Empty,
            generation: 0,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            sync_deadline: None,
            offsets: BTreeMap::new(),
            committed_at: BTreeMap::new(),
            join_deadline: None,
            initial_delay_until: None,
        }
    }

    /// Makes `offset` the committed offset of `tp` if its record, ending at log position
    /// `position`, is not older than the one that set the current offset.
    pub fn commit_offset(&mut self, tp: TopicPartition, offset: CommittedOffset, position: u64) {
        if self.committed_at.get(&tp).is_some_and(|at| *at > position) {
            return;
        }
        self.offsets.insert(tp, offset);
        self.committed_at.insert(tp, position);
    }

    /// Kafka's `validateOffsetCommit` for a `TxnOffsetCommit`: a request that names a member,
    /// an instance or a generation must match them; one that names none is accepted.
    pub fn validate_txn_commit(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation: i32,
    ) -> Option<KafkaError> {
        if generation < 0 && member_id.is_empty() && group_instance_id.is_none() {
            return None;
        }
        let fenced = group_instance_id
            .and_then(|instance| self.static_member(instance))
            .is_some_and(|current| &**current != member_id);
        if fenced {
            Some(KafkaError::FencedInstanceId)
        } else if !member_id.is_empty() && !self.members.contains_key(member_id) {
            Some(KafkaError::UnknownMemberId)
        } else if generation != self.generation {
            Some(KafkaError::IllegalGeneration)
        } else {
            None
        }
    }

    /// The member holding `group.instance.id` `instance`, if any.
    pub fn static_member(&self, instance: &str) -> Option<&Arc<str>> {
        self.members
            .values()
            .find(|m| m.group_instance_id.as_deref() == Some(instance))
            .map(|m| &m.member_id)
    }

    /// Kafka's `validateCurrentMember`: a static member's instance id must map to `member_id`
    /// (another member id holding it was replaced: `FENCED_INSTANCE_ID`), and a dynamic
    /// member's id must be known (`UNKNOWN_MEMBER_ID`).
    pub fn validate_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Option<KafkaError> {
        match group_instance_id {
            Some(instance) => match self.static_member(instance) {
                None => Some(KafkaError::UnknownMemberId),
                Some(current) if &**current != member_id => Some(KafkaError::FencedInstanceId),
                Some(_) => None,
            },
            None => (!self.members.contains_key(member_id)).then_some(KafkaError::UnknownMemberId),
        }
    }

    /// Whether every member has rejoined and no member id handed out is still awaited (the
    /// rebalance can complete early; Kafka's `hasAllMembersJoined`).
    pub fn all_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// The rebalance timeout: the largest of the members'.
    pub fn rebalance_timeout_ms(&self) -> u64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    /// Kafka's `selectProtocol`: among the assignors every member supports, the one most members
    /// list first (ties: the earliest in the first member's list).
    pub fn select_protocol(&self) -> Option<Strategy> {
        let first = self.members.values().next()?;
        let candidates: Vec<Strategy> = first
            .protocols
            .iter()
            .copied()
            .filter(|p| self.members.values().all(|m| m.protocols.contains(p)))
            .collect();
        let votes = |p: Strategy| {
            self.members
                .values()
                .filter(|m| m.protocols.iter().find(|q| candidates.contains(q)) == Some(&p))
                .count()
        };
        candidates.iter().copied().rev().max_by_key(|&p| votes(p))
    }

    /// Whether a member offering `protocols` may join (Kafka's `supportsProtocols`): some
    /// strategy of its must be one every member `other than` it offers.
    pub fn supports(&self, protocols: &[Strategy], other_than: &str) -> bool {
        let others: Vec<&Member> = self
            .members
            .values()
            .filter(|m| &*m.member_id != other_than)
            .collect();
        !protocols.is_empty()
            && (others.is_empty()
                || protocols
                    .iter()
                    .any(|p| others.iter().all(|m| m.protocols.contains(p))))
    }

    /// The member list the leader gets in its JoinGroup answer.
    pub fn joined_members(&self) -> Vec<JoinedMember> {
        self.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                subscription: m.subscription.clone(),
            })
            .collect()
    }
}

//! The requests only consumers send, named after Kafka's APIs: `FindCoordinator`, the group
//! membership protocol (`JoinGroup`, `SyncGroup`, `Heartbeat`, `LeaveGroup`), the offset APIs
//! (`OffsetCommit`, `OffsetFetch`) and `ListOffsets` (where `auto.offset.reset` starts). They
//! travel as their own message kinds so that the other clients' handlers never see them.
//!
//! A new dynamic member's first JoinGroup is answered `MEMBER_ID_REQUIRED` with the member id it
//! must join with (KIP-394). Left out: protocol metadata versions and `ListOffsets` by timestamp.

use std::sync::Arc;

use super::{BrokerId, KafkaError, TopicPartition};
use crate::group::assignor::Strategy;

/// Kafka's `NO_GENERATION` (`-1`): a member outside any generation.
pub const NO_GENERATION: i32 = -1;

/// What a member tells the group about itself in `JoinGroup` (the consumer protocol's
/// `Subscription`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// Subscribed topics, by topic index.
    pub topics: Vec<u32>,
    /// The partitions it owns from its last generation (the sticky assignors' user data).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which it owned them, or [`NO_GENERATION`].
    pub generation: i32,
}

/// One member as the JoinGroup answer lists it to the group leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinedMember {
    /// Its member id.
    pub member_id: Arc<str>,
    /// Its `group.instance.id`, for a static member.
    pub group_instance_id: Option<Arc<str>>,
    /// Its subscription.
    pub subscription: Subscription,
}

/// A successful JoinGroup answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Joined {
    /// The new generation.
    pub generation: i32,
    /// The assignor the group chose.
    pub protocol: Strategy,
    /// The leader's member id.
    pub leader: Arc<str>,
    /// The member id of the member answered.
    pub member_id: Arc<str>,
    /// Every member with its subscription, for the leader only; empty for followers.
    pub members: Vec<JoinedMember>,
}

/// Where `ListOffsets` looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset (`EARLIEST_TIMESTAMP`).
    Earliest,
    /// The high watermark (`LATEST_TIMESTAMP`, read_uncommitted).
    Latest,
}

/// A consumer's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerRequest {
    /// Which broker coordinates `group`.
    FindCoordinator {
        /// Matches the response to the request.
        correlation: u64,
        /// The group.
        group: Arc<str>,
    },
    /// Join (or rejoin) the group; answered when the rebalance completes.
    JoinGroup {
        /// Matches the response to the request.
        correlation: u64,
        /// The group.
        group: Arc<str>,
        /// The member id, empty for a new member.
        member_id: Arc<str>,
        /// `group.instance.id` of a static member.
        group_instance_id: Option<Arc<str>>,
        /// `client.id`: the node name, the prefix of a new member id.
        client_id: Arc<str>,
        /// `session.timeout.ms`.
        session_timeout_ms: u64,
        /// `max.poll.interval.ms`, the consumer's rebalance timeout.
        rebalance_timeout_ms: u64,
        /// Supported assignors, in preference order.
        protocols: Vec<Strategy>,
        /// The member's subscription.
        subscription: Subscription,
    },
    /// Receive this generation's assignment; the leader sends everyone's.
    SyncGroup {
        /// Matches the response to the request.
        correlation: u64,
        /// The group.
        group: Arc<str>,
        /// The member's generation.
        generation: i32,
        /// The member id.
        member_id: Arc<str>,
        /// `group.instance.id` of a static member.
        group_instance_id: Option<Arc<str>>,
        /// Every member's partitions (the leader's request only).
        assignments: Vec<(Arc<str>, Vec<TopicPartition>)>,
    },
    /// The member is alive.
    Heartbeat {
        /// Matches the response to the request.
        correlation: u64,
        /// The group.
        group: Arc<str>,
        /// The member's generation.
        generation: i32,
        /// The member id.
        member_id: Arc<str>,
        /// `group.instance.id` of a static member.
        group_instance_id: Option<Arc<str>>,
    },
    /// The member leaves the group.
    LeaveGroup {
        /// Matches the response to the request.
        correlation: u64,
        /// The group.
        group: Arc<str>,
        /// The member id.
        member_id: Arc<str>,
    },
    /// Store the next offsets to read.
    OffsetCommit {
        /// Matches the response to the request.
        correlation: u64,
        /// The group.
        group: Arc<str>,
        /// The member's generation.
        generation: i32,
        /// The member id.
        member_id: Arc<str>,
        /// `group.instance.id` of a static member.
        group_instance_id: Option<Arc<str>>,
        /// Next offset to read and its leader epoch, per partition.
        offsets: Vec<(TopicPartition, CommittedOffset)>,
    },
    /// Store offsets as part of a transaction (`sendOffsetsToTransaction`): pending until the
    /// transaction's marker, fenced by generation and member id (KIP-447).
    TxnOffsetCommit {
        /// Matches the response to the request.
        correlation: u64,
        /// The group.
        group: Arc<str>,
        /// The transactional producer's id and epoch.
        producer: (i64, i16),
        /// The consumer's generation (the group metadata the application passed).
        generation: i32,
        /// The consumer's member id.
        member_id: Arc<str>,
        /// `group.instance.id` of a static member.
        group_instance_id: Option<Arc<str>>,
        /// Next offset to read, per partition.
        offsets: Vec<(TopicPartition, u64)>,
    },
    /// Read committed offsets.
    OffsetFetch {
        /// Matches the response to the request.
        correlation: u64,
        /// The group.
        group: Arc<str>,
        /// The partitions asked about.
        partitions: Vec<TopicPartition>,
        /// KIP-447's `require_stable` (read_committed consumers): a partition with offsets
        /// pending in a transaction is answered `UNSTABLE_OFFSET_COMMIT`.
        require_stable: bool,
    },
    /// Offsets of partition leaders' logs.
    ListOffsets {
        /// Matches the response to the request.
        correlation: u64,
        /// The partitions and where to look.
        partitions: Vec<(TopicPartition, OffsetSpec)>,
    },
}

/// A committed offset (Kafka's `OffsetAndMetadata`, without the metadata string).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset to read.
    pub offset: u64,
    /// The leader epoch of the last record consumed before it, if the client knew it (KIP-320).
    pub leader_epoch: Option<u32>,
}

/// The answer to a [`ConsumerRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerResponse {
    /// The coordinator's broker id.
    FindCoordinator {
        /// The request's correlation id.
        correlation: u64,
        /// The coordinator, or why not.
        result: Result<BrokerId, KafkaError>,
    },
    /// The rebalance completed, or why not.
    JoinGroup {
        /// The request's correlation id.
        correlation: u64,
        /// With `MEMBER_ID_REQUIRED`: the member id to join with; empty otherwise (Kafka's
        /// `JoinGroupResponse.member_id`).
        member_id: Arc<str>,
        /// The generation joined.
        result: Result<Joined, KafkaError>,
    },
    /// The member's assignment.
    SyncGroup {
        /// The request's correlation id.
        correlation: u64,
        /// The partitions, or why not.
        result: Result<Vec<TopicPartition>, KafkaError>,
    },
    /// Heartbeat answer.
    Heartbeat {
        /// The request's correlation id.
        correlation: u64,
        /// Why the member must act, if it must.
        error: Option<KafkaError>,
    },
    /// LeaveGroup answer.
    LeaveGroup {
        /// The request's correlation id.
        correlation: u64,
        /// The error, if any.
        error: Option<KafkaError>,
    },
    /// OffsetCommit answer (one error for all partitions: the model commits them together).
    OffsetCommit {
        /// The request's correlation id.
        correlation: u64,
        /// Committed, or why not.
        result: Result<(), KafkaError>,
    },
    /// TxnOffsetCommit answer (one error for all partitions).
    TxnOffsetCommit {
        /// The request's correlation id.
        correlation: u64,
        /// Stored as pending, or why not.
        result: Result<(), KafkaError>,
    },
    /// Committed offsets.
    OffsetFetch {
        /// The request's correlation id.
        correlation: u64,
        /// Per partition the committed offset, if any; or why not.
        result: Result<Vec<(TopicPartition, Option<CommittedOffset>)>, KafkaError>,
    },
    /// Log offsets.
    ListOffsets {
        /// The request's correlation id.
        correlation: u64,
        /// Per partition the offset, or why not.
        partitions: Vec<(TopicPartition, Result<u64, KafkaError>)>,
    },
}

impl ConsumerRequest {
    /// The request's correlation id.
    pub fn correlation(&self) -> u64 {
        match self {
            ConsumerRequest::FindCoordinator { correlation, .. }
            | ConsumerRequest::JoinGroup { correlation, .. }
            | ConsumerRequest::SyncGroup { correlation, .. }
            | ConsumerRequest::Heartbeat { correlation, .. }
            | ConsumerRequest::LeaveGroup { correlation, .. }
            | ConsumerRequest::OffsetCommit { correlation, .. }
            | ConsumerRequest::TxnOffsetCommit { correlation, .. }
            | ConsumerRequest::OffsetFetch { correlation, .. }
            | ConsumerRequest::ListOffsets { correlation, .. } => *correlation,
        }
    }

    /// The group the request is about, for group requests.
    pub fn group(&self) -> Option<&Arc<str>> {
        match self {
            ConsumerRequest::FindCoordinator { group, .. }
            | ConsumerRequest::JoinGroup { group, .. }
            | ConsumerRequest::SyncGroup { group, .. }
            | ConsumerRequest::Heartbeat { group, .. }
            | ConsumerRequest::LeaveGroup { group, .. }
            | ConsumerRequest::OffsetCommit { group, .. }
            | ConsumerRequest::TxnOffsetCommit { group, .. }
            | ConsumerRequest::OffsetFetch { group, .. } => Some(group),
            ConsumerRequest::ListOffsets { .. } => None,
        }
    }

    /// The answer to this request when it fails as a whole with `error`.
    pub fn error_response(&self, error: KafkaError) -> ConsumerResponse {
        let correlation = self.correlation();
        match self {
            ConsumerRequest::FindCoordinator { .. } => ConsumerResponse::FindCoordinator {
                correlation,
                result: Err(error),
            },
            ConsumerRequest::JoinGroup { .. } => ConsumerResponse::JoinGroup {
                correlation,
                member_id: Arc::from(""),
                result: Err(error),
            },
            ConsumerRequest::SyncGroup { .. } => ConsumerResponse::SyncGroup {
                correlation,
                result: Err(error),
            },
            ConsumerRequest::Heartbeat { .. } => ConsumerResponse::Heartbeat {
                correlation,
                error: Some(error),
            },
            ConsumerRequest::LeaveGroup { .. } => ConsumerResponse::LeaveGroup {
                correlation,
                error: Some(error),
            },
            ConsumerRequest::OffsetCommit { .. } => ConsumerResponse::OffsetCommit {
                correlation,
                result: Err(error),
            },
            ConsumerRequest::TxnOffsetCommit { .. } => ConsumerResponse::TxnOffsetCommit {
                correlation,
                result: Err(error),
            },
            ConsumerRequest::OffsetFetch { .. } => ConsumerResponse::OffsetFetch {
                correlation,
                result: Err(error),
            },
            ConsumerRequest::ListOffsets { partitions, .. } => ConsumerResponse::ListOffsets {
                correlation,
                partitions: partitions.iter().map(|(tp, _)| (*tp, Err(error))).collect(),
            },
        }
    }
}

impl ConsumerResponse {
    /// The correlation id of the request answered.
    pub fn correlation(&self) -> u64 {
        match self {
            ConsumerResponse::FindCoordinator { correlation, .. }
            | ConsumerResponse::JoinGroup { correlation, .. }
            | ConsumerResponse::SyncGroup { correlation, .. }
            | ConsumerResponse::Heartbeat { correlation, .. }
            | ConsumerResponse::LeaveGroup { correlation, .. }
            | ConsumerResponse::OffsetCommit { correlation, .. }
            | ConsumerResponse::TxnOffsetCommit { correlation, .. }
            | ConsumerResponse::OffsetFetch { correlation, .. }
            | ConsumerResponse::ListOffsets { correlation, .. } => *correlation,
        }
    }
}

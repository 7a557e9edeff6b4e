//! Kafka's error codes, by Kafka's names. Only the errors the model produces are listed; each is
//! shown exactly as Kafka spells it (`NOT_ENOUGH_REPLICAS_AFTER_APPEND`).

use std::fmt;

/// An error a broker answers with, or a client concludes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KafkaError {
    /// The broker is not the leader (or a follower) of the partition.
    NotLeaderOrFollower,
    /// acks=all and the ISR was below `min.insync.replicas` before the append: nothing written.
    NotEnoughReplicas,
    /// The ISR shrank below `min.insync.replicas` after the append: the data *is* written.
    NotEnoughReplicasAfterAppend,
    /// The request outlived its timeout; its outcome is unknown.
    RequestTimedOut,
    /// The connection broke before the response; the outcome is unknown.
    NetworkException,
    /// The fetch offset is below the log start or above the log end.
    OffsetOutOfRange,
    /// The request's leader epoch is older than the partition's.
    FencedLeaderEpoch,
    /// The request's leader epoch is newer than the partition's.
    UnknownLeaderEpoch,
    /// A controller request from an older controller epoch.
    StaleControllerEpoch,
    /// The topic or partition does not exist here.
    UnknownTopicOrPartition,
    /// A stale producer epoch (idempotence and transactions).
    InvalidProducerEpoch,
    /// A sequence gap (idempotence).
    OutOfOrderSequenceNumber,
    /// A group request's generation is not the group's current one.
    IllegalGeneration,
    /// The group does not know the member id.
    UnknownMemberId,
    /// The group is rebalancing: the member must rejoin.
    RebalanceInProgress,
    /// This broker is not the group's coordinator.
    NotCoordinator,
    /// The coordinator is still loading the group from its offsets partition.
    CoordinatorLoadInProgress,
    /// The coordinator cannot serve the request now (its log append failed).
    CoordinatorNotAvailable,
    /// A newer member with the same `group.instance.id` replaced this one.
    FencedInstanceId,
    /// The member's assignment strategies share none with the group's members.
    InconsistentGroupProtocol,
    /// A new dynamic member must join again with the member id the answer carries (KIP-394).
    MemberIdRequired,
    /// The transaction coordinator has a transition of this id in progress: retry.
    ConcurrentTransactions,
    /// A newer producer epoch of this transactional id exists: this producer is a zombie.
    ProducerFenced,
    /// The request does not fit the transaction's state (an EndTxn of the other kind, a
    /// transactional produce for a partition the transaction does not have).
    InvalidTxnState,
    /// A transaction marker from an older coordinator epoch.
    TransactionCoordinatorFenced,
    /// The producer id does not belong to the transactional id.
    InvalidProducerIdMapping,
    /// A transaction holds pending offsets for the partition: a `require_stable` OffsetFetch
    /// must wait for its marker (KIP-447).
    UnstableOffsetCommit,
}

impl KafkaError {
    /// Kafka's name for the error.
    pub fn name(self) -> &'static str {
        match self {
            KafkaError::NotLeaderOrFollower => "NOT_LEADER_OR_FOLLOWER",
            KafkaError::NotEnoughReplicas => "NOT_ENOUGH_REPLICAS",
            KafkaError::NotEnoughReplicasAfterAppend => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            KafkaError::RequestTimedOut => "REQUEST_TIMED_OUT",
            KafkaError::NetworkException => "NETWORK_EXCEPTION",
            KafkaError::OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            KafkaError::FencedLeaderEpoch => "FENCED_LEADER_EPOCH",
            KafkaError::UnknownLeaderEpoch => "UNKNOWN_LEADER_EPOCH",
            KafkaError::StaleControllerEpoch => "STALE_CONTROLLER_EPOCH",
            KafkaError::UnknownTopicOrPartition => "UNKNOWN_TOPIC_OR_PARTITION",
            KafkaError::InvalidProducerEpoch => "INVALID_PRODUCER_EPOCH",
            KafkaError::OutOfOrderSequenceNumber => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            KafkaError::IllegalGeneration => "ILLEGAL_GENERATION",
            KafkaError::UnknownMemberId => "UNKNOWN_MEMBER_ID",
            KafkaError::RebalanceInProgress => "REBALANCE_IN_PROGRESS",
            KafkaError::NotCoordinator => "NOT_COORDINATOR",
            KafkaError::CoordinatorLoadInProgress => "COORDINATOR_LOAD_IN_PROGRESS",
            KafkaError::CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
            KafkaError::FencedInstanceId => "FENCED_INSTANCE_ID",
            KafkaError::InconsistentGroupProtocol => "INCONSISTENT_GROUP_PROTOCOL",
            KafkaError::MemberIdRequired => "MEMBER_ID_REQUIRED",
            KafkaError::ConcurrentTransactions => "CONCURRENT_TRANSACTIONS",
            KafkaError::ProducerFenced => "PRODUCER_FENCED",
            KafkaError::InvalidTxnState => "INVALID_TXN_STATE",
            KafkaError::TransactionCoordinatorFenced => "TRANSACTION_COORDINATOR_FENCED",
            KafkaError::InvalidProducerIdMapping => "INVALID_PRODUCER_ID_MAPPING",
            KafkaError::UnstableOffsetCommit => "UNSTABLE_OFFSET_COMMIT",
        }
    }

    /// Whether a producer may retry a send that failed with this error (Kafka's
    /// `RetriableException`s).
    pub fn is_retriable(self) -> bool {
        matches!(
            self,
            KafkaError::NotLeaderOrFollower
                | KafkaError::NotEnoughReplicas
                | KafkaError::NotEnoughReplicasAfterAppend
                | KafkaError::RequestTimedOut
                | KafkaError::NetworkException
                | KafkaError::FencedLeaderEpoch
                | KafkaError::UnknownLeaderEpoch
                | KafkaError::UnknownTopicOrPartition
                | KafkaError::CoordinatorLoadInProgress
                | KafkaError::ConcurrentTransactions
                | KafkaError::UnstableOffsetCommit
        )
    }
}

impl fmt::Display for KafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

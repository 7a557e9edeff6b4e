//! The transaction APIs, named after Kafka's: what a transactional producer asks its transaction
//! coordinator (`FindCoordinator` with key type TRANSACTION, `InitProducerId` with a
//! `transactional.id`, `AddPartitionsToTxn`, `AddOffsetsToTxn`, `EndTxn`), what a coordinator
//! asks partition leaders (`WriteTxnMarkers`), and what a KIP-890 partition leader asks a
//! coordinator before a producer's first transactional write (`AddPartitionsToTxn` with
//! `VerifyOnly`, here `VerifyPartitionsInTxn`). They travel as their own message kinds so the
//! other clients' handlers never see them.
//!
//! A transactional id travels as its index among the run's transactional ids (the coordinator
//! spec names them). `TxnOffsetCommit` goes to the group coordinator, so it is a
//! [`super::ConsumerRequest`]. Left out: batching several transactions in one request, and
//! request versions.

use std::sync::Arc;

use super::{BrokerId, KafkaError, TopicPartition};
use crate::record::ControlType;

/// A producer id and epoch as the wire carries them.
pub type ProducerIdEpoch = (i64, i16);

/// A transaction request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnRequest {
    /// Which broker coordinates transactional id `txn`.
    FindCoordinator {
        /// Matches the response to the request.
        correlation: u64,
        /// The transactional id's index.
        txn: u32,
    },
    /// A producer id and epoch for `txn`, fencing older epochs (and aborting their transaction).
    InitProducerId {
        /// Matches the response to the request.
        correlation: u64,
        /// The transactional id's index.
        txn: u32,
        /// `transaction.timeout.ms`.
        timeout_ms: u64,
    },
    /// Adds partitions to the ongoing transaction (starting one if none is).
    AddPartitionsToTxn {
        /// Matches the response to the request.
        correlation: u64,
        /// The transactional id's index.
        txn: u32,
        /// The producer's id and epoch.
        producer: ProducerIdEpoch,
        /// The partitions.
        partitions: Vec<TopicPartition>,
    },
    /// Adds the group's `__consumer_offsets` partition to the ongoing transaction, so its
    /// offsets get the transaction's marker (`sendOffsetsToTransaction`, first step).
    AddOffsetsToTxn {
        /// Matches the response to the request.
        correlation: u64,
        /// The transactional id's index.
        txn: u32,
        /// The producer's id and epoch.
        producer: ProducerIdEpoch,
        /// The consumer group whose offsets the transaction will carry.
        group: Arc<str>,
    },
    /// Ends the ongoing transaction: commit or abort.
    EndTxn {
        /// Matches the response to the request.
        correlation: u64,
        /// The transactional id's index.
        txn: u32,
        /// The producer's id and epoch.
        producer: ProducerIdEpoch,
        /// Commit (true) or abort.
        commit: bool,
    },
    /// A partition leader asks whether the partitions are in the producer's ongoing transaction
    /// before its first transactional write there (KIP-890).
    VerifyPartitionsInTxn {
        /// Matches the response to the request.
        correlation: u64,
        /// The transactional id's index.
        txn: u32,
        /// The producer's id and epoch, as the batch carries them.
        producer: ProducerIdEpoch,
        /// The partitions.
        partitions: Vec<TopicPartition>,
    },
    /// A coordinator asks a partition leader to append transaction markers.
    WriteTxnMarkers {
        /// Matches the response to the request.
        correlation: u64,
        /// The producer whose transaction ends, with the epoch the markers carry.
        producer: ProducerIdEpoch,
        /// COMMIT or ABORT.
        result: ControlType,
        /// The coordinator's epoch (the leader epoch of its `__transaction_state` partition).
        coordinator_epoch: u32,
        /// The partitions, all led by the receiver as the coordinator believes.
        partitions: Vec<TopicPartition>,
    },
}

/// A transaction response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnResponse {
    /// The coordinator's broker id, or why not.
    FindCoordinator {
        /// The request's correlation id.
        correlation: u64,
        /// The coordinator.
        result: Result<BrokerId, KafkaError>,
    },
    /// The producer id and epoch, or why not.
    InitProducerId {
        /// The request's correlation id.
        correlation: u64,
        /// `(producer id, epoch)`.
        result: Result<ProducerIdEpoch, KafkaError>,
    },
    /// Whether the partitions were added.
    AddPartitionsToTxn {
        /// The request's correlation id.
        correlation: u64,
        /// Ok, or the error for every partition.
        result: Result<(), KafkaError>,
    },
    /// Whether every partition is in the ongoing transaction of that producer and epoch.
    VerifyPartitionsInTxn {
        /// The request's correlation id.
        correlation: u64,
        /// Ok, or why not (`INVALID_TXN_STATE`: not in it; `PRODUCER_FENCED`: a newer epoch).
        result: Result<(), KafkaError>,
    },
    /// Whether the group's offsets partition was added.
    AddOffsetsToTxn {
        /// The request's correlation id.
        correlation: u64,
        /// Ok, or why not.
        result: Result<(), KafkaError>,
    },
    /// Whether the transaction ended; under KIP-890 the answer carries the bumped epoch.
    EndTxn {
        /// The request's correlation id.
        correlation: u64,
        /// The producer's id and epoch to use from now on.
        result: Result<ProducerIdEpoch, KafkaError>,
    },
    /// The outcome per partition.
    WriteTxnMarkers {
        /// The request's correlation id.
        correlation: u64,
        /// Per partition.
        partitions: Vec<(TopicPartition, Result<(), KafkaError>)>,
    },
}

impl TxnRequest {
    /// The request's correlation id.
    pub fn correlation(&self) -> u64 {
        match self {
            TxnRequest::FindCoordinator { correlation, .. }
            | TxnRequest::InitProducerId { correlation, .. }
            | TxnRequest::AddPartitionsToTxn { correlation, .. }
            | TxnRequest::AddOffsetsToTxn { correlation, .. }
            | TxnRequest::VerifyPartitionsInTxn { correlation, .. }
            | TxnRequest::EndTxn { correlation, .. }
            | TxnRequest::WriteTxnMarkers { correlation, .. } => *correlation,
        }
    }

    /// The answer that fails this request with `error`.
    pub fn error_response(&self, error: KafkaError) -> TxnResponse {
        let correlation = self.correlation();
        match self {
            TxnRequest::FindCoordinator { .. } => TxnResponse::FindCoordinator {
                correlation,
                result: Err(error),
            },
            TxnRequest::InitProducerId { .. } => TxnResponse::InitProducerId {
                correlation,
                result: Err(error),
            },
            TxnRequest::AddPartitionsToTxn { .. } => TxnResponse::AddPartitionsToTxn {
                correlation,
                result: Err(error),
            },
            TxnRequest::AddOffsetsToTxn { .. } => TxnResponse::AddOffsetsToTxn {
                correlation,
                result: Err(error),
            },
            TxnRequest::VerifyPartitionsInTxn { .. } => TxnResponse::VerifyPartitionsInTxn {
                correlation,
                result: Err(error),
            },
            TxnRequest::EndTxn { .. } => TxnResponse::EndTxn {
                correlation,
                result: Err(error),
            },
            TxnRequest::WriteTxnMarkers { partitions, .. } => TxnResponse::WriteTxnMarkers {
                correlation,
                partitions: partitions.iter().map(|&tp| (tp, Err(error))).collect(),
            },
        }
    }
}

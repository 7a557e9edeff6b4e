//! Kafka's wire vocabulary as Rust values: requests and responses named after Kafka's APIs
//! (`Produce`, `Fetch`, `LeaderAndIsr`, `OffsetsForLeaderEpoch`, …) and Kafka's error codes.
//! Messages are never serialized to bytes: the simulator moves the values.

pub mod consumer;
mod errors;
mod messages;
pub mod txn;

pub use errors::KafkaError;

/// Kafka's `UNDEFINED_EPOCH_OFFSET`: a leader's answer to `OffsetsForLeaderEpoch` for an epoch it
/// knows nothing about.
pub const UNDEFINED_EPOCH_OFFSET: u64 = u64::MAX;
pub use consumer::{ConsumerRequest, ConsumerResponse};
pub use messages::{
    BrokerId, FetchPartition, FetchedPartition, PartitionState, Request, Response, TopicPartition,
};
pub use txn::{TxnRequest, TxnResponse};

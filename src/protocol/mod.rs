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

/// Kafka's `socket.connection.setup.timeout.ms` (its clients' `NetworkClient`, brokers' replica
/// fetchers included): how long a connection attempt may go unanswered before it is given up.
pub const SOCKET_CONNECTION_SETUP_TIMEOUT_MS: u64 = 10_000;
pub use consumer::{ConsumerRequest, ConsumerResponse};
pub use messages::{
    BrokerId, FetchPartition, FetchedPartition, PartitionState, Request, Response, TopicPartition,
};
pub use txn::{TxnRequest, TxnResponse};

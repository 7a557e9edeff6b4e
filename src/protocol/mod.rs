//! Kafka's wire vocabulary as Rust values: requests and responses named after Kafka's APIs
//! (`Produce`, `Fetch`, `LeaderAndIsr`, `OffsetsForLeaderEpoch`, …) and Kafka's error codes.
//! Messages are never serialized to bytes: the simulator moves the values.

mod errors;
mod messages;

pub use errors::KafkaError;
pub use messages::{
    BrokerId, FetchPartition, FetchedPartition, PartitionState, Request, Response, TopicPartition,
};

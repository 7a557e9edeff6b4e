//! Kafka's wire vocabulary as Rust values: error codes now; requests and responses (`Produce`,
//! `Fetch`, `LeaderAndIsr`, `OffsetsForLeaderEpoch`, …) arrive with the broker process. Messages
//! are never serialized to bytes: the simulator moves the values.

mod errors;

pub use errors::KafkaError;

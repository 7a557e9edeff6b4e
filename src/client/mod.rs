//! Kafka clients: the producer (partitioner, accumulator, sender), consumers and pipelines.
//! This build has the producer, group consumers and the final reader; pipelines come later.

pub mod committed;
pub mod consumer;
pub mod idempotence;
pub mod partitioner;
pub mod producer;
pub mod reader;

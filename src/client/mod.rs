//! Kafka clients: the producer (partitioner, accumulator, sender), consumers and pipelines.
//! This build has the producer and the final reader; consumer groups and pipelines come later.

pub mod idempotence;
pub mod partitioner;
pub mod producer;
pub mod reader;

//! Kafka clients: the producer (partitioner, accumulator, sender), consumers and pipelines.
//! This build has the producer; consumers and pipelines come later.

pub mod partitioner;
pub mod producer;

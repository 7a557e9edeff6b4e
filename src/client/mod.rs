//! Kafka clients: the producer (partitioner, accumulator, sender), consumers and pipelines.
//! This build has the partitioner; the rest lands with the broker model.

pub mod partitioner;

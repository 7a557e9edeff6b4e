//! Kafka clients: the producer (partitioner, accumulator, sender), group consumers, pipelines
//! (a consumer and a producer in one consume-transform-produce application) and the readers.

pub mod committed;
pub mod consumer;
pub mod idempotence;
pub mod partitioner;
pub mod pipeline;
pub mod producer;
pub mod reader;

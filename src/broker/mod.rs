//! The broker: partition logs, replication (ISR, high watermark, acks), elections. This build
//! has Kafka's replication rules as plain functions over the leader's state; the broker process
//! that applies them to requests lands next.

pub mod election;
pub mod isr;
pub mod replica;

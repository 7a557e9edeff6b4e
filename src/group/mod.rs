//! Consumer groups (classic protocol): Kafka's partition assignors, which the group leader runs
//! on the members' subscriptions to decide who consumes which partition, and the group
//! coordinator that brokers run for the `__consumer_offsets` partitions they lead.

pub mod assignor;
pub mod coordinator;

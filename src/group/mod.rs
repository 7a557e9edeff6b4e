//! Consumer groups (classic protocol). So far: Kafka's partition assignors, which the group
//! leader runs on the members' subscriptions to decide who consumes which partition.
//!
//! Left out for now: the group coordinator, membership and offset commits (DESIGN §4).

pub mod assignor;

//! The broker: partition logs, replication (ISR, high watermark, acks), the follower fetch loop
//! with the three truncation protocols, the controller, and Kafka's replication rules as plain
//! functions over the leader's state.

mod channel;
mod connections;
pub mod controller;
pub mod election;
mod follower;
mod groups;
pub mod isr;
mod metadata_session;
pub mod partition;
pub mod producer_ids;
mod purgatory;
pub mod replica;
pub mod replicas;
mod requests;
pub mod server;
pub mod spec;
mod transactions;
mod verification;
pub mod zkpaths;

pub use server::{Broker, BrokerTimer};
pub use spec::{
    BrokerSpec, GroupsSpec, OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC, TopicSpec, TransactionsSpec,
};

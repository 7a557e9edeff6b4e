//! What a broker is configured with: its id, where the metadata service and the other brokers
//! are, the broker configuration, the replication protocol, and the topics of the scenario with
//! their replica assignment and effective log configuration.

use crate::protocol::BrokerId;
use crate::scenario::{BrokerConfig, LogConfig, ReplicationProtocol, Scenario};
use crate::sim::NodeId;

/// One topic as every broker knows it from the scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Replicas per partition, in preference order.
    pub assignment: Vec<Vec<BrokerId>>,
    /// Effective log configuration.
    pub log: LogConfig,
}

/// A broker's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokerSpec {
    /// `broker.id`.
    pub id: BrokerId,
    /// The metadata service's node.
    pub zk: NodeId,
    /// Node of each broker, by broker id.
    pub broker_nodes: Vec<NodeId>,
    /// The broker configuration.
    pub config: BrokerConfig,
    /// The truncation protocol replicas follow.
    pub protocol: ReplicationProtocol,
    /// Kafka 3.7+: the HW waits while the ISR is below `min.insync.replicas`.
    pub hw_waits_for_min_isr: bool,
    /// The scenario's topics, by topic index.
    pub topics: Vec<TopicSpec>,
}

impl BrokerSpec {
    /// The specs of every broker of `scenario`; broker `i` runs on node `broker_nodes[i]`.
    pub fn for_scenario(
        scenario: &Scenario,
        zk: NodeId,
        broker_nodes: &[NodeId],
    ) -> Vec<BrokerSpec> {
        let brokers = scenario.cluster.brokers;
        let topics: Vec<TopicSpec> = scenario
            .topics
            .iter()
            .map(|t| TopicSpec {
                name: t.name.clone(),
                assignment: t.replica_assignment(brokers),
                log: t.log_config(&scenario.cluster.config),
            })
            .collect();
        (0..brokers)
            .map(|id| BrokerSpec {
                id,
                zk,
                broker_nodes: broker_nodes.to_vec(),
                config: scenario.cluster.config.clone(),
                protocol: scenario.cluster.replication_protocol,
                hw_waits_for_min_isr: scenario.cluster.config.hw_waits_for_min_isr(),
                topics: topics.clone(),
            })
            .collect()
    }
}

//! What a broker is configured with: its id, where the metadata service and the other brokers
//! are, the broker configuration, the replication protocol, and the topics of the scenario with
//! their replica assignment and effective log configuration.

use std::sync::Arc;

use crate::group::coordinator::CoordinatorSpec;
use crate::protocol::BrokerId;
use crate::scenario::{BrokerConfig, LogConfig, ReplicationProtocol, Scenario};
use crate::sim::NodeId;
use crate::txn::TxnCoordinatorSpec;

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
    /// The scenario's topics, by topic index; then `__consumer_offsets` when groups are used and
    /// `__transaction_state` when transactions are.
    pub topics: Vec<TopicSpec>,
    /// The group coordinator's configuration, when the scenario has consumer groups.
    pub groups: Option<GroupsSpec>,
    /// The transaction coordinator's configuration, when the scenario has transactions.
    pub transactions: Option<TransactionsSpec>,
}

/// What brokers know of transactions: where `__transaction_state` is and the coordinator spec.
#[derive(Clone, Debug, PartialEq)]
pub struct TransactionsSpec {
    /// Topic index of `__transaction_state`.
    pub state_topic: u32,
    /// The coordinator's configuration.
    pub coordinator: TxnCoordinatorSpec,
}

/// What brokers know of consumer groups: where `__consumer_offsets` is and the coordinator spec.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupsSpec {
    /// Topic index of `__consumer_offsets`.
    pub offsets_topic: u32,
    /// The coordinator's configuration.
    pub coordinator: CoordinatorSpec,
}

impl BrokerSpec {
    /// The specs of every broker of `scenario`; broker `i` runs on node `broker_nodes[i]`.
    pub fn for_scenario(
        scenario: &Scenario,
        zk: NodeId,
        broker_nodes: &[NodeId],
    ) -> Vec<BrokerSpec> {
        let brokers = scenario.cluster.brokers;
        let mut topics: Vec<TopicSpec> = scenario
            .topics
            .iter()
            .map(|t| TopicSpec {
                name: t.name.clone(),
                assignment: t.replica_assignment(brokers),
                log: t.log_config(&scenario.cluster.config),
            })
            .collect();
        let groups = offsets_topic(scenario).map(|(spec, coordinator)| {
            topics.push(spec);
            GroupsSpec {
                offsets_topic: topics.len() as u32 - 1,
                coordinator,
            }
        });
        let transactions = transaction_state_topic(scenario).map(|(spec, coordinator)| {
            topics.push(spec);
            TransactionsSpec {
                state_topic: topics.len() as u32 - 1,
                coordinator,
            }
        });
        (0..brokers)
            .map(|id| BrokerSpec {
                id,
                zk,
                broker_nodes: broker_nodes.to_vec(),
                config: scenario.cluster.config.clone(),
                protocol: scenario.cluster.replication_protocol,
                hw_waits_for_min_isr: scenario.cluster.config.hw_waits_for_min_isr(),
                topics: topics.clone(),
                groups: groups.clone(),
                transactions: transactions.clone(),
            })
            .collect()
    }
}

/// `__consumer_offsets` (Kafka's internal topic, created at startup here rather than on the first
/// `FindCoordinator`) and the coordinator spec, when the scenario has consumers. Its replicas are
/// assigned like a topic's; it is never deleted by retention (Kafka compacts it instead).
fn offsets_topic(scenario: &Scenario) -> Option<(TopicSpec, CoordinatorSpec)> {
    if !scenario.uses_consumer_groups() {
        return None;
    }
    let config = &scenario.cluster.config;
    let spec = internal_topic(
        scenario,
        OFFSETS_TOPIC,
        config.offsets_topic_num_partitions,
        config.offsets_topic_replication_factor,
    );
    let mut groups: Vec<Arc<str>> = Vec::new();
    let mut clients: Vec<Arc<str>> = Vec::new();
    for c in &scenario.consumers {
        if !groups.iter().any(|g| **g == *c.group) {
            groups.push(c.group.as_str().into());
        }
        clients.extend(c.instance_names().into_iter().map(Arc::from));
    }
    for p in &scenario.pipelines {
        if !groups.iter().any(|g| **g == *p.group) {
            groups.push(p.group.as_str().into());
        }
        clients.extend(p.instance_names().into_iter().map(Arc::from));
    }
    let coordinator = CoordinatorSpec {
        groups,
        clients,
        offsets_partitions: config.offsets_topic_num_partitions,
        initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
        values: Default::default(),
    };
    Some((spec, coordinator))
}

/// `__transaction_state` (created at startup here rather than on the first `FindCoordinator`)
/// with `transaction.state.log.*` settings, and the coordinator spec, when the scenario has
/// transactional producers. Never deleted by retention (Kafka compacts it instead).
fn transaction_state_topic(scenario: &Scenario) -> Option<(TopicSpec, TxnCoordinatorSpec)> {
    if !scenario.uses_transactions() {
        return None;
    }
    let config = &scenario.cluster.config;
    let mut spec = internal_topic(
        scenario,
        TRANSACTION_STATE_TOPIC,
        config.transaction_state_log_num_partitions,
        config.transaction_state_log_replication_factor,
    );
    let replication_factor = spec.assignment.first().map_or(1, |r| r.len() as u32);
    spec.log.min_insync_replicas = config.transaction_state_log_min_isr.min(replication_factor);
    let coordinator = TxnCoordinatorSpec {
        ids: scenario
            .transactional_ids()
            .into_iter()
            .map(Arc::from)
            .collect(),
        partitions: config.transaction_state_log_num_partitions,
        protocol: scenario.cluster.transactions_protocol,
        abort_check_interval_ms: config.transaction_abort_timed_out_transaction_cleanup_interval_ms,
        // `__consumer_offsets` is the topic after the scenario's (see `for_scenario`).
        offsets_topic: scenario.uses_consumer_groups().then_some((
            scenario.topics.len() as u32,
            config.offsets_topic_num_partitions,
        )),
    };
    Some((spec, coordinator))
}

/// An internal topic (created at startup, assigned like a topic, never deleted by retention:
/// Kafka compacts it instead).
fn internal_topic(
    scenario: &Scenario,
    name: &str,
    partitions: u32,
    replication_factor: u32,
) -> TopicSpec {
    let brokers = scenario.cluster.brokers;
    let topic = crate::scenario::Topic {
        name: name.to_owned(),
        partitions,
        replication_factor: replication_factor.min(brokers),
        replicas: None,
        config: Default::default(),
    };
    let mut log = topic.log_config(&scenario.cluster.config);
    log.retention_ms = -1;
    log.retention_bytes = -1;
    TopicSpec {
        name: name.to_owned(),
        assignment: topic.replica_assignment(brokers),
        log,
    }
}

/// The name of Kafka's transaction log topic.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// The name of Kafka's offsets topic.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

//! Kafka's configuration tables as scenarios spell them: `[cluster.config]` (broker),
//! `[topic.config]`, `[producer.config]`, `[consumer.config]` and `[pipeline.config]`. Keys are
//! Kafka's, verbatim (`"replica.lag.time.max.ms"`), and every default is Kafka's default (3.x, or
//! 4.0 where noted). Only the keys kafkasim models exist; any other key is an error, so a typo
//! never silently falls back to a default. Values are checked in `validate`, not here.

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::kinds::{Acks, AssignmentStrategy, AutoOffsetReset, IsolationLevel};

/// The broker configuration, `[cluster.config]`, shared by every broker.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// `replica.lag.time.max.ms`: how long a follower may stay behind before it leaves the ISR.
    #[serde(rename = "replica.lag.time.max.ms")]
    pub replica_lag_time_max_ms: u64,
    /// `min.insync.replicas`: the ISR size an `acks=all` produce needs.
    #[serde(rename = "min.insync.replicas")]
    pub min_insync_replicas: u32,
    /// `unclean.leader.election.enable`: whether an out-of-sync replica may become leader.
    #[serde(rename = "unclean.leader.election.enable")]
    pub unclean_leader_election_enable: bool,
    /// `default.replication.factor`: the replication factor of a topic that does not name one.
    #[serde(rename = "default.replication.factor")]
    pub default_replication_factor: u32,
    /// `num.partitions`: the partition count of a topic that does not name one.
    #[serde(rename = "num.partitions")]
    pub num_partitions: u32,
    /// `replica.fetch.wait.max.ms`: how long a follower's fetch may wait at the leader for data.
    #[serde(rename = "replica.fetch.wait.max.ms")]
    pub replica_fetch_wait_max_ms: u64,
    /// `replica.fetch.min.bytes`: how many bytes a follower's fetch waits for.
    #[serde(rename = "replica.fetch.min.bytes")]
    pub replica_fetch_min_bytes: u32,
    /// `replica.fetch.backoff.ms`: the pause after a failed follower fetch.
    #[serde(rename = "replica.fetch.backoff.ms")]
    pub replica_fetch_backoff_ms: u64,
    /// `replica.high.watermark.checkpoint.interval.ms`: how often the HW is written to disk.
    #[serde(rename = "replica.high.watermark.checkpoint.interval.ms")]
    pub replica_high_watermark_checkpoint_interval_ms: u64,
    /// `zookeeper.session.timeout.ms`: how long a silent broker keeps its ephemeral nodes.
    #[serde(rename = "zookeeper.session.timeout.ms")]
    pub zookeeper_session_timeout_ms: u64,
    /// `log.segment.bytes`: the size (simulated bytes) at which a segment rolls.
    #[serde(rename = "log.segment.bytes")]
    pub log_segment_bytes: u64,
    /// `log.roll.ms`: the age at which a segment rolls.
    #[serde(rename = "log.roll.ms")]
    pub log_roll_ms: u64,
    /// `log.index.interval.bytes`: bytes appended between two offset-index entries.
    #[serde(rename = "log.index.interval.bytes")]
    pub log_index_interval_bytes: u32,
    /// `log.retention.ms`: how long segments are kept; -1 keeps them forever.
    #[serde(rename = "log.retention.ms")]
    pub log_retention_ms: i64,
    /// `log.retention.bytes`: the size a partition is trimmed to; -1 means no limit.
    #[serde(rename = "log.retention.bytes")]
    pub log_retention_bytes: i64,
    /// `log.retention.check.interval.ms`: how often retention runs.
    #[serde(rename = "log.retention.check.interval.ms")]
    pub log_retention_check_interval_ms: u64,
    /// `log.flush.interval.messages`: messages between fsyncs; the default means never.
    #[serde(rename = "log.flush.interval.messages")]
    pub log_flush_interval_messages: u64,
    /// `inter.broker.protocol.version` (`"3.7"` and later, or earlier such as `"3.6"`): brokers
    /// at 3.7 or later hold the high watermark while the ISR is below `min.insync.replicas`.
    #[serde(rename = "inter.broker.protocol.version")]
    pub inter_broker_protocol_version: String,
    /// `offsets.topic.num.partitions`: the partition count of `__consumer_offsets`.
    #[serde(rename = "offsets.topic.num.partitions")]
    pub offsets_topic_num_partitions: u32,
    /// `offsets.topic.replication.factor`: the replication factor of `__consumer_offsets`.
    #[serde(rename = "offsets.topic.replication.factor")]
    pub offsets_topic_replication_factor: u32,
    /// `transaction.state.log.num.partitions`: the partition count of `__transaction_state`.
    #[serde(rename = "transaction.state.log.num.partitions")]
    pub transaction_state_log_num_partitions: u32,
    /// `transaction.state.log.replication.factor`: the replication factor of `__transaction_state`.
    #[serde(rename = "transaction.state.log.replication.factor")]
    pub transaction_state_log_replication_factor: u32,
    /// `transaction.state.log.min.isr`: `min.insync.replicas` of `__transaction_state`.
    #[serde(rename = "transaction.state.log.min.isr")]
    pub transaction_state_log_min_isr: u32,
    /// `group.initial.rebalance.delay.ms`: how long a new group waits for more members.
    #[serde(rename = "group.initial.rebalance.delay.ms")]
    pub group_initial_rebalance_delay_ms: u64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`: the timeout-abort period.
    #[serde(rename = "transaction.abort.timed.out.transaction.cleanup.interval.ms")]
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: u64,
}

impl BrokerConfig {
    /// `inter.broker.protocol.version` as (major, minor), if it reads as `X.Y` (an `-IVn`
    /// suffix is allowed, as Kafka writes `3.7-IV4`).
    pub fn protocol_version(&self) -> Option<(u32, u32)> {
        let version = self.inter_broker_protocol_version.split('-').next()?;
        let (major, minor) = version.split_once('.')?;
        let minor = minor.split('.').next()?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    }

    /// Kafka 3.7+: the HW does not advance while the ISR is below `min.insync.replicas`.
    pub fn hw_waits_for_min_isr(&self) -> bool {
        self.protocol_version().is_none_or(|v| v >= (3, 7))
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            replica_lag_time_max_ms: 30_000,
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
            default_replication_factor: 1,
            num_partitions: 1,
            replica_fetch_wait_max_ms: 500,
            replica_fetch_min_bytes: 1,
            replica_fetch_backoff_ms: 1_000,
            replica_high_watermark_checkpoint_interval_ms: 5_000,
            zookeeper_session_timeout_ms: 18_000,
            log_segment_bytes: 1_073_741_824,
            log_roll_ms: 604_800_000,
            log_index_interval_bytes: 4_096,
            log_retention_ms: 604_800_000,
            log_retention_bytes: -1,
            log_retention_check_interval_ms: 300_000,
            // Kafka's Long.MAX_VALUE: never fsync because of a message count.
            log_flush_interval_messages: i64::MAX as u64,
            inter_broker_protocol_version: "3.7".into(),
            offsets_topic_num_partitions: 50,
            offsets_topic_replication_factor: 3,
            transaction_state_log_num_partitions: 50,
            transaction_state_log_replication_factor: 3,
            transaction_state_log_min_isr: 2,
            group_initial_rebalance_delay_ms: 3_000,
            transaction_abort_timed_out_transaction_cleanup_interval_ms: 10_000,
        }
    }
}

/// Topic-level overrides, `[topic.config]`; an absent key takes the broker's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicConfig {
    /// `retention.ms`, overriding `log.retention.ms`.
    #[serde(rename = "retention.ms")]
    pub retention_ms: Option<i64>,
    /// `retention.bytes`, overriding `log.retention.bytes`.
    #[serde(rename = "retention.bytes")]
    pub retention_bytes: Option<i64>,
    /// `segment.bytes`, overriding `log.segment.bytes`.
    #[serde(rename = "segment.bytes")]
    pub segment_bytes: Option<u64>,
    /// `segment.ms`, overriding `log.roll.ms`.
    #[serde(rename = "segment.ms")]
    pub segment_ms: Option<u64>,
    /// `min.insync.replicas`, overriding the broker's `min.insync.replicas`.
    #[serde(rename = "min.insync.replicas")]
    pub min_insync_replicas: Option<u32>,
    /// `unclean.leader.election.enable`, overriding the broker's setting.
    #[serde(rename = "unclean.leader.election.enable")]
    pub unclean_leader_election_enable: Option<bool>,
    /// `index.interval.bytes`, overriding `log.index.interval.bytes`.
    #[serde(rename = "index.interval.bytes")]
    pub index_interval_bytes: Option<u32>,
}

/// The effective configuration of one topic's logs: topic overrides over broker defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// Effective `retention.ms`; -1 keeps segments forever.
    pub retention_ms: i64,
    /// Effective `retention.bytes`; -1 means no size limit.
    pub retention_bytes: i64,
    /// Effective `segment.bytes`.
    pub segment_bytes: u64,
    /// Effective `segment.ms`.
    pub segment_ms: u64,
    /// Effective `min.insync.replicas`.
    pub min_insync_replicas: u32,
    /// Effective `unclean.leader.election.enable`.
    pub unclean_leader_election_enable: bool,
    /// Effective `index.interval.bytes`.
    pub index_interval_bytes: u32,
}

impl TopicConfig {
    /// Combines these overrides with the broker's defaults, as Kafka's `LogConfig` does.
    pub fn resolve(&self, broker: &BrokerConfig) -> LogConfig {
        LogConfig {
            retention_ms: self.retention_ms.unwrap_or(broker.log_retention_ms),
            retention_bytes: self.retention_bytes.unwrap_or(broker.log_retention_bytes),
            segment_bytes: self.segment_bytes.unwrap_or(broker.log_segment_bytes),
            segment_ms: self.segment_ms.unwrap_or(broker.log_roll_ms),
            min_insync_replicas: self
                .min_insync_replicas
                .unwrap_or(broker.min_insync_replicas),
            unclean_leader_election_enable: self
                .unclean_leader_election_enable
                .unwrap_or(broker.unclean_leader_election_enable),
            index_interval_bytes: self
                .index_interval_bytes
                .unwrap_or(broker.log_index_interval_bytes),
        }
    }
}

/// The producer configuration, `[producer.config]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerConfig {
    /// `acks`: how many replicas must have a batch before the leader answers.
    pub acks: Acks,
    /// `enable.idempotence` as written; `None` means Kafka's default (on, unless a setting
    /// conflicts).
    #[serde(rename = "enable.idempotence")]
    pub enable_idempotence: Option<bool>,
    /// `retries`: how often a failed batch is retried before `delivery.timeout.ms` ends it.
    pub retries: u32,
    /// `max.in.flight.requests.per.connection`: unanswered produce requests per broker.
    #[serde(rename = "max.in.flight.requests.per.connection")]
    pub max_in_flight_requests_per_connection: u32,
    /// `linger.ms`: how long a batch waits for more records.
    #[serde(rename = "linger.ms")]
    pub linger_ms: u64,
    /// `batch.size`: the simulated bytes at which a batch is full.
    #[serde(rename = "batch.size")]
    pub batch_size: u32,
    /// `request.timeout.ms`: how long the producer waits for one produce response.
    #[serde(rename = "request.timeout.ms")]
    pub request_timeout_ms: u64,
    /// `delivery.timeout.ms`: the limit from `send()` to a final outcome, retries included.
    #[serde(rename = "delivery.timeout.ms")]
    pub delivery_timeout_ms: u64,
    /// `retry.backoff.ms`: the pause before a retry.
    #[serde(rename = "retry.backoff.ms")]
    pub retry_backoff_ms: u64,
    /// `transactional.id`: makes the producer transactional when set.
    #[serde(rename = "transactional.id")]
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`: how long the coordinator lets a transaction stay open.
    #[serde(rename = "transaction.timeout.ms")]
    pub transaction_timeout_ms: u64,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: Acks::All,
            enable_idempotence: None,
            retries: i32::MAX as u32,
            max_in_flight_requests_per_connection: 5,
            linger_ms: 5,
            batch_size: 16_384,
            request_timeout_ms: 30_000,
            delivery_timeout_ms: 120_000,
            retry_backoff_ms: 100,
            transactional_id: None,
            transaction_timeout_ms: 60_000,
        }
    }
}

/// The idempotent producer tolerates at most this many in-flight requests (Kafka's limit).
pub const MAX_IN_FLIGHT_FOR_IDEMPOTENCE: u32 = 5;

impl ProducerConfig {
    /// Whether the producer is idempotent, applying Kafka 3.2+'s rule for an unset key.
    ///
    /// When `enable.idempotence` is not written, a conflicting setting (`acks` ≠ all,
    /// `retries` = 0, more than 5 requests in flight) silently turns idempotence off.
    pub fn idempotence_enabled(&self) -> bool {
        self.enable_idempotence
            .unwrap_or_else(|| self.idempotence_conflict().is_none())
    }

    /// The first setting that is incompatible with idempotence, as `(key, value)`.
    pub fn idempotence_conflict(&self) -> Option<(&'static str, String)> {
        if self.acks != Acks::All {
            return Some(("acks", self.acks.to_string()));
        }
        if self.retries == 0 {
            return Some(("retries", "0".to_string()));
        }
        let in_flight = self.max_in_flight_requests_per_connection;
        if in_flight > MAX_IN_FLIGHT_FOR_IDEMPOTENCE {
            return Some((
                "max.in.flight.requests.per.connection",
                in_flight.to_string(),
            ));
        }
        None
    }

    /// Whether the producer uses transactions (`transactional.id` is set).
    pub fn is_transactional(&self) -> bool {
        self.transactional_id.is_some()
    }
}

/// The consumer configuration, `[consumer.config]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerConfig {
    /// `isolation.level`: whether records of open or aborted transactions are returned.
    #[serde(rename = "isolation.level")]
    pub isolation_level: IsolationLevel,
    /// `partition.assignment.strategy`: assignors in preference order.
    #[serde(
        rename = "partition.assignment.strategy",
        deserialize_with = "strategies"
    )]
    pub partition_assignment_strategy: Vec<AssignmentStrategy>,
    /// `auto.offset.reset`: where to start without a committed or with an out-of-range offset.
    #[serde(rename = "auto.offset.reset")]
    pub auto_offset_reset: AutoOffsetReset,
    /// `enable.auto.commit` as written; `None` means it follows the entry's `commit` policy.
    #[serde(rename = "enable.auto.commit")]
    pub enable_auto_commit: Option<bool>,
    /// `auto.commit.interval.ms`: the auto-commit period.
    #[serde(rename = "auto.commit.interval.ms")]
    pub auto_commit_interval_ms: u64,
    /// `session.timeout.ms`: how long the coordinator waits for heartbeats before evicting.
    #[serde(rename = "session.timeout.ms")]
    pub session_timeout_ms: u64,
    /// `heartbeat.interval.ms`: the heartbeat period.
    #[serde(rename = "heartbeat.interval.ms")]
    pub heartbeat_interval_ms: u64,
    /// `max.poll.interval.ms`: the longest gap between polls before the member leaves.
    #[serde(rename = "max.poll.interval.ms")]
    pub max_poll_interval_ms: u64,
    /// `max.poll.records`: the most records one poll returns.
    #[serde(rename = "max.poll.records")]
    pub max_poll_records: u32,
    /// `fetch.max.wait.ms`: how long a fetch may wait at the broker for data.
    #[serde(rename = "fetch.max.wait.ms")]
    pub fetch_max_wait_ms: u64,
    /// `fetch.min.bytes`: how many bytes a fetch waits for.
    #[serde(rename = "fetch.min.bytes")]
    pub fetch_min_bytes: u32,
    /// `request.timeout.ms`: how long the consumer waits for one response.
    #[serde(rename = "request.timeout.ms")]
    pub request_timeout_ms: u64,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            isolation_level: IsolationLevel::ReadUncommitted,
            partition_assignment_strategy: vec![
                AssignmentStrategy::Range,
                AssignmentStrategy::CooperativeSticky,
            ],
            auto_offset_reset: AutoOffsetReset::Latest,
            enable_auto_commit: None,
            auto_commit_interval_ms: 5_000,
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 3_000,
            max_poll_interval_ms: 300_000,
            max_poll_records: 500,
            fetch_max_wait_ms: 500,
            fetch_min_bytes: 1,
            request_timeout_ms: 30_000,
        }
    }
}

/// The pipeline configuration, `[pipeline.config]`: the consumer keys plus the transaction timeout.
///
/// It repeats [`ConsumerConfig`]'s fields because serde cannot flatten a struct that denies
/// unknown keys; [`PipelineConfig::consumer`] converts back.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// `isolation.level` as written; `None` means read_committed when exactly-once.
    #[serde(rename = "isolation.level")]
    pub isolation_level: Option<IsolationLevel>,
    /// `partition.assignment.strategy`: assignors in preference order.
    #[serde(
        rename = "partition.assignment.strategy",
        deserialize_with = "strategies"
    )]
    pub partition_assignment_strategy: Vec<AssignmentStrategy>,
    /// `auto.offset.reset`: where to start without a committed offset.
    #[serde(rename = "auto.offset.reset")]
    pub auto_offset_reset: AutoOffsetReset,
    /// `enable.auto.commit` as written; pipelines commit themselves, so only `false` is allowed.
    #[serde(rename = "enable.auto.commit")]
    pub enable_auto_commit: Option<bool>,
    /// `auto.commit.interval.ms` (unused: pipelines never auto-commit).
    #[serde(rename = "auto.commit.interval.ms")]
    pub auto_commit_interval_ms: u64,
    /// `session.timeout.ms`: how long the coordinator waits for heartbeats before evicting.
    #[serde(rename = "session.timeout.ms")]
    pub session_timeout_ms: u64,
    /// `heartbeat.interval.ms`: the heartbeat period.
    #[serde(rename = "heartbeat.interval.ms")]
    pub heartbeat_interval_ms: u64,
    /// `max.poll.interval.ms`: the longest gap between polls before the member leaves.
    #[serde(rename = "max.poll.interval.ms")]
    pub max_poll_interval_ms: u64,
    /// `max.poll.records`: the most records one poll returns.
    #[serde(rename = "max.poll.records")]
    pub max_poll_records: u32,
    /// `fetch.max.wait.ms`: how long a fetch may wait at the broker for data.
    #[serde(rename = "fetch.max.wait.ms")]
    pub fetch_max_wait_ms: u64,
    /// `fetch.min.bytes`: how many bytes a fetch waits for.
    #[serde(rename = "fetch.min.bytes")]
    pub fetch_min_bytes: u32,
    /// `request.timeout.ms`: how long the consumer and producer wait for one response.
    #[serde(rename = "request.timeout.ms")]
    pub request_timeout_ms: u64,
    /// `transaction.timeout.ms`: the transactional producer's timeout when exactly-once.
    #[serde(rename = "transaction.timeout.ms")]
    pub transaction_timeout_ms: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        let c = ConsumerConfig::default();
        PipelineConfig {
            isolation_level: None,
            partition_assignment_strategy: c.partition_assignment_strategy,
            auto_offset_reset: c.auto_offset_reset,
            enable_auto_commit: None,
            auto_commit_interval_ms: c.auto_commit_interval_ms,
            session_timeout_ms: c.session_timeout_ms,
            heartbeat_interval_ms: c.heartbeat_interval_ms,
            max_poll_interval_ms: c.max_poll_interval_ms,
            max_poll_records: c.max_poll_records,
            fetch_max_wait_ms: c.fetch_max_wait_ms,
            fetch_min_bytes: c.fetch_min_bytes,
            request_timeout_ms: c.request_timeout_ms,
            transaction_timeout_ms: ProducerConfig::default().transaction_timeout_ms,
        }
    }
}

impl PipelineConfig {
    /// The configuration of the pipeline's consumer; exactly-once pipelines read committed.
    pub fn consumer(&self, exactly_once: bool) -> ConsumerConfig {
        let default_isolation = if exactly_once {
            IsolationLevel::ReadCommitted
        } else {
            IsolationLevel::ReadUncommitted
        };
        ConsumerConfig {
            isolation_level: self.isolation_level.unwrap_or(default_isolation),
            partition_assignment_strategy: self.partition_assignment_strategy.clone(),
            auto_offset_reset: self.auto_offset_reset,
            enable_auto_commit: Some(false),
            auto_commit_interval_ms: self.auto_commit_interval_ms,
            session_timeout_ms: self.session_timeout_ms,
            heartbeat_interval_ms: self.heartbeat_interval_ms,
            max_poll_interval_ms: self.max_poll_interval_ms,
            max_poll_records: self.max_poll_records,
            fetch_max_wait_ms: self.fetch_max_wait_ms,
            fetch_min_bytes: self.fetch_min_bytes,
            request_timeout_ms: self.request_timeout_ms,
        }
    }
}

/// Reads `partition.assignment.strategy` as one name or a list of names, as Kafka accepts.
fn strategies<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<AssignmentStrategy>, D::Error> {
    struct OneOrMany;
    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<AssignmentStrategy>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an assignor name or a list of assignor names")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            match AssignmentStrategy::from_name(v) {
                Some(one) => Ok(vec![one]),
                None => Err(E::unknown_variant(v, AssignmentStrategy::NAMES)),
            }
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut all = Vec::new();
            while let Some(one) = seq.next_element::<AssignmentStrategy>()? {
                all.push(one);
            }
            Ok(all)
        }
    }
    d.deserialize_any(OneOrMany)
}

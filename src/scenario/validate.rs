//! Semantic checks of a resolved scenario: everything TOML's types cannot say. Times and sizes
//! that must be positive, ranges written `[max, min]`, probabilities outside [0, 1], replication
//! factors larger than the cluster, names that collide or refer to nothing, and Kafka's own
//! configuration constraints (`ProducerConfig`, `ConsumerConfig`, `KafkaConfig.validateValues`).
//! The first problem wins; it names its entry and the key path of the offending value.

use std::fmt::Display;

use super::config::{BrokerConfig, ConsumerConfig, ProducerConfig};
use super::error::{Issue, Seg, key_path};
use super::kinds::{CommitPolicy, IsolationLevel};
use super::messages::entry_label;
use super::schema::{Consumer, MAX_BROKERS, Pipeline, Producer, RangeMs, Scenario, Topic};
use super::{names, validate_faults};

/// The most instances one consumer or pipeline entry may run.
pub const MAX_INSTANCES: u32 = 1_024;

/// The longest run, `duration_ms` plus `settle_ms`: about 31 years, far inside the simulated
/// clock's 64 bits of microseconds (which would saturate near 584 000 years and never end).
pub const MAX_RUN_MS: u64 = 1_000_000_000_000;

/// Kafka's smallest `segment.bytes` (`LegacyRecord.RECORD_OVERHEAD_V0`).
pub const MIN_SEGMENT_BYTES: u64 = 14;

/// Where checks are: the entry's label for messages and the key path of its table.
pub(crate) struct Cx {
    label: String,
    base: Vec<Seg>,
}

impl Cx {
    /// Checks of the table at `base`, named `label` in messages ("" for the top level).
    pub fn new(label: impl Into<String>, base: Vec<Seg>) -> Cx {
        Cx {
            label: label.into(),
            base,
        }
    }

    /// A problem with the value at `rest` below this table.
    pub fn fail(&self, rest: Vec<Seg>, message: impl Display) -> Issue {
        let mut path = self.base.clone();
        path.extend(rest);
        let message = if self.label.is_empty() {
            message.to_string()
        } else {
            format!("{}: {message}", self.label)
        };
        Issue::at(path, message)
    }

    /// Requires `value` ≥ `min` for `key`.
    pub fn at_least<T: PartialOrd + Display>(
        &self,
        key: &str,
        value: T,
        min: T,
    ) -> Result<(), Issue> {
        if value >= min {
            return Ok(());
        }
        Err(self.fail(
            key_path![key],
            format!("`{key}` must be at least {min} (found {value})"),
        ))
    }

    /// Requires `range` to be written `[min, max]` with min ≤ max and min ≥ `floor`.
    pub fn range(&self, key: &str, range: RangeMs, floor: u64) -> Result<(), Issue> {
        let RangeMs { min_ms, max_ms } = range;
        if min_ms > max_ms {
            let msg = format!("`{key}` = [{min_ms}, {max_ms}] is inverted; write [min, max]");
            return Err(self.fail(key_path![key], msg));
        }
        if min_ms < floor {
            let msg = format!("`{key}` must start at {floor} or more (found [{min_ms}, {max_ms}])");
            return Err(self.fail(key_path![key, 0], msg));
        }
        Ok(())
    }

    /// Requires a fault time within the safety phase; its very end (`duration_ms`) counts: a
    /// fault there still applies before the heal.
    pub fn not_after_end(&self, key: &str, at_ms: u64, duration_ms: u64) -> Result<(), Issue> {
        if at_ms == duration_ms {
            return Ok(());
        }
        self.before_end(key, at_ms, duration_ms)
    }

    /// Requires a time that happens during the safety phase.
    pub fn before_end(&self, key: &str, at_ms: u64, duration_ms: u64) -> Result<(), Issue> {
        if at_ms < duration_ms {
            return Ok(());
        }
        let msg = format!(
            "`{key}` = {at_ms} is not before the end of the run (duration_ms = {duration_ms})"
        );
        Err(self.fail(key_path![key], msg))
    }
}

/// Checks a resolved scenario; the first problem found is returned.
pub(crate) fn validate(s: &Scenario) -> Result<(), Issue> {
    top_level(s)?;
    cluster(s)?;
    disk_and_network(s)?;
    names::check(s)?;
    for (i, topic) in s.topics.iter().enumerate() {
        check_topic(s, i, topic)?;
    }
    for (i, producer) in s.producers.iter().enumerate() {
        check_producer(s, i, producer)?;
    }
    for (i, consumer) in s.consumers.iter().enumerate() {
        check_consumer(s, i, consumer)?;
    }
    for (i, pipeline) in s.pipelines.iter().enumerate() {
        check_pipeline(s, i, pipeline)?;
    }
    internal_topics(s)?;
    validate_faults::check(s)
}

fn top_level(s: &Scenario) -> Result<(), Issue> {
    let cx = Cx::new("", Vec::new());
    if s.name.trim().is_empty() {
        return Err(cx.fail(key_path!["name"], "`name` must not be empty"));
    }
    cx.at_least("duration_ms", s.duration_ms, 1)?;
    let run_ms = s.duration_ms.saturating_add(s.settle_ms);
    if run_ms > MAX_RUN_MS {
        let key = if s.settle_ms > s.duration_ms {
            "settle_ms"
        } else {
            "duration_ms"
        };
        return Err(cx.fail(
            key_path![key],
            format!(
                "`duration_ms` + `settle_ms` = {run_ms} ms is longer than a run may be \
                 ({MAX_RUN_MS} ms, about 31 years)"
            ),
        ));
    }
    Ok(())
}

fn cluster(s: &Scenario) -> Result<(), Issue> {
    let brokers = s.cluster.brokers;
    if !(1..=MAX_BROKERS).contains(&brokers) {
        let msg = format!("`brokers` must be between 1 and {MAX_BROKERS} (found {brokers})");
        return Err(Cx::new("[cluster]", key_path!["cluster"]).fail(key_path!["brokers"], msg));
    }
    broker_config(&s.cluster.config)
}

fn broker_config(c: &BrokerConfig) -> Result<(), Issue> {
    let cx = Cx::new("[cluster.config]", key_path!["cluster", "config"]);
    for (key, value, min) in replication_minimums(c).into_iter().chain(log_minimums(c)) {
        cx.at_least(key, value, min)?;
    }
    if c.replica_fetch_wait_max_ms > c.replica_lag_time_max_ms {
        // KafkaConfig: a follower's long poll must not outlast the lag limit, or the ISR flaps.
        let msg = format!(
            "`replica.fetch.wait.max.ms` ({}) must not exceed `replica.lag.time.max.ms` ({})",
            c.replica_fetch_wait_max_ms, c.replica_lag_time_max_ms
        );
        return Err(cx.fail(key_path!["replica.fetch.wait.max.ms"], msg));
    }
    if c.protocol_version().is_none() {
        let msg = format!(
            "`inter.broker.protocol.version` = {:?} is not a version like \"3.7\" or \"3.6-IV2\"",
            c.inter_broker_protocol_version
        );
        return Err(cx.fail(key_path!["inter.broker.protocol.version"], msg));
    }
    Ok(())
}

/// Kafka's lower bounds of the replication and coordinator keys as (key, value, minimum); every
/// period kafkasim turns into a repeating timer must be at least 1 ms.
fn replication_minimums(c: &BrokerConfig) -> Vec<(&'static str, i128, i128)> {
    vec![
        (
            "replica.lag.time.max.ms",
            c.replica_lag_time_max_ms.into(),
            1,
        ),
        ("min.insync.replicas", c.min_insync_replicas.into(), 1),
        (
            "default.replication.factor",
            c.default_replication_factor.into(),
            1,
        ),
        ("num.partitions", c.num_partitions.into(), 1),
        (
            "replica.high.watermark.checkpoint.interval.ms",
            c.replica_high_watermark_checkpoint_interval_ms.into(),
            1,
        ),
        // Brokers ping every third of it: at least 1 ms.
        (
            "zookeeper.session.timeout.ms",
            c.zookeeper_session_timeout_ms.into(),
            3,
        ),
        (
            "offsets.topic.num.partitions",
            c.offsets_topic_num_partitions.into(),
            1,
        ),
        (
            "offsets.topic.replication.factor",
            c.offsets_topic_replication_factor.into(),
            1,
        ),
        (
            "transaction.state.log.num.partitions",
            c.transaction_state_log_num_partitions.into(),
            1,
        ),
        (
            "transaction.state.log.replication.factor",
            c.transaction_state_log_replication_factor.into(),
            1,
        ),
        (
            "transaction.state.log.min.isr",
            c.transaction_state_log_min_isr.into(),
            1,
        ),
        (
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            c.transaction_abort_timed_out_transaction_cleanup_interval_ms
                .into(),
            1,
        ),
    ]
}

/// Kafka's lower bounds of the log keys as (key, value, minimum); -1 means "no limit".
fn log_minimums(c: &BrokerConfig) -> Vec<(&'static str, i128, i128)> {
    vec![
        (
            "log.segment.bytes",
            c.log_segment_bytes.into(),
            MIN_SEGMENT_BYTES.into(),
        ),
        ("log.roll.ms", c.log_roll_ms.into(), 1),
        ("log.retention.ms", c.log_retention_ms.into(), -1),
        ("log.retention.bytes", c.log_retention_bytes.into(), -1),
        (
            "log.retention.check.interval.ms",
            c.log_retention_check_interval_ms.into(),
            1,
        ),
        (
            "log.flush.interval.messages",
            c.log_flush_interval_messages.into(),
            1,
        ),
    ]
}

fn disk_and_network(s: &Scenario) -> Result<(), Issue> {
    let disk = Cx::new("[disk]", key_path!["disk"]);
    disk.range("sync_latency_ms", s.disk.sync_latency_ms, 0)?;
    let net = Cx::new("[network]", key_path!["network"]);
    net.range("latency_ms", s.network.latency_ms, 0)?;
    net.range("tail_latency_ms", s.network.tail_latency_ms, 0)?;
    for (key, p) in [
        ("loss", s.network.loss),
        ("tail_probability", s.network.tail_probability),
    ] {
        if !(0.0..=1.0).contains(&p) {
            return Err(net.fail(
                key_path![key],
                format!("`{key}` is a probability between 0.0 and 1.0 (found {p})"),
            ));
        }
    }
    Ok(())
}

fn check_topic(s: &Scenario, i: usize, t: &Topic) -> Result<(), Issue> {
    let cx = Cx::new(
        entry_label("topic", i, Some(&t.name)),
        key_path!["topic", i],
    );
    cx.at_least("partitions", t.partitions, 1)?;
    let brokers = s.cluster.brokers;
    let rf = t.replication_factor;
    cx.at_least("replication_factor", rf, 1)?;
    if rf > brokers {
        let msg =
            format!("`replication_factor` = {rf} but the cluster has only {brokers} broker(s)");
        return Err(cx.fail(key_path!["replication_factor"], msg));
    }
    if let Some(replicas) = &t.replicas {
        check_replicas(&cx, t, replicas, brokers)?;
    }
    let tc = Cx::new(
        format!("[topic.config] of {}", cx.label),
        key_path!["topic", i, "config"],
    );
    let c = &t.config;
    if let Some(v) = c.retention_ms {
        tc.at_least("retention.ms", v, -1)?;
    }
    if let Some(v) = c.retention_bytes {
        tc.at_least("retention.bytes", v, -1)?;
    }
    if let Some(v) = c.segment_bytes {
        tc.at_least("segment.bytes", v, MIN_SEGMENT_BYTES)?;
    }
    if let Some(v) = c.segment_ms {
        tc.at_least("segment.ms", v, 1)?;
    }
    if let Some(v) = c.min_insync_replicas {
        tc.at_least("min.insync.replicas", v, 1)?;
    }
    Ok(())
}

fn check_replicas(cx: &Cx, t: &Topic, replicas: &[Vec<u32>], brokers: u32) -> Result<(), Issue> {
    if replicas.len() != t.partitions as usize {
        let msg = format!(
            "`replicas` lists {} partition(s) but the topic has {}",
            replicas.len(),
            t.partitions
        );
        return Err(cx.fail(key_path!["replicas"], msg));
    }
    for (p, list) in replicas.iter().enumerate() {
        if list.len() != t.replication_factor as usize {
            let msg = format!(
                "`replicas` of partition {p} has {} broker(s) but the replication factor is {}",
                list.len(),
                t.replication_factor
            );
            return Err(cx.fail(key_path!["replicas", p], msg));
        }
        for (j, &id) in list.iter().enumerate() {
            if id >= brokers {
                let msg = format!(
                    "`replicas` of partition {p} names broker {id}, but brokers are 0..={}",
                    brokers - 1
                );
                return Err(cx.fail(key_path!["replicas", p, j], msg));
            }
            if list[..j].contains(&id) {
                let msg = format!("`replicas` of partition {p} names broker {id} twice");
                return Err(cx.fail(key_path!["replicas", p, j], msg));
            }
        }
    }
    Ok(())
}

fn known_topic<'a>(s: &'a Scenario, cx: &Cx, at: Vec<Seg>, name: &str) -> Result<&'a Topic, Issue> {
    if let Some(topic) = s.topic(name) {
        return Ok(topic);
    }
    let known: Vec<&str> = s.topics.iter().map(|t| t.name.as_str()).collect();
    let hint = match super::error::suggest(name, &known) {
        Some(close) => format!("; did you mean \"{close}\"?"),
        None if known.is_empty() => "; the scenario has no [[topic]] entries".to_string(),
        None => format!("; known topics: {}", known.join(", ")),
    };
    Err(cx.fail(at, format!("unknown topic \"{name}\"{hint}")))
}

fn check_producer(s: &Scenario, i: usize, p: &Producer) -> Result<(), Issue> {
    let cx = Cx::new(
        entry_label("producer", i, Some(&p.name)),
        key_path!["producer", i],
    );
    let topic = known_topic(s, &cx, key_path!["topic"], &p.topic)?;
    if let Some(partition) = p.partition
        && partition >= topic.partitions
    {
        let msg = format!(
            "`partition` = {partition} but \"{}\" has {} partition(s)",
            topic.name, topic.partitions
        );
        return Err(cx.fail(key_path!["partition"], msg));
    }
    cx.at_least("rate_per_sec", p.rate_per_sec, 1)?;
    cx.at_least("record_bytes", p.record_bytes, 1)?;
    cx.at_least("records_per_transaction", p.records_per_transaction, 1)?;
    cx.before_end("start_ms", p.start_ms, s.duration_ms)?;
    let transactional = p.config.is_transactional();
    for (key, used) in [
        ("records_per_transaction", p.records_per_transaction > 1),
        ("abort_every", p.abort_every > 0),
    ] {
        if used && !transactional {
            let msg = format!(
                "`{key}` needs a transactional producer; \
                 set `transactional.id` in [producer.config]"
            );
            return Err(cx.fail(key_path![key], msg));
        }
    }
    let config_cx = Cx::new(
        format!("[producer.config] of {}", cx.label),
        key_path!["producer", i, "config"],
    );
    producer_config(&config_cx, &p.config)
}

/// Kafka's `ProducerConfig.postProcessAndValidateIdempotenceConfigs` and delivery-timeout check.
fn producer_config(cx: &Cx, c: &ProducerConfig) -> Result<(), Issue> {
    cx.at_least(
        "max.in.flight.requests.per.connection",
        c.max_in_flight_requests_per_connection,
        1,
    )?;
    cx.at_least("transaction.timeout.ms", c.transaction_timeout_ms, 1)?;
    if let (Some(true), Some((key, value))) = (c.enable_idempotence, c.idempotence_conflict()) {
        let need = match key {
            "acks" => "acks=all",
            "retries" => "retries > 0",
            _ => "at most 5 requests in flight",
        };
        let msg = format!(
            "`enable.idempotence` = true conflicts with `{key}` = {value}; idempotence needs {need}"
        );
        return Err(cx.fail(key_path![key], msg));
    }
    if let Some(id) = &c.transactional_id {
        if id.is_empty() {
            return Err(cx.fail(
                key_path!["transactional.id"],
                "`transactional.id` must not be empty",
            ));
        }
        if !c.idempotence_enabled() {
            let why = match (c.enable_idempotence, c.idempotence_conflict()) {
                (Some(false), _) => "`enable.idempotence` = false".to_string(),
                (_, Some((key, value))) => format!("`{key}` = {value}, which disables idempotence"),
                _ => "idempotence is off".to_string(),
            };
            let msg = format!("`transactional.id` requires idempotence, but {why}");
            return Err(cx.fail(key_path!["transactional.id"], msg));
        }
    }
    let floor = c.linger_ms.saturating_add(c.request_timeout_ms);
    if c.delivery_timeout_ms < floor {
        let msg = format!(
            "`delivery.timeout.ms` ({}) must be at least \
             `linger.ms` + `request.timeout.ms` ({floor})",
            c.delivery_timeout_ms
        );
        return Err(cx.fail(key_path!["delivery.timeout.ms"], msg));
    }
    Ok(())
}

fn check_consumer(s: &Scenario, i: usize, c: &Consumer) -> Result<(), Issue> {
    let cx = Cx::new(
        entry_label("consumer", i, Some(&c.name)),
        key_path!["consumer", i],
    );
    if c.group.is_empty() {
        return Err(cx.fail(key_path!["group"], "`group` must not be empty"));
    }
    if c.topics.is_empty() {
        return Err(cx.fail(key_path!["topics"], "`topics` must name at least one topic"));
    }
    for (j, topic) in c.topics.iter().enumerate() {
        known_topic(s, &cx, key_path!["topics", j], topic)?;
        if c.topics[..j].contains(topic) {
            return Err(cx.fail(
                key_path!["topics", j],
                format!("`topics` lists \"{topic}\" twice"),
            ));
        }
    }
    instances(&cx, c.instances)?;
    cx.range("processing_ms", c.processing_ms, 0)?;
    cx.before_end("start_ms", c.start_ms, s.duration_ms)?;
    let config_cx = Cx::new(
        format!("[consumer.config] of {}", cx.label),
        key_path!["consumer", i, "config"],
    );
    if let Some(auto) = c.config.enable_auto_commit
        && auto != (c.commit == CommitPolicy::Auto)
    {
        let msg = format!(
            "`enable.auto.commit` = {auto} contradicts `commit` = \"{}\"; \
             remove it, `commit` decides",
            c.commit
        );
        return Err(config_cx.fail(key_path!["enable.auto.commit"], msg));
    }
    consumer_config(&config_cx, &c.config)
}

fn instances(cx: &Cx, n: u32) -> Result<(), Issue> {
    if (1..=MAX_INSTANCES).contains(&n) {
        return Ok(());
    }
    let msg = format!("`instances` must be between 1 and {MAX_INSTANCES} (found {n})");
    Err(cx.fail(key_path!["instances"], msg))
}

/// Kafka's consumer constraints (`ConsumerConfig`, `GroupRebalanceConfig`).
fn consumer_config(cx: &Cx, c: &ConsumerConfig) -> Result<(), Issue> {
    if c.partition_assignment_strategy.is_empty() {
        let msg = "`partition.assignment.strategy` must name at least one assignor";
        return Err(cx.fail(key_path!["partition.assignment.strategy"], msg));
    }
    cx.at_least("session.timeout.ms", c.session_timeout_ms, 1)?;
    cx.at_least("heartbeat.interval.ms", c.heartbeat_interval_ms, 1)?;
    cx.at_least("auto.commit.interval.ms", c.auto_commit_interval_ms, 1)?;
    cx.at_least("max.poll.interval.ms", c.max_poll_interval_ms, 1)?;
    cx.at_least("max.poll.records", c.max_poll_records, 1)?;
    if c.heartbeat_interval_ms >= c.session_timeout_ms {
        let msg = format!(
            "`heartbeat.interval.ms` ({}) must be lower than `session.timeout.ms` ({})",
            c.heartbeat_interval_ms, c.session_timeout_ms
        );
        return Err(cx.fail(key_path!["heartbeat.interval.ms"], msg));
    }
    Ok(())
}

fn check_pipeline(s: &Scenario, i: usize, p: &Pipeline) -> Result<(), Issue> {
    let cx = Cx::new(
        entry_label("pipeline", i, Some(&p.name)),
        key_path!["pipeline", i],
    );
    if p.group.is_empty() {
        return Err(cx.fail(key_path!["group"], "`group` must not be empty"));
    }
    known_topic(s, &cx, key_path!["input"], &p.input)?;
    known_topic(s, &cx, key_path!["output"], &p.output)?;
    if p.input == p.output {
        let msg = format!("`output` must differ from `input` (both \"{}\")", p.input);
        return Err(cx.fail(key_path!["output"], msg));
    }
    instances(&cx, p.instances)?;
    cx.range("processing_ms", p.processing_ms, 0)?;
    let config_cx = Cx::new(
        format!("[pipeline.config] of {}", cx.label),
        key_path!["pipeline", i, "config"],
    );
    if p.config.enable_auto_commit == Some(true) {
        let msg =
            "`enable.auto.commit` = true is not allowed: pipelines commit input offsets themselves";
        return Err(config_cx.fail(key_path!["enable.auto.commit"], msg));
    }
    if p.exactly_once && p.config.isolation_level == Some(IsolationLevel::ReadUncommitted) {
        let msg = "`isolation.level` = \"read_uncommitted\" contradicts `exactly_once` = true";
        return Err(config_cx.fail(key_path!["isolation.level"], msg));
    }
    config_cx.at_least("transaction.timeout.ms", p.config.transaction_timeout_ms, 1)?;
    consumer_config(&config_cx, &p.consumer_config())
}

/// `__consumer_offsets` and `__transaction_state` must fit the cluster when they are used.
fn internal_topics(s: &Scenario) -> Result<(), Issue> {
    let c = &s.cluster.config;
    let cx = Cx::new("[cluster.config]", key_path!["cluster", "config"]);
    let brokers = s.cluster.brokers;
    let too_many = |key: &str, rf: u32, who: &str| {
        let msg = format!(
            "`{key}` = {rf} but the cluster has only {brokers} broker(s), so {who} would never \
             find a coordinator; set \"{key}\" = {brokers}"
        );
        cx.fail(key_path![key], msg)
    };
    if s.uses_consumer_groups() && c.offsets_topic_replication_factor > brokers {
        let key = "offsets.topic.replication.factor";
        return Err(too_many(
            key,
            c.offsets_topic_replication_factor,
            "consumer groups",
        ));
    }
    if s.uses_transactions() {
        let rf = c.transaction_state_log_replication_factor;
        if rf > brokers {
            return Err(too_many(
                "transaction.state.log.replication.factor",
                rf,
                "transactional producers",
            ));
        }
        if c.transaction_state_log_min_isr > rf {
            let msg = format!(
                "`transaction.state.log.min.isr` = {} exceeds \
                 `transaction.state.log.replication.factor` = {rf}, \
                 so no transaction could ever complete",
                c.transaction_state_log_min_isr
            );
            return Err(cx.fail(key_path!["transaction.state.log.min.isr"], msg));
        }
    }
    Ok(())
}

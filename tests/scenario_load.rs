//! Valid scenarios load with Kafka's defaults, `--set` overrides land where DESIGN §7 says, node
//! names come in the documented order, every shipped scenario loads, and no input — however
//! mangled — makes the loader panic.

use std::path::Path;

use kafkasim::scenario::{
    self, Acks, AnomalyKind, AssignmentStrategy, AutoOffsetReset, CommitPolicy, Condition,
    FaultKind, FaultTrigger, IsolationLevel, Partitioner, RangeMs, ReplicationProtocol, Scenario,
    TransactionsProtocol,
};
use proptest::prelude::*;

const MINIMAL: &str = r#"
name = "minimal"
duration_ms = 10_000

[cluster]
brokers = 3

[[topic]]
name = "orders"

[[producer]]
name = "p1"
topic = "orders"
records = 10
rate_per_sec = 10

[[consumer]]
name = "c"
group = "g"
topics = ["orders"]

[[pipeline]]
name = "etl"
input = "orders"
output = "orders-out"

[[topic]]
name = "orders-out"

[nemesis]
actions = ["kill"]
"#;

fn load(text: &str, sets: &[&str]) -> Scenario {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    match scenario::parse_str(text, "test.toml", &sets) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn top_level_and_simulation_defaults() {
    let s = load(MINIMAL, &[]);
    assert_eq!(s.description, "");
    assert_eq!(s.seed, 0);
    assert_eq!(s.settle_ms, 30_000);
    assert_eq!(s.cluster.replication_protocol, ReplicationProtocol::Kip279);
    assert_eq!(
        s.cluster.transactions_protocol,
        TransactionsProtocol::Classic
    );
    assert_eq!(s.disk.sync_latency_ms, RangeMs::new(1, 10));
    assert!(!s.disk.torn_tail);
    assert_eq!(s.network.latency_ms, RangeMs::new(1, 5));
    assert_eq!((s.network.loss, s.network.tail_probability), (0.0, 0.0));
    assert_eq!(s.network.tail_latency_ms, RangeMs::new(50, 500));
    let n = s.nemesis.as_ref().expect("nemesis");
    assert_eq!(
        (n.interval_ms, n.fault_ms),
        (RangeMs::new(2_000, 10_000), RangeMs::new(1_000, 10_000))
    );
    assert_eq!(
        (n.targets.clone(), n.max_faulty_brokers, n.start_ms),
        (vec!["broker-*".to_string()], 1, 0)
    );
    assert!(s.expect.anomalies.is_empty());
    assert!(s.faults.is_empty());
}

/// Asserts a table of (key, value, Kafka's default).
fn assert_table(table: &[(&str, i128, i128)]) {
    for (key, got, want) in table {
        assert_eq!(got, want, "{key}");
    }
}

#[test]
fn broker_replication_defaults_are_kafkas() {
    let c = load(MINIMAL, &[]).cluster.config;
    let unclean = i128::from(c.unclean_leader_election_enable);
    assert_table(&[
        (
            "replica.lag.time.max.ms",
            c.replica_lag_time_max_ms.into(),
            30_000,
        ),
        ("min.insync.replicas", c.min_insync_replicas.into(), 1),
        ("unclean.leader.election.enable", unclean, 0),
        (
            "default.replication.factor",
            c.default_replication_factor.into(),
            1,
        ),
        ("num.partitions", c.num_partitions.into(), 1),
        (
            "replica.fetch.wait.max.ms",
            c.replica_fetch_wait_max_ms.into(),
            500,
        ),
        (
            "replica.fetch.min.bytes",
            c.replica_fetch_min_bytes.into(),
            1,
        ),
        (
            "replica.fetch.backoff.ms",
            c.replica_fetch_backoff_ms.into(),
            1_000,
        ),
        (
            "replica.high.watermark.checkpoint.interval.ms",
            c.replica_high_watermark_checkpoint_interval_ms.into(),
            5_000,
        ),
        (
            "zookeeper.session.timeout.ms",
            c.zookeeper_session_timeout_ms.into(),
            18_000,
        ),
    ]);
}

#[test]
fn broker_log_and_coordinator_defaults_are_kafkas() {
    let c = load(MINIMAL, &[]).cluster.config;
    assert_table(&[
        (
            "log.segment.bytes",
            c.log_segment_bytes.into(),
            1_073_741_824,
        ),
        ("log.roll.ms", c.log_roll_ms.into(), 604_800_000),
        (
            "log.index.interval.bytes",
            c.log_index_interval_bytes.into(),
            4_096,
        ),
        ("log.retention.ms", c.log_retention_ms.into(), 604_800_000),
        ("log.retention.bytes", c.log_retention_bytes.into(), -1),
        (
            "log.retention.check.interval.ms",
            c.log_retention_check_interval_ms.into(),
            300_000,
        ),
        (
            "log.flush.interval.messages",
            c.log_flush_interval_messages.into(),
            i64::MAX.into(),
        ),
        (
            "offsets.topic.num.partitions",
            c.offsets_topic_num_partitions.into(),
            50,
        ),
        (
            "offsets.topic.replication.factor",
            c.offsets_topic_replication_factor.into(),
            3,
        ),
        (
            "transaction.state.log.num.partitions",
            c.transaction_state_log_num_partitions.into(),
            50,
        ),
        (
            "transaction.state.log.replication.factor",
            c.transaction_state_log_replication_factor.into(),
            3,
        ),
        (
            "transaction.state.log.min.isr",
            c.transaction_state_log_min_isr.into(),
            2,
        ),
        (
            "group.initial.rebalance.delay.ms",
            c.group_initial_rebalance_delay_ms.into(),
            3_000,
        ),
        (
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            c.transaction_abort_timed_out_transaction_cleanup_interval_ms
                .into(),
            10_000,
        ),
    ]);
}

#[test]
fn producer_defaults_are_kafkas() {
    let s = load(MINIMAL, &[]);
    let p = &s.producers[0];
    assert_eq!(
        (p.keys, p.partition, p.partitioner),
        (0, None, Partitioner::Sticky)
    );
    assert_eq!(
        (
            p.record_bytes,
            p.start_ms,
            p.records_per_transaction,
            p.abort_every
        ),
        (100, 0, 1, 0)
    );
    let c = &p.config;
    assert_eq!(c.acks, Acks::All);
    assert_eq!(c.enable_idempotence, None);
    assert!(c.idempotence_enabled());
    assert_eq!(c.retries, i32::MAX as u32);
    assert_eq!(c.max_in_flight_requests_per_connection, 5);
    assert_eq!((c.linger_ms, c.batch_size), (5, 16_384));
    assert_eq!(
        (
            c.request_timeout_ms,
            c.delivery_timeout_ms,
            c.retry_backoff_ms
        ),
        (30_000, 120_000, 100)
    );
    assert_eq!(
        (c.transactional_id.clone(), c.transaction_timeout_ms),
        (None, 60_000)
    );
}

#[test]
fn consumer_and_pipeline_defaults_are_kafkas() {
    let s = load(MINIMAL, &[]);
    let c = &s.consumers[0];
    assert_eq!(
        (c.instances, c.commit, c.processing_ms),
        (1, CommitPolicy::Auto, RangeMs::new(0, 0))
    );
    assert!(!c.static_membership && c.auto_commit());
    let k = &c.config;
    assert_eq!(k.isolation_level, IsolationLevel::ReadUncommitted);
    let strategies = vec![
        AssignmentStrategy::Range,
        AssignmentStrategy::CooperativeSticky,
    ];
    assert_eq!(k.partition_assignment_strategy, strategies);
    assert_eq!(
        (k.auto_offset_reset, k.enable_auto_commit),
        (AutoOffsetReset::Latest, None)
    );
    assert_eq!(
        (
            k.auto_commit_interval_ms,
            k.session_timeout_ms,
            k.heartbeat_interval_ms
        ),
        (5_000, 45_000, 3_000)
    );
    assert_eq!((k.max_poll_interval_ms, k.max_poll_records), (300_000, 500));
    assert_eq!(
        (k.fetch_max_wait_ms, k.fetch_min_bytes, k.request_timeout_ms),
        (500, 1, 30_000)
    );
    let p = &s.pipelines[0];
    assert_eq!(
        (
            p.group.as_str(),
            p.instances,
            p.exactly_once,
            p.seek_on_abort
        ),
        ("etl", 1, false, true)
    );
    assert_eq!(p.config.transaction_timeout_ms, 60_000);
    assert_eq!(
        p.consumer_config().isolation_level,
        IsolationLevel::ReadUncommitted
    );
    let eos = load(
        MINIMAL,
        &[
            "pipeline.etl.exactly_once=true",
            "cluster.config.transaction.state.log.min.isr=2",
        ],
    );
    assert_eq!(
        eos.pipelines[0].consumer_config().isolation_level,
        IsolationLevel::ReadCommitted
    );
    assert!(eos.uses_transactions());
}

#[test]
fn topics_default_to_broker_settings_or_explicit_replicas() {
    let s = load(
        MINIMAL,
        &[
            "cluster.config.num.partitions=4",
            "cluster.config.default.replication.factor=2",
        ],
    );
    assert_eq!(
        (s.topics[0].partitions, s.topics[0].replication_factor),
        (4, 2)
    );
    let s = load(MINIMAL, &["topic.orders.replicas=[[0, 1], [1, 2], [2, 0]]"]);
    let t = &s.topics[0];
    assert_eq!((t.partitions, t.replication_factor), (3, 2));
    assert_eq!(
        t.replica_assignment(3),
        vec![vec![0, 1], vec![1, 2], vec![2, 0]]
    );
    let s = load(
        MINIMAL,
        &[
            "topic.orders.config.retention.ms=1000",
            "cluster.config.min.insync.replicas=2",
        ],
    );
    let log = s.topics[0].log_config(&s.cluster.config);
    assert_eq!(
        (log.retention_ms, log.min_insync_replicas, log.segment_bytes),
        (1_000, 2, 1_073_741_824)
    );
}

#[test]
fn design_section_7_overrides() {
    let s = load(
        MINIMAL,
        &[
            "cluster.replication.protocol=kip-101",
            "cluster.config.min.insync.replicas=2",
            "producer.p1.config.acks=1",
            "producer.p1.records=100",
            "network.loss=0.01",
            "duration_ms=5000",
        ],
    );
    assert_eq!(s.cluster.replication_protocol, ReplicationProtocol::Kip101);
    assert_eq!(s.cluster.config.min_insync_replicas, 2);
    assert_eq!(s.producers[0].config.acks, Acks::Leader);
    assert_eq!(s.producers[0].records, 100);
    assert_eq!(s.network.loss_ppm(), 10_000);
    assert_eq!(s.duration_ms, 5_000);
}

#[test]
fn more_overrides_lists_strings_and_created_sections() {
    let s = load(
        MINIMAL,
        &[
            "nemesis.actions=[\"kill\", \"pause\"]",
            "consumer.c.config.partition.assignment.strategy=roundrobin",
            "consumer.c.instances=2",
            "disk.torn_tail=true",
            "expect.anomalies=[\"lost-write\"]",
            "seed=42",
            "name=renamed",
            "description=a b c",
        ],
    );
    let actions = &s.nemesis.as_ref().expect("nemesis").actions;
    assert_eq!(actions, &vec![FaultKind::Kill, FaultKind::Pause]);
    assert_eq!(
        s.consumers[0].config.partition_assignment_strategy,
        vec![AssignmentStrategy::RoundRobin]
    );
    assert_eq!(s.consumers[0].instances, 2);
    assert!(s.disk.torn_tail);
    assert_eq!(s.expect.anomalies, vec![AnomalyKind::LostWrite]);
    assert_eq!(
        (s.seed, s.name.as_str(), s.description.as_str()),
        (42, "renamed", "a b c")
    );
}

#[test]
fn fault_overrides_address_faults_by_index() {
    let text =
        format!("{MINIMAL}\n[[fault]]\nat_ms = 1_000\naction = \"kill\"\nnode = \"broker-1\"\n");
    let s = load(&text, &["fault.0.at_ms=2000", "fault.0.node=broker-2"]);
    assert_eq!(s.faults[0].trigger, FaultTrigger::AtMs(2_000));
    assert_eq!(s.faults[0].node.as_deref(), Some("broker-2"));
}

#[test]
fn node_names_in_documented_order() {
    let s = load(
        MINIMAL,
        &["consumer.c.instances=2", "pipeline.etl.instances=2"],
    );
    let names = s.node_names();
    let want = [
        "zk", "broker-0", "broker-1", "broker-2", "p1", "c-0", "c-1", "etl-0", "etl-1",
    ];
    assert_eq!(names, want);
    let one = load(MINIMAL, &[]);
    assert_eq!(one.node_names()[4..], ["p1", "c-0", "etl-0"]);
}

#[test]
fn idempotence_is_silently_disabled_only_when_not_explicit() {
    let cases: &[(&[&str], bool)] = &[
        (&[], true),
        (&["producer.p1.config.acks=1"], false),
        (&["producer.p1.config.acks=0"], false),
        (&["producer.p1.config.retries=0"], false),
        (
            &["producer.p1.config.max.in.flight.requests.per.connection=6"],
            false,
        ),
        (&["producer.p1.config.enable.idempotence=false"], false),
        (&["producer.p1.config.enable.idempotence=true"], true),
        (
            &[
                "producer.p1.config.enable.idempotence=true",
                "producer.p1.config.acks=-1",
            ],
            true,
        ),
    ];
    for (sets, want) in cases {
        let s = load(MINIMAL, sets);
        assert_eq!(
            s.producers[0].config.idempotence_enabled(),
            *want,
            "{sets:?}"
        );
    }
    let err = scenario::parse_str(
        MINIMAL,
        "test.toml",
        &[
            "producer.p1.config.enable.idempotence=true".into(),
            "producer.p1.config.retries=0".into(),
        ],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("conflicts with `retries` = 0"),
        "{err}"
    );
}

#[test]
fn acks_accepts_kafkas_spellings() {
    let forms: &[(&str, Acks)] = &[
        ("\"all\"", Acks::All),
        ("\"-1\"", Acks::All),
        ("-1", Acks::All),
        ("0", Acks::None),
        ("\"0\"", Acks::None),
        ("1", Acks::Leader),
        ("\"1\"", Acks::Leader),
        ("all", Acks::All),
    ];
    for (value, want) in forms {
        let s = load(MINIMAL, &[&format!("producer.p1.config.acks={value}")]);
        assert_eq!(s.producers[0].config.acks, *want, "acks={value}");
    }
}

#[test]
fn when_conditions_become_an_enum() {
    let text = format!(
        "{MINIMAL}
[[fault]]
when = {{ hw = 2, node = \"broker-0\", topic = \"orders\" }}
action = \"kill\"
node = \"broker-1\"
[[fault]]
when = {{ acked = 10 }}
action = \"heal\"
[[fault]]
when = {{ leader_change = true, topic = \"orders\", partition = 0 }}
action = \"pause\"
node = \"c-0\"
"
    );
    let s = load(&text, &[]);
    let hw = Condition::HighWatermark {
        topic: "orders".into(),
        partition: 0,
        node: Some("broker-0".into()),
        offset: 2,
    };
    assert_eq!(s.faults[0].trigger, FaultTrigger::When(hw));
    assert_eq!(
        s.faults[1].trigger,
        FaultTrigger::When(Condition::Acked { records: 10 })
    );
    let change = Condition::LeaderChange {
        topic: "orders".into(),
        partition: 0,
    };
    assert_eq!(s.faults[2].trigger, FaultTrigger::When(change));
}

#[test]
fn every_shipped_scenario_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut loaded = 0;
    for entry in std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = scenario::load(&path, &[]) {
                panic!("{e}");
            }
            loaded += 1;
        }
    }
    assert!(loaded >= 2, "only {loaded} scenarios");
    let r1 = scenario::load(&dir.join("r1-hw-truncation-loss.toml"), &[]).expect("r1 loads");
    assert_eq!(
        r1.cluster.replication_protocol,
        ReplicationProtocol::HwTruncation
    );
    let expected = vec![AnomalyKind::CommittedReadLost, AnomalyKind::LostWrite];
    assert_eq!(r1.expect.anomalies, expected);
    assert_eq!(r1.seed, 7);
}

/// Text inserted or substituted by a mutation.
const EDIT: &str = "[ -~\\n]{0,4}";

/// A random `--set` flag aimed at real sections of [`RICH`].
const SET_FLAG: &str = "(cluster|producer\\.tp|topic\\.orders|fault\\.[0-4]|network|nemesis\
                        |pipeline\\.etl)\\.[a-z_.]{1,12}=[ -~]{0,8}";

/// A scenario using most of the schema, for the mutation property below.
const RICH: &str = include_str!("data/eos-pipeline-kip890.toml");

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}", flag in "\\PC{0,40}") {
        let _ = scenario::parse_str(&text, "fuzz.toml", &[]);
        let _ = scenario::parse_str(MINIMAL, "fuzz.toml", &[flag]);
    }

    #[test]
    fn mutated_scenarios_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, EDIT), 1..6),
        set in SET_FLAG,
    ) {
        let mut text: Vec<char> = RICH.chars().collect();
        for (at, kind, insert) in edits {
            let i = at.index(text.len() + 1);
            match kind {
                0 => { text.splice(i..i, insert.chars()); }
                1 => { let end = (i + insert.len() + 1).min(text.len()); text.drain(i..end); }
                _ => { let end = (i + 1).min(text.len()); text.splice(i..end, insert.chars()); }
            }
        }
        let text: String = text.into_iter().collect();
        if let Err(e) = scenario::parse_str(&text, "fuzz.toml", std::slice::from_ref(&set)) {
            prop_assert!(!e.to_string().is_empty());
        }
        let _ = scenario::parse_str(&text, "fuzz.toml", &[]);
    }
}

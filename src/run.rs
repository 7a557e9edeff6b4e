//! One run of a scenario: build the world (metadata service, brokers, clients) from the
//! scenario, then the phases of DESIGN §3 — safety (`duration_ms`: workload and faults), heal
//! (the network heals, crashed and paused nodes come back), settle (`settle_ms`), final reads of
//! every replica, checkers — and the summary.

mod deliveries;
mod recorder;

use std::collections::BTreeMap;

pub use recorder::Recorder;

use crate::broker::BrokerSpec;
use crate::check::{self, Anomaly, FinalPartition, History, ReplicaView};
use crate::cli::{AnomalyRecord, RunSummary, Stats};
use crate::client::consumer::ConsumerSpec;
use crate::client::pipeline::{PRODUCER_SLOTS, PipelineSpec};
use crate::client::producer::{self, ProducerSpec};
use crate::client::reader::ReaderSpec;
use crate::disk::DiskModel;
use crate::faults::{self, FaultAction};
use crate::net::NetworkModel;
use crate::node::{Node, NodeSpec, Obs};
use crate::scenario::{AnomalyKind, Scenario};
use crate::sim::{NodeId, NodeStatus, SimDuration, SimError, SimTime, Simulator, World};

/// What a run produced.
pub struct RunOutcome {
    /// The summary (JSON and text).
    pub summary: RunSummary,
    /// The short log, if asked for.
    pub log: Option<String>,
    /// Every partition's final state.
    pub finals: Vec<FinalPartition>,
    /// The final logs as JSON Lines, if asked for.
    pub dump: Option<String>,
    /// Every kept observation in order, LEO and HW moves included, if asked for (a report).
    pub observations: Vec<(SimTime, NodeId, Obs)>,
    /// Node names, indexed by node id.
    pub names: Vec<String>,
    /// The world as the run left it: brokers' logs, disks, clients. Freeing it frees millions of
    /// record batches one by one (half a second after a 3 M-record run), which a process about to
    /// exit can leave to the operating system.
    pub world: Simulator<Node>,
}

/// Why a scenario cannot run in this build, if it cannot.
pub fn unsupported(scenario: &Scenario) -> Option<String> {
    let instances: u32 = scenario.pipelines.iter().map(|p| p.instances).sum();
    let producer_indices =
        scenario.producers.len() as u64 + u64::from(instances) * u64::from(PRODUCER_SLOTS);
    // Record ids name their producer in 16 bits; the group coordinator's records use the top.
    if producer_indices > u64::from(crate::group::coordinator::records::GROUP_METADATA) {
        return Some(format!(
            "{} producer(s) and {instances} pipeline instance(s) need more than the {} producer \
             indices a record id can name ({PRODUCER_SLOTS} per pipeline instance)",
            scenario.producers.len(),
            crate::group::coordinator::records::GROUP_METADATA
        ));
    }
    if let Some(why) = groups_unsupported(scenario) {
        return Some(why);
    }
    None
}

/// Why the consumer groups of `scenario` do not fit `__consumer_offsets` records, if they do not.
fn groups_unsupported(scenario: &Scenario) -> Option<String> {
    use crate::group::coordinator::records::{GROUPS_MAX, PARTITIONS_MAX, TOPICS_MAX};
    if !scenario.uses_consumer_groups() {
        return None;
    }
    let groups: std::collections::BTreeSet<&str> = scenario
        .consumers
        .iter()
        .map(|c| c.group.as_str())
        .chain(scenario.pipelines.iter().map(|p| p.group.as_str()))
        .collect();
    if groups.len() > GROUPS_MAX || scenario.topics.len() > TOPICS_MAX {
        return Some(format!(
            "consumer groups support at most {GROUPS_MAX} groups and {TOPICS_MAX} topics"
        ));
    }
    if scenario
        .topics
        .iter()
        .any(|t| t.partitions > PARTITIONS_MAX)
    {
        return Some(format!(
            "consumer groups support at most {PARTITIONS_MAX} partitions per topic"
        ));
    }
    None
}

/// The consumer specs of `scenario`, one per instance, in node order.
fn consumer_specs(scenario: &Scenario, brokers: &[NodeId]) -> Vec<NodeSpec> {
    let topic_names: Vec<String> = scenario.topics.iter().map(|t| t.name.clone()).collect();
    let partitions: Vec<u32> = scenario.topics.iter().map(|t| t.partitions).collect();
    let mut specs = Vec::new();
    for c in &scenario.consumers {
        let topics = c
            .topics
            .iter()
            .filter_map(|name| topic_names.iter().position(|t| t == name))
            .map(|t| t as u32)
            .collect();
        for name in c.instance_names() {
            specs.push(NodeSpec::Consumer(Box::new(ConsumerSpec {
                name: name.into(),
                group: c.group.as_str().into(),
                topics: Vec::clone(&topics),
                topic_names: topic_names.clone(),
                partitions: partitions.clone(),
                brokers: brokers.to_vec(),
                commit: c.commit,
                processing_ms: (c.processing_ms.min_ms, c.processing_ms.max_ms),
                static_membership: c.static_membership,
                start_ms: c.start_ms,
                config: c.config.clone(),
                validate_positions: scenario.cluster.replication_protocol
                    == crate::scenario::ReplicationProtocol::Kip279,
                hand_off: false,
            })));
        }
    }
    specs
}

/// The pipeline specs of `scenario`, one per instance, in node order. Instance `k` (counting
/// over every pipeline entry) writes its outputs under producer indices from
/// `producers + k * PRODUCER_SLOTS`, one per boot.
fn pipeline_specs(scenario: &Scenario, brokers: &[NodeId]) -> Vec<NodeSpec> {
    let topic_names: Vec<String> = scenario.topics.iter().map(|t| t.name.clone()).collect();
    let partitions: Vec<u32> = scenario.topics.iter().map(|t| t.partitions).collect();
    let topic_index = |name: &str| {
        topic_names
            .iter()
            .position(|t| t == name)
            .expect("validated")
    };
    let txn_ids = scenario.transactional_ids();
    let mut specs = Vec::new();
    let mut instance = 0usize;
    for p in &scenario.pipelines {
        let (input, output) = (topic_index(&p.input), topic_index(&p.output));
        let consumer_config = p.consumer_config();
        for name in p.instance_names() {
            let index = scenario.producers.len() + instance * PRODUCER_SLOTS as usize;
            instance += 1;
            let consumer = ConsumerSpec {
                name: name.as_str().into(),
                group: p.group.as_str().into(),
                topics: vec![input as u32],
                topic_names: topic_names.clone(),
                partitions: partitions.clone(),
                brokers: brokers.to_vec(),
                commit: crate::scenario::CommitPolicy::AfterProcessing,
                processing_ms: (0, 0),
                static_membership: false,
                start_ms: 0,
                config: consumer_config.clone(),
                validate_positions: scenario.cluster.replication_protocol
                    == crate::scenario::ReplicationProtocol::Kip279,
                hand_off: true,
            };
            let mut config = crate::scenario::ProducerConfig {
                request_timeout_ms: p.config.request_timeout_ms,
                transaction_timeout_ms: p.config.transaction_timeout_ms,
                ..Default::default()
            };
            if p.exactly_once {
                config.transactional_id = Some(name.clone());
            }
            let producer = ProducerSpec {
                index: index as u16,
                brokers: brokers.to_vec(),
                topic: output as u32,
                topic_name: p.output.clone(),
                partitions: scenario.topics[output].partitions,
                records: 0,
                rate_per_sec: 1,
                keys: 0,
                partition: None,
                partitioner: crate::scenario::Partitioner::Sticky,
                // An output record is as large as the input records (from their producer).
                record_bytes: scenario
                    .producers
                    .iter()
                    .find(|q| q.topic == p.input)
                    .map_or(DEFAULT_RECORD_BYTES, |q| q.record_bytes),
                start_ms: 0,
                transactional_id: p
                    .exactly_once
                    .then(|| txn_ids.iter().position(|i| *i == name))
                    .flatten()
                    .map(|i| i as u32),
                records_per_transaction: u64::MAX,
                abort_every: 0,
                config,
            };
            specs.push(NodeSpec::Pipeline(Box::new(PipelineSpec {
                name: name.as_str().into(),
                consumer,
                producer,
                exactly_once: p.exactly_once,
                seek_on_abort: p.seek_on_abort,
                processing_ms: (p.processing_ms.min_ms, p.processing_ms.max_ms),
            })));
        }
    }
    specs
}

/// The node of each producer index: the scenario's producers, then each pipeline instance
/// once per boot slot (see [`producer_names`]).
fn producer_nodes(scenario: &Scenario) -> Vec<String> {
    let mut nodes: Vec<String> = scenario.producers.iter().map(|p| p.name.clone()).collect();
    for p in &scenario.pipelines {
        for instance in p.instance_names() {
            nodes.extend(std::iter::repeat_n(instance, PRODUCER_SLOTS as usize));
        }
    }
    nodes
}

/// The simulated size of a pipeline's output record when no producer writes its input.
const DEFAULT_RECORD_BYTES: u32 = 100;

/// The producer names of a run by producer index: the scenario's producers, then each pipeline
/// instance's boots (`etl-0`, `etl-0#1`, …; see [`pipeline_specs`]).
fn producer_names(scenario: &Scenario) -> Vec<String> {
    let mut names: Vec<String> = scenario.producers.iter().map(|p| p.name.clone()).collect();
    for p in &scenario.pipelines {
        for instance in p.instance_names() {
            names.push(instance.clone());
            names.extend((1..PRODUCER_SLOTS).map(|boot| format!("{instance}#{boot}")));
        }
    }
    names
}

/// The node specs of every node of `scenario`, in node order.
fn specs(scenario: &Scenario, names: &[String]) -> Vec<NodeSpec> {
    let id =
        |name: &str| NodeId::from_index(names.iter().position(|n| n == name).expect("known node"));
    let zk = id("zk");
    let brokers: Vec<NodeId> = (0..scenario.cluster.brokers)
        .map(|b| id(&format!("broker-{b}")))
        .collect();
    let mut specs = vec![NodeSpec::Zk];
    for spec in BrokerSpec::for_scenario(scenario, zk, &brokers) {
        specs.push(NodeSpec::Broker(Box::new(spec)));
    }
    for (index, p) in scenario.producers.iter().enumerate() {
        let topic = scenario
            .topics
            .iter()
            .position(|t| t.name == p.topic)
            .expect("validated topic");
        specs.push(NodeSpec::Producer(Box::new(ProducerSpec {
            index: index as u16,
            brokers: brokers.clone(),
            topic: topic as u32,
            topic_name: p.topic.clone(),
            partitions: scenario.topics[topic].partitions,
            records: producer::records_due(
                p.records,
                p.rate_per_sec,
                p.start_ms,
                scenario.duration_ms,
            ),
            rate_per_sec: p.rate_per_sec,
            keys: p.keys,
            partition: p.partition,
            partitioner: p.partitioner,
            record_bytes: p.record_bytes,
            start_ms: p.start_ms,
            transactional_id: p.config.transactional_id.as_ref().and_then(|id| {
                let ids = scenario.transactional_ids();
                ids.iter().position(|i| i == id).map(|i| i as u32)
            }),
            records_per_transaction: p.records_per_transaction,
            abort_every: p.abort_every,
            config: p.config.clone(),
        })));
    }
    specs.extend(consumer_specs(scenario, &brokers));
    specs.extend(pipeline_specs(scenario, &brokers));
    let topics: Vec<(String, u32)> = scenario
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.partitions))
        .collect();
    let tail = ReaderSpec {
        brokers: brokers.clone(),
        topics: topics.clone(),
        start_ms: 0,
        tail: true,
        read_committed: false,
    };
    specs.push(NodeSpec::Reader(Box::new(tail)));
    let start_ms = scenario.duration_ms + scenario.settle_ms;
    specs.push(NodeSpec::Reader(Box::new(ReaderSpec {
        brokers,
        topics,
        start_ms,
        tail: false,
        read_committed: scenario.uses_transactions(),
    })));
    assert_eq!(specs.len(), names.len(), "one spec per node");
    specs
}

/// A reader's node name, `base` unless a client already has that name.
fn reader_name(scenario_names: &[String], base: &str) -> String {
    let mut name = base.to_owned();
    while scenario_names.contains(&name) {
        name.push('_');
    }
    name
}

/// How many nodes the run adds to the scenario's: the tail reader and the final reader, last.
const READERS: usize = 2;

/// How long the final reader may take before unread partitions count as a liveness failure.
const FINAL_READ_MS: u64 = 30_000;

/// Builds the world of `scenario` with its scripted faults scheduled, at time zero.
pub fn build(scenario: &Scenario, seed: u64, keep_log: bool) -> Simulator<Node> {
    let mut names = scenario.node_names();
    let (tail, last) = (
        reader_name(&names, "tail-reader"),
        reader_name(&names, "final-reader"),
    );
    names.extend([tail, last]);
    let world = World::<Node> {
        seed,
        specs: specs(scenario, &names),
        names,
        network: NetworkModel::from_scenario(&scenario.network),
        disk: DiskModel::from_scenario(&scenario.disk),
        keep_log,
        // The checkers' history is folded in as observations come (`Recorder`); only a report
        // keeps them whole.
        keep_observations: false,
    };
    let mut sim = Simulator::new(world);
    let schedule = faults::schedule(scenario, sim.names()).expect("validated fault targets");
    if let Some(mut watch) =
        faults::Watch::for_scenario(scenario, sim.names()).expect("validated fault targets")
    {
        sim.set_trigger(Box::new(move |node, obs, fire| {
            watch.observe(node, obs, fire)
        }));
    }
    // The final reader is no part of the scenario: the nemesis never sees it.
    let scenario_nodes = &sim.names()[..sim.names().len() - READERS];
    let nemesis = faults::nemesis::schedule(scenario, scenario_nodes, seed);
    for (at, fault) in schedule.into_iter().chain(nemesis) {
        sim.schedule_fault(at, fault);
    }
    sim
}

/// What a run keeps besides its summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Keep the short log's text (`run --trace`).
    pub keep_log: bool,
    /// Render every partition's final log as JSON Lines (`run --dump-log`).
    pub dump_log: bool,
    /// Test-only: disturb the network's random stream once at this time, so that `replay`'s
    /// determinism check can be seen to catch a nondeterministic run.
    #[doc(hidden)]
    pub perturb_at: Option<SimTime>,
    /// Keep every LEO and HW move and the controller's partition states as typed observations,
    /// for charts (`run --report`).
    pub keep_series: bool,
}

/// Runs `scenario` with `seed` through every phase.
pub fn run(scenario: &Scenario, seed: u64, options: RunOptions) -> Result<RunOutcome, SimError> {
    let settled = SimTime::from_millis(scenario.duration_ms + scenario.settle_ms);
    let mut sim = build(scenario, seed, options.keep_log);
    if options.keep_series {
        sim.retain_also(crate::report::series::charted);
    }
    let recorder = recorder_for(&sim, scenario, settled).install(&mut sim);
    run_phases(&mut sim, scenario, settled, options.perturb_at)?;
    // The groups' offsets as the run settles: a pipeline still at work during the final reads
    // must not move them past outputs the reader has already read.
    let pipelines = pipeline_views(&sim, scenario);
    let reader = NodeId::from_index(sim.names().len() - 1);
    let reader_done =
        |sim: &Simulator<Node>| matches!(sim.process(reader), Some(Node::Reader(r)) if r.done());
    sim.run_until_condition(
        settled + SimDuration::from_millis(FINAL_READ_MS),
        reader_done,
    )?;
    sim.check_all_invariants()?;
    let end = sim.now();
    let mut recorder = Recorder::take(&mut sim, recorder);
    let finals = final_reads(&sim, scenario, &mut recorder);
    recorder.history.producer_crashes = producer_nodes(scenario)
        .iter()
        .map(|name| {
            let node = sim.node_id(name);
            let crashed = |fault: &FaultAction| match fault {
                FaultAction::Kill(n) | FaultAction::PowerOff { node: n, .. } => Some(*n) == node,
                _ => false,
            };
            sim.faults()
                .iter()
                .filter(|(_, fault)| crashed(fault))
                .map(|(at, _)| *at)
                .collect()
        })
        .collect();
    let mut anomalies = check::check_all(&recorder.history, &finals, end.as_millis());
    anomalies.extend(check::exactly_once::check(
        &recorder.history,
        &finals,
        &pipelines,
    ));
    let summary = summarize(&sim, scenario, seed, &recorder, &finals, anomalies);
    let dump = options.dump_log.then(|| dump_log(&sim, scenario, &finals));
    let observations = if options.keep_series {
        sim.take_observations()
    } else {
        Vec::new()
    };
    Ok(RunOutcome {
        summary,
        log: sim.trace().log().map(str::to_owned),
        finals,
        dump,
        observations,
        names: sim.names().to_vec(),
        world: sim,
    })
}

/// What the exactly-once checkers need of each pipeline entry: its topics, its outputs'
/// producer indices, and its group's committed offsets as the group's coordinator holds them
/// (what an `OffsetFetch` would answer).
fn pipeline_views(
    sim: &Simulator<Node>,
    scenario: &Scenario,
) -> Vec<check::exactly_once::PipelineView> {
    let mut views = Vec::new();
    let mut first_index = scenario.producers.len();
    for p in &scenario.pipelines {
        let slots = p.instances as usize * PRODUCER_SLOTS as usize;
        let producers = first_index as u16..(first_index + slots) as u16;
        first_index += slots;
        let committed = (0..sim.names().len()).find_map(|i| {
            let Some(Node::Broker(broker)) = sim.process(NodeId::from_index(i)) else {
                return None;
            };
            let coordinator = broker.group_coordinator()?;
            let partition = coordinator.partition_of(&p.group);
            if !coordinator.serves(partition) {
                return None;
            }
            let offsets = coordinator.group(&p.group).map(|g| g.offsets.clone());
            let input = scenario.topics.iter().position(|t| t.name == p.input)? as u32;
            Some(
                offsets
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(tp, _)| tp.topic == input)
                    .map(|(tp, c)| (format!("{}-{}", p.input, tp.partition).into(), c.offset))
                    .collect(),
            )
        });
        views.push(check::exactly_once::PipelineView {
            name: p.name.clone(),
            group: p.group.clone(),
            input: p.input.clone(),
            output: p.output.clone(),
            read_committed: p.consumer_config().isolation_level
                == crate::scenario::IsolationLevel::ReadCommitted,
            producers,
            committed,
        });
    }
    views
}

/// An empty recorder for a run of `scenario` built as `sim`.
fn recorder_for(sim: &Simulator<Node>, scenario: &Scenario, settled: SimTime) -> Recorder {
    let history = History::new(producer_names(scenario), sim.names().to_vec());
    let readers = sim.names().len();
    let tail_reader = NodeId::from_index(readers - READERS);
    let final_reader = NodeId::from_index(readers - 1);
    Recorder::new(history, tail_reader, final_reader, settled)
}

/// Every partition's final log — the leader's, after settling — as JSON Lines, one record or
/// control batch per line, like `kafka-dump-log` (DESIGN §7).
fn dump_log(sim: &Simulator<Node>, scenario: &Scenario, finals: &[FinalPartition]) -> String {
    let mut out = String::new();
    for (t, topic) in scenario.topics.iter().enumerate() {
        for p in 0..topic.partitions {
            let name = format!("{}-{p}", topic.name);
            let Some(leader) = finals
                .iter()
                .find(|f| *f.name == *name)
                .and_then(|f| f.leader)
            else {
                continue;
            };
            let Some(Node::Broker(broker)) = sim
                .node_id(&format!("broker-{leader}"))
                .and_then(|n| sim.process(n))
            else {
                continue;
            };
            let tp = crate::protocol::TopicPartition {
                topic: t as u32,
                partition: p,
            };
            let Some(partition) = broker.partitions().get(&tp) else {
                continue;
            };
            for batch in partition.log.batches_from(partition.log.log_start_offset()) {
                dump_batch(&mut out, scenario, &topic.name, p, batch);
            }
        }
    }
    out
}

/// One line of `--dump-log`, fields in DESIGN §7's order.
#[derive(serde::Serialize)]
struct DumpLine<'a> {
    topic: &'a str,
    partition: u32,
    offset: u64,
    key: Option<String>,
    value: Option<String>,
    producer_id: i64,
    producer_epoch: i16,
    sequence: i64,
    leader_epoch: u32,
    control: Option<String>,
}

fn dump_batch(
    out: &mut String,
    scenario: &Scenario,
    topic: &str,
    partition: u32,
    batch: &crate::record::RecordBatch,
) {
    let line = |offset: u64, key: Option<String>, value: Option<String>, sequence: i64| DumpLine {
        topic,
        partition,
        offset,
        key,
        value,
        producer_id: batch.producer_id,
        producer_epoch: batch.producer_epoch,
        sequence,
        leader_epoch: batch.partition_leader_epoch,
        control: batch.control.map(|c| c.to_string()),
    };
    let mut push = |line: DumpLine| {
        out.push_str(&serde_json::to_string(&line).expect("a dump line serializes"));
        out.push('\n');
    };
    if batch.control.is_some() {
        push(line(batch.base_offset, None, None, -1));
        return;
    }
    for (i, record) in batch.records.iter().enumerate() {
        let producer = scenario
            .producers
            .get(record.id.producer as usize)
            .map_or("?", |p| p.name.as_str());
        let key = record.key.map(|k| format!("key-{k}"));
        let sequence = if batch.base_sequence < 0 {
            -1
        } else {
            i64::from(batch.base_sequence) + i as i64
        };
        push(line(
            batch.base_offset + i as u64,
            key,
            Some(format!("{producer}-{}", record.id.n)),
            sequence,
        ));
    }
}

/// Runs the safety phase and, past `duration_ms`, the heal and the settle phase, up to `at`;
/// returns the world and what was recorded for the checkers so far.
pub fn run_to(
    scenario: &Scenario,
    seed: u64,
    keep_log: bool,
    at: SimTime,
) -> Result<(Simulator<Node>, Recorder), SimError> {
    let mut sim = build(scenario, seed, keep_log);
    let settled = SimTime::from_millis(scenario.duration_ms + scenario.settle_ms);
    let recorder = recorder_for(&sim, scenario, settled).install(&mut sim);
    run_phases(&mut sim, scenario, at, None)?;
    let recorder = Recorder::take(&mut sim, recorder);
    Ok((sim, recorder))
}

/// Runs a built world through the safety phase and, past `duration_ms`, the heal and the settle
/// phase, up to `at`; `perturb_at` is test-only (see [`RunOptions::perturb_at`]).
fn run_phases(
    sim: &mut Simulator<Node>,
    scenario: &Scenario,
    at: SimTime,
    perturb_at: Option<SimTime>,
) -> Result<(), SimError> {
    let safety_end = SimTime::from_millis(scenario.duration_ms);
    if let Some(when) = perturb_at.filter(|t| *t < safety_end.min(at)) {
        sim.run_until(when)?;
        sim.perturb_network();
    }
    sim.run_until(safety_end.min(at))?;
    if at >= safety_end {
        heal(sim);
        sim.run_until(at)?;
    }
    Ok(())
}

/// The heal phase: the network heals (random loss stops too), crashed nodes restart, paused
/// nodes resume.
fn heal(sim: &mut Simulator<Node>) {
    // Condition-triggered faults belong to the safety phase.
    sim.clear_trigger();
    sim.stop_message_loss();
    sim.apply_fault(FaultAction::Heal);
    for node in (0..sim.names().len()).map(NodeId::from_index) {
        match sim.status(node) {
            NodeStatus::Down => sim.apply_fault(FaultAction::Restart(node)),
            NodeStatus::Paused => sim.apply_fault(FaultAction::Resume(node)),
            NodeStatus::Up => {}
        }
    }
}

/// A god's-eye read of every replica of every partition after settling.
fn final_reads(
    sim: &Simulator<Node>,
    scenario: &Scenario,
    recorder: &mut Recorder,
) -> Vec<FinalPartition> {
    let mut finals: BTreeMap<(u32, u32), FinalPartition> = BTreeMap::new();
    let mut best_epoch: BTreeMap<(u32, u32), u32> = BTreeMap::new();
    for node in (0..sim.names().len()).map(NodeId::from_index) {
        let Some(Node::Broker(broker)) = sim.process(node) else {
            continue;
        };
        for (tp, partition) in broker.partitions().iter() {
            if tp.topic as usize >= scenario.topics.len() {
                // `__consumer_offsets`: internal, not the checkers' business.
                continue;
            }
            let key = (tp.topic, tp.partition);
            let entry = finals.entry(key).or_insert_with(|| FinalPartition {
                name: partition.name.clone(),
                leader: None,
                replicas: Vec::new(),
                read: None,
                read_committed: None,
                stable: None,
            });
            let start = partition.log.log_start_offset();
            let held = partition.log_end_offset().saturating_sub(start);
            let mut records = Vec::with_capacity(usize::try_from(held).unwrap_or(0));
            for batch in partition.log.batches_from(start) {
                if batch.control.is_none() {
                    let offsets = batch.base_offset..;
                    records.extend(offsets.zip(batch.records.iter()).map(|(o, r)| (o, r.id)));
                }
            }
            let broker_id = broker_id_of(sim, node);
            entry.replicas.push(ReplicaView {
                broker: broker_id,
                high_watermark: partition.high_watermark,
                records,
                log_end_offset: partition.log_end_offset(),
                log_start_offset: partition.log.log_start_offset(),
            });
            let epoch = best_epoch.entry(key).or_insert(0);
            if partition.is_leader() && (entry.leader.is_none() || partition.leader_epoch >= *epoch)
            {
                entry.leader = Some(broker_id);
                *epoch = partition.leader_epoch;
            }
        }
    }
    // Partitions no broker holds are offline too.
    for (t, topic) in scenario.topics.iter().enumerate() {
        for p in 0..topic.partitions {
            finals
                .entry((t as u32, p))
                .or_insert_with(|| FinalPartition {
                    name: format!("{}-{p}", topic.name).into(),
                    leader: None,
                    replicas: Vec::new(),
                    read: None,
                    read_committed: None,
                    stable: None,
                });
        }
    }
    let mut finals: Vec<FinalPartition> = finals.into_values().collect();
    attach_reads(sim, &mut finals, recorder);
    finals
}

/// Puts what the final reader read into each partition it read to the high watermark.
fn attach_reads(sim: &Simulator<Node>, finals: &mut [FinalPartition], recorder: &mut Recorder) {
    let reads = &mut recorder.final_reads;
    let reader = NodeId::from_index(sim.names().len() - 1);
    let Some(Node::Reader(final_reader)) = sim.process(reader) else {
        return;
    };
    let finished = final_reader.finished();
    for partition in finals.iter_mut().filter(|p| finished.contains(&p.name)) {
        let mut read = reads.remove(&partition.name).unwrap_or_default();
        if !read.is_sorted_by_key(|(offset, _)| *offset) {
            read.sort_unstable_by_key(|(offset, _)| *offset);
        }
        read.dedup_by_key(|(offset, _)| *offset);
        partition.read = Some(read);
    }
    let committed = &mut recorder.final_committed_reads;
    for (name, lso, hw) in final_reader.finished_committed() {
        if let Some(partition) = finals.iter_mut().find(|p| p.name == name) {
            let mut read = committed.remove(&name).unwrap_or_default();
            if !read.is_sorted_by_key(|(offset, _)| *offset) {
                read.sort_unstable_by_key(|(offset, _)| *offset);
            }
            read.dedup_by_key(|(offset, _)| *offset);
            partition.read_committed = Some(read);
            partition.stable = Some((lso, hw));
        }
    }
}

fn broker_id_of(sim: &Simulator<Node>, node: NodeId) -> u32 {
    sim.names()[node.index()]
        .strip_prefix("broker-")
        .and_then(|id| id.parse().ok())
        .expect("a broker node")
}

fn summarize(
    sim: &Simulator<Node>,
    scenario: &Scenario,
    seed: u64,
    recorder: &Recorder,
    finals: &[FinalPartition],
    anomalies: Vec<Anomaly>,
) -> RunSummary {
    let history = &recorder.history;
    let mut summary = RunSummary::from_sim(sim, &scenario.name, seed);
    summary.replication_protocol = scenario.cluster.replication_protocol.as_str().to_owned();
    summary.stats = stats(recorder);
    summary.deliveries = deliveries::deliveries(scenario, history, finals);
    for anomaly in &anomalies {
        *summary
            .anomaly_counts
            .entry(anomaly.kind.as_str().to_owned())
            .or_insert(0) += 1;
    }
    let found: std::collections::BTreeSet<AnomalyKind> = anomalies.iter().map(|a| a.kind).collect();
    let expected: std::collections::BTreeSet<AnomalyKind> =
        scenario.expect.anomalies.iter().copied().collect();
    let reprocessed = summary
        .deliveries
        .values()
        .any(|d| d.processed.keys().any(|&times| times > 1));
    summary.expect_met = found == expected
        && scenario
            .expect
            .reprocessed
            .is_none_or(|want| want == reprocessed);
    summary.anomalies = anomalies
        .into_iter()
        .map(|a| AnomalyRecord {
            kind: a.kind.as_str().to_owned(),
            topic: a.topic().to_owned(),
            partition: a.partition_number(),
            offset: a.offset,
            record: a.record,
            at_ms: a.at_ms,
            explanation: a.explanation,
        })
        .collect();
    summary
}

fn stats(recorder: &Recorder) -> Stats {
    let history = &recorder.history;
    let mut stats = Stats {
        sent: history.send_count() as u64,
        consumed: history.consumption.polled_total,
        isr_shrinks: recorder.isr_shrinks,
        isr_expands: recorder.isr_expands,
        ..Stats::default()
    };
    stats.acked = history
        .sends()
        .map(|(_, op)| op)
        .filter(|op| matches!(op.outcome, check::Outcome::Acked { .. }))
        .count() as u64;
    stats.truncations = history.truncations.len() as u64;
    stats.leader_elections = history.leaderships.len() as u64;
    stats
}

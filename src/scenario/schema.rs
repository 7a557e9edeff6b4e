//! The validated scenario: what a run simulates, with every default filled in. A [`Scenario`] is
//! built only by the loader (`load`/`parse_str`), so code that receives one may rely on the
//! checks of `validate`: names resolve, ranges are ordered, replication factors fit the cluster,
//! producer and consumer configs obey Kafka's own constraints. Sections mirror the TOML file;
//! `[[topic]]`-style arrays become plural fields (`topics`, `producers`, …).

use serde::Deserialize;

use super::config::{
    BrokerConfig, ConsumerConfig, LogConfig, PipelineConfig, ProducerConfig, TopicConfig,
};
use super::fault::Fault;
use super::kinds::{
    AnomalyKind, CommitPolicy, FaultKind, Partitioner, ReplicationProtocol, TransactionsProtocol,
};

/// The node name of the metadata service.
pub const ZK_NODE: &str = "zk";

/// The most brokers a scenario may have.
pub const MAX_BROKERS: u32 = 64;

/// A scenario: the cluster, its workload, its faults and the anomalies the run must show.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The scenario's name, shown in reports.
    pub name: String,
    /// One paragraph saying what the scenario demonstrates.
    pub description: String,
    /// The default seed (0 when the file has none); the command line's `--seed` overrides it.
    pub seed: u64,
    /// Length of the safety phase: workload plus faults.
    pub duration_ms: u64,
    /// Length of the settle phase after the heal.
    pub settle_ms: u64,
    /// The brokers, their protocols and their configuration.
    pub cluster: Cluster,
    /// The virtual disks' behaviour.
    pub disk: Disk,
    /// The virtual network's behaviour.
    pub network: Network,
    /// Topics created before the workload starts, in file order.
    pub topics: Vec<Topic>,
    /// Producer entries, in file order.
    pub producers: Vec<Producer>,
    /// Consumer entries, in file order.
    pub consumers: Vec<Consumer>,
    /// Consume-transform-produce pipeline entries, in file order.
    pub pipelines: Vec<Pipeline>,
    /// Scripted faults, in file order.
    pub faults: Vec<Fault>,
    /// Randomised faults drawn from the seed, if any.
    pub nemesis: Option<Nemesis>,
    /// The anomalies the run must show.
    pub expect: Expect,
}

impl Scenario {
    /// Every node's name: `zk`, the brokers, then each client instance in file order.
    pub fn node_names(&self) -> Vec<String> {
        let mut names = vec![ZK_NODE.to_string()];
        names.extend((0..self.cluster.brokers).map(broker_node_name));
        names.extend(self.producers.iter().map(|p| p.name.clone()));
        for consumer in &self.consumers {
            names.extend(consumer.instance_names());
        }
        for pipeline in &self.pipelines {
            names.extend(pipeline.instance_names());
        }
        names
    }

    /// The topic called `name`, if the scenario has one.
    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.name == name)
    }

    /// The producers' `transactional.id`s, each once, in producer order.
    pub fn transactional_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for id in self
            .producers
            .iter()
            .filter_map(|p| p.config.transactional_id.clone())
        {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        // An exactly-once pipeline instance's `transactional.id` is its node name (KIP-447: one
        // id per instance, zombies fenced through the group's generation).
        for p in self.pipelines.iter().filter(|p| p.exactly_once) {
            ids.extend(p.instance_names());
        }
        ids
    }

    /// Whether any client uses transactions (a `transactional.id` or an exactly-once pipeline).
    pub fn uses_transactions(&self) -> bool {
        self.producers.iter().any(|p| p.config.is_transactional())
            || self.pipelines.iter().any(|p| p.exactly_once)
    }

    /// Whether any client is a consumer-group member (a consumer or a pipeline).
    pub fn uses_consumer_groups(&self) -> bool {
        !self.consumers.is_empty() || !self.pipelines.is_empty()
    }
}

/// The node name of broker `id`: `broker-{id}`.
pub fn broker_node_name(id: u32) -> String {
    format!("broker-{id}")
}

/// The broker id a node name denotes (`broker-3` → 3), if it names a broker.
pub fn broker_id(node: &str) -> Option<u32> {
    let digits = node.strip_prefix("broker-")?;
    let canonical = !digits.is_empty() && (digits == "0" || !digits.starts_with('0'));
    if canonical && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// An inclusive range of milliseconds written `[min, max]`, from which times are drawn uniformly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<u64>")]
pub struct RangeMs {
    /// The smallest value.
    pub min_ms: u64,
    /// The largest value.
    pub max_ms: u64,
}

impl RangeMs {
    /// The range from `min_ms` to `max_ms`.
    pub const fn new(min_ms: u64, max_ms: u64) -> RangeMs {
        RangeMs { min_ms, max_ms }
    }
}

impl TryFrom<Vec<u64>> for RangeMs {
    type Error = String;
    fn try_from(values: Vec<u64>) -> Result<Self, Self::Error> {
        match values[..] {
            [min_ms, max_ms] => Ok(RangeMs { min_ms, max_ms }),
            _ => Err(format!(
                "expected [min, max] (two numbers), found {} numbers",
                values.len()
            )),
        }
    }
}

/// The `[cluster]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// How many brokers run, `broker-0` … `broker-{n-1}` (1..=64).
    pub brokers: u32,
    /// `"replication.protocol"`: how replicas truncate (default kip-279).
    #[serde(rename = "replication.protocol", default)]
    pub replication_protocol: ReplicationProtocol,
    /// `"transactions.protocol"`: classic or KIP-890 transactions (default classic).
    #[serde(rename = "transactions.protocol", default)]
    pub transactions_protocol: TransactionsProtocol,
    /// `[cluster.config]`: the brokers' configuration.
    #[serde(default)]
    pub config: BrokerConfig,
}

/// The `[disk]` section: the virtual disks of the brokers (a kafkasim addition).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Disk {
    /// How long an fsync takes, drawn uniformly.
    pub sync_latency_ms: RangeMs,
    /// Whether a power-off may keep a torn tail between the durable and the written length.
    pub torn_tail: bool,
}

impl Default for Disk {
    fn default() -> Self {
        Disk {
            sync_latency_ms: RangeMs::new(1, 10),
            torn_tail: false,
        }
    }
}

/// One million: probabilities become integer parts per million for simulation decisions.
pub const PPM: u32 = 1_000_000;

/// The `[network]` section: the latency and loss model of every link.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    /// One-way delay, drawn uniformly.
    pub latency_ms: RangeMs,
    /// Probability that a message is dropped (0.0..=1.0).
    pub loss: f64,
    /// Probability that a message takes the long tail instead (0.0..=1.0).
    pub tail_probability: f64,
    /// One-way delay of a long-tail message, drawn uniformly.
    pub tail_latency_ms: RangeMs,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            latency_ms: RangeMs::new(1, 5),
            loss: 0.0,
            tail_probability: 0.0,
            tail_latency_ms: RangeMs::new(50, 500),
        }
    }
}

impl Network {
    /// `loss` in parts per million.
    pub fn loss_ppm(&self) -> u32 {
        probability_ppm(self.loss)
    }

    /// `tail_probability` in parts per million.
    pub fn tail_ppm(&self) -> u32 {
        probability_ppm(self.tail_probability)
    }
}

/// Converts a probability to parts per million, rounding to nearest and clamping to [0, 1].
pub fn probability_ppm(probability: f64) -> u32 {
    if probability.is_nan() || probability <= 0.0 {
        return 0;
    }
    let ppm = (probability * f64::from(PPM)).round();
    if ppm >= f64::from(PPM) {
        PPM
    } else {
        ppm as u32
    }
}

/// A `[[topic]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// The topic's name.
    pub name: String,
    /// How many partitions it has (default `num.partitions`).
    pub partitions: u32,
    /// How many replicas each partition has (default `default.replication.factor`).
    pub replication_factor: u32,
    /// An explicit replica assignment, one broker list per partition, preferred leader first.
    pub replicas: Option<Vec<Vec<u32>>>,
    /// `[topic.config]`: overrides of the brokers' log configuration.
    pub config: TopicConfig,
}

impl Topic {
    /// The replica list of every partition: the explicit `replicas`, or Kafka's assignment.
    ///
    /// Kafka's rack-unaware assignment with a fixed start index of 0: partition `p` leads on
    /// broker `p % n`, and followers follow at a shift that grows every `n` partitions.
    pub fn replica_assignment(&self, brokers: u32) -> Vec<Vec<u32>> {
        if let Some(explicit) = &self.replicas {
            return explicit.clone();
        }
        let n = brokers.max(1);
        (0..self.partitions)
            .map(|p| {
                let first = p % n;
                let shift = p / n;
                let mut replicas = vec![first];
                for j in 0..self.replication_factor.saturating_sub(1) {
                    let step = 1 + (shift + j) % (n - 1).max(1);
                    replicas.push((first + step) % n);
                }
                replicas
            })
            .collect()
    }

    /// The effective log configuration: topic overrides over the brokers' defaults.
    pub fn log_config(&self, broker: &BrokerConfig) -> LogConfig {
        self.config.resolve(broker)
    }
}

/// A `[[producer]]` entry: one producer node sending `records` records at a fixed rate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Producer {
    /// The producer's name, which is also its node name.
    pub name: String,
    /// The topic it writes to.
    pub topic: String,
    /// How many records it sends.
    pub records: u64,
    /// How many records it sends per simulated second.
    pub rate_per_sec: u64,
    /// 0: records have no key; N: keys `key-0` … `key-{N-1}` in turn.
    #[serde(default)]
    pub keys: u64,
    /// A partition every record goes to, overriding the partitioner.
    #[serde(default)]
    pub partition: Option<u32>,
    /// The partitioner for records without a key.
    #[serde(default)]
    pub partitioner: Partitioner,
    /// The simulated size of one record in bytes.
    #[serde(default = "default_record_bytes")]
    pub record_bytes: u32,
    /// When the producer starts sending.
    #[serde(default)]
    pub start_ms: u64,
    /// Records per transaction when transactional.
    #[serde(default = "one_u64")]
    pub records_per_transaction: u64,
    /// Abort every n-th transaction instead of committing it (0: never).
    #[serde(default)]
    pub abort_every: u64,
    /// `[producer.config]`: Kafka's producer configuration.
    #[serde(default)]
    pub config: ProducerConfig,
}

/// A `[[consumer]]` entry: `instances` members of one consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    /// The entry's name; instance `i` is node `{name}-{i}`.
    pub name: String,
    /// The consumer group (`group.id`).
    pub group: String,
    /// The topics it subscribes to.
    pub topics: Vec<String>,
    /// How many group members the entry runs.
    #[serde(default = "one_u32")]
    pub instances: u32,
    /// When offsets are committed.
    #[serde(default)]
    pub commit: CommitPolicy,
    /// Simulated time to process one record, drawn uniformly.
    #[serde(default = "zero_range")]
    pub processing_ms: RangeMs,
    /// Whether members are static (`group.instance.id` = node name).
    #[serde(default)]
    pub static_membership: bool,
    /// When the members start.
    #[serde(default)]
    pub start_ms: u64,
    /// `[consumer.config]`: Kafka's consumer configuration.
    #[serde(default)]
    pub config: ConsumerConfig,
}

impl Consumer {
    /// The node names of the entry's instances: `{name}-0` … `{name}-{instances-1}`.
    pub fn instance_names(&self) -> Vec<String> {
        instance_names(&self.name, self.instances)
    }

    /// Whether offsets are committed by `enable.auto.commit`.
    pub fn auto_commit(&self) -> bool {
        self.commit == CommitPolicy::Auto
    }
}

/// A `[[pipeline]]` entry: consume-transform-produce instances in one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// The entry's name; instance `i` is node `{name}-{i}`.
    pub name: String,
    /// The consumer group (default: the entry's name).
    pub group: String,
    /// The topic records are consumed from.
    pub input: String,
    /// The topic transformed records are produced to.
    pub output: String,
    /// How many instances run.
    pub instances: u32,
    /// Whether instances use transactions to commit output and input offsets atomically.
    pub exactly_once: bool,
    /// Simulated time to process one record, drawn uniformly.
    pub processing_ms: RangeMs,
    /// Whether an instance seeks back to its committed offsets after an aborted transaction.
    pub seek_on_abort: bool,
    /// `[pipeline.config]`: the consumer keys plus `transaction.timeout.ms`.
    pub config: PipelineConfig,
}

impl Pipeline {
    /// The node names of the entry's instances: `{name}-0` … `{name}-{instances-1}`.
    pub fn instance_names(&self) -> Vec<String> {
        instance_names(&self.name, self.instances)
    }

    /// The effective consumer configuration (read_committed when exactly-once).
    pub fn consumer_config(&self) -> ConsumerConfig {
        self.config.consumer(self.exactly_once)
    }
}

/// The `[nemesis]` section: faults drawn at random from the seed during the safety phase.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nemesis {
    /// The fault kinds to draw from.
    pub actions: Vec<FaultKind>,
    /// The pause between two faults, drawn uniformly.
    #[serde(default = "default_nemesis_interval")]
    pub interval_ms: RangeMs,
    /// How long a fault lasts before it is undone, drawn uniformly.
    #[serde(default = "default_nemesis_fault")]
    pub fault_ms: RangeMs,
    /// Node-name globs (`*`, `?`) the faults may hit.
    #[serde(default = "default_nemesis_targets")]
    pub targets: Vec<String>,
    /// The most brokers down, powered off, paused or cut off at once.
    #[serde(default = "one_u32")]
    pub max_faulty_brokers: u32,
    /// When the nemesis starts.
    #[serde(default)]
    pub start_ms: u64,
    /// Swarm testing: each seed switches some actions off entirely and draws the rest at
    /// different rates (default true); false draws every action at the same rate.
    #[serde(default = "yes")]
    pub swarm: bool,
}

impl Nemesis {
    /// The nodes among `nodes` that some target glob matches, in the order of `nodes`.
    pub fn target_nodes(&self, nodes: &[String]) -> Vec<String> {
        let hit = |n: &String| self.targets.iter().any(|g| glob_matches(g, n));
        nodes.iter().filter(|n| hit(n)).cloned().collect()
    }
}

/// Whether `name` matches `glob`, where `*` matches any run of characters and `?` one character.
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let (glob, name): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    let (mut g, mut n) = (0, 0);
    // The last `*` seen and the name position it currently absorbs up to (classic backtracking).
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if g < glob.len() && (glob[g] == '?' || glob[g] == name[n]) {
            g += 1;
            n += 1;
        } else if g < glob.len() && glob[g] == '*' {
            star = Some((g, n));
            g += 1;
        } else if let Some((star_g, star_n)) = star {
            g = star_g + 1;
            n = star_n + 1;
            star = Some((star_g, star_n + 1));
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|&c| c == '*')
}

/// The `[expect]` section: what the run must show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expect {
    /// The anomaly kinds the run must show, exactly; empty means a clean run.
    pub anomalies: Vec<AnomalyKind>,
    /// Whether some record must (`true`) or must not (`false`) be processed more than once by
    /// its consumer group (the delivery counts); unset, it is not checked.
    pub reprocessed: Option<bool>,
}

fn instance_names(name: &str, instances: u32) -> Vec<String> {
    (0..instances).map(|i| format!("{name}-{i}")).collect()
}

fn default_record_bytes() -> u32 {
    100
}

fn one_u64() -> u64 {
    1
}

fn yes() -> bool {
    true
}

fn one_u32() -> u32 {
    1
}

fn zero_range() -> RangeMs {
    RangeMs::new(0, 0)
}

fn default_nemesis_interval() -> RangeMs {
    RangeMs::new(2_000, 10_000)
}

fn default_nemesis_fault() -> RangeMs {
    RangeMs::new(1_000, 10_000)
}

fn default_nemesis_targets() -> Vec<String> {
    vec!["broker-*".to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("broker-*", "broker-0", true),
            ("broker-*", "broker-12", true),
            ("broker-*", "zk", false),
            ("zk", "zk", true),
            ("c-?", "c-1", true),
            ("c-?", "c-10", false),
            ("*", "", true),
            ("*-*-*", "a-b-c", true),
            ("a*b*c", "abxbyc", true),
            ("a*b*c", "abxbyd", false),
            ("", "x", false),
        ];
        for (glob, name, want) in cases {
            assert_eq!(glob_matches(glob, name), want, "{glob} vs {name}");
        }
    }

    #[test]
    fn broker_ids() {
        assert_eq!(broker_id("broker-0"), Some(0));
        assert_eq!(broker_id("broker-17"), Some(17));
        assert_eq!(broker_id("broker-01"), None);
        assert_eq!(broker_id("broker-"), None);
        assert_eq!(broker_id("broker-x"), None);
        assert_eq!(broker_id("zk"), None);
    }

    #[test]
    fn ppm_rounds_and_clamps() {
        assert_eq!(probability_ppm(0.0), 0);
        assert_eq!(probability_ppm(0.01), 10_000);
        assert_eq!(probability_ppm(1.0), PPM);
        assert_eq!(probability_ppm(2.0), PPM);
        assert_eq!(probability_ppm(-1.0), 0);
        assert_eq!(probability_ppm(f64::NAN), 0);
        assert_eq!(probability_ppm(0.000_000_4), 0);
    }

    #[test]
    fn kafka_assignment_with_fixed_start() {
        let topic = Topic {
            name: "t".into(),
            partitions: 4,
            replication_factor: 2,
            replicas: None,
            config: Default::default(),
        };
        // AdminUtils.assignReplicasToBrokersRackUnaware(4, 2, [0, 1, 2], fixedStartIndex = 0).
        assert_eq!(
            topic.replica_assignment(3),
            vec![vec![0, 1], vec![1, 2], vec![2, 0], vec![0, 2]]
        );
        let single = Topic {
            replication_factor: 1,
            partitions: 2,
            ..topic
        };
        assert_eq!(single.replica_assignment(1), vec![vec![0], vec![0]]);
    }
}

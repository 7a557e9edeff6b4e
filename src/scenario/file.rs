//! The scenario file as written, before defaults that depend on other sections are filled in.
//! Most sections deserialize straight into their public types; the few that cannot —
//! `[[topic]]` (whose defaults come from `[cluster.config]`), `[[pipeline]]` (whose group defaults
//! to its name) and `[[fault]]` (whose trigger is one of two keys) — have a file form here that
//! [`ScenarioFile::resolve`] turns into the public form.

use serde::Deserialize;

use super::config::{BrokerConfig, PipelineConfig, TopicConfig};
use super::error::Issue;
use super::fault::FaultFile;
use super::schema::{
    Cluster, Consumer, Disk, Expect, Nemesis, Network, Pipeline, Producer, RangeMs,
};
use super::schema::{Scenario, Topic};

/// The default length of the settle phase.
pub const DEFAULT_SETTLE_MS: u64 = 30_000;

/// The whole file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScenarioFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    seed: u64,
    duration_ms: u64,
    #[serde(default = "default_settle_ms")]
    settle_ms: u64,
    cluster: Cluster,
    #[serde(default)]
    disk: Disk,
    #[serde(default)]
    network: Network,
    #[serde(default)]
    topic: Vec<TopicFile>,
    #[serde(default)]
    producer: Vec<Producer>,
    #[serde(default)]
    consumer: Vec<Consumer>,
    #[serde(default)]
    pipeline: Vec<PipelineFile>,
    #[serde(default)]
    fault: Vec<FaultFile>,
    nemesis: Option<Nemesis>,
    #[serde(default)]
    expect: Expect,
}

/// A `[[topic]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicFile {
    name: String,
    partitions: Option<u32>,
    replication_factor: Option<u32>,
    replicas: Option<Vec<Vec<u32>>>,
    #[serde(default)]
    config: TopicConfig,
}

/// A `[[pipeline]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineFile {
    name: String,
    group: Option<String>,
    input: String,
    output: String,
    #[serde(default = "one")]
    instances: u32,
    #[serde(default)]
    exactly_once: bool,
    #[serde(default = "zero_range")]
    processing_ms: RangeMs,
    #[serde(default = "yes")]
    seek_on_abort: bool,
    #[serde(default)]
    config: PipelineConfig,
}

impl ScenarioFile {
    /// Fills the defaults that depend on other sections and builds the scenario.
    pub(crate) fn resolve(self) -> Result<Scenario, Issue> {
        let broker = &self.cluster.config;
        let topics = self.topic.into_iter().map(|t| t.resolve(broker)).collect();
        let pipelines = self
            .pipeline
            .into_iter()
            .map(PipelineFile::resolve)
            .collect();
        let faults = self
            .fault
            .into_iter()
            .enumerate()
            .map(|(i, f)| f.into_fault(i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Scenario {
            name: self.name,
            description: self.description,
            seed: self.seed,
            duration_ms: self.duration_ms,
            settle_ms: self.settle_ms,
            cluster: self.cluster,
            disk: self.disk,
            network: self.network,
            topics,
            producers: self.producer,
            consumers: self.consumer,
            pipelines,
            faults,
            nemesis: self.nemesis,
            expect: self.expect,
        })
    }
}

impl TopicFile {
    /// Kafka's `kafka-topics --create` rules: an explicit assignment implies the partition count
    /// and replication factor; otherwise the brokers' `num.partitions` and
    /// `default.replication.factor` apply.
    fn resolve(self, broker: &BrokerConfig) -> Topic {
        let from_replicas = self.replicas.as_ref();
        let partitions = self
            .partitions
            .or_else(|| from_replicas.and_then(|r| u32::try_from(r.len()).ok()))
            .unwrap_or(broker.num_partitions);
        let replication_factor = self
            .replication_factor
            .or_else(|| {
                from_replicas
                    .and_then(|r| r.first())
                    .and_then(|r| u32::try_from(r.len()).ok())
            })
            .unwrap_or(broker.default_replication_factor);
        Topic {
            name: self.name,
            partitions,
            replication_factor,
            replicas: self.replicas,
            config: self.config,
        }
    }
}

impl PipelineFile {
    fn resolve(self) -> Pipeline {
        Pipeline {
            group: self.group.unwrap_or_else(|| self.name.clone()),
            name: self.name,
            input: self.input,
            output: self.output,
            instances: self.instances,
            exactly_once: self.exactly_once,
            processing_ms: self.processing_ms,
            seek_on_abort: self.seek_on_abort,
            config: self.config,
        }
    }
}

fn default_settle_ms() -> u64 {
    DEFAULT_SETTLE_MS
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

fn zero_range() -> RangeMs {
    RangeMs::new(0, 0)
}

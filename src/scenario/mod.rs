//! Scenario files (DESIGN §6): the TOML schema, Kafka's defaults, validation, `--set` overrides
//! and error messages that point at the offending text. Loading is a pipeline: read the file,
//! apply each `--set KEY=VALUE` to the TOML document, deserialize with unknown keys denied, fill
//! defaults that depend on other sections, then check everything TOML's types cannot say. The
//! result is a [`Scenario`] that the world builder can trust; any failure is a [`ScenarioError`]
//! whose text starts with `file:line:column:` (or the `--set` flag that caused it). The loader
//! never panics, whatever the input.
//!
//! ```
//! use kafkasim::scenario::{self, Acks};
//! let text = r#"
//!     name = "demo"
//!     duration_ms = 10_000
//!     [cluster]
//!     brokers = 3
//!     [[topic]]
//!     name = "orders"
//!     replication_factor = 3
//!     [[producer]]
//!     name = "p1"
//!     topic = "orders"
//!     records = 100
//!     rate_per_sec = 50
//! "#;
//! let s = scenario::parse_str(text, "demo.toml", &["producer.p1.config.acks=1".into()]).unwrap();
//! assert_eq!(s.producers[0].config.acks, Acks::Leader);
//! assert!(!s.producers[0].config.idempotence_enabled()); // acks=1 turns the default off
//! assert_eq!(s.cluster.config.replica_lag_time_max_ms, 30_000); // Kafka's default
//! assert_eq!(s.node_names(), ["zk", "broker-0", "broker-1", "broker-2", "p1"]);
//!
//! let err = scenario::parse_str("name = 1", "bad.toml", &[]).unwrap_err();
//! assert!(err.to_string().starts_with("bad.toml:1:8: "));
//! ```

mod config;
mod error;
mod fault;
mod file;
mod kinds;
mod locate;
mod messages;
mod names;
mod overrides;
mod schema;
mod validate;
mod validate_faults;

use std::path::Path;

use toml_edit::DocumentMut;

pub use config::{
    BrokerConfig, ConsumerConfig, LogConfig, MAX_IN_FLIGHT_FOR_IDEMPOTENCE, PipelineConfig,
    ProducerConfig, TopicConfig,
};
pub use error::{Position, ScenarioError};
pub use fault::{Condition, Fault, FaultTrigger, FieldRules, Need};
pub use file::DEFAULT_SETTLE_MS;
pub use kinds::{
    Acks, AnomalyKind, AssignmentStrategy, AutoOffsetReset, CommitPolicy, FaultKind,
    IsolationLevel, Partitioner, ReplicationProtocol, TransactionsProtocol,
};
pub use names::{MAX_TOPIC_NAME_CHARS, client_name_problem, topic_name_problem};
pub use schema::{
    Cluster, Consumer, Disk, Expect, MAX_BROKERS, Nemesis, Network, PPM, Pipeline, Producer,
    RangeMs, Scenario, Topic, ZK_NODE, broker_id, broker_node_name, glob_matches, probability_ppm,
};
pub use validate::{MAX_INSTANCES, MIN_SEGMENT_BYTES};

use error::Problem;

/// Reads, overrides, deserializes and validates the scenario file at `path`.
pub fn load(path: &Path, sets: &[String]) -> Result<Scenario, ScenarioError> {
    let label = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(source) => parse_str(&source, &label, sets),
        Err(e) => Err(ScenarioError::in_file(
            &label,
            "",
            None,
            format!("cannot read the scenario file: {e}"),
        )),
    }
}

/// Like [`load`], from text; `file_label` names the file in messages.
pub fn parse_str(
    source: &str,
    file_label: &str,
    sets: &[String],
) -> Result<Scenario, ScenarioError> {
    let flags = sets
        .iter()
        .map(|s| overrides::parse_flag(s))
        .collect::<Result<Vec<_>, _>>()?;
    let in_file =
        |text: &str, p: Problem| ScenarioError::in_file(file_label, text, p.span, p.message);
    if flags.is_empty() {
        return check(source).map_err(|p| in_file(source, p));
    }
    let mut doc: DocumentMut = match source.parse() {
        Ok(doc) => doc,
        Err(e) => return Err(in_file(source, locate::syntax_problem(&e))),
    };
    let original = check(source);
    let mut previous_ok = original.is_ok();
    let mut text = source.to_string();
    let mut latest = original.clone();
    for flag in &flags {
        overrides::apply(&mut doc, flag)?;
        text = doc.to_string();
        latest = check(&text);
        // The first override that turns a loadable scenario into a broken one takes the blame.
        if let (true, Err(problem)) = (previous_ok, &latest) {
            return Err(ScenarioError::for_flag(&flag.flag, problem.message.clone()));
        }
        previous_ok = latest.is_ok();
    }
    match (latest, original) {
        (Ok(scenario), _) => Ok(scenario),
        // The file was broken before any override and still is in the same way: point into it.
        (Err(now), Err(before)) if now.message == before.message => Err(in_file(source, before)),
        (Err(now), _) => Err(in_file(&text, now)),
    }
}

/// The TOML document of a loadable scenario with every `--set` applied, as if the file said
/// them (for tools that rewrite scenarios, such as `kafkasim shrink`).
pub fn document_with_sets(
    source: &str,
    file_label: &str,
    sets: &[String],
) -> Result<DocumentMut, ScenarioError> {
    parse_str(source, file_label, sets)?;
    let mut doc: DocumentMut = source.parse().map_err(|e| {
        let p = locate::syntax_problem(&e);
        ScenarioError::in_file(file_label, source, p.span, p.message)
    })?;
    for set in sets {
        overrides::apply(&mut doc, &overrides::parse_flag(set)?)?;
    }
    Ok(doc)
}

/// Deserializes, resolves and validates one text.
fn check(text: &str) -> Result<Scenario, Problem> {
    let file: file::ScenarioFile =
        toml::from_str(text).map_err(|e| locate::data_problem(text, &e))?;
    let scenario = file
        .resolve()
        .map_err(|issue| locate::issue_problem(text, issue))?;
    validate::validate(&scenario).map_err(|issue| locate::issue_problem(text, issue))?;
    Ok(scenario)
}

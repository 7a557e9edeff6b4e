//! Shrinking a failing run into a scenario a person can read (`kafkasim shrink`). The run's
//! nemesis is first turned into an explicit `[[fault]]` schedule — the same faults at the same
//! times, so the run is the same — and then, keeping the seed, the scenario is cut down for as
//! long as the same anomaly kind still appears: faults are delta-debugged away (ddmin), then
//! whole producers, consumers and pipelines go, brokers, partitions and records are reduced and
//! the safety phase is shortened, round after round until nothing more can go. Every candidate
//! is a real scenario run from its TOML text, so what comes out reproduces by construction.

mod document;
mod reduce;

use toml_edit::{Array, DocumentMut, Item, Table, Value, value};

use crate::faults;
use crate::run::{self, RunOptions};
use crate::scenario::{self, AnomalyKind, ScenarioError};
use document::{Snapshot, fault_table, with_faults};
use reduce::State;

/// The most rounds of reductions; each round runs every reduction once.
const MAX_ROUNDS: usize = 4;

/// A shrunk scenario.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The minimal scenario's TOML text.
    pub text: String,
    /// The anomaly kind it keeps.
    pub kind: AnomalyKind,
    /// Every anomaly kind the minimal scenario shows (its `[expect]`).
    pub kinds: Vec<AnomalyKind>,
    /// What was removed or reduced, one line each.
    pub removed: Vec<String>,
    /// Faults in the explicit schedule before shrinking, and after.
    pub faults: (usize, usize),
    /// How many candidate runs it took.
    pub runs: usize,
}

/// Why a run could not be shrunk.
#[derive(Debug)]
pub enum ShrinkError {
    /// The scenario or an override is invalid.
    Scenario(ScenarioError),
    /// The run shows no anomaly (or not the one asked for): nothing to shrink.
    NothingToShrink(String),
    /// The run fails inside the simulator; shrinking needs a run that completes.
    Internal(String),
}

impl std::fmt::Display for ShrinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShrinkError::Scenario(e) => write!(f, "{e}"),
            ShrinkError::NothingToShrink(m) | ShrinkError::Internal(m) => f.write_str(m),
        }
    }
}

/// What to shrink: a scenario's text, its overrides and the seed.
pub struct Request<'a> {
    /// The scenario file's text.
    pub source: &'a str,
    /// The file's name, for messages and the minimal scenario's header.
    pub label: &'a str,
    /// `--set` overrides, applied before shrinking (the result says them in the file).
    pub sets: &'a [String],
    /// The seed, kept throughout.
    pub seed: u64,
    /// The anomaly kind to keep; default: the first the run shows (in checker order).
    pub kind: Option<AnomalyKind>,
}

/// Shrinks `request`; `progress` hears one line per accepted reduction.
pub fn shrink(request: &Request, progress: &mut dyn FnMut(&str)) -> Result<Shrunk, ShrinkError> {
    let scenario = scenario::parse_str(request.source, request.label, request.sets)
        .map_err(ShrinkError::Scenario)?;
    if let Some(why) = run::unsupported(&scenario) {
        return Err(ShrinkError::NothingToShrink(format!(
            "{}: not supported yet: {why}",
            request.label
        )));
    }
    let outcome = run::run(&scenario, request.seed, RunOptions::default())
        .map_err(|e| ShrinkError::Internal(format!("the run fails: {e}")))?;
    let found = kinds_found(&outcome.summary.anomaly_counts);
    let kind = match request.kind {
        Some(kind) if found.contains(&kind) => kind,
        Some(kind) => {
            return Err(ShrinkError::NothingToShrink(format!(
                "seed {} shows no {} (found: {})",
                request.seed,
                kind.as_str(),
                names(&found)
            )));
        }
        None => *found.first().ok_or_else(|| {
            ShrinkError::NothingToShrink(format!(
                "seed {} shows no anomaly: nothing to shrink",
                request.seed
            ))
        })?,
    };

    let mut doc = scenario::document_with_sets(request.source, request.label, request.sets)
        .map_err(ShrinkError::Scenario)?;
    let mut node_names = scenario.node_names();
    node_names.extend(["tail-reader".into(), "final-reader".into()]);
    let nemesis = faults::nemesis::schedule(&scenario, &scenario.node_names(), request.seed);
    // `[[fault]]` tables, or `fault = [{ … }, …]` written inline.
    let mut fault_tables: Vec<Table> = match doc.get("fault") {
        Some(Item::ArrayOfTables(array)) => array.iter().cloned().collect(),
        Some(item) => item
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_inline_table)
                    .map(|t| t.clone().into_table())
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    fault_tables.extend(
        nemesis
            .iter()
            .map(|(at, fault)| fault_table(*at, fault, &node_names)),
    );
    doc.remove("nemesis");
    let mut work = Work {
        label: request.label,
        seed: request.seed,
        kind,
        runs: 0,
    };
    let explicit = with_faults(&doc, &fault_tables);
    if let Err(err) = scenario::parse_str(&explicit.to_string(), request.label, &[]) {
        return Err(ShrinkError::Internal(format!(
            "the run's faults written out as [[fault]] entries make no valid scenario: {err}"
        )));
    }
    if !work.reproduces(&explicit) {
        return Err(ShrinkError::Internal(format!(
            "the run with its nemesis written out as [[fault]] entries no longer shows {}",
            kind.as_str()
        )));
    }
    let before = fault_tables.len();
    let original = Snapshot::of(&explicit, before);
    let mut state = State {
        doc,
        faults: fault_tables,
    };
    for round in 0..MAX_ROUNDS {
        let runs = work.runs;
        let changed = state.round(&mut work, progress);
        progress(&format!(
            "round {}: {} runs, {} faults left",
            round + 1,
            work.runs - runs,
            state.faults.len()
        ));
        if !changed {
            break;
        }
    }
    let mut minimal = with_faults(&state.doc, &state.faults);
    let removed = original.changes(&Snapshot::of(&minimal, state.faults.len()));
    let name = scenario.name.clone() + "-shrunk";
    minimal["name"] = value(name);
    // TOML integers are signed: a larger seed stays on the command line (the header says it).
    match i64::try_from(request.seed) {
        Ok(seed) => minimal["seed"] = value(seed),
        Err(_) => {
            minimal.remove("seed");
        }
    }
    let kinds = work.kinds(&minimal).unwrap_or_else(|| vec![kind]);
    let mut expect = Table::new();
    expect["anomalies"] = value(Array::from_iter(kinds.iter().map(|k| k.as_str())));
    minimal.remove("expect");
    minimal.insert("expect", Item::Table(expect));
    let header = format!(
        "# Shrunk by `kafkasim shrink {} --seed {}{}`: {} with {} of {} faults.\n# {}\n\n",
        request.label,
        request.seed,
        request
            .sets
            .iter()
            .map(|s| format!(" --set {s}"))
            .collect::<String>(),
        kind.as_str(),
        state.faults.len(),
        before,
        if removed.is_empty() {
            "Nothing could be removed.".to_owned()
        } else {
            format!("Removed: {}.", removed.join("; "))
        },
    );
    // The original file's opening comments describe the original scenario: drop them.
    let text = minimal.to_string();
    let body = text.trim_start_matches(|c: char| c.is_whitespace());
    let body = body
        .lines()
        .skip_while(|l| l.starts_with('#') || l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Shrunk {
        text: header + &body + "\n",
        kind,
        kinds,
        removed,
        faults: (before, state.faults.len()),
        runs: work.runs,
    })
}

fn names(kinds: &[AnomalyKind]) -> String {
    if kinds.is_empty() {
        return "none".into();
    }
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The anomaly kinds a run's counts name, in checker order.
fn kinds_found(counts: &std::collections::BTreeMap<String, u64>) -> Vec<AnomalyKind> {
    AnomalyKind::ALL
        .iter()
        .copied()
        .filter(|k| counts.contains_key(k.as_str()))
        .collect()
}

/// Runs candidates with the seed and asks whether the anomaly kind is still there.
struct Work<'a> {
    label: &'a str,
    seed: u64,
    kind: AnomalyKind,
    runs: usize,
}

impl Work<'_> {
    /// The anomaly kinds `doc` shows with the seed, or `None` if it is no valid scenario or its
    /// run fails.
    fn kinds(&mut self, doc: &DocumentMut) -> Option<Vec<AnomalyKind>> {
        self.runs += 1;
        let scenario = scenario::parse_str(&doc.to_string(), self.label, &[]).ok()?;
        if run::unsupported(&scenario).is_some() {
            return None;
        }
        // A candidate that breaks an invariant (or panics) is no reproduction of this anomaly.
        let run = || run::run(&scenario, self.seed, RunOptions::default());
        let outcome = std::panic::catch_unwind(run).ok()?.ok()?;
        Some(kinds_found(&outcome.summary.anomaly_counts))
    }

    fn reproduces(&mut self, doc: &DocumentMut) -> bool {
        self.kinds(doc).is_some_and(|k| k.contains(&self.kind))
    }
}

//! Shrinking a failing run into a scenario a person can read (`kafkasim shrink`). The run's
//! nemesis is first turned into an explicit `[[fault]]` schedule — the same faults at the same
//! times, so the run is the same — and then, keeping the seed, the scenario is cut down for as
//! long as the same anomaly kind still appears: faults are delta-debugged away (ddmin), then
//! whole producers, consumers and pipelines go, brokers, partitions and records are reduced and
//! the safety phase is shortened, round after round until nothing more can go. Every candidate
//! is a real scenario run from its TOML text, so what comes out reproduces by construction.

use std::collections::BTreeSet;

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value, value};

use crate::cli::FaultRecord;
use crate::faults::{self, FaultAction};
use crate::run::{self, RunOptions};
use crate::scenario::{self, AnomalyKind, ScenarioError};
use crate::sim::SimTime;

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
    let found: Vec<AnomalyKind> = AnomalyKind::ALL
        .iter()
        .copied()
        .filter(|k| outcome.summary.anomaly_counts.contains_key(k.as_str()))
        .collect();
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
        let counts = outcome.summary.anomaly_counts;
        Some(
            AnomalyKind::ALL
                .iter()
                .copied()
                .filter(|k| counts.contains_key(k.as_str()))
                .collect(),
        )
    }

    fn reproduces(&mut self, doc: &DocumentMut) -> bool {
        self.kinds(doc).is_some_and(|k| k.contains(&self.kind))
    }
}

/// The scenario being shrunk: the document without its `[[fault]]` entries, and those.
struct State {
    doc: DocumentMut,
    faults: Vec<Table>,
}

impl State {
    /// Runs every reduction once; returns whether any succeeded.
    fn round(&mut self, work: &mut Work, progress: &mut dyn FnMut(&str)) -> bool {
        let mut changed = self.drop_faults(work, progress);
        for section in ["producer", "consumer", "pipeline"] {
            changed |= self.drop_entries(work, section, progress);
        }
        changed |= self.reduce_brokers(work, progress);
        changed |= self.reduce_numbers(work, "topic", "partitions", progress);
        changed |= self.reduce_numbers(work, "producer", "records", progress);
        changed |= self.shorten(work, progress);
        changed
    }

    fn try_doc(&self, work: &mut Work, doc: &DocumentMut, faults: &[Table]) -> bool {
        work.reproduces(&with_faults(doc, faults))
    }

    /// Delta debugging over the faults: remove chunks while the anomaly stays.
    fn drop_faults(&mut self, work: &mut Work, progress: &mut dyn FnMut(&str)) -> bool {
        let before = self.faults.len();
        let mut faults = std::mem::take(&mut self.faults);
        let mut chunks = 2;
        while !faults.is_empty() {
            let size = faults.len().div_ceil(chunks);
            let mut reduced = false;
            for start in (0..faults.len()).step_by(size) {
                let mut candidate = faults[..start].to_vec();
                candidate.extend_from_slice(&faults[(start + size).min(faults.len())..]);
                if self.try_doc(work, &self.doc, &candidate) {
                    faults = candidate;
                    chunks = (chunks - 1).max(2);
                    reduced = true;
                    break;
                }
            }
            if !reduced {
                if chunks >= faults.len() {
                    break;
                }
                chunks = (chunks * 2).min(faults.len());
            }
        }
        self.faults = faults;
        let changed = self.faults.len() < before;
        if changed {
            progress(&format!("faults: {before} -> {}", self.faults.len()));
        }
        changed
    }

    /// Removes whole `[[section]]` entries (and the faults that name their nodes).
    fn drop_entries(
        &mut self,
        work: &mut Work,
        section: &str,
        progress: &mut dyn FnMut(&str),
    ) -> bool {
        let mut changed = false;
        let mut index = 0;
        while index < entries(&self.doc, section).len() {
            let name = entries(&self.doc, section)[index].clone();
            let mut doc = self.doc.clone();
            if let Some(aot) = doc.get_mut(section).and_then(Item::as_array_of_tables_mut) {
                aot.remove(index);
                if aot.is_empty() {
                    doc.remove(section);
                }
            }
            let faults = without_node(&self.faults, |node| {
                node == name
                    || node
                        .strip_prefix(&format!("{name}-"))
                        .is_some_and(is_number)
            });
            if self.try_doc(work, &doc, &faults) {
                progress(&format!("removed {section} {name}"));
                self.doc = doc;
                self.faults = faults;
                changed = true;
            } else {
                index += 1;
            }
        }
        changed
    }

    /// Removes the highest-numbered broker while the anomaly stays.
    fn reduce_brokers(&mut self, work: &mut Work, progress: &mut dyn FnMut(&str)) -> bool {
        let mut changed = false;
        loop {
            let brokers = self.doc["cluster"]["brokers"].as_integer().unwrap_or(1);
            if brokers <= 1 {
                return changed;
            }
            let mut doc = self.doc.clone();
            doc["cluster"]["brokers"] = value(brokers - 1);
            let gone = format!("broker-{}", brokers - 1);
            let faults = without_node(&self.faults, |node| node == gone);
            if !self.try_doc(work, &doc, &faults) {
                return changed;
            }
            progress(&format!("brokers: {brokers} -> {}", brokers - 1));
            self.doc = doc;
            self.faults = faults;
            changed = true;
        }
    }

    /// Lowers `key` of each `[[section]]` entry by bisection while the anomaly stays.
    fn reduce_numbers(
        &mut self,
        work: &mut Work,
        section: &str,
        key: &str,
        progress: &mut dyn FnMut(&str),
    ) -> bool {
        let mut changed = false;
        for index in 0..entries(&self.doc, section).len() {
            let current =
                |doc: &DocumentMut| doc[section][index].get(key).and_then(Item::as_integer);
            let Some(start) = current(&self.doc) else {
                continue;
            };
            let (mut low, mut high) = (1, start);
            while low < high {
                let mid = low + (high - low) / 2;
                let mut doc = self.doc.clone();
                set_number(&mut doc, section, index, key, mid);
                if self.try_doc(work, &doc, &self.faults) {
                    high = mid;
                    self.doc = doc;
                } else {
                    low = mid + 1;
                }
            }
            if high < start {
                let name = &entries(&self.doc, section)[index];
                progress(&format!("{section} {name} {key}: {start} -> {high}"));
                changed = true;
            }
        }
        changed
    }

    /// Shortens the safety phase by bisection, not before the last timed fault.
    fn shorten(&mut self, work: &mut Work, progress: &mut dyn FnMut(&str)) -> bool {
        let Some(start) = self.doc.get("duration_ms").and_then(Item::as_integer) else {
            return false;
        };
        let last_fault = self
            .faults
            .iter()
            .filter_map(|f| f.get("at_ms").and_then(Item::as_integer))
            .max()
            .unwrap_or(0);
        let (mut low, mut high) = (last_fault + 1, start);
        while low < high {
            let mid = low + (high - low) / 2;
            let mut doc = self.doc.clone();
            doc["duration_ms"] = value(mid);
            if self.try_doc(work, &doc, &self.faults) {
                high = mid;
                self.doc = doc;
            } else {
                low = mid + 1;
            }
        }
        let changed = high < start;
        if changed {
            progress(&format!("duration_ms: {start} -> {high}"));
        }
        changed
    }
}

/// Sets `[[section]]` #`index`'s `key`; fewer partitions also trim an explicit assignment.
fn set_number(doc: &mut DocumentMut, section: &str, index: usize, key: &str, n: i64) {
    let Some(table) = doc
        .get_mut(section)
        .and_then(Item::as_array_of_tables_mut)
        .and_then(|a| a.get_mut(index))
    else {
        return;
    };
    table[key] = value(n);
    if key == "partitions"
        && let Some(replicas) = table.get_mut("replicas").and_then(Item::as_array_mut)
    {
        while replicas.len() > n as usize {
            replicas.remove(replicas.len() - 1);
        }
    }
}

/// The `name`s of the `[[section]]` entries, in order.
fn entries(doc: &DocumentMut, section: &str) -> Vec<String> {
    doc.get(section)
        .and_then(Item::as_array_of_tables)
        .map(|a| {
            a.iter()
                .map(|t| {
                    t.get("name")
                        .and_then(Item::as_str)
                        .unwrap_or("")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The faults that name no node `gone` matches (partition groups lose such nodes instead).
fn without_node(faults: &[Table], gone: impl Fn(&str) -> bool) -> Vec<Table> {
    let names = |item: Option<&Item>| item.and_then(Item::as_str).is_some_and(&gone);
    faults
        .iter()
        .filter(|f| !names(f.get("node")) && !names(f.get("from")) && !names(f.get("to")))
        .filter_map(|f| {
            let mut f = f.clone();
            if let Some(groups) = f.get_mut("groups").and_then(Item::as_array_mut) {
                for group in groups.iter_mut() {
                    if let Some(members) = group.as_array_mut() {
                        members.retain(|m| !m.as_str().is_some_and(&gone));
                    }
                }
                groups.retain(|g| g.as_array().is_some_and(|m| !m.is_empty()));
                if groups.len() < 2 {
                    return None;
                }
            }
            Some(f)
        })
        .collect()
}

/// `doc` with exactly `faults` as its `[[fault]]` entries, placed before `[expect]`.
fn with_faults(doc: &DocumentMut, faults: &[Table]) -> DocumentMut {
    let mut doc = doc.clone();
    doc.remove("fault");
    let expect = doc.remove("expect");
    if !faults.is_empty() {
        let mut array = ArrayOfTables::new();
        for fault in faults {
            array.push(fault.clone());
        }
        doc.insert("fault", Item::ArrayOfTables(array));
    }
    if let Some(expect) = expect {
        doc.insert("expect", expect);
    }
    doc
}

/// One fault as a `[[fault]]` table, with the fields the run's `faults` list gives it.
fn fault_table(at: SimTime, fault: &FaultAction, names: &[String]) -> Table {
    let record = FaultRecord::new(at, fault, names);
    let mut t = Table::new();
    t["at_ms"] = value(record.at_ms as i64);
    t["action"] = value(record.action);
    let mut text = |key: &str, v: Option<String>| {
        if let Some(v) = v {
            t[key] = value(v);
        }
    };
    text("node", record.node);
    text("from", record.from);
    text("to", record.to);
    if let Some(groups) = record.groups {
        let groups = groups
            .iter()
            .map(|g| Value::Array(Array::from_iter(g.iter().map(String::as_str))));
        t["groups"] = value(Array::from_iter(groups));
    }
    for (key, v) in [("extra_ms", record.extra_ms), ("for_ms", record.for_ms)] {
        if let Some(v) = v {
            t[key] = value(v as i64);
        }
    }
    if let Some(torn) = record.torn {
        t["torn"] = value(torn);
    }
    t
}

/// The sizes shrinking reports on.
#[derive(PartialEq, Eq)]
struct Snapshot {
    faults: usize,
    duration_ms: Option<i64>,
    brokers: Option<i64>,
    entries: Vec<(String, BTreeSet<String>)>,
    numbers: Vec<(String, i64)>,
}

impl Snapshot {
    fn of(doc: &DocumentMut, faults: usize) -> Snapshot {
        let mut numbers = Vec::new();
        for (section, key) in [("topic", "partitions"), ("producer", "records")] {
            for (index, name) in entries(doc, section).into_iter().enumerate() {
                if let Some(n) = doc[section][index].get(key).and_then(Item::as_integer) {
                    numbers.push((format!("{section} {name} {key}"), n));
                }
            }
        }
        Snapshot {
            faults,
            duration_ms: doc.get("duration_ms").and_then(Item::as_integer),
            brokers: doc
                .get("cluster")
                .and_then(|c| c.get("brokers"))
                .and_then(Item::as_integer),
            entries: ["producer", "consumer", "pipeline"]
                .iter()
                .map(|s| (s.to_string(), entries(doc, s).into_iter().collect()))
                .collect(),
            numbers,
        }
    }

    /// What changed from `self` to `after`, one phrase each.
    fn changes(&self, after: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        if after.faults < self.faults {
            out.push(format!(
                "{} of {} faults",
                self.faults - after.faults,
                self.faults
            ));
        }
        for ((section, before), (_, kept)) in self.entries.iter().zip(&after.entries) {
            for gone in before.difference(kept) {
                out.push(format!("{section} {gone}"));
            }
        }
        if let (Some(b), Some(a)) = (self.brokers, after.brokers)
            && a < b
        {
            out.push(format!("brokers {b} -> {a}"));
        }
        for (what, before) in &self.numbers {
            if let Some((_, now)) = after.numbers.iter().find(|(w, _)| w == what)
                && now < before
            {
                out.push(format!("{what} {before} -> {now}"));
            }
        }
        if let (Some(b), Some(a)) = (self.duration_ms, after.duration_ms)
            && a < b
        {
            out.push(format!("duration_ms {b} -> {a}"));
        }
        out
    }
}

//! Sweep results read back and summed up: a seed's result as its JSON line carries it, the
//! summary a sweep prints (counts per anomaly kind, first seeds, replay commands), and
//! `kafkasim merge <files>…`, which sums up the shards of one sweep.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{EXIT_ANOMALIES, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE};

/// How many seeds the summary lists per anomaly kind.
const FIRST_SEEDS: usize = 5;

/// What `merge` and the summary read back from a line.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct SeedResult {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The replication protocol the run used.
    #[serde(default)]
    pub replication_protocol: String,
    /// The run's trace hash (absent for an internal error).
    #[serde(default)]
    pub trace_hash: Option<String>,
    /// Anomalies per kind.
    #[serde(default)]
    pub anomaly_counts: BTreeMap<String, u64>,
    /// Whether the run met its `[expect]`.
    #[serde(default)]
    pub expect_met: bool,
    /// The command that replays the seed.
    #[serde(default)]
    pub replay: String,
    /// The internal error the run hit, if it hit one.
    #[serde(default)]
    pub error: Option<String>,
}

impl SeedResult {
    /// The replay command without its `--seed`: what every line of one sweep shares.
    fn sweep_command(&self) -> String {
        self.replay.replace(&format!(" --seed {}", self.seed), "")
    }
}

/// Seeds of one kind (missed `[expect]`, an anomaly kind, an internal error): how many, the first
/// few, and the first one's replay command.
#[derive(Default)]
struct Tally {
    count: u64,
    first: Vec<u64>,
    replay: String,
}

impl Tally {
    fn add(&mut self, result: &SeedResult) {
        if self.count == 0 {
            self.replay.clone_from(&result.replay);
        }
        self.count += 1;
        if self.first.len() < FIRST_SEEDS {
            self.first.push(result.seed);
        }
    }

    fn first_seeds(&self) -> String {
        let seeds: Vec<String> = self.first.iter().map(u64::to_string).collect();
        seeds.join(" ")
    }
}

/// The summary of a sweep, kept as seeds come: counts and the first seeds of each kind.
#[derive(Default)]
pub struct Summary {
    seeds: u64,
    missed: Tally,
    kinds: BTreeMap<String, Tally>,
    errors: Tally,
}

impl Summary {
    /// How many seeds were counted.
    pub fn seeds(&self) -> u64 {
        self.seeds
    }

    /// Counts one seed's result.
    pub fn add(&mut self, result: &SeedResult) {
        self.seeds += 1;
        if !result.expect_met {
            self.missed.add(result);
        }
        for kind in result.anomaly_counts.keys() {
            self.kinds.entry(kind.clone()).or_default().add(result);
        }
        if result.error.is_some() {
            self.errors.add(result);
        }
    }

    /// The exit code: 3 if a seed failed inside the simulator, 1 if one missed its `[expect]`.
    pub fn exit_code(&self) -> i32 {
        if self.errors.count > 0 {
            EXIT_INTERNAL
        } else if self.missed.count > 0 {
            EXIT_ANOMALIES
        } else {
            EXIT_OK
        }
    }

    /// The progress bar's message: failing seeds and the seeds with each anomaly kind so far.
    pub fn progress(&self) -> String {
        let kinds: Vec<String> = self
            .kinds
            .iter()
            .map(|(kind, tally)| format!("{kind} {}", tally.count))
            .collect();
        format!("{} failing · {}", self.missed.count, kinds.join(", "))
    }

    /// The summary table: seeds per anomaly kind with the first ones, and a replay command each.
    pub fn text(&self) -> String {
        let mut text = format!(
            "expect     met by {} of {} seeds",
            self.seeds - self.missed.count,
            self.seeds
        );
        if self.missed.count > 0 {
            text += &format!(" (first missed: {})", self.missed.first_seeds());
        }
        text.push('\n');
        if self.kinds.is_empty() && self.errors.count == 0 {
            text += "anomalies  none\n";
            return text;
        }
        let width = self
            .kinds
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(0)
            .max(14);
        text += &format!("{:<width$}  {:>6}  first seeds\n", "anomaly", "seeds");
        let errors = (self.errors.count > 0).then_some(("internal-error", &self.errors));
        let rows = self
            .kinds
            .iter()
            .map(|(k, t)| (k.as_str(), t))
            .chain(errors);
        for (kind, tally) in rows.clone() {
            text += &format!(
                "{kind:<width$}  {:>6}  {}\n",
                tally.count,
                tally.first_seeds()
            );
        }
        for (kind, tally) in rows {
            text += &format!("replay     {}   # {kind}\n", tally.replay);
        }
        text
    }
}

/// Runs `kafkasim merge <files>…` and returns the exit code.
pub fn merge(files: &[PathBuf]) -> i32 {
    let mut by_seed: BTreeMap<u64, SeedResult> = BTreeMap::new();
    let mut first: Option<(SeedResult, String)> = None;
    for file in files {
        let lines = match read_results(file) {
            Ok(lines) => lines,
            Err(message) => {
                eprintln!("error: {message}");
                return EXIT_USAGE;
            }
        };
        for (line, result) in lines {
            let here = format!("{}:{line}", file.display());
            if let Some((sweep, at)) = &first
                && let Some(what) = different_sweep(sweep, &result)
            {
                eprintln!("error: {here}: {what} than {at}: merge the shards of one sweep");
                return EXIT_USAGE;
            }
            first.get_or_insert_with(|| (result.clone(), here.clone()));
            match by_seed.get(&result.seed).map(|r| &r.trace_hash) {
                Some(hash) if *hash != result.trace_hash => {
                    eprintln!(
                        "error: {here}: seed {} ran differently on an earlier line: the files \
                         come from different builds or scenario versions",
                        result.seed
                    );
                    return EXIT_USAGE;
                }
                Some(_) => continue,
                None => {}
            }
            by_seed.insert(result.seed, result);
        }
    }
    // In seed order, as the sweep that wrote them counted them.
    let mut summary = Summary::default();
    for result in by_seed.values() {
        summary.add(result);
    }
    let Some((sweep, _)) = first else {
        eprintln!("error: the files hold no results");
        return EXIT_USAGE;
    };
    print!(
        "merge      {} ({}): {} seeds from {} file{}\n{}",
        sweep.scenario,
        sweep.replication_protocol,
        summary.seeds,
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        summary.text()
    );
    summary.exit_code()
}

/// Why `b` cannot come from the same sweep as `a`, if it cannot.
fn different_sweep(a: &SeedResult, b: &SeedResult) -> Option<String> {
    if a.scenario != b.scenario {
        return Some(format!("scenario `{}`, another", b.scenario));
    }
    if a.replication_protocol != b.replication_protocol {
        return Some(format!("protocol {}, another", b.replication_protocol));
    }
    if a.sweep_command() != b.sweep_command() {
        return Some(format!("`{}`, another command", b.sweep_command()));
    }
    None
}

/// Every result line of a JSONL file, with its line number; an error names the file and line.
fn read_results(path: &Path) -> Result<Vec<(usize, SeedResult)>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut results = Vec::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| format!("{}:{number}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let result: SeedResult = serde_json::from_str(&line).map_err(|e| {
            format!(
                "{}:{number}:{}: not a sweep result line: {e}",
                path.display(),
                e.column()
            )
        })?;
        if result.trace_hash.is_none() && result.error.is_none() {
            return Err(format!(
                "{}:{number}: not a sweep result line: neither `trace_hash` nor `error`",
                path.display()
            ));
        }
        results.push((number, result));
    }
    Ok(results)
}

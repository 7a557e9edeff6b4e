//! `kafkasim sweep <scenario> --seeds A..B [--jobs N] [--shard I/N] [--out file.jsonl]` runs one
//! scenario under many seeds — each seed single-threaded, seeds spread over worker threads — and
//! writes one JSON line per seed, in seed order whatever the number of jobs, then a summary per
//! anomaly kind with the first failing seeds and their replay commands. `kafkasim merge` reads
//! such files back (shards of one sweep) and prints the same summary.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::{EXIT_ANOMALIES, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, RunSummary, SweepArgs};
use crate::run::{self, RunOptions};
use crate::scenario::Scenario;

/// How many failing seeds the summary lists per anomaly kind.
const FIRST_SEEDS: usize = 5;

/// A range of seeds, `A..B` (B excluded) or `A..=B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    /// The first seed.
    pub start: u64,
    /// One past the last seed.
    pub end: u64,
}

impl std::str::FromStr for SeedRange {
    type Err = String;

    fn from_str(s: &str) -> Result<SeedRange, String> {
        let usage = || format!("`{s}` is no seed range: expected A..B (B excluded) or A..=B");
        let (a, b, inclusive) = match (s.split_once("..="), s.split_once("..")) {
            (Some((a, b)), _) => (a, b, true),
            (None, Some((a, b))) => (a, b, false),
            (None, None) => return Err(usage()),
        };
        let number = |t: &str| t.trim().parse::<u64>().map_err(|_| usage());
        let (start, last) = (number(a)?, number(b)?);
        let end = if inclusive {
            last.checked_add(1).ok_or_else(usage)?
        } else {
            last
        };
        if end <= start {
            return Err(format!("`{s}` is an empty seed range"));
        }
        Ok(SeedRange { start, end })
    }
}

/// Shard `index` of `count`: every `count`-th seed of the range from the `index`-th.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: u64,
    /// How many shards.
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let usage = || format!("`{s}` is no shard: expected I/N with 0 <= I < N, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(usage)?;
        let index = i.trim().parse::<u64>().map_err(|_| usage())?;
        let count = n.trim().parse::<u64>().map_err(|_| usage())?;
        if count == 0 || index >= count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

/// The seeds of `range` in `shard`, in order.
pub fn shard_seeds(range: SeedRange, shard: Shard) -> Vec<u64> {
    (range.start..range.end)
        .filter(|seed| (seed - range.start) % shard.count == shard.index)
        .collect()
}

/// One seed's line of a sweep: the `run --json` object plus the command that replays it, or the
/// internal error the run hit.
#[derive(Serialize)]
struct SeedLine<'a> {
    #[serde(flatten)]
    summary: &'a RunSummary,
    replay: &'a str,
}

/// What `merge` and the summary read back from a line.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct SeedResult {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The run's trace hash (empty for an internal error).
    #[serde(default)]
    pub trace_hash: String,
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

/// Runs `kafkasim sweep` and returns the exit code.
pub fn sweep(args: &SweepArgs) -> i32 {
    if let Some(path) = &args.out
        && let Err(message) = super::run::check_output_path(path)
    {
        eprintln!("error: --out {}: {message}", path.display());
        return EXIT_USAGE;
    }
    if args.jobs == Some(0) {
        eprintln!("error: --jobs: must be at least 1");
        return EXIT_USAGE;
    }
    let scenario = match super::load_runnable(&args.scenario, &args.sets) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let shard = args.shard.unwrap_or(Shard { index: 0, count: 1 });
    let seeds = shard_seeds(args.seeds, shard);
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .min(seeds.len().max(1));
    let progress = progress_bar(seeds.len() as u64);
    #[allow(clippy::disallowed_methods)] // the CLI alone reads the wall clock, to report rates
    let started = std::time::Instant::now();
    let mut jsonl = String::new();
    let mut results = Vec::with_capacity(seeds.len());
    let mut failing = 0u64;
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut stdout = std::io::stdout().lock();
    run_seeds(&scenario, &seeds, jobs, |seed, outcome, wall_ms| {
        let command = super::replay_command(&args.scenario, seed, &args.sets);
        let line = match outcome {
            Ok(mut summary) => {
                summary.wall_ms = wall_ms;
                let line = serde_json::to_string(&SeedLine {
                    summary: &summary,
                    replay: &command,
                })
                .expect("a summary serializes");
                results.push(SeedResult {
                    scenario: summary.scenario.clone(),
                    seed,
                    trace_hash: summary.trace_hash.clone(),
                    anomaly_counts: summary.anomaly_counts.clone(),
                    expect_met: summary.expect_met,
                    replay: command,
                    error: None,
                });
                line
            }
            Err(error) => {
                let result = SeedResult {
                    scenario: scenario.name.clone(),
                    seed,
                    trace_hash: String::new(),
                    anomaly_counts: BTreeMap::new(),
                    expect_met: false,
                    replay: command,
                    error: Some(error),
                };
                let line = serde_json::json!({
                    "scenario": result.scenario, "seed": seed, "error": result.error,
                    "expect_met": false, "replay": result.replay,
                })
                .to_string();
                results.push(result);
                line
            }
        };
        if let Some(last) = results.last() {
            failing += u64::from(!last.expect_met);
            for kind in last.anomaly_counts.keys() {
                *seen.entry(kind.clone()).or_insert(0u64) += 1;
            }
            let kinds: Vec<String> = seen.iter().map(|(k, n)| format!("{k} {n}")).collect();
            progress.set_message(format!("{failing} failing · {}", kinds.join(", ")));
        }
        progress.inc(1);
        if args.out.is_some() {
            jsonl.push_str(&line);
            jsonl.push('\n');
        } else {
            // A closed pipe (`| head`) is the reader's choice; the summary still goes to stderr.
            let _ = writeln!(stdout, "{line}");
        }
    });
    progress.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    if let Some(path) = &args.out
        && let Err(err) = super::write_atomically(path, jsonl.as_bytes())
    {
        eprintln!("error: --out {}: {err}", path.display());
        return EXIT_USAGE;
    }
    let mut text = format!(
        "sweep      {} ({}), seeds {}..{}{}, {jobs} job{}\n",
        scenario.name,
        scenario.cluster.replication_protocol.as_str(),
        args.seeds.start,
        args.seeds.end,
        if shard.count > 1 {
            format!(" shard {}/{}", shard.index, shard.count)
        } else {
            String::new()
        },
        if jobs == 1 { "" } else { "s" },
    );
    text += &format!(
        "ran        {} seeds in {wall:.1} s ({:.1} seeds/s)\n",
        results.len(),
        results.len() as f64 / wall.max(1e-9)
    );
    text += &summary_text(&results);
    if let Some(path) = &args.out {
        text += &format!("results    {}\n", path.display());
        print!("{text}");
    } else {
        eprint!("{text}");
    }
    exit_code(&results)
}

/// Runs `kafkasim merge <files>…` and returns the exit code.
pub fn merge(files: &[PathBuf]) -> i32 {
    let mut by_seed: BTreeMap<u64, SeedResult> = BTreeMap::new();
    let mut scenario: Option<(String, PathBuf)> = None;
    for file in files {
        let lines = match read_results(file) {
            Ok(lines) => lines,
            Err(message) => {
                eprintln!("error: {message}");
                return EXIT_USAGE;
            }
        };
        for (line, result) in lines {
            let here = || format!("{}:{line}", file.display());
            match &scenario {
                Some((name, first)) if *name != result.scenario => {
                    eprintln!(
                        "error: {}: scenario `{}`, but {} holds `{name}`: merge shards of one sweep",
                        here(),
                        result.scenario,
                        first.display()
                    );
                    return EXIT_USAGE;
                }
                Some(_) => {}
                None => scenario = Some((result.scenario.clone(), file.clone())),
            }
            if let Some(seen) = by_seed.get(&result.seed) {
                if seen.trace_hash != result.trace_hash {
                    eprintln!(
                        "error: {}: seed {} has trace {}, but an earlier line has {}: the runs \
                         differ (another scenario version or overrides?)",
                        here(),
                        result.seed,
                        result.trace_hash,
                        seen.trace_hash
                    );
                    return EXIT_USAGE;
                }
                continue;
            }
            by_seed.insert(result.seed, result);
        }
    }
    let results: Vec<SeedResult> = by_seed.into_values().collect();
    let Some((name, _)) = scenario else {
        eprintln!("error: the files hold no results");
        return EXIT_USAGE;
    };
    print!(
        "merge      {name}: {} seeds from {} file{}\n{}",
        results.len(),
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        summary_text(&results)
    );
    exit_code(&results)
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
        results.push((number, result));
    }
    Ok(results)
}

fn exit_code(results: &[SeedResult]) -> i32 {
    if results.iter().any(|r| r.error.is_some()) {
        EXIT_INTERNAL
    } else if results.iter().all(|r| r.expect_met) {
        EXIT_OK
    } else {
        EXIT_ANOMALIES
    }
}

/// The summary table: seeds per anomaly kind with the first ones, and a replay command each.
pub fn summary_text(results: &[SeedResult]) -> String {
    let mut kinds: BTreeMap<&str, Vec<&SeedResult>> = BTreeMap::new();
    for result in results {
        for kind in result.anomaly_counts.keys() {
            kinds.entry(kind).or_default().push(result);
        }
    }
    let missed = results.iter().filter(|r| !r.expect_met).count();
    let errors: Vec<&SeedResult> = results.iter().filter(|r| r.error.is_some()).collect();
    let mut text = format!(
        "expect     met by {} of {} seeds\n",
        results.len() - missed,
        results.len()
    );
    if kinds.is_empty() && errors.is_empty() {
        text += "anomalies  none\n";
        return text;
    }
    let width = kinds.keys().map(|k| k.len()).max().unwrap_or(0).max(14);
    text += &format!("{:<width$}  {:>6}  first seeds\n", "anomaly", "seeds");
    for (kind, seeds) in &kinds {
        let first: Vec<String> = seeds
            .iter()
            .take(FIRST_SEEDS)
            .map(|r| r.seed.to_string())
            .collect();
        text += &format!("{kind:<width$}  {:>6}  {}\n", seeds.len(), first.join(" "));
    }
    if !errors.is_empty() {
        let first: Vec<String> = errors
            .iter()
            .take(FIRST_SEEDS)
            .map(|r| r.seed.to_string())
            .collect();
        text += &format!(
            "{:<width$}  {:>6}  {}\n",
            "internal-error",
            errors.len(),
            first.join(" ")
        );
    }
    for (kind, seeds) in &kinds {
        text += &format!("replay     {}   # {kind}\n", seeds[0].replay);
    }
    for error in errors.iter().take(1) {
        text += &format!("replay     {}   # internal error\n", error.replay);
    }
    text
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
fn progress_bar(len: u64) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    let rate = |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = write!(w, "{:.1} seeds/s", state.per_sec());
    };
    let style =
        ProgressStyle::with_template("{bar:30} {pos}/{len} seeds  {rate}  {msg}  ETA {eta}")
            .expect("a valid template")
            .with_key("rate", rate);
    bar.set_style(style);
    bar.set_message("0 failing");
    bar
}

/// Runs every seed on `jobs` threads and hands each outcome to `each` on this thread, in seed
/// order, with the wall milliseconds it took. A run that fails inside the simulator (or panics)
/// gives its message instead.
fn run_seeds(
    scenario: &Scenario,
    seeds: &[u64],
    jobs: usize,
    mut each: impl FnMut(u64, Result<RunSummary, String>, u64),
) {
    let next = AtomicUsize::new(0);
    let (sender, receiver) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let sender = sender.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(index) else {
                        break;
                    };
                    if sender.send((index, run_one(scenario, seed))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let mut waiting = BTreeMap::new();
        let mut due = 0;
        for (index, outcome) in receiver {
            waiting.insert(index, outcome);
            while let Some((outcome, wall_ms)) = waiting.remove(&due) {
                each(seeds[due], outcome, wall_ms);
                due += 1;
            }
        }
    });
}

fn run_one(scenario: &Scenario, seed: u64) -> (Result<RunSummary, String>, u64) {
    #[allow(clippy::disallowed_methods)] // the CLI alone reads the wall clock, for `wall_ms`
    let started = std::time::Instant::now();
    let outcome = std::panic::catch_unwind(|| run::run(scenario, seed, RunOptions::default()));
    let wall_ms = started.elapsed().as_millis() as u64;
    let result = match outcome {
        Ok(Ok(outcome)) => Ok(outcome.summary),
        Ok(Err(err)) => Err(err.to_string()),
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into())),
    };
    (result, wall_ms)
}

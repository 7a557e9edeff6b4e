//! `kafkasim sweep <scenario> --seeds A..B [--jobs N] [--shard I/N] [--out file.jsonl]` runs one
//! scenario under many seeds — each seed single-threaded, seeds spread over worker threads — and
//! writes one JSON line per seed, in seed order whatever the number of jobs, then a summary per
//! anomaly kind with the first failing seeds and their replay commands (see [`super::results`]).
//! Memory stays flat however many seeds run: lines stream to their file and the summary keeps
//! counts and first seeds.

use std::collections::BTreeMap;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::results::{SeedResult, Summary};
use super::{EXIT_USAGE, RunSummary, SweepArgs};
use crate::run::{self, RunOptions};
use crate::scenario::Scenario;

/// A range of seeds, `A..B` (B excluded) or `A..=B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange {
    /// The first seed.
    pub start: u64,
    /// The last seed.
    pub last: u64,
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
        let (start, end) = (number(a)?, number(b)?);
        let last = if inclusive {
            Some(end)
        } else {
            end.checked_sub(1)
        };
        match last {
            Some(last) if last >= start => Ok(SeedRange { start, last }),
            _ => Err(format!("`{s}` is an empty seed range")),
        }
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

/// The seeds of a range in one shard, computed on demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeds {
    range: SeedRange,
    shard: Shard,
}

impl Seeds {
    /// The seeds of `range` in `shard`.
    pub fn new(range: SeedRange, shard: Shard) -> Seeds {
        Seeds { range, shard }
    }

    /// How many seeds there are.
    pub fn len(&self) -> u64 {
        let span = self.range.last - self.range.start; // one less than the range's size
        if self.shard.index > span {
            return 0;
        }
        (span - self.shard.index) / self.shard.count + 1
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th seed (`i < len()`).
    pub fn get(&self, i: u64) -> u64 {
        self.range.start + self.shard.index + i * self.shard.count
    }
}

/// One seed's line of a sweep: the `run --json` object plus the command that replays it.
#[derive(Serialize)]
struct SeedLine<'a> {
    #[serde(flatten)]
    summary: &'a RunSummary,
    replay: &'a str,
}
/// Where the JSON Lines go: a temporary file renamed into place at the end, or stdout.
enum Sink {
    File {
        writer: BufWriter<std::fs::File>,
        tmp: PathBuf,
    },
    Stdout(std::io::StdoutLock<'static>),
}

impl Sink {
    fn open(out: Option<&Path>) -> std::io::Result<Sink> {
        match out {
            Some(path) => {
                let tmp = super::temporary_path(path)?;
                let file = std::fs::File::create(&tmp)?;
                Ok(Sink::File {
                    writer: BufWriter::new(file),
                    tmp,
                })
            }
            None => Ok(Sink::Stdout(std::io::stdout().lock())),
        }
    }

    fn line(&mut self, line: &str) -> std::io::Result<()> {
        match self {
            Sink::File { writer, .. } => writeln!(writer, "{line}"),
            // A closed pipe (`| head`) is the reader's choice; the summary still goes to stderr.
            Sink::Stdout(out) => {
                let _ = writeln!(out, "{line}");
                Ok(())
            }
        }
    }

    fn finish(self, out: Option<&Path>) -> std::io::Result<()> {
        if let (Sink::File { writer, tmp }, Some(path)) = (self, out) {
            let file = writer.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&tmp, path).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })?;
        }
        Ok(())
    }

    fn abandon(self) {
        if let Sink::File { tmp, .. } = self {
            let _ = std::fs::remove_file(tmp);
        }
    }
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
    let shard = args.shard.unwrap_or(Shard { index: 0, count: 1 });
    let seeds = Seeds::new(args.seeds, shard);
    if seeds.is_empty() {
        eprintln!(
            "error: --shard {}/{}: no seed of {}..={} falls in it",
            shard.index, shard.count, args.seeds.start, args.seeds.last
        );
        return EXIT_USAGE;
    }
    let scenario = match super::load_runnable(&args.scenario, &args.sets) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .min(usize::try_from(seeds.len()).unwrap_or(usize::MAX));
    let mut sink = match Sink::open(args.out.as_deref()) {
        Ok(sink) => sink,
        Err(err) => {
            let out = args.out.as_deref().unwrap_or(Path::new("-"));
            eprintln!("error: --out {}: {err}", out.display());
            return EXIT_USAGE;
        }
    };
    let progress = progress_bar(seeds.len());
    #[allow(clippy::disallowed_methods)] // the CLI alone reads the wall clock, to report rates
    let started = std::time::Instant::now();
    let mut summary = Summary::default();
    let mut write_error = None;
    run_seeds(&scenario, &seeds, jobs, |seed, outcome, wall_ms| {
        let command = super::replay_command(&args.scenario, seed, &args.sets);
        let (line, result) = seed_line(&scenario, seed, outcome, wall_ms, command);
        summary.add(&result);
        progress.set_message(summary.progress());
        progress.inc(1);
        if write_error.is_none() {
            write_error = sink.line(&line).err();
        }
    });
    progress.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let written = match write_error {
        Some(err) => {
            sink.abandon();
            Err(err)
        }
        None => sink.finish(args.out.as_deref()),
    };
    if let Err(err) = written {
        eprintln!("error: --out: {err}");
        return EXIT_USAGE;
    }
    let mut text = format!(
        "sweep      {} ({}), seeds {}..={}{}, {jobs} job{}\n",
        scenario.name,
        scenario.cluster.replication_protocol.as_str(),
        args.seeds.start,
        args.seeds.last,
        if shard.count > 1 {
            format!(" shard {}/{}", shard.index, shard.count)
        } else {
            String::new()
        },
        if jobs == 1 { "" } else { "s" },
    );
    text += &format!(
        "ran        {} seeds in {wall:.1} s ({:.1} seeds/s)\n",
        summary.seeds(),
        summary.seeds() as f64 / wall.max(1e-9)
    );
    text += &summary.text();
    if let Some(path) = &args.out {
        text += &format!("results    {}\n", path.display());
        print!("{text}");
    } else {
        eprint!("{text}");
    }
    summary.exit_code()
}

/// One seed's JSON line and the result the summary counts.
fn seed_line(
    scenario: &Scenario,
    seed: u64,
    outcome: Result<RunSummary, String>,
    wall_ms: u64,
    replay: String,
) -> (String, SeedResult) {
    match outcome {
        Ok(mut summary) => {
            summary.wall_ms = wall_ms;
            let line = serde_json::to_string(&SeedLine {
                summary: &summary,
                replay: &replay,
            })
            .expect("a summary serializes");
            let result = SeedResult {
                scenario: summary.scenario,
                seed,
                replication_protocol: summary.replication_protocol,
                trace_hash: Some(summary.trace_hash),
                anomaly_counts: summary.anomaly_counts,
                expect_met: summary.expect_met,
                replay,
                error: None,
            };
            (line, result)
        }
        Err(error) => {
            let protocol = scenario.cluster.replication_protocol.as_str();
            let line = serde_json::json!({
                "scenario": scenario.name, "seed": seed, "replication_protocol": protocol,
                "error": error, "expect_met": false, "replay": replay,
            })
            .to_string();
            let result = SeedResult {
                scenario: scenario.name.clone(),
                seed,
                replication_protocol: protocol.to_owned(),
                trace_hash: None,
                anomaly_counts: BTreeMap::new(),
                expect_met: false,
                replay,
                error: Some(error),
            };
            (line, result)
        }
    }
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
    seeds: &Seeds,
    jobs: usize,
    mut each: impl FnMut(u64, Result<RunSummary, String>, u64),
) {
    let next = AtomicU64::new(0);
    let count = seeds.len();
    let (sender, receiver) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let sender = sender.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        break;
                    }
                    let seed = seeds.get(index);
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
                each(seeds.get(due), outcome, wall_ms);
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

//! The `kafkasim` command: argument parsing, subcommands and exit codes.
//!
//! Exit codes (DESIGN §7): 0 expectations met; 1 anomalies differ from `[expect]`; 2 bad input or
//! usage, with a message on stderr and nothing written; 3 internal error. This is the only module
//! that may read the wall clock, to report `wall_ms`.

mod assign;
mod check;
mod describe;
mod output;
mod replay;
mod results;
mod run;
mod shrink;
mod sweep;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use output::{
    AnomalyRecord, Deliveries, FaultRecord, RunSummary, Stats, temporary_path, write_atomically,
};
pub use sweep::{SeedRange, Seeds, Shard};

/// Exit code: the run met its expectations.
pub const EXIT_OK: i32 = 0;
/// Exit code: the anomalies found differ from the scenario's `[expect]`.
pub const EXIT_ANOMALIES: i32 = 1;
/// Exit code: bad input or usage.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: kafkasim itself failed.
pub const EXIT_INTERNAL: i32 = 3;

const EXAMPLES: &str = "\
Examples:
  kafkasim run scenarios/r1-hw-truncation-loss.toml --seed 7
  kafkasim run scenarios/r1-hw-truncation-loss.toml --json --trace run.log
  kafkasim run scenarios/r1-hw-truncation-loss.toml --set cluster.replication.protocol=kip-279
  kafkasim run scenarios/r1-hw-truncation-loss.toml --report reports/r1-hw-truncation
  kafkasim run scenarios/o2-acks-1-loss.toml --set cluster.config.min.insync.replicas=2 \\
      --set producer.p1.config.acks=1

  kafkasim check scenarios/
  kafkasim describe scenarios/r1-hw-truncation-loss.toml --at-ms 5000
  kafkasim assign --strategy cooperative-sticky < members.json

  kafkasim sweep tests/data/sweep-3-brokers.toml --seeds 0..1000 --jobs 2 --out results.jsonl
  kafkasim sweep tests/data/sweep-3-brokers.toml --seeds 0..1000 --shard 3/8 --out shard-3.jsonl
  kafkasim merge shard-*.jsonl
  kafkasim replay tests/data/sweep-3-brokers.toml --seed 11
  kafkasim shrink tests/data/sweep-3-brokers.toml --seed 11 \\
      --set cluster.replication.protocol=hw-truncation --out minimal.toml

Exit codes: 0 expectations met, 1 anomalies differ from [expect], 2 bad input, 3 internal error.";

/// Deterministic simulation testbed for Apache Kafka.
#[derive(Debug, Parser)]
#[command(name = "kafkasim", version, about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one scenario with one seed and check the outcome.
    #[command(after_help = EXAMPLES)]
    Run(RunArgs),
    /// Run scenarios and compare their anomalies with their [expect].
    Check {
        /// Scenario files or directories of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Show every partition's leader, ISR, LEO and HW at a simulated time.
    Describe(DescribeArgs),
    /// Print what a Kafka assignor would assign to the group read as JSON on stdin.
    Assign(assign::AssignArgs),
    /// Run one scenario under many seeds, in parallel; JSON Lines and a summary.
    #[command(after_help = EXAMPLES)]
    Sweep(SweepArgs),
    /// Summarize sweep results (JSON Lines files, e.g. the shards of one sweep).
    Merge {
        /// Files written by `sweep --out`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run a seed twice and check that both runs are the same, observation for observation.
    Replay(ReplayArgs),
    /// Cut a failing run down to a minimal scenario that still shows its anomaly.
    #[command(after_help = EXAMPLES)]
    Shrink(ShrinkArgs),
}

/// Arguments of `kafkasim sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// The seeds: `A..B` (B excluded) or `A..=B`.
    #[arg(long, value_name = "A..B")]
    pub seeds: SeedRange,
    /// Worker threads (default: all cores); results are the same for any number.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only every N-th seed of the range from the I-th (0-based), e.g. `3/8`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Write the JSON Lines to FILE (default: stdout, with the summary on stderr).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Override a scenario key (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

/// Arguments of `kafkasim replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// The seed; overrides the scenario's `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override a scenario key (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Also write the run's report (charts, index.html, run.json) into DIR.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Test-only: disturb the second run's network randomness at this time.
    #[arg(long, hide = true, value_name = "MS")]
    pub inject_nondeterminism_at_ms: Option<u64>,
}

/// Arguments of `kafkasim shrink`.
#[derive(Debug, Args)]
pub struct ShrinkArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// The seed, kept while shrinking; overrides the scenario's `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// The anomaly kind to keep (default: the first the run shows).
    #[arg(long, value_name = "KIND")]
    pub anomaly: Option<String>,
    /// Write the minimal scenario to FILE (default: stdout).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Override a scenario key (repeatable); the minimal scenario says it in the file.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

/// Arguments of `kafkasim describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// The simulated time to stop at, in ms.
    #[arg(long)]
    pub at_ms: u64,
    /// The seed; overrides the scenario's `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override a scenario key (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

/// Arguments of `kafkasim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// The seed; overrides the scenario's `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Write the short log (one line per observation) to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Write every partition's final log as JSON Lines (like kafka-dump-log) to FILE.
    #[arg(long, value_name = "FILE")]
    pub dump_log: Option<PathBuf>,
    /// Write a report to DIR: LEO/HW charts per partition (SVG, PNG), index.html, run.json.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Draw the report's partition charts over this window of simulated ms only.
    #[arg(long, value_name = "A..B", value_parser = crate::report::parse_window, requires = "report")]
    pub window_ms: Option<(u64, u64)>,
    /// Override a scenario key, e.g. `cluster.config.min.insync.replicas=2` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

/// Runs the command line `args` and returns the process exit code.
pub fn run_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_OK
            };
            let _ = err.print();
            return code;
        }
    };
    // A panic is a broken invariant inside kafkasim: exit 3, never a half-written result (every
    // output file is renamed into place only after the run).
    let outcome = std::panic::catch_unwind(|| match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Check { paths } => check::check(&paths),
        Command::Describe(args) => describe::describe(&args),
        Command::Sweep(args) => sweep::sweep(&args),
        Command::Merge { files } => results::merge(&files),
        Command::Replay(args) => replay::replay(&args),
        Command::Shrink(args) => shrink::shrink(&args),
        Command::Assign(args) => assign::assign(&args),
    });
    outcome.unwrap_or_else(|_| {
        eprintln!("internal error: kafkasim broke one of its own invariants (message above)");
        EXIT_INTERNAL
    })
}

/// Loads a scenario and makes sure this build can run it; on failure prints why and returns the
/// exit code (2).
pub(crate) fn load_runnable(
    path: &std::path::Path,
    sets: &[String],
) -> Result<crate::scenario::Scenario, i32> {
    let scenario = crate::scenario::load(path, sets).map_err(|err| {
        eprintln!("error: {err}");
        EXIT_USAGE
    })?;
    if let Some(what) = crate::run::unsupported(&scenario) {
        eprintln!("error: {}: not supported yet: {what}", path.display());
        return Err(EXIT_USAGE);
    }
    Ok(scenario)
}

/// The command that replays a seed, with shell quoting where an argument needs it.
pub(crate) fn replay_command(scenario: &std::path::Path, seed: u64, sets: &[String]) -> String {
    let mut command = format!(
        "kafkasim run {} --seed {seed}",
        quote(&scenario.display().to_string())
    );
    for set in sets {
        command += &format!(" --set {}", quote(set));
    }
    command
}

/// `arg` as a POSIX shell word.
fn quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.,:/=@+%".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// The binary's entry point: parses `std::env::args` and returns the exit code.
pub fn main() -> i32 {
    run_with_args(std::env::args_os())
}

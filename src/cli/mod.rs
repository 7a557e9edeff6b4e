//! The `kafkasim` command: argument parsing, subcommands and exit codes.
//!
//! Exit codes (DESIGN §7): 0 expectations met; 1 anomalies differ from `[expect]`; 2 bad input or
//! usage, with a message on stderr and nothing written; 3 internal error. This is the only module
//! that may read the wall clock, to report `wall_ms`.

mod check;
mod describe;
mod output;
mod run;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use output::{AnomalyRecord, FaultRecord, RunSummary, Stats, write_atomically};

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

/// The binary's entry point: parses `std::env::args` and returns the exit code.
pub fn main() -> i32 {
    run_with_args(std::env::args_os())
}

//! `kafkasim shrink <scenario> --seed N [--out minimal.toml]`: cuts a failing run down to a
//! scenario that still shows the same anomaly kind with the same seed (see [`crate::shrink`]),
//! prints what it removed, and writes the minimal scenario to `--out` (or stdout).

use super::{EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, ShrinkArgs, write_atomically};
use crate::scenario::AnomalyKind;
use crate::shrink::{self, ShrinkError};

/// Runs `kafkasim shrink` and returns the exit code.
pub fn shrink(args: &ShrinkArgs) -> i32 {
    if let Some(path) = &args.out
        && let Err(message) = super::run::check_output_path(path)
    {
        eprintln!("error: --out {}: {message}", path.display());
        return EXIT_USAGE;
    }
    let kind = match args.anomaly.as_deref().map(parse_kind).transpose() {
        Ok(kind) => kind,
        Err(message) => {
            eprintln!("error: --anomaly: {message}");
            return EXIT_USAGE;
        }
    };
    let label = args.scenario.display().to_string();
    let source = match std::fs::read_to_string(&args.scenario) {
        Ok(source) => source,
        Err(err) => {
            eprintln!("error: {label}: cannot read the scenario file: {err}");
            return EXIT_USAGE;
        }
    };
    let seed = match args.seed {
        Some(seed) => seed,
        None => match crate::scenario::parse_str(&source, &label, &args.sets) {
            Ok(scenario) => scenario.seed,
            Err(err) => {
                eprintln!("error: {err}");
                return EXIT_USAGE;
            }
        },
    };
    let request = shrink::Request {
        source: &source,
        label: &label,
        sets: &args.sets,
        seed,
        kind,
    };
    let mut progress = |line: &str| eprintln!("shrink     {line}");
    let shrunk = match shrink::shrink(&request, &mut progress) {
        Ok(shrunk) => shrunk,
        Err(ShrinkError::Internal(message)) => {
            eprintln!("internal error: {message}");
            return EXIT_INTERNAL;
        }
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_USAGE;
        }
    };
    let mut report = format!(
        "shrunk     {label} seed {seed}: {} with {} of {} faults, in {} runs\n",
        shrunk.kind.as_str(),
        shrunk.faults.1,
        shrunk.faults.0,
        shrunk.runs
    );
    for line in &shrunk.removed {
        report += &format!("removed    {line}\n");
    }
    match &args.out {
        Some(path) => {
            if let Err(err) = write_atomically(path, shrunk.text.as_bytes()) {
                eprintln!("error: --out {}: {err}", path.display());
                return EXIT_USAGE;
            }
            report += &format!("wrote      {}\n", path.display());
            let replay = super::replay_command(path, seed, &[]);
            report += &format!("replay     {replay}\n");
            print!("{report}");
        }
        None => {
            eprint!("{report}");
            print!("{}", shrunk.text);
        }
    }
    EXIT_OK
}

fn parse_kind(name: &str) -> Result<AnomalyKind, String> {
    AnomalyKind::ALL
        .iter()
        .copied()
        .find(|k| k.as_str() == name)
        .ok_or_else(|| {
            let known: Vec<&str> = AnomalyKind::ALL.iter().map(|k| k.as_str()).collect();
            format!(
                "unknown anomaly kind `{name}` (known: {})",
                known.join(", ")
            )
        })
}

//! `kafkasim run`: load and validate the scenario, then run it.
//!
//! This build has the simulation engine (time, network, disks, faults, trace) but not yet the
//! Kafka model that a scenario's `[cluster]` asks for — the metadata service, brokers,
//! controller and replication. So after validating the scenario in full, `run` says plainly
//! that running it is not supported yet (exit 2) instead of presenting a fake cluster.

use super::{EXIT_USAGE, RunArgs};
use crate::scenario;

/// Runs `kafkasim run` and returns the exit code.
pub fn run(args: &RunArgs) -> i32 {
    if let Some(trace) = &args.trace
        && let Err(message) = check_output_path(trace)
    {
        eprintln!("error: --trace {}: {message}", trace.display());
        return EXIT_USAGE;
    }
    let scenario = match scenario::load(&args.scenario, &args.sets) {
        Ok(scenario) => scenario,
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_USAGE;
        }
    };
    eprintln!(
        "error: {}: not supported yet: scenario `{}` is valid, but running it needs the Kafka \
         model (metadata service, brokers, controller, replication), which this build of \
         kafkasim does not have yet",
        args.scenario.display(),
        scenario.name
    );
    EXIT_USAGE
}

/// Checks that an output file can be created: its directory exists and it is not a directory.
fn check_output_path(path: &std::path::Path) -> Result<(), String> {
    if path.is_dir() {
        return Err("is a directory".into());
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    match parent {
        Some(dir) if !dir.is_dir() => Err(format!("directory {} does not exist", dir.display())),
        _ => Ok(()),
    }
}

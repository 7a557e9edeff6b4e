//! `kafkasim replay <scenario> --seed N [--report DIR]`: runs the seed with the short log, runs
//! it again, and compares the two trace hashes; on a mismatch it names the first observation
//! that differs — a broken determinism promise, exit 3. Otherwise it prints the run's summary,
//! writes its report if asked, and exits as `run` does.

use super::{EXIT_ANOMALIES, EXIT_INTERNAL, EXIT_OK, ReplayArgs};
use crate::run::{self, RunOptions};
use crate::sim::SimTime;

/// Runs `kafkasim replay` and returns the exit code.
pub fn replay(args: &ReplayArgs) -> i32 {
    if let Some(dir) = &args.report
        && let Err(code) = super::run::check_report_dir(dir)
    {
        return code;
    }
    let scenario = match super::load_runnable(&args.scenario, &args.sets) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let seed = args.seed.unwrap_or(scenario.seed);
    let command = super::replay_command(&args.scenario, seed, &args.sets);
    let options = RunOptions {
        keep_log: true,
        keep_series: args.report.is_some(),
        ..RunOptions::default()
    };
    let perturbed = RunOptions {
        perturb_at: args.inject_nondeterminism_at_ms.map(SimTime::from_millis),
        ..options
    };
    let mut runs = Vec::new();
    for options in [options, perturbed] {
        match run::run(&scenario, seed, options) {
            Ok(outcome) => runs.push(outcome),
            Err(err) => {
                eprintln!("internal error: {err}");
                eprintln!("replay: {command}");
                return EXIT_INTERNAL;
            }
        }
    }
    let (first, second) = (&runs[0], &runs[1]);
    let (a, b) = (&first.summary.trace_hash, &second.summary.trace_hash);
    let logs = (
        first.log.as_deref().unwrap_or(""),
        second.log.as_deref().unwrap_or(""),
    );
    if a != b || logs.0 != logs.1 {
        println!("NONDETERMINISM: seed {seed} gave trace {a}, then {b}");
        match first_difference(logs.0, logs.1) {
            Some((line, x, y)) => {
                println!("first difference at line {line} of the short log:");
                println!("  run 1: {}", x.unwrap_or("(log ended)"));
                println!("  run 2: {}", y.unwrap_or("(log ended)"));
            }
            None => println!("the short logs are equal: the hash itself differs"),
        }
        println!("replay     {command}");
        return EXIT_INTERNAL;
    }
    if let Some(dir) = &args.report {
        let written = super::run::render_report(&scenario, first, &command, None)
            .and_then(|report| super::run::write_report(dir, &report));
        if let Err(code) = written {
            return code;
        }
    }
    let lines = logs.0.lines().count();
    let summary = &first.summary;
    print!("{}", summary.to_text(&command));
    println!("determinism trace {a} twice ({lines} log lines)");
    if summary.expect_met {
        EXIT_OK
    } else {
        EXIT_ANOMALIES
    }
}

/// The first line (1-based) where `a` and `b` differ, with both lines (`None` past the end).
pub fn first_difference<'a>(
    a: &'a str,
    b: &'a str,
) -> Option<(usize, Option<&'a str>, Option<&'a str>)> {
    let (mut x, mut y) = (a.lines(), b.lines());
    for line in 1.. {
        match (x.next(), y.next()) {
            (None, None) => return None,
            (l, r) if l != r => return Some((line, l, r)),
            _ => {}
        }
    }
    None
}

//! `kafkasim run`: load and validate the scenario, run it with its seed, print the summary (or
//! the JSON object), write the short log, and exit 0 when the anomalies found equal the
//! scenario's `[expect]`, 1 when they differ. A scenario that needs something this build does
//! not model yet is refused with exit 2 rather than run on a partial cluster.

use std::path::Path;

use super::{EXIT_ANOMALIES, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, RunArgs, write_atomically};
use crate::run;

/// Runs `kafkasim run` and returns the exit code.
pub fn run(args: &RunArgs) -> i32 {
    for (flag, path) in [("--trace", &args.trace), ("--dump-log", &args.dump_log)] {
        if let Some(path) = path
            && let Err(message) = check_output_path(path)
        {
            eprintln!("error: {flag} {}: {message}", path.display());
            return EXIT_USAGE;
        }
    }
    if let Some(dir) = &args.report
        && let Err(code) = check_report_dir(dir)
    {
        return code;
    }
    let scenario = match super::load_runnable(&args.scenario, &args.sets) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let seed = args.seed.unwrap_or(scenario.seed);
    #[allow(clippy::disallowed_methods)] // the CLI alone reads the wall clock, for `wall_ms`
    let started = std::time::Instant::now();
    let options = run::RunOptions {
        keep_log: args.trace.is_some() || args.report.is_some(),
        dump_log: args.dump_log.is_some(),
        keep_series: args.report.is_some(),
        ..run::RunOptions::default()
    };
    let outcome = match run::run(&scenario, seed, options) {
        Ok(outcome) => outcome,
        Err(err) => {
            eprintln!("internal error: {err}");
            eprintln!("replay: {}", replay_command(args, seed));
            return EXIT_INTERNAL;
        }
    };
    let mut summary = outcome.summary.clone();
    summary.wall_ms = started.elapsed().as_millis() as u64;
    let report = match &args.report {
        Some(_) => match render_report(
            &scenario,
            &outcome,
            &replay_command(args, seed),
            args.window_ms,
        ) {
            Ok(files) => Some(files),
            Err(code) => return code,
        },
        None => None,
    };
    if let (Some(path), Some(log)) = (&args.trace, &outcome.log)
        && let Err(err) = write_atomically(path, log.as_bytes())
    {
        eprintln!("error: --trace {}: {err}", path.display());
        return EXIT_USAGE;
    }
    if let (Some(path), Some(dump)) = (&args.dump_log, &outcome.dump)
        && let Err(err) = write_atomically(path, dump.as_bytes())
    {
        eprintln!("error: --dump-log {}: {err}", path.display());
        return EXIT_USAGE;
    }
    if let (Some(dir), Some(report)) = (&args.report, &report)
        && let Err(code) = write_report(dir, report)
    {
        return code;
    }
    let text = if args.json {
        summary.to_json() + "\n"
    } else {
        summary.to_text(&replay_command(args, seed))
    };
    // A closed pipe (`| head`) is the reader's choice, not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    // The process exits next and hands all its memory back at once; freeing the world's batches
    // one by one first would only add to the wall time.
    std::mem::forget(outcome);
    if summary.expect_met {
        EXIT_OK
    } else {
        EXIT_ANOMALIES
    }
}

/// Refuses a report directory that is, or sits under, a file (exit 2).
pub(super) fn check_report_dir(dir: &Path) -> Result<(), i32> {
    if let Some(file) = dir.ancestors().find(|a| a.exists() && !a.is_dir()) {
        let what = format!("{} is not a directory", file.display());
        eprintln!("error: --report {}: {what}", dir.display());
        return Err(EXIT_USAGE);
    }
    Ok(())
}

/// A rendered report: its files and how long rendering took.
pub(super) type Report = (Vec<crate::report::ReportFile>, u128);

/// Writes a rendered report into `dir` and says so on stderr.
pub(super) fn write_report(dir: &Path, (files, render_ms): &Report) -> Result<(), i32> {
    if let Err(err) = crate::report::write(dir, files) {
        eprintln!("error: --report {}: {err}", dir.display());
        return Err(EXIT_USAGE);
    }
    let bytes: usize = files.iter().map(|f| f.bytes.len()).sum();
    eprintln!(
        "report: {} files, {} KiB in {} (rendered in {render_ms} ms)",
        files.len(),
        bytes / 1024,
        dir.display()
    );
    Ok(())
}

/// Renders the report of a finished run; a window outside the run is a usage error (exit 2),
/// a chart that cannot be drawn an internal one (exit 3).
pub(super) fn render_report(
    scenario: &crate::scenario::Scenario,
    outcome: &run::RunOutcome,
    replay: &str,
    window_ms: Option<(u64, u64)>,
) -> Result<Report, i32> {
    if let Err(message) = crate::report::chart_window(&outcome.summary, window_ms) {
        eprintln!("error: --window-ms: {message}");
        return Err(EXIT_USAGE);
    }
    #[allow(clippy::disallowed_methods)] // the CLI alone reads the wall clock
    let started = std::time::Instant::now();
    let input = crate::report::ReportInput {
        summary: &outcome.summary,
        replay,
        description: &scenario.description,
        observations: &outcome.observations,
        names: &outcome.names,
        log: outcome.log.as_deref().unwrap_or(""),
    };
    let options = crate::report::ReportOptions {
        window_ms,
        ..crate::report::ReportOptions::default()
    };
    match crate::report::render(&input, &options) {
        Ok(files) => Ok((files, started.elapsed().as_millis())),
        Err(message) => {
            eprintln!("internal error: --report: {message}");
            Err(EXIT_INTERNAL)
        }
    }
}

/// The command that replays this run.
fn replay_command(args: &RunArgs, seed: u64) -> String {
    super::replay_command(&args.scenario, seed, &args.sets)
}

/// Checks that an output file can be created: its directory exists and it is not a directory.
pub(super) fn check_output_path(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err("is a directory".into());
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    match parent {
        Some(dir) if !dir.is_dir() => Err(format!("directory {} does not exist", dir.display())),
        _ => Ok(()),
    }
}

//! `kafkasim check <files or dirs>…`: runs every scenario with its own seed and compares the
//! anomalies found with its `[expect]`; one line per scenario, exit 0 when all match, 1 when
//! any differs, 2 when a file cannot be read or validated.

use std::path::{Path, PathBuf};

use super::{EXIT_ANOMALIES, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE};
use crate::run;
use crate::scenario;

/// Runs `kafkasim check` and returns the exit code.
pub fn check(paths: &[PathBuf]) -> i32 {
    let files = match scenario_files(paths) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_USAGE;
        }
    };
    let mut scenarios = Vec::new();
    for file in &files {
        match scenario::load(file, &[]) {
            Ok(s) => scenarios.push((file, s)),
            Err(err) => {
                eprintln!("error: {err}");
                return EXIT_USAGE;
            }
        }
    }
    let (mut passed, mut failed) = (0, 0);
    for (file, scenario) in scenarios {
        if let Some(what) = run::unsupported(&scenario) {
            eprintln!("error: {}: not supported yet: {what}", file.display());
            return EXIT_USAGE;
        }
        let outcome = match run::run(&scenario, scenario.seed, run::RunOptions::default()) {
            Ok(outcome) => outcome,
            Err(err) => {
                eprintln!("internal error: {}: {err}", file.display());
                return EXIT_INTERNAL;
            }
        };
        let summary = outcome.summary;
        let found: Vec<&str> = summary.anomaly_counts.keys().map(String::as_str).collect();
        let expected: Vec<&str> = scenario
            .expect
            .anomalies
            .iter()
            .map(|k| k.as_str())
            .collect();
        let verdict = if summary.expect_met { "ok  " } else { "FAIL" };
        println!(
            "{verdict} {} (seed {}): expected {expected:?}, found {found:?}, trace {}",
            file.display(),
            summary.seed,
            summary.trace_hash
        );
        if summary.expect_met {
            passed += 1;
        } else {
            failed += 1;
            println!(
                "     replay: kafkasim run {} --seed {}",
                file.display(),
                summary.seed
            );
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 { EXIT_OK } else { EXIT_ANOMALIES }
}

/// The `.toml` files named, with directories expanded (sorted, not recursive).
fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries =
                std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| is_toml(p))
                .collect();
            found.sort();
            files.extend(found);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(format!("{}: no such file or directory", path.display()));
        }
    }
    if files.is_empty() {
        return Err("no scenario files found".into());
    }
    Ok(files)
}

fn is_toml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "toml")
}

//! The scenario library, pinned as text: for every scenario in `scenarios/`, the run summary
//! (wall-clock time removed) and the whole short log are insta snapshots in `snapshots/`. A
//! change to the model that moves one line of a library run shows up here as a readable diff.
//!
//! Update after an intended change: `INSTA_UPDATE=always cargo test --test library`, then read
//! the diff and delete any `*.snap.new`.

use std::path::Path;

use kafkasim::run::{RunOptions, run};
use kafkasim::scenario;

/// Every scenario file of the library, in name order.
fn library() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir("scenarios")
        .expect("the scenario library")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// The summary and short log of one scenario at its own seed, as one text.
fn summary_and_log(path: &Path) -> String {
    let scenario = scenario::load(path, &[]).expect("a library scenario loads");
    let options = RunOptions {
        keep_log: true,
        ..RunOptions::default()
    };
    let outcome = run(&scenario, scenario.seed, options).expect("no invariant breaks");
    let replay = format!("kafkasim run {} --seed {}", path.display(), scenario.seed);
    let mut summary = outcome.summary;
    summary.wall_ms = 0;
    let text = summary
        .to_text(&replay)
        .replace(" in 0 ms wall,", " in [wall_ms] wall,");
    format!(
        "{text}\n--- short log ---\n{}",
        outcome.log.expect("the log was kept")
    )
}

#[test]
fn every_library_scenario_prints_its_recorded_summary_and_short_log() {
    let files = library();
    assert!(files.len() >= 16, "the library has its scenarios");
    for path in files {
        let name = path.file_stem().expect("a file name").to_string_lossy();
        let text = summary_and_log(&path);
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
            description => format!("kafkasim run {}", path.display()),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("library_{name}"), text);
        });
    }
}

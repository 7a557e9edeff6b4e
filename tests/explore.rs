//! Exploring seeds through the binary: `sweep` (jobs and shards give the same results), `merge`,
//! `replay` (catches an injected nondeterminism) and `shrink` (a classic-protocol lost write cut
//! to a few faults), and their bad input.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::binary::{kafkasim, text};

const SCENARIO: &str = "tests/data/explore-hw-truncation.toml";

/// A fresh directory for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kafkasim-explore-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Per seed: the trace hash and the anomaly counts of a JSON Lines file.
fn results(path: &Path) -> BTreeMap<u64, (String, serde_json::Value)> {
    let jsonl = std::fs::read_to_string(path).expect("the results file");
    jsonl
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let seed = v["seed"].as_u64().expect("a seed");
            let hash = v["trace_hash"].as_str().expect("a hash").to_owned();
            (seed, (hash, v["anomaly_counts"].clone()))
        })
        .collect()
}

fn sweep(dir: &Path, name: &str, extra: &[&str]) -> BTreeMap<u64, (String, serde_json::Value)> {
    let out = dir.join(name);
    let out_arg = out.to_str().unwrap();
    let mut args = vec!["sweep", SCENARIO, "--seeds", "8..=15", "--out", out_arg];
    args.extend(extra);
    let output = kafkasim(&args);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        text(&output.stderr)
    );
    results(&out)
}

#[test]
fn sweep_results_are_the_same_for_any_jobs_and_any_sharding() {
    let dir = scratch("jobs");
    let one = sweep(&dir, "one.jsonl", &["--jobs", "1"]);
    let two = sweep(&dir, "two.jsonl", &["--jobs", "2"]);
    let mut shards = sweep(&dir, "shard0.jsonl", &["--shard", "0/2", "--jobs", "2"]);
    let odd = sweep(&dir, "shard1.jsonl", &["--shard", "1/2", "--jobs", "1"]);
    assert_eq!(shards.len(), 4);
    assert!(shards.keys().all(|s| s % 2 == 0) && odd.keys().all(|s| s % 2 == 1));
    shards.extend(odd);
    assert_eq!(one.len(), 8);
    assert_eq!(one, two);
    assert_eq!(one, shards);
    // The range holds classic-protocol losses: the comparison covers failing seeds too.
    assert!(
        one.values()
            .any(|(_, counts)| counts.get("lost-write").is_some()),
        "{one:?}"
    );

    // `merge` of the two shards summarizes like the whole sweep.
    let merged = kafkasim(&[
        "merge",
        dir.join("shard0.jsonl").to_str().unwrap(),
        dir.join("shard1.jsonl").to_str().unwrap(),
    ]);
    let whole = kafkasim(&["merge", dir.join("one.jsonl").to_str().unwrap()]);
    let table = |o: &Output| -> Vec<String> {
        text(&o.stdout).lines().skip(1).map(str::to_owned).collect()
    };
    assert_eq!(merged.status.code(), whole.status.code());
    assert_eq!(table(&merged), table(&whole));
    let summary = text(&whole.stdout);
    assert!(summary.contains("lost-write"), "{summary}");
    assert!(summary.contains(&format!("replay     kafkasim run {SCENARIO} --seed ")));
}

#[test]
fn replay_names_the_first_observation_that_differs() {
    let clean = kafkasim(&["replay", SCENARIO, "--seed", "8"]);
    let out = text(&clean.stdout);
    assert!(out.contains("determinism trace "), "{out}");
    assert!(matches!(clean.status.code(), Some(0 | 1)));

    let broken = kafkasim(&[
        "replay",
        SCENARIO,
        "--seed",
        "8",
        "--inject-nondeterminism-at-ms",
        "5000",
    ]);
    let out = text(&broken.stdout);
    assert_eq!(broken.status.code(), Some(3), "{out}");
    assert!(out.starts_with("NONDETERMINISM: seed 8"), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("first difference at line "))
        .expect("the first difference is named");
    let run1 = out.lines().find(|l| l.starts_with("  run 1: ")).unwrap();
    let run2 = out.lines().find(|l| l.starts_with("  run 2: ")).unwrap();
    assert_ne!(run1[9..], run2[9..], "{line}");
    // Nothing differs before the disturbance: the first difference is at or after 5 000 ms.
    let ms = |l: &str| -> f64 { l[9..].split(' ').next().unwrap().parse().unwrap() };
    assert!(ms(run1) >= 5000.0 && ms(run2) >= 5000.0, "{run1} / {run2}");
}

#[test]
fn shrink_cuts_a_classic_protocol_lost_write_to_at_most_three_faults() {
    let dir = scratch("shrink");
    let minimal = dir.join("minimal.toml");
    let out = kafkasim(&[
        "shrink",
        "tests/data/sweep-3-brokers.toml",
        "--seed",
        "11",
        "--set",
        "cluster.replication.protocol=hw-truncation",
        "--out",
        minimal.to_str().unwrap(),
    ]);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(report.contains("lost-write with "), "{report}");
    let scenario = std::fs::read_to_string(&minimal).expect("the minimal scenario");
    let faults = scenario.matches("[[fault]]").count();
    assert!((1..=3).contains(&faults), "{faults} faults:\n{scenario}");
    assert!(!scenario.contains("[nemesis]"), "{scenario}");
    assert!(scenario.contains("\"replication.protocol\" = \"hw-truncation\""));
    // The minimal scenario reproduces the loss on its own: its [expect] holds.
    let run = kafkasim(&["run", minimal.to_str().unwrap(), "--json"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert!(summary["anomaly_counts"]["lost-write"].as_u64() >= Some(1));
    assert_eq!(summary["seed"], 11);
}

#[test]
fn shrink_refuses_a_clean_seed() {
    let out = kafkasim(&[
        "shrink",
        "tests/data/sweep-3-brokers.toml",
        "--seed",
        "3",
        "--anomaly",
        "lost-write",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("shows no lost-write"));
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_seed_ranges_shards_jobs_and_result_files_exit_2() {
    let dir = scratch("bad");
    let out_file = dir.join("never.jsonl");
    let never = out_file.to_str().unwrap();
    for (flag, value, says) in [
        ("--seeds", "5..2", "empty seed range"),
        ("--seeds", "3..3", "empty seed range"),
        ("--seeds", "abc", "no seed range"),
        ("--seeds", "1..", "no seed range"),
        ("--seeds", "1..=x", "no seed range"),
        ("--seeds", "-1..4", "no seed range"),
        ("--shard", "2/2", "no shard"),
        ("--shard", "0/0", "no shard"),
        ("--shard", "a/b", "no shard"),
        ("--shard", "1", "no shard"),
        ("--jobs", "0", "at least 1"),
    ] {
        let flag_value = format!("{flag}={value}");
        let mut args = vec!["sweep", SCENARIO, "--out", never, &flag_value];
        if flag != "--seeds" {
            args.extend(["--seeds", "0..2"]);
        }
        let out = kafkasim(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(says), "{flag} {value}: {stderr}");
        assert!(out.stdout.is_empty(), "{flag} {value}");
        assert!(!out_file.exists(), "{flag} {value}: nothing is written");
    }

    let garbage = dir.join("garbage.jsonl");
    let line = "{\"scenario\": \"x\", \"seed\": 1, \"trace_hash\": \"00\"}";
    std::fs::write(&garbage, format!("{line}\nnot json\n")).unwrap();
    let out = kafkasim(&["merge", garbage.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("garbage.jsonl:2:"), "{stderr}");
    assert!(out.stdout.is_empty());

    let missing = dir.join("missing.jsonl");
    let out = kafkasim(&["merge", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.jsonl"));

    let mixed = dir.join("mixed.jsonl");
    std::fs::write(
        &mixed,
        "{\"scenario\": \"a\", \"seed\": 1, \"trace_hash\": \"1\"}\n\
         {\"scenario\": \"b\", \"seed\": 2, \"trace_hash\": \"2\"}\n",
    )
    .unwrap();
    let out = kafkasim(&["merge", mixed.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("mixed.jsonl:2"),
        "{}",
        text(&out.stderr)
    );
}

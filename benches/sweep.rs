//! The sweep benchmark: `kafkasim sweep tests/data/chaos-60s.toml --seeds 0..200` with
//! `--jobs 1` and `--jobs 2`, alternately, twice each, keeping each one's faster sweep; prints
//! seeds per wall second, the CPU seconds used and the speed-up (target: at least 1.8x on two
//! cores). Every sweep must give the same JSON lines. Run with `cargo bench --bench sweep`; the
//! speed-up means something only on an otherwise idle machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const SCENARIO: &str = "tests/data/chaos-60s.toml";
const SEEDS: u64 = 200;
/// Sweeps per number of jobs.
const ROUNDS: usize = 2;

/// CPU seconds (user and system) of the children waited for so far, from `/proc/self/stat`
/// (`cutime` and `cstime`, in clock ticks of 1/100 s on Linux).
fn children_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which ends with the last ')'; cutime is field 16.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(13) + ticks(14)) / 100.0
}

/// Runs the sweep with `jobs` worker threads; returns its wall and CPU seconds and its JSON lines.
fn sweep(jobs: usize, out: &Path) -> (f64, f64, String) {
    let cpu_before = children_cpu_secs();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCENARIO);
    #[allow(clippy::disallowed_methods)] // benchmarks measure wall time
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_kafkasim"))
        .arg("sweep")
        .arg(&scenario)
        .args([
            "--seeds",
            &format!("0..{SEEDS}"),
            "--jobs",
            &jobs.to_string(),
        ])
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("kafkasim runs");
    let wall = start.elapsed().as_secs_f64();
    // Exit 1 only says some seed found an anomaly; 2 and up are usage or internal errors.
    assert!(
        status.code().is_some_and(|c| c <= 1),
        "sweep failed: {status}"
    );
    let lines = std::fs::read_to_string(out).expect("the sweep wrote its lines");
    (wall, children_cpu_secs() - cpu_before, lines)
}

/// The JSON lines without their `wall_ms` field, which differs from run to run.
fn without_wall(lines: &str) -> Vec<String> {
    lines
        .lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            if let Some(object) = value.as_object_mut() {
                object.remove("wall_ms");
            }
            value.to_string()
        })
        .collect()
}

fn main() {
    let dir: PathBuf = std::env::temp_dir();
    println!("sweep {SCENARIO} --seeds 0..{SEEDS}");
    let mut best: [Option<(f64, f64)>; 2] = [None, None];
    let mut first_lines: Option<Vec<String>> = None;
    for round in 0..ROUNDS {
        for jobs in [1, 2] {
            let out = dir.join(format!("kafkasim-bench-sweep-{jobs}.jsonl"));
            let (wall, cpu, lines) = sweep(jobs, &out);
            println!(
                "  round {round} --jobs {jobs}  {wall:>6.2} wall s  {:>6.1} seeds/s  \
                 {cpu:>6.2} CPU s  ({:.2} cores busy)",
                SEEDS as f64 / wall,
                cpu / wall
            );
            let lines = without_wall(&lines);
            match &first_lines {
                Some(first) => assert_eq!(
                    first, &lines,
                    "the same seeds give the same lines whatever the jobs"
                ),
                None => first_lines = Some(lines),
            }
            let slot = &mut best[jobs - 1];
            if slot.is_none_or(|(w, _)| wall < w) {
                *slot = Some((wall, cpu));
            }
        }
    }
    let [Some((wall_1, _)), Some((wall_2, _))] = best else {
        unreachable!("every number of jobs ran")
    };
    println!(
        "  best: --jobs 1 {:.1} seeds/s, --jobs 2 {:.1} seeds/s, speed-up {:.2}x (target 1.8x)",
        SEEDS as f64 / wall_1,
        SEEDS as f64 / wall_2,
        wall_1 / wall_2
    );
}

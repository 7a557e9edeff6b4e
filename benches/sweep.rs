//! The sweep benchmark: `kafkasim sweep tests/data/chaos-60s.toml --seeds 0..200` with
//! `--jobs 1` and then `--jobs 2`, printing seeds per wall second and the speed-up (target:
//! at least 1.8x on two cores). The two runs must give the same JSON lines. Run with
//! `cargo bench --bench sweep`; the speed-up means something only on an otherwise idle machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const SCENARIO: &str = "tests/data/chaos-60s.toml";
const SEEDS: u64 = 200;

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
    let (wall_1, cpu_1, lines_1) = sweep(1, &dir.join("kafkasim-bench-sweep-1.jsonl"));
    let (wall_2, cpu_2, lines_2) = sweep(2, &dir.join("kafkasim-bench-sweep-2.jsonl"));
    for (jobs, wall, cpu) in [(1, wall_1, cpu_1), (2, wall_2, cpu_2)] {
        println!(
            "  --jobs {jobs}  {wall:>6.2} wall s  {:>6.1} seeds/s  {cpu:>6.2} CPU s  ({:.2} cores busy)",
            SEEDS as f64 / wall,
            cpu / wall
        );
    }
    println!("  speed-up  {:>5.2}x (target 1.8x)", wall_1 / wall_2);
    assert_eq!(
        without_wall(&lines_1),
        without_wall(&lines_2),
        "the same seeds give the same lines whatever the jobs"
    );
}

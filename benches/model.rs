//! The model benchmark: the standard workload (`tests/data/standard-workload.toml`: 3 brokers,
//! 12 partitions RF=3, an idempotent acks=all producer at 5 000 records/s over 1 000 keys, a
//! group of 3 consumers, 10 simulated minutes) through its workload phase, then the whole run as
//! `kafkasim run` does it (heal, settle, final reads, checkers). Prints simulated seconds per
//! wall second, events per wall second, peak memory (the process's VmHWM) and the bytes each
//! stored record takes per replica in the brokers' log segments. Then the same for the
//! exactly-once variant (`tests/data/standard-workload-eos.toml`: the consumer group replaced by
//! a 3-instance exactly-once pipeline writing every record to a second 12-partition topic).
//! Run with `cargo bench --bench model`; `-- --standard` or `-- --eos` runs one variant alone (so
//! its peak memory is its own), `-- --workload-only` stops each after its workload phase.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use kafkasim::check::History;
use kafkasim::node::Node;
use kafkasim::record::{Record, RecordBatch};
use kafkasim::run::{self, RunOptions};
use kafkasim::scenario::{self, Scenario};
use kafkasim::sim::{NodeId, SimTime, Simulator};

const SCENARIO: &str = "tests/data/standard-workload.toml";
const EOS_SCENARIO: &str = "tests/data/standard-workload-eos.toml";

/// Log segment bytes and all file bytes on every broker's disk.
fn disk_bytes(sim: &Simulator<Node>) -> (u64, u64) {
    let (mut segments, mut all) = (0u64, 0u64);
    for (i, name) in sim.names().iter().enumerate() {
        if !name.starts_with("broker-") {
            continue;
        }
        let disk = sim.disk(NodeId::from_index(i));
        for file in disk.list("") {
            let len = disk.written_len(file) as u64;
            all += len;
            if file.ends_with(".log") {
                segments += len;
            }
        }
    }
    (segments, all)
}

/// Records stored over all replicas: the sum of every broker's log end minus log start offsets.
fn stored_records(sim: &Simulator<Node>) -> u64 {
    (0..sim.names().len())
        .filter_map(|i| match sim.process(NodeId::from_index(i)) {
            Some(Node::Broker(broker)) => Some(broker),
            _ => None,
        })
        .flat_map(|broker| broker.partitions().values())
        .map(|p| p.log.log_end_offset() - p.log.log_start_offset())
        .sum()
}

/// Heap bytes, at least, of the brokers' in-memory record batches: a pointer per batch per
/// replica, and each shared batch (with its two reference counts) and its record slice once
/// however many replicas and readers hold them (a lower bound, as segment and index bookkeeping
/// is left out).
fn log_memory_bytes(sim: &Simulator<Node>) -> u64 {
    let mut seen = std::collections::BTreeSet::new();
    (0..sim.names().len())
        .filter_map(|i| match sim.process(NodeId::from_index(i)) {
            Some(Node::Broker(broker)) => Some(broker),
            _ => None,
        })
        .flat_map(|broker| broker.partitions().values())
        .flat_map(|p| p.log.batches_from(p.log.log_start_offset()))
        .map(|batch| {
            let shared = if seen.insert(std::sync::Arc::as_ptr(batch) as usize) {
                let records = 2 * size_of::<usize>() + batch.records.len() * size_of::<Record>();
                2 * size_of::<usize>() + size_of::<RecordBatch>() + records
            } else {
                0
            };
            (size_of::<usize>() + shared) as u64
        })
        .sum()
}

/// Heap bytes, at least, of the checkers' history (its vectors at their capacity; the
/// partition names they share and the small lists left out).
fn history_bytes(history: &History) -> u64 {
    let sends = history.sends_heap_bytes();
    let tail_reads = history.tail_reads.heap_bytes();
    let consumption = &history.consumption;
    let events = consumption.events.heap_bytes();
    let counts: usize = consumption
        .deliveries
        .values()
        .map(|d| d.polled.heap_bytes() + d.processed.heap_bytes())
        .sum();
    (sends + tail_reads + events + counts) as u64
}

/// The process's peak resident set (`VmHWM`), in kB.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn workload_phase(scenario: &Scenario) {
    let end = SimTime::from_millis(scenario.duration_ms);
    #[allow(clippy::disallowed_methods)] // benchmarks measure wall time
    let start = Instant::now();
    let (sim, recorded) =
        run::run_to(scenario, scenario.seed, false, end).expect("no invariant breaks");
    let wall = start.elapsed().as_secs_f64();
    let sim_secs = end.as_millis() as f64 / 1e3;
    let events = sim.events();
    let (segments, all) = disk_bytes(&sim);
    let stored = stored_records(&sim);
    println!("workload phase: {sim_secs:.0} simulated s in {wall:.2} wall s");
    println!("  simulated s per wall s  {:>12.0}", sim_secs / wall);
    println!("  events                  {events:>12}");
    println!("  events per wall s       {:>12.0}", events as f64 / wall);
    println!("  records stored (all replicas) {stored:>6}");
    println!(
        "  log segment bytes per stored record per replica  {:.1}",
        segments as f64 / stored as f64
    );
    println!(
        "  all disk bytes per stored record per replica     {:.1}",
        all as f64 / stored as f64
    );
    let history_bytes = history_bytes(&recorded.history);
    println!(
        "  history for the checkers at least {:.1} MiB ({:.1} bytes per stored record per \
         replica)",
        history_bytes as f64 / 1048576.0,
        history_bytes as f64 / stored as f64
    );
    let log_bytes = log_memory_bytes(&sim);
    println!(
        "  in-memory record batches at least {:.1} MiB ({:.1} bytes per stored record per replica)",
        log_bytes as f64 / 1048576.0,
        log_bytes as f64 / stored as f64
    );
    if let Some(kb) = peak_rss_kb() {
        println!("  peak RSS (VmHWM)        {:>9.1} MiB", kb as f64 / 1024.0);
        println!(
            "  peak RSS per stored record per replica  {:.1} bytes",
            kb as f64 * 1024.0 / stored as f64
        );
    }
    black_box((sim, recorded));
}

fn whole_run(scenario: &Scenario) {
    #[allow(clippy::disallowed_methods)] // benchmarks measure wall time
    let start = Instant::now();
    let outcome = run::run(scenario, scenario.seed, RunOptions::default()).expect("runs");
    let wall = start.elapsed().as_secs_f64();
    let simulated = (scenario.duration_ms + scenario.settle_ms) as f64 / 1e3;
    println!("whole run (heal, settle, final reads, checkers): {wall:.2} wall s");
    println!(
        "  simulated s per wall s  {:>12.0} (to the end of settling)",
        simulated / wall
    );
    println!(
        "  anomalies               {:>12}",
        outcome.summary.anomalies.len()
    );
    if let Some(kb) = peak_rss_kb() {
        println!("  peak RSS (VmHWM) so far {:>9.1} MiB", kb as f64 / 1024.0);
    }
}

/// Benchmarks one variant: its workload phase, then (unless `--workload-only`) its whole run.
fn bench(file: &str, what: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let scenario = scenario::load(&path, &[]).expect("the benchmark scenario loads");
    println!("{what} ({file}), seed {}", scenario.seed);
    workload_phase(&scenario);
    // `-- --workload-only` stops here (for profiling).
    if std::env::args().any(|a| a == "--workload-only") {
        return;
    }
    whole_run(&scenario);
}

fn main() {
    let only = |flag: &str| std::env::args().any(|a| a == flag);
    let (standard, eos) = (only("--standard"), only("--eos"));
    if standard || !eos {
        bench(SCENARIO, "standard workload");
    }
    if eos || !standard {
        if !eos {
            println!("(peak RSS below includes the standard workload's: run `-- --eos` alone)");
        }
        bench(
            EOS_SCENARIO,
            "standard workload with an exactly-once pipeline",
        );
    }
}

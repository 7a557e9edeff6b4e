//! The raw engine against a heap-only baseline, in one run so the ratio shows.
//!
//! For N = 3, 10 and 30 nodes, every node sends a request to a random peer every millisecond and
//! answers each request it receives, over links with uniform 1–5 ms latency: timers, deliveries,
//! RNG draws, effect buffers and FIFO link bookkeeping all included, no observations or disk
//! writes. The baseline pushes and pops as many `(time, seq)` entries through a `BinaryHeap` of the
//! same size as the engine's queue. Run with `cargo bench --bench engine`.

#[path = "../tests/common/pingpong.rs"]
mod pingpong;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use kafkasim::disk::DiskModel;
use kafkasim::net::{LatencyModel, NetworkModel};
use kafkasim::sim::{SimDuration, SimTime, Simulator, World};
use pingpong::{PingPong, Spec, full_mesh};

/// Events each measurement aims for.
const EVENTS_TARGET: u64 = 3_000_000;

fn specs(n: usize) -> Vec<Spec> {
    let mut specs = full_mesh(n, SimDuration::from_millis(1), false);
    for spec in &mut specs {
        spec.persist = false;
        spec.record = false;
    }
    specs
}

/// Runs the engine; returns (events, pending at the end, wall time).
fn engine(n: usize, seed: u64) -> (u64, usize, Duration) {
    let world = World::<PingPong> {
        seed,
        names: (0..n).map(|i| format!("node-{i}")).collect(),
        specs: specs(n),
        network: NetworkModel {
            latency: LatencyModel::uniform_ms(1, 5),
            loss_ppm: 0,
        },
        disk: DiskModel::default(),
        keep_log: false,
        keep_observations: false,
    };
    // Each node makes about 3 events a millisecond: its timer, a request and a response.
    let sim_ms = EVENTS_TARGET / (3 * n as u64);
    #[allow(clippy::disallowed_methods)] // benchmarks measure wall time
    let start = Instant::now();
    let mut sim = Simulator::new(world);
    sim.run_until(SimTime::from_millis(sim_ms))
        .expect("no invariant breaks");
    let wall = start.elapsed();
    (black_box(sim.events()), sim.pending(), wall)
}

/// Pushes and pops `events` entries through a heap holding `pending` entries.
fn baseline(events: u64, pending: usize) -> Duration {
    let mut heap = BinaryHeap::with_capacity(pending + 1);
    let mut seq = 0u64;
    for i in 0..pending as u64 {
        heap.push(Reverse((i * 37 % 5_000, seq)));
        seq += 1;
    }
    #[allow(clippy::disallowed_methods)] // benchmarks measure wall time
    let start = Instant::now();
    for _ in 0..events {
        let Reverse((time, _)) = heap.pop().unwrap_or(Reverse((0, 0)));
        // A cheap deterministic spread of 1–5 ms, like the engine's latency draws.
        let delay = 1_000 + (seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52) % 4_000;
        heap.push(Reverse((time + delay, seq)));
        seq += 1;
    }
    black_box(&heap);
    start.elapsed()
}

fn main() {
    println!("engine vs heap-only baseline (best of 3 per size)");
    println!(
        "{:>5} {:>10} {:>8} {:>12} {:>10} {:>12} {:>7}",
        "nodes", "events", "pending", "engine ns/ev", "Mevents/s", "heap ns/op", "ratio"
    );
    for n in [3usize, 10, 30] {
        let runs: Vec<_> = (0..3).map(|seed| engine(n, seed)).collect();
        let (events, pending, wall) = runs.iter().min_by_key(|r| r.2).copied().expect("3 runs");
        let heap = (0..3)
            .map(|_| baseline(events, pending))
            .min()
            .expect("3 runs");
        let engine_ns = wall.as_nanos() as f64 / events as f64;
        let heap_ns = heap.as_nanos() as f64 / events as f64;
        println!(
            "{n:>5} {events:>10} {pending:>8} {engine_ns:>12.1} {:>10.2} {heap_ns:>12.1} {:>6.2}x",
            1e3 / engine_ns,
            engine_ns / heap_ns
        );
    }
}

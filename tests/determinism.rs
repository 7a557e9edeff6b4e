//! Determinism: the same scenario and seed give the same trace hash, twice in one process and in
//! debug and release builds (CI runs this file in both against the same snapshot); different
//! seeds give different hashes. Until the broker model exists, the engine runs ping-pong test
//! processes on the scenario's nodes, with the scenario's network, disks and scripted faults.

mod common;

use std::path::Path;

use common::pingpong::{PingPong, full_mesh};
use kafkasim::disk::DiskModel;
use kafkasim::faults;
use kafkasim::net::NetworkModel;
use kafkasim::scenario;
use kafkasim::sim::{SimDuration, SimTime, Simulator, World};

const FIXTURE: &str = "tests/data/determinism.toml";

/// Runs the fixture with `seed`; returns the simulator at the end.
fn run(seed: u64) -> Simulator<PingPong> {
    run_keeping_log(seed, true)
}

/// Runs the fixture with `seed`, keeping the short log's text or not.
fn run_keeping_log(seed: u64, keep_log: bool) -> Simulator<PingPong> {
    let scenario = scenario::load(Path::new(FIXTURE), &[]).expect("the fixture is valid");
    let names = scenario.node_names();
    let world = World {
        seed,
        specs: full_mesh(names.len(), SimDuration::from_millis(20), true),
        names,
        network: NetworkModel::from_scenario(&scenario.network),
        disk: DiskModel::from_scenario(&scenario.disk),
        keep_log,
        keep_observations: false,
    };
    let mut sim = Simulator::new(world);
    for (at, fault) in faults::schedule(&scenario, sim.names()).expect("time-triggered faults") {
        sim.schedule_fault(at, fault);
    }
    sim.run_until(SimTime::from_millis(scenario.duration_ms))
        .expect("no invariant breaks");
    sim
}

#[test]
fn same_seed_gives_the_same_trace_twice_in_one_process() {
    let (a, b) = (run(7), run(7));
    assert_eq!(a.trace().hash(), b.trace().hash());
    assert_eq!(a.trace().log(), b.trace().log());
    assert_eq!(a.events(), b.events());
    assert!(
        a.trace().observations() > 1_000,
        "a busy trace: {}",
        a.trace().observations()
    );
}

#[test]
fn different_seeds_give_different_hashes() {
    let mut hashes: Vec<u64> = (1..=6).map(|seed| run(seed).trace().hash()).collect();
    hashes.sort_unstable();
    hashes.dedup();
    assert_eq!(hashes.len(), 6, "six seeds, six hashes");
}

#[test]
fn the_hash_does_not_depend_on_keeping_the_short_log() {
    let sim = run(3);
    let log = sim.trace().log().expect("kept");
    let bare = run_keeping_log(3, false);
    assert_eq!(bare.trace().hash(), sim.trace().hash());
    assert_eq!(bare.trace().observations(), sim.trace().observations());
    assert_eq!(log.lines().count() as u64, sim.trace().observations());
    let every_fault = [
        "kill",
        "power-off",
        "restart",
        "pause",
        "resume",
        "partition",
        "isolate",
    ];
    for kind in every_fault
        .iter()
        .chain(&["cut", "heal", "slow-link", "slow-disk"])
    {
        assert!(
            log.contains(&format!(" fault {kind}")),
            "the log shows the {kind}"
        );
    }
}

/// The recorded hashes: a debug and a release build must both match this one snapshot.
#[test]
fn trace_hashes_match_the_recorded_ones() {
    let mut text = String::new();
    for seed in [1u64, 7, 42] {
        let sim = run(seed);
        let (hash, events) = (sim.trace().hash_hex(), sim.events());
        text.push_str(&format!(
            "seed {seed}: trace_hash {hash}, {events} events\n"
        ));
    }
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("determinism_trace_hashes", text);
    });
}

/// Runs a scenario of the whole model; returns (trace hash, events, anomaly kinds).
fn run_cluster(path: &str, seed: u64) -> (String, u64, Vec<String>) {
    let scenario = scenario::load(Path::new(path), &[]).expect("the fixture is valid");
    let outcome = kafkasim::run::run(&scenario, seed, kafkasim::run::RunOptions::default())
        .expect("no invariant breaks");
    let summary = outcome.summary;
    (
        summary.trace_hash,
        summary.events,
        summary.anomaly_counts.into_keys().collect(),
    )
}

#[test]
fn a_cluster_under_the_nemesis_replays_exactly() {
    let fixture = "tests/data/cluster-chaos.toml";
    assert_eq!(run_cluster(fixture, 5), run_cluster(fixture, 5));
    assert_ne!(run_cluster(fixture, 5).0, run_cluster(fixture, 6).0);
}

/// The whole model's hashes: a debug and a release build must both match this one snapshot.
#[test]
fn cluster_trace_hashes_match_the_recorded_ones() {
    let mut text = String::new();
    for seed in [1u64, 2, 3] {
        let (hash, events, kinds) = run_cluster("tests/data/cluster-chaos.toml", seed);
        text.push_str(&format!(
            "cluster-chaos seed {seed}: trace_hash {hash}, {events} events, {kinds:?}\n"
        ));
    }
    let (hash, events, kinds) = run_cluster("scenarios/r1-hw-truncation-loss.toml", 7);
    text.push_str(&format!(
        "r1 seed 7: trace_hash {hash}, {events} events, {kinds:?}\n"
    ));
    let (hash, events, kinds) = run_cluster("tests/data/txn-sweep.toml", 2);
    text.push_str(&format!(
        "txn-sweep seed 2: trace_hash {hash}, {events} events, {kinds:?}\n"
    ));
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("determinism_cluster_trace_hashes", text);
    });
}

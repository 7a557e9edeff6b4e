//! The idempotent producer under the replication sweep's nemesis (kills, restarts, pauses and
//! isolations of up to two brokers) plus 1% packet loss: the same seeds that write retried
//! batches twice without idempotence show no duplicate and no reordering with it. A handful of
//! shortened seeds here; the README gives the figures of the full sweep.

use std::path::Path;

use kafkasim::run::{RunOptions, run};
use kafkasim::scenario;

const SWEEP: &str = "tests/data/sweep-3-brokers.toml";
const SEEDS: [u64; 4] = [4, 5, 6, 18];

/// The anomaly kinds of one shortened run of the sweep fixture.
fn kinds(seed: u64, idempotence: bool) -> Vec<String> {
    let sets = [
        "network.loss=0.01".to_string(),
        "duration_ms=20000".to_string(),
        "producer.p1.records=2000".to_string(),
        format!("producer.p1.config.enable.idempotence={idempotence}"),
    ];
    let scenario = scenario::load(Path::new(SWEEP), &sets).expect("the fixture is valid");
    let outcome = run(&scenario, seed, RunOptions::default()).expect("no invariant breaks");
    outcome.summary.anomaly_counts.into_keys().collect()
}

#[test]
fn retries_under_faults_and_message_loss_write_nothing_twice_with_idempotence() {
    for seed in SEEDS {
        let found = kinds(seed, true);
        for kind in ["duplicate", "nonmonotonic-send", "lost-write"] {
            assert!(
                !found.iter().any(|k| k == kind),
                "seed {seed}: {kind} with idempotence ({found:?})"
            );
        }
    }
}

#[test]
fn the_same_seeds_write_retried_batches_twice_without_idempotence() {
    for seed in SEEDS {
        let found = kinds(seed, false);
        assert!(
            found.iter().any(|k| k == "duplicate"),
            "seed {seed}: {found:?}"
        );
    }
}

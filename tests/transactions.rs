//! Transactions end to end: the transaction coordinator, markers, the last stable offset and
//! `read_committed` reads, classic transactions against KIP-890, fencing and coordinator
//! failover. Each test runs a scenario and reads its summary, final logs and short log.

use std::path::Path;

use kafkasim::check::FinalPartition;
use kafkasim::run::{RunOptions, RunOutcome, run};
use kafkasim::scenario;

fn run_file(path: &str, sets: &[&str]) -> RunOutcome {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let scenario = scenario::load(Path::new(path), &sets).expect("a valid scenario");
    let options = RunOptions {
        keep_log: true,
        ..RunOptions::default()
    };
    run(&scenario, scenario.seed, options).expect("no invariant breaks")
}

fn kinds(outcome: &RunOutcome) -> Vec<String> {
    outcome.summary.anomaly_counts.keys().cloned().collect()
}

fn partition<'a>(outcome: &'a RunOutcome, name: &str) -> &'a FinalPartition {
    outcome
        .finals
        .iter()
        .find(|p| &*p.name == name)
        .expect("the partition exists")
}

/// The record numbers of producer `producer` that read_committed readers see on `name`.
fn committed_numbers(outcome: &RunOutcome, name: &str, producer: u16) -> Vec<u32> {
    partition(outcome, name)
        .read_committed
        .as_ref()
        .expect("read_committed read finished")
        .iter()
        .filter(|(_, id)| id.producer == producer)
        .map(|(_, id)| id.n)
        .collect()
}

#[test]
fn read_committed_readers_see_committed_transactions_and_skip_aborted_ones() {
    let outcome = run_file("tests/data/txn-basic.toml", &[]);
    assert!(kinds(&outcome).is_empty(), "{:?}", kinds(&outcome));
    let mut seen = committed_numbers(&outcome, "orders-0", 0);
    seen.extend(committed_numbers(&outcome, "orders-1", 0));
    seen.sort_unstable();
    // Transactions of five records; every third (records 10..15, 25..30, …) aborts.
    let expected: Vec<u32> = (0..60).filter(|n| (n / 5 + 1) % 3 != 0).collect();
    assert_eq!(seen, expected);
    let log = outcome.log.as_deref().expect("kept");
    assert!(log.contains("ABORT marker"), "aborts write ABORT markers");
    let orders0 = partition(&outcome, "orders-0");
    let (lso, hw) = orders0.stable.expect("read to the LSO");
    assert_eq!(lso, hw, "nothing is left open");
    assert!(
        orders0.read.as_ref().unwrap().len() > seen.len(),
        "read_uncommitted sees aborts"
    );
}

#[test]
fn a_workload_cut_by_the_end_of_the_safety_phase_commits_its_last_transaction_short() {
    // From 500 ms at 20 records/s, 23 records are due before 1 620 ms: four transactions of five
    // and a last of three (records 20..23), which commits; the third (10..15) aborts.
    let outcome = run_file("tests/data/txn-basic.toml", &["duration_ms=1620"]);
    assert!(kinds(&outcome).is_empty(), "{:?}", kinds(&outcome));
    assert_eq!(outcome.summary.stats.sent, 23);
    let mut seen = committed_numbers(&outcome, "orders-0", 0);
    seen.extend(committed_numbers(&outcome, "orders-1", 0));
    seen.sort_unstable();
    let expected: Vec<u32> = (0..23).filter(|n| (n / 5 + 1) % 3 != 0).collect();
    assert_eq!(seen, expected);
    let (lso, hw) = partition(&outcome, "orders-0")
        .stable
        .expect("read to the LSO");
    assert_eq!(lso, hw, "nothing is left open");
}

#[test]
fn a_late_produce_of_an_aborted_transaction_hangs_the_lso_under_classic_transactions() {
    let outcome = run_file("scenarios/o10-hanging-transaction.toml", &[]);
    assert_eq!(kinds(&outcome), ["liveness"]);
    assert_eq!(partition(&outcome, "orders-0").stable, Some((1, 2)));
}

#[test]
fn kip_890_refuses_the_late_produce_of_an_aborted_transaction() {
    let outcome = run_file(
        "scenarios/o10-hanging-transaction.toml",
        &["cluster.transactions.protocol=kip-890"],
    );
    assert!(kinds(&outcome).is_empty(), "{:?}", kinds(&outcome));
    let log = outcome.log.as_deref().expect("kept");
    // p1 has no transaction open on orders-0 any more: the leader verifies the late batch with
    // the coordinator (KIP-890), which answers that epoch 0 is fenced.
    assert!(log.contains("transaction verification of producer 0 failed: INVALID_PRODUCER_EPOCH"));
}

#[test]
fn a_late_produce_joins_the_next_transaction_whose_commit_exposes_an_aborted_record() {
    let outcome = run_file("scenarios/t1-late-produce-aborted-read.toml", &[]);
    assert_eq!(kinds(&outcome), ["aborted-read"]);
    assert_eq!(committed_numbers(&outcome, "orders-0", 0), [0, 1]);
    let outcome = run_file(
        "scenarios/t1-late-produce-aborted-read.toml",
        &["cluster.transactions.protocol=kip-890"],
    );
    assert!(kinds(&outcome).is_empty(), "{:?}", kinds(&outcome));
    assert_eq!(committed_numbers(&outcome, "orders-0", 0), [1]);
}

#[test]
fn a_new_instance_fences_the_zombie_and_aborts_its_open_transaction() {
    let outcome = run_file("scenarios/t3-zombie-fenced-control.toml", &[]);
    assert!(kinds(&outcome).is_empty(), "{:?}", kinds(&outcome));
    let log = outcome.log.as_deref().expect("kept");
    assert!(log.contains("fencing epoch 0 of producer id 0"));
    assert!(log.contains("p1 transactional producer stops: fatal PRODUCER_FENCED"));
    let mut zombie = committed_numbers(&outcome, "orders-0", 0);
    zombie.extend(committed_numbers(&outcome, "orders-1", 0));
    zombie.sort_unstable();
    assert_eq!(
        zombie,
        (0..10).collect::<Vec<u32>>(),
        "only p1's committed transactions"
    );
}

#[test]
fn a_new_coordinator_completes_a_commit_prepared_by_the_one_that_died() {
    let outcome = run_file("tests/data/txn-coordinator-failover.toml", &[]);
    assert!(kinds(&outcome).is_empty(), "{:?}", kinds(&outcome));
    let log = outcome.log.as_deref().expect("kept");
    assert!(log.contains("broker-0 transaction coordinator loading __transaction_state-46"));
    assert!(log.contains("broker-0 txn tx-t1 PrepareCommit -> CompleteCommit"));
    assert_eq!(committed_numbers(&outcome, "orders-0", 0), [0]);
}

#[test]
fn a_late_end_txn_commits_the_next_transaction_half_way_unless_kip_890_fences_it() {
    let path = "scenarios/t2-late-end-txn-torn-transaction.toml";
    let classic = run_file(path, &[]);
    assert_eq!(kinds(&classic), vec!["liveness", "torn-transaction"]);
    // p1-2 is visible; p1-3 sits in a transaction no marker closes.
    assert_eq!(committed_numbers(&classic, "orders-0", 0), vec![0, 1, 2]);
    let kip_890 = run_file(path, &["cluster.transactions.protocol=kip-890"]);
    assert!(
        kinds(&kip_890).is_empty(),
        "{:?}",
        kip_890.summary.anomalies
    );
    assert_eq!(committed_numbers(&kip_890, "orders-0", 0), vec![0, 1, 2, 3]);
    let log = kip_890.log.as_deref().expect("the log was kept");
    assert!(log.contains("EndTxn refused: PRODUCER_FENCED"));
}

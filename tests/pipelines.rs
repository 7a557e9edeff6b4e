//! Consume-transform-produce pipelines end to end: exactly-once (transactions carrying the
//! consumer's offsets, fenced by generation) against at-least-once, seek-on-abort (T4), and the
//! nemesis sweep fixture on a few seeds. Each test runs a scenario and reads its summary and
//! short log.

use std::path::Path;

use kafkasim::run::{RunOptions, RunOutcome, run};
use kafkasim::scenario;

fn run_file(path: &str, seed: Option<u64>, sets: &[&str]) -> RunOutcome {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let scenario = scenario::load(Path::new(path), &sets).expect("a valid scenario");
    let options = RunOptions {
        keep_log: true,
        ..RunOptions::default()
    };
    run(&scenario, seed.unwrap_or(scenario.seed), options).expect("no invariant breaks")
}

fn kinds(outcome: &RunOutcome) -> Vec<String> {
    outcome.summary.anomaly_counts.keys().cloned().collect()
}

fn log(outcome: &RunOutcome) -> &str {
    outcome.log.as_deref().expect("the log was kept")
}

#[test]
fn a_zombie_instances_offsets_are_fenced_so_its_transaction_aborts_and_nothing_repeats() {
    let outcome = run_file("scenarios/o9-eos-pipeline-control.toml", None, &[]);
    assert!(
        kinds(&outcome).is_empty(),
        "{:?}",
        outcome.summary.anomalies
    );
    let log = log(&outcome);
    assert!(
        log.contains("TxnOffsetCommit of etl-0-"),
        "the zombie sends its offsets"
    );
    assert!(
        log.contains("rejected: UNKNOWN_MEMBER_ID"),
        "and they are fenced"
    );
    assert!(
        log.contains("etl-0 txn aborted"),
        "so its transaction aborts"
    );
}

#[test]
fn the_same_stall_in_an_at_least_once_pipeline_commits_its_outputs_twice() {
    let outcome = run_file(
        "scenarios/o9-eos-pipeline-control.toml",
        None,
        &["pipeline.etl.exactly_once=false"],
    );
    assert_eq!(kinds(&outcome), vec!["eos-duplicate"]);
}

#[test]
fn an_abort_without_seek_skips_input_and_seeking_to_the_committed_offsets_does_not() {
    let path = "scenarios/t4-pipeline-no-seek-on-abort.toml";
    let skipped = run_file(path, None, &[]);
    assert_eq!(kinds(&skipped), vec!["eos-missing"]);
    assert!(log(&skipped).contains("rejected: ILLEGAL_GENERATION"));
    let sought = run_file(path, None, &["pipeline.etl.seek_on_abort=true"]);
    assert!(kinds(&sought).is_empty(), "{:?}", sought.summary.anomalies);
    assert!(log(&sought).contains("seek to the committed offsets"));
}

#[test]
fn committed_output_reflects_each_consumed_input_once_through_crashes() {
    let outcome = run_file("scenarios/eos-pipeline-under-crashes.toml", None, &[]);
    assert!(
        kinds(&outcome).is_empty(),
        "{:?}",
        outcome.summary.anomalies
    );
    let read_committed = |topic: &str| -> usize {
        outcome
            .finals
            .iter()
            .filter(|p| p.name.rsplit_once('-').map(|(t, _)| t) == Some(topic))
            .map(|p| p.read_committed.as_ref().expect("read to the LSO").len())
            .sum()
    };
    // The input producer is not transactional: all of its 1 000 records are committed input.
    assert_eq!(read_committed("orders"), 1_000);
    assert_eq!(read_committed("orders-out"), 1_000, "one output per input");
}

#[test]
fn the_nemesis_fixture_is_clean_exactly_once_and_duplicates_at_least_once() {
    let mut duplicated = 0;
    for seed in 0..3 {
        let exactly_once = run_file("tests/data/eos-sweep.toml", Some(seed), &[]);
        let found = kinds(&exactly_once);
        assert!(
            !found
                .iter()
                .any(|k| k.starts_with("eos-") || k == "aborted-read" || k == "torn-transaction"),
            "seed {seed}: {found:?}"
        );
        let at_least_once = run_file(
            "tests/data/eos-sweep.toml",
            Some(seed),
            &["pipeline.etl.exactly_once=false"],
        );
        duplicated += usize::from(kinds(&at_least_once).contains(&"eos-duplicate".to_string()));
    }
    assert!(
        duplicated > 0,
        "at-least-once shows eos-duplicate on some seed"
    );
}

#[test]
fn a_connection_the_producer_closes_fails_the_consumers_requests_on_it_too() {
    // Seed 4: etl-1's producer times out a request to broker-1 and closes the connection its
    // consumer shares; the consumer hears of it at once instead of waiting for lost answers.
    let outcome = run_file("tests/data/eos-sweep.toml", Some(4), &[]);
    assert!(
        log(&outcome).contains(
            "etl-1 the producer closed the connection to broker-1: the consumer's requests on \
             it fail"
        ),
        "the close is passed on to the consumer"
    );
    assert!(
        kinds(&outcome).is_empty(),
        "{:?}",
        outcome.summary.anomalies
    );
}

//! Consumer groups end to end: the O9 pair, and a group that rebalances as members come and go.

use kafkasim::run::{RunOptions, run};
use kafkasim::scenario::load;

fn summary(path: &str, sets: &[&str]) -> kafkasim::cli::RunSummary {
    let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
    let scenario = load(std::path::Path::new(path), &sets).expect("scenario loads");
    let seed = scenario.seed;
    run(&scenario, seed, RunOptions::default())
        .expect("runs")
        .summary
}

/// The short log of the scenario at `path` with `sets`, at its own seed.
fn short_log(path: &str, sets: &[&str]) -> String {
    let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
    let scenario = load(std::path::Path::new(path), &sets).expect("scenario loads");
    let options = RunOptions {
        keep_log: true,
        ..RunOptions::default()
    };
    run(&scenario, scenario.seed, options)
        .expect("runs")
        .log
        .expect("log kept")
}

#[test]
fn an_at_least_once_consumer_stalled_past_its_session_processes_records_twice() {
    let s = summary("scenarios/o9-at-least-once-reprocessing.toml", &[]);
    assert!(s.expect_met, "{:?}", s.anomaly_counts);
    let d = &s.deliveries["g1"];
    assert!(d.processed.get(&2).is_some_and(|&n| n > 0), "{d:?}");
    assert_eq!(s.stats.acked, 1_000);
}

#[test]
fn an_at_most_once_consumer_stalled_past_its_session_processes_each_record_once() {
    let s = summary("scenarios/o9-at-most-once-control.toml", &[]);
    assert!(s.expect_met, "{:?}", s.anomaly_counts);
    let d = &s.deliveries["g1"];
    assert_eq!(
        d.processed.keys().copied().collect::<Vec<_>>(),
        [1],
        "{d:?}"
    );
}

#[test]
fn a_cooperative_group_processes_every_record_through_a_stalled_member() {
    let s = summary(
        "scenarios/o9-at-least-once-reprocessing.toml",
        &[
            "consumer.c.config.partition.assignment.strategy=cooperative-sticky",
            "producer.p1.records=300",
        ],
    );
    assert!(s.anomalies.is_empty(), "{:?}", s.anomalies);
    let d = &s.deliveries["g1"];
    assert_eq!(d.processed.get(&0), None, "every record processed: {d:?}");
}

/// How many polls `node` made between sending a JoinGroup while owning partitions and receiving
/// its next assignment, in the short log of the O9 scenario with `strategy`.
fn polls_while_rejoining(strategy: &str, node: &str) -> usize {
    let set = format!("consumer.c.config.partition.assignment.strategy={strategy}");
    let log = short_log("scenarios/o9-at-least-once-reprocessing.toml", &[&set]);
    let (mut rejoining, mut polls) = (false, 0);
    for line in log.lines() {
        if line.contains(&format!(" {node} group g1: JoinGroup as \"{node}-")) {
            rejoining = !line.contains("owning 0 partition");
        } else if line.contains(&format!(" {node} group g1 {node}-")) && line.contains("assigned") {
            rejoining = false;
        } else if rejoining && line.contains(&format!(" {node} poll ")) {
            polls += 1;
        }
    }
    polls
}

#[test]
fn a_cooperative_member_keeps_polling_the_partitions_it_owns_while_it_rejoins() {
    assert!(polls_while_rejoining("cooperative-sticky", "c-1") > 0);
}

#[test]
fn an_eager_member_polls_nothing_while_it_rejoins() {
    assert_eq!(polls_while_rejoining("range", "c-1"), 0);
}

#[test]
fn records_committed_by_an_at_most_once_consumer_killed_mid_poll_count_as_never_processed() {
    let s = summary("tests/data/group-at-most-once-crash.toml", &[]);
    let d = &s.deliveries["g1"];
    let never = d.processed.get(&0).copied().unwrap_or(0);
    assert!(never > 0, "{d:?}");
    assert_eq!(d.committed_unprocessed, never, "{d:?}");
}

#[test]
fn an_at_least_once_consumer_commits_nothing_it_did_not_process() {
    let s = summary("scenarios/o9-at-least-once-reprocessing.toml", &[]);
    assert_eq!(s.deliveries["g1"].committed_unprocessed, 0);
}

#[test]
fn a_consumer_detects_log_truncation_after_an_unclean_election_and_reads_from_the_divergence_point()
{
    let s = summary("tests/data/group-unclean-truncation.toml", &[]);
    let d = &s.deliveries["g1"];
    assert_eq!(d.processed.get(&0), None, "every record processed: {d:?}");
    assert_eq!(d.committed_unprocessed, 0, "{d:?}");
}

#[test]
fn a_consumer_without_kip_320_skips_the_new_log_below_its_position_after_an_unclean_election() {
    let s = summary(
        "tests/data/group-unclean-truncation.toml",
        &["cluster.replication.protocol=kip-101"],
    );
    let d = &s.deliveries["g1"];
    assert!(d.committed_unprocessed > 0, "{d:?}");
}

#[test]
fn a_member_taking_over_a_committed_offset_truncated_by_an_unclean_election_reads_from_the_divergence_point()
 {
    let s = summary("tests/data/group-committed-offset-truncation.toml", &[]);
    let d = &s.deliveries["g1"];
    assert_eq!(d.committed_unprocessed, 0, "{d:?}");
}

#[test]
fn a_member_without_kip_320_starts_at_a_truncated_committed_offset_and_skips_the_new_log_below_it()
{
    let s = summary(
        "tests/data/group-committed-offset-truncation.toml",
        &["cluster.replication.protocol=kip-101"],
    );
    let d = &s.deliveries["g1"];
    assert_eq!(d.committed_unprocessed, 25, "{d:?}");
}

#[test]
fn log_truncation_with_auto_offset_reset_none_ends_the_application_and_its_session_expires() {
    let log = short_log(
        "tests/data/group-committed-offset-truncation.toml",
        &["consumer.d.config.auto.offset.reset=none"],
    );
    let lines: Vec<&str> = log.lines().collect();
    let thrown = lines
        .iter()
        .position(|l| l.contains("d-0 group g1: poll() threw LogTruncationException (orders-0)"))
        .expect("d-0's poll throws LogTruncationException");
    let after = &lines[thrown + 1..];
    assert!(
        !after.iter().any(|l| l.contains(" d-0 ")),
        "d-0 does nothing more: {after:?}"
    );
    assert!(
        after
            .iter()
            .any(|l| l.contains("group g1: d-0-") && l.contains("expired (session.timeout.ms)")),
        "the coordinator removes d-0 when its session expires"
    );
}

/// The group sweep with idempotence, seed `seed`.
fn sweep_seed(seed: u64) -> kafkasim::cli::RunSummary {
    let sets = vec!["producer.p1.config.enable.idempotence=true".to_owned()];
    let scenario =
        load(std::path::Path::new("tests/data/group-sweep.toml"), &sets).expect("scenario loads");
    run(&scenario, seed, RunOptions::default())
        .expect("runs")
        .summary
}

/// Seed 187 of the group sweep: c-1 must validate its positions after an election while the
/// partitions have no leader yet.
#[test]
fn a_position_awaiting_validation_while_its_partition_has_no_leader_is_validated_once_it_has_one() {
    let s = sweep_seed(187);
    let d = &s.deliveries["g1"];
    assert_eq!(d.processed.get(&0), None, "every record processed: {d:?}");
}

/// Seed 256 of the group sweep: c-0 keeps polling orders-3 while a rebalance forms generation 2,
/// the coordinator fails over before generation 2 is stored, and the new coordinator's next
/// generation is numbered 2 again and gives orders-3 to c-2.
#[test]
fn a_cooperative_member_polling_while_its_group_rebalances_owns_by_its_assigned_generation() {
    let s = sweep_seed(256);
    assert_eq!(
        s.anomaly_counts.get("double-ownership"),
        None,
        "{:?}",
        s.anomalies
    );
}

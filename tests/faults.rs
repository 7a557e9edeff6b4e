//! Scripted faults fired by conditions, faults on every kind of node, and the nemesis's swarm.

use kafkasim::run::{RunOptions, run};
use kafkasim::scenario::parse_str;

const BASE: &str = r#"
name = "conditions"
duration_ms = 20_000
settle_ms = 40_000
[cluster]
brokers = 3
[cluster.config]
"min.insync.replicas" = 2
"zookeeper.session.timeout.ms" = 2_000
"replica.lag.time.max.ms" = 4_000
[network]
latency_ms = [1, 3]
[[topic]]
name = "orders"
partitions = 2
replication_factor = 3
[[producer]]
name = "p1"
topic = "orders"
records = 2_000
rate_per_sec = 200
keys = 4
[producer.config]
acks = "all"
"enable.idempotence" = false
"#;

/// Runs `BASE` plus `extra` with seed 1 and returns the short log's lines.
fn log_of(extra: &str) -> Vec<String> {
    let text = format!("{BASE}{extra}");
    let scenario = parse_str(&text, "conditions.toml", &[]).expect("a valid scenario");
    let options = RunOptions {
        keep_log: true,
        ..RunOptions::default()
    };
    let outcome = run(&scenario, 1, options).expect("the run completes");
    outcome
        .log
        .expect("the log was kept")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The index of the first line containing every one of `parts`.
fn first(log: &[String], parts: &[&str]) -> usize {
    log.iter()
        .position(|l| parts.iter().all(|p| l.contains(p)))
        .unwrap_or_else(|| panic!("no line with {parts:?}"))
}

#[test]
fn a_fault_fires_right_after_the_high_watermark_reaches_the_offset() {
    let log = log_of(
        r#"
[[fault]]
when = { hw = 100, topic = "orders", partition = 1, node = "broker-1" }
action = "kill"
node = "broker-1"
"#,
    );
    let hw = first(&log, &["broker-1 orders-1 HW 1"]);
    // The first HW line at or past 100 on broker-1 is followed at once by the kill.
    let reached = log
        .iter()
        .position(|l| {
            l.contains("broker-1 orders-1 HW ")
                && l.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok()) >= Some(100)
        })
        .expect("broker-1's HW reaches 100");
    assert!(reached >= hw);
    assert!(
        log[reached + 1].ends_with("fault kill broker-1"),
        "{}",
        log[reached + 1]
    );
    assert_eq!(log.iter().filter(|l| l.contains("fault kill")).count(), 1);
}

#[test]
fn a_leader_change_fires_a_pause_that_ends_after_for_ms() {
    let log = log_of(
        r#"
[[fault]]
at_ms = 3_000
action = "kill"
node = "broker-0"

[[fault]]
when = { leader_change = true, topic = "orders", partition = 0 }
action = "pause"
node = "p1"
for_ms = 500
"#,
    );
    let pause = first(&log, &["fault pause p1"]);
    // The new leader's line, then the ISR it was elected with, then the pause.
    let previous = &log[pause - 2..pause];
    assert!(
        previous[0].contains("orders-0 leader epoch ") && previous[1].contains("orders-0 ISR"),
        "the pause follows the new leader's lines: {previous:?}"
    );
    let ms = |line: &str| -> f64 { line.split(' ').next().unwrap().parse().unwrap() };
    let resume = first(&log, &["fault resume p1"]);
    assert_eq!(ms(&log[resume]) - ms(&log[pause]), 500.0);
}

#[test]
fn an_isr_shrink_and_the_nth_ack_fire_their_faults() {
    let log = log_of(
        r#"
[[fault]]
when = { acked = 50 }
action = "isolate"
node = "broker-2"
for_ms = 8_000

[[fault]]
when = { isr_shrink = true, topic = "orders", partition = 0 }
action = "slow-disk"
node = "broker-0"
extra_ms = 5
for_ms = 1_000
"#,
    );
    let isolate = first(&log, &["fault isolate broker-2"]);
    assert!(
        log[isolate - 1].contains(" p1 ack "),
        "{}",
        log[isolate - 1]
    );
    let shrink = first(&log, &["orders-0 ISR", "(shrink)"]);
    assert!(log[shrink + 1].contains("fault slow-disk broker-0"));
}

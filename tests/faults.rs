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
    // The rest of that handler's lines come first (same time, same broker), then the kill.
    let stamp = |l: &str| l.split(' ').take(2).collect::<Vec<_>>().join(" ");
    let kill = reached
        + 1
        + log[reached + 1..]
            .iter()
            .position(|l| stamp(l) != stamp(&log[reached]))
            .unwrap();
    assert!(log[kill].ends_with("fault kill broker-1"), "{}", log[kill]);
    assert_eq!(log[kill].split(' ').next(), log[reached].split(' ').next());
    assert_eq!(log.iter().filter(|l| l.contains("fault kill")).count(), 1);
}

#[test]
fn a_leader_change_fires_a_pause_that_ends_after_for_ms() {
    // broker-2's death bumps orders-0's leader epoch under the same leader (broker-0): no
    // leader change; broker-0's death is one.
    let log = log_of(
        r#"
[[fault]]
at_ms = 500
action = "kill"
node = "broker-2"

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
    assert!(ms(&log[pause]) > 3000.0, "{}", log[pause]);
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

#[test]
fn the_workload_ends_with_the_safety_phase_and_drains_in_the_settle_phase() {
    // 2 000 records at 200/s would take 10 s; the safety phase ends at 5 s, so the producer makes
    // the 1 000 due before it, and they are all acknowledged and committed by the final read.
    let text = BASE.replace("duration_ms = 20_000", "duration_ms = 5_000");
    let scenario = parse_str(&text, "short.toml", &[]).expect("a valid scenario");
    let outcome = run(&scenario, 1, RunOptions::default()).expect("the run completes");
    let stats = &outcome.summary.stats;
    assert_eq!((stats.sent, stats.acked), (1000, 1000));
    assert!(
        outcome.summary.anomaly_counts.is_empty(),
        "{:?}",
        outcome.summary.anomaly_counts
    );
}

#[test]
fn conditions_belong_to_the_safety_phase() {
    // The producer is cut off from 3 s to the heal at 5 s: the records it makes meanwhile (the
    // workload's last 400) are acknowledged after the heal, so the 900th ack comes in the settle
    // phase and nothing fires.
    let text = BASE.replace("duration_ms = 20_000", "duration_ms = 5_000");
    let faults = "[[fault]]\nat_ms = 3_000\naction = \"isolate\"\nnode = \"p1\"\n\
                  [[fault]]\nwhen = { acked = 900 }\naction = \"kill\"\nnode = \"broker-1\"\n";
    let scenario =
        parse_str(&format!("{text}{faults}"), "late.toml", &[]).expect("a valid scenario");
    let outcome = run(&scenario, 1, RunOptions::default()).expect("the run completes");
    assert_eq!(
        outcome.summary.stats.sent, 1000,
        "the safety phase's records"
    );
    assert_eq!(outcome.summary.stats.acked, 1000);
    let actions: Vec<&str> = outcome.summary.faults.iter().map(|f| f.action).collect();
    assert_eq!(actions, ["isolate", "heal"], "{actions:?}");
}

#[test]
fn a_restarted_producer_resumes_where_its_source_is_and_the_run_stays_clean() {
    let text = format!(
        "{BASE}{}",
        r#"
[[fault]]
at_ms = 3_000
action = "kill"
node = "p1"

[[fault]]
at_ms = 5_000
action = "restart"
node = "p1"
"#
    );
    let scenario = parse_str(&text, "producer-restart.toml", &[]).expect("a valid scenario");
    let options = RunOptions {
        keep_log: true,
        ..RunOptions::default()
    };
    let outcome = run(&scenario, 1, options).expect("the run completes");
    let log = outcome.log.unwrap();
    // 200 records/s: record 1 000 is due at 5 000 ms, the restart; it was made (and lost) then.
    let resumed = log
        .lines()
        .find(|l| {
            let ms: f64 = l.split(' ').next().unwrap().parse().unwrap();
            l.contains(" p1 send #") && ms >= 5000.0
        })
        .expect("p1 sends again");
    assert!(resumed.contains("p1 send #1001 "), "{resumed}");
    let anomalies: Vec<_> = outcome
        .summary
        .anomaly_counts
        .keys()
        .filter(|k| *k != "duplicate" && *k != "nonmonotonic-send")
        .collect();
    assert!(anomalies.is_empty(), "{anomalies:?}");
}

mod nemesis {
    use kafkasim::faults::{FaultAction, nemesis::schedule};
    use kafkasim::scenario::parse_str;
    use kafkasim::sim::{NodeId, SimTime};
    use std::collections::BTreeSet;

    fn scenario(nemesis: &str) -> kafkasim::scenario::Scenario {
        let text = format!(
            "{}\n[nemesis]\n{nemesis}",
            super::BASE.replace("20_000", "120_000")
        );
        parse_str(&text, "nemesis.toml", &[]).expect("a valid scenario")
    }

    fn kinds(faults: &[(SimTime, FaultAction)]) -> BTreeSet<&'static str> {
        faults.iter().map(|(_, f)| f.name()).collect()
    }

    #[test]
    fn the_swarm_switches_actions_off_for_some_seeds() {
        let actions = r#"actions = ["kill", "pause", "slow-disk", "slow-link"]
interval_ms = [500, 2_000]
fault_ms = [100, 500]
max_faulty_brokers = 3"#;
        let s = scenario(actions);
        let names = s.node_names();
        let per_seed: Vec<_> = (0..30)
            .map(|seed| kinds(&schedule(&s, &names, seed)))
            .collect();
        let all: BTreeSet<_> = per_seed.iter().flatten().copied().collect();
        assert_eq!(
            all,
            BTreeSet::from([
                "kill",
                "pause",
                "restart",
                "resume",
                "slow-disk",
                "slow-link"
            ])
        );
        assert!(per_seed.iter().any(|k| !k.contains("kill")), "{per_seed:?}");
        assert!(
            per_seed.iter().any(|k| !k.contains("pause")),
            "{per_seed:?}"
        );
        let even = scenario(&format!("{actions}\nswarm = false"));
        for seed in 0..30 {
            let k = kinds(&schedule(&even, &names, seed));
            assert!(
                k.contains("kill") && k.contains("pause") && k.contains("slow-disk"),
                "{k:?}"
            );
        }
    }

    #[test]
    fn faults_hit_the_metadata_service_and_clients_within_max_faulty_brokers() {
        let s = scenario(
            r#"actions = ["kill", "pause", "isolate", "power-off"]
targets = ["broker-*", "zk", "p1"]
interval_ms = [500, 3_000]
fault_ms = [500, 5_000]
max_faulty_brokers = 1"#,
        );
        let names = s.node_names();
        let brokers: Vec<NodeId> = (1..=3).map(NodeId::from_index).collect();
        let mut hit = BTreeSet::new();
        for seed in 0..40 {
            let faults = schedule(&s, &names, seed);
            let (mut down, mut isolated) = (BTreeSet::new(), BTreeSet::new());
            for (_, fault) in &faults {
                hit.extend(fault.nodes().iter().map(|n| names[n.index()].clone()));
                match fault {
                    FaultAction::Kill(n)
                    | FaultAction::Pause(n)
                    | FaultAction::PowerOff { node: n, .. } => {
                        assert!(down.insert(*n), "seed {seed}: a second fault on {n:?}");
                    }
                    FaultAction::Isolate(n) => {
                        isolated.insert(*n);
                    }
                    FaultAction::Restart(n) | FaultAction::Resume(n) => {
                        down.remove(n);
                    }
                    FaultAction::Heal => isolated.clear(),
                    _ => {}
                }
                let out: BTreeSet<&NodeId> = down.union(&isolated).collect();
                let brokers_out = out.iter().filter(|n| brokers.contains(n)).count();
                assert!(brokers_out <= 1, "seed {seed}: {out:?} after {fault:?}");
            }
        }
        assert!(hit.contains("zk") && hit.contains("p1"), "{hit:?}");
    }
}

/// Three partitions led by broker-0; orders-1 (where `key-0` goes) has the only follower on
/// broker-1. p1 sends #0 (orders-1) at 1 000 ms, #1 (orders-0) at 2 000 ms and #2 (orders-2) at
/// 3 000 ms. #0's request is held up on its way for 1.5 s, so p1 times it out at 1 900 ms,
/// closes the connection and resends #0 on a new one; the old request still lands at ~2 500 ms,
/// when broker-1's fetches are slowed by 2 s, so its acks=all append waits in the purgatory.
const DRAINED_PRODUCE: &str = r#"
name = "drained-produce"
duration_ms = 8_000
settle_ms = 5_000
[cluster]
brokers = 3
[network]
latency_ms = [1, 1]
[[topic]]
name = "orders"
partitions = 3
replication_factor = 2
replicas = [[0, 2], [0, 1], [0, 2]]
[[producer]]
name = "p1"
topic = "orders"
records = 3
rate_per_sec = 1
start_ms = 1_000
keys = 3
[producer.config]
acks = "all"
"enable.idempotence" = false
"linger.ms" = 0
"request.timeout.ms" = 900
[[fault]]
at_ms = 990
action = "slow-link"
from = "p1"
to = "broker-0"
extra_ms = 1_500
for_ms = 100
[[fault]]
at_ms = 2_400
action = "slow-link"
from = "broker-0"
to = "broker-1"
extra_ms = 2_000
for_ms = 3_000
"#;

#[test]
fn a_request_from_a_connection_its_client_closed_is_served_but_holds_up_nothing() {
    let scenario = parse_str(DRAINED_PRODUCE, "drained-produce.toml", &[]).expect("valid");
    let options = RunOptions {
        keep_log: true,
        ..RunOptions::default()
    };
    let outcome = run(&scenario, 1, options).expect("the run completes");
    let log: Vec<&str> = outcome.log.as_deref().expect("kept").lines().collect();
    assert!(
        log.iter()
            .any(|l| l.starts_with("2503.000 broker-0 orders-1 LEO 2")),
        "the old request is appended after the close (a duplicate of #0)"
    );
    assert!(
        log.contains(&"3004.000 p1 ack #2 orders-2@0 by broker-0"),
        "#2 on the new connection is not queued behind the old request's wait: {:?}",
        log.iter()
            .filter(|l| l.contains("p1 ack"))
            .collect::<Vec<_>>()
    );
}

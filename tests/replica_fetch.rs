//! Followers fetch as Kafka's `ReplicaFetcherThread` does: one fetch at a time to each leader
//! broker, carrying every partition they follow from it.

use kafkasim::broker::partition::Role;
use kafkasim::broker::server::Broker;
use kafkasim::node::Node;
use kafkasim::protocol::TopicPartition;
use kafkasim::run;
use kafkasim::scenario::parse_str;
use kafkasim::sim::{SimTime, Simulator};

/// The running broker `name` of `sim`.
fn broker<'a>(sim: &'a Simulator<Node>, name: &str) -> &'a Broker {
    let node = sim.node_id(name).expect("a broker");
    let Some(Node::Broker(broker)) = sim.process(node) else {
        panic!("{name} is up");
    };
    broker
}

const SCENARIO: &str = r#"
name = "replica-fetch"
duration_ms = 10_000
settle_ms = 1_000
[cluster]
brokers = 3
[[topic]]
name = "orders"
partitions = 12
replication_factor = 3
[[producer]]
name = "p1"
topic = "orders"
records = 5_000
rate_per_sec = 1_000
keys = 100
"#;

#[test]
fn a_follower_sends_one_fetch_per_leader_broker_with_every_partition_it_follows_there() {
    let scenario = parse_str(SCENARIO, "replica-fetch.toml", &[]).expect("a valid scenario");
    for at_ms in [2_000, 4_321, 7_777] {
        let (sim, _) = run::run_to(&scenario, 1, false, SimTime::from_millis(at_ms))
            .expect("the run reaches the time");
        let mut fetches = 0;
        for follower in 0..3u32 {
            let broker = broker(&sim, &format!("broker-{follower}"));
            for leader in (0..3u32).filter(|&l| l != follower) {
                let followed: Vec<TopicPartition> = broker
                    .partitions()
                    .values()
                    .filter(|p| matches!(&p.role, Role::Follower(f) if f.leader == leader))
                    .map(|p| p.tp)
                    .collect();
                let in_flight = broker.replica_fetch_in_flight(leader);
                if followed.is_empty() {
                    assert_eq!(
                        in_flight, None,
                        "broker-{follower} follows nothing on {leader}"
                    );
                } else {
                    assert_eq!(
                        in_flight.as_deref(),
                        Some(&followed[..]),
                        "at {at_ms} ms broker-{follower}'s fetch to broker-{leader}"
                    );
                    fetches += 1;
                }
            }
        }
        assert!(
            fetches >= 4,
            "three brokers leading twelve partitions fetch from each other"
        );
    }
}

/// broker-1 follows orders-0 from broker-0 and is cut off from it (one way) from 1.5 s to 4 s,
/// while p1 writes a record a second from 1 s with acks=all.
const CUT_OFF: &str = r#"
name = "cut-off-follower"
duration_ms = 20_000
settle_ms = 5_000
[cluster]
brokers = 2
[cluster.config]
"replica.lag.time.max.ms" = 60_000
[network]
latency_ms = [1, 1]
[[topic]]
name = "orders"
partitions = 1
replication_factor = 2
replicas = [[0, 1]]
[[producer]]
name = "p1"
topic = "orders"
records = 3
rate_per_sec = 1
start_ms = 1_000
[producer.config]
acks = "all"
[[fault]]
at_ms = 1_500
action = "cut"
from = "broker-1"
to = "broker-0"
for_ms = 2_500
"#;

/// The leader's high watermark of orders-0 at `at_ms`.
fn leader_hw_at(scenario: &kafkasim::scenario::Scenario, at_ms: u64) -> u64 {
    let (sim, _) = run::run_to(scenario, 1, false, SimTime::from_millis(at_ms))
        .expect("the run reaches the time");
    broker(&sim, "broker-0")
        .partitions()
        .values()
        .find(|p| p.tp.partition == 0 && matches!(p.role, Role::Leader(_)))
        .expect("broker-0 leads orders-0")
        .high_watermark
}

#[test]
fn a_cut_off_followers_fetch_gets_through_at_the_syn_retry_after_the_heal() {
    // The cut closes the connection; the fetch broker-1 sends after its 1 s backoff (at 2.5 s)
    // opens a connection whose SYN is lost, and sent again 1 s and 3 s later, as TCP does: the
    // retry at 3.5 s finds the link still cut, the one at 5.5 s (after the heal at 4 s) gets
    // through, and the HW moves then.
    let scenario = parse_str(CUT_OFF, "cut-off-follower.toml", &[]).expect("a valid scenario");
    assert_eq!(
        leader_hw_at(&scenario, 1_500),
        1,
        "p1-0 committed before the cut"
    );
    assert_eq!(
        leader_hw_at(&scenario, 5_400),
        1,
        "healed, but the connection waits for the next SYN"
    );
    assert_eq!(leader_hw_at(&scenario, 5_600), 3, "the fetch got through");
}

#[test]
fn a_cut_off_follower_gives_up_its_connection_attempt_after_the_setup_timeout() {
    // Cut for 12 s: every SYN of the attempt at 2.5 s (and its retries at 3.5, 5.5 and 9.5 s) is
    // lost. The follower gives the attempt up after `socket.connection.setup.timeout.ms` (10 s)
    // and its 500 ms long poll, at 13 s, not after `replica.socket.timeout.ms` (30 s); its next
    // fetch's first SYN retry, at 14 s, finds the link healed (at 13.5 s).
    let long = CUT_OFF.replace("for_ms = 2_500", "for_ms = 12_000");
    let scenario = parse_str(&long, "cut-off-follower.toml", &[]).expect("a valid scenario");
    assert_eq!(
        leader_hw_at(&scenario, 13_900),
        1,
        "the second attempt is still out"
    );
    assert_eq!(
        leader_hw_at(&scenario, 14_100),
        3,
        "the second attempt got through"
    );
}

//! Followers fetch as Kafka's `ReplicaFetcherThread` does: one fetch at a time to each leader
//! broker, carrying every partition they follow from it.

use kafkasim::broker::partition::Role;
use kafkasim::node::Node;
use kafkasim::protocol::TopicPartition;
use kafkasim::run;
use kafkasim::scenario::parse_str;
use kafkasim::sim::SimTime;

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
            let node = sim
                .node_id(&format!("broker-{follower}"))
                .expect("a broker");
            let Some(Node::Broker(broker)) = sim.process(node) else {
                panic!("broker-{follower} is up");
            };
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

//! `kafkasim describe <scenario> --at-ms T`: runs the scenario to time T and prints each topic
//! as `kafka-topics --describe` does (Topic, Partition, Leader, Replicas, Isr), plus every
//! replica's LEO and HW, as a god's-eye view of the replicas at that instant.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{DescribeArgs, EXIT_INTERNAL, EXIT_OK};
use crate::broker::partition::Role;
use crate::node::Node;
use crate::run;
use crate::scenario::Scenario;
use crate::sim::{NodeId, SimTime, Simulator};

/// Runs `kafkasim describe` and returns the exit code.
pub fn describe(args: &DescribeArgs) -> i32 {
    let scenario = match super::load_runnable(&args.scenario, &args.sets) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let seed = args.seed.unwrap_or(scenario.seed);
    let sim = match run::run_to(&scenario, seed, false, SimTime::from_millis(args.at_ms)) {
        Ok((sim, _recorded)) => sim,
        Err(err) => {
            eprintln!("internal error: {err}");
            return EXIT_INTERNAL;
        }
    };
    print!("{}", render(&sim, &scenario, args.at_ms, seed));
    EXIT_OK
}

/// One replica as `describe` shows it.
struct ReplicaRow {
    broker: u32,
    leads: bool,
    epoch: u32,
    isr: Vec<u32>,
    leo: u64,
    hw: u64,
}

fn render(sim: &Simulator<Node>, scenario: &Scenario, at_ms: u64, seed: u64) -> String {
    let mut rows: BTreeMap<(u32, u32), Vec<ReplicaRow>> = BTreeMap::new();
    for node in (0..sim.names().len()).map(NodeId::from_index) {
        let Some(Node::Broker(broker)) = sim.process(node) else {
            continue;
        };
        let id: u32 = sim.names()[node.index()]
            .trim_start_matches("broker-")
            .parse()
            .unwrap_or(0);
        for (tp, p) in broker.partitions().iter() {
            let (leads, isr) = match &p.role {
                Role::Leader(l) => (true, l.isr.committed.clone()),
                _ => (false, Vec::new()),
            };
            let row = ReplicaRow {
                broker: id,
                leads,
                epoch: p.leader_epoch,
                isr,
                leo: p.log_end_offset(),
                hw: p.high_watermark,
            };
            rows.entry((tp.topic, tp.partition)).or_default().push(row);
        }
    }
    let mut out = format!("{} at {at_ms} ms, seed {seed}\n", scenario.name);
    for (t, topic) in scenario.topics.iter().enumerate() {
        let assignment = topic.replica_assignment(scenario.cluster.brokers);
        let config = topic.log_config(&scenario.cluster.config);
        let _ = writeln!(
            out,
            "Topic: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: min.insync.replicas={}",
            topic.name, topic.partitions, topic.replication_factor, config.min_insync_replicas
        );
        for (p, replicas) in assignment.iter().enumerate() {
            let empty = Vec::new();
            let found = rows.get(&(t as u32, p as u32)).unwrap_or(&empty);
            let leader = found.iter().filter(|r| r.leads).max_by_key(|r| r.epoch);
            let join = |ids: &[u32]| ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            let per_replica = |f: &dyn Fn(&ReplicaRow) -> u64| {
                found
                    .iter()
                    .map(|r| format!("{}={}", r.broker, f(r)))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let _ = writeln!(
                out,
                "\tTopic: {}\tPartition: {p}\tLeader: {}\tReplicas: {}\tIsr: {}\tLEO: {}\tHW: {}",
                topic.name,
                leader.map_or("none".to_owned(), |r| r.broker.to_string()),
                join(replicas),
                leader.map_or(String::new(), |r| join(&r.isr)),
                per_replica(&|r| r.leo),
                per_replica(&|r| r.hw),
            );
        }
    }
    out
}

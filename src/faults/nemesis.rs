//! The nemesis: random faults drawn from the run's seed (its own RNG stream), turned into an
//! explicit schedule before the run starts, so every injected fault is known, listed in the
//! run's output and replayable as a scripted scenario.
//!
//! First the seed decides which actions are on and how often each is drawn ([`swarm`]). Then
//! every `interval_ms` (drawn from the range) it picks one of those actions and a target among
//! the `targets` globs (brokers, `zk`, client instances), and undoes the fault after `fault_ms` (drawn): a kill or power-off
//! by a restart, a pause by a resume, a partition, isolation or cut by a heal (which restores
//! every link), a slowdown by its own end; `restart` is a bounce (kill, then start at once). A
//! fault that would leave more than `max_faulty_brokers` brokers killed, powered off, paused or
//! cut off at some instant — counting a broker as faulty until its session has expired and it
//! could rejoin the ISR after the fault ends — is not drawn, so configurations Kafka promises to
//! survive must come out clean — with one exception Kafka documents: it does not fsync, so a
//! broker back from a power-off may have lost what it acknowledged and still be in the ISR, or
//! lead again in the same epoch under a new controller (the problem KIP-966 addresses); power-off
//! can lose data under every protocol. Network faults are not overlapped (a heal would end both).

use rand::RngExt;

use super::FaultAction;
use crate::scenario::{FaultKind, Nemesis, Scenario};
use crate::sim::{NodeId, RootRng, SimDuration, SimRng, SimTime, Stream};

/// When each node is faulty: `(from, until)` spans, so that no node takes a second fault
/// while under one and brokers honour `max_faulty_brokers`.
struct Faulty {
    spans: Vec<(NodeId, SimTime, SimTime)>,
    network_until: SimTime,
}

impl Faulty {
    fn faulty_during(&self, from: SimTime, until: SimTime) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self
            .spans
            .iter()
            .filter(|(_, a, b)| *a < until && from < *b)
            .map(|(n, _, _)| *n)
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }
}

/// The nemesis's schedule for `scenario` and `seed`, in time order.
pub fn schedule(scenario: &Scenario, names: &[String], seed: u64) -> Vec<(SimTime, FaultAction)> {
    let Some(nemesis) = &scenario.nemesis else {
        return Vec::new();
    };
    let mut rng = RootRng::new(seed).fork(Stream::Nemesis);
    let id =
        |name: &String| NodeId::from_index(names.iter().position(|n| n == name).expect("a node"));
    let targets: Vec<NodeId> = nemesis.target_nodes(names).iter().map(id).collect();
    let brokers: Vec<NodeId> = names
        .iter()
        .filter(|n| n.starts_with("broker-"))
        .map(id)
        .collect();
    let all: Vec<NodeId> = (0..names.len()).map(NodeId::from_index).collect();
    assert_eq!(
        names.first().map(String::as_str),
        Some("zk"),
        "the metadata service is node 0"
    );
    let config = &scenario.cluster.config;
    let recovery = SimDuration::from_millis(
        config.zookeeper_session_timeout_ms + config.replica_lag_time_max_ms,
    );
    let mut faulty = Faulty {
        spans: Vec::new(),
        network_until: SimTime::ZERO,
    };
    let weights = swarm(nemesis, &mut rng);
    let mut schedule = Vec::new();
    let end = SimTime::from_millis(scenario.duration_ms);
    let mut at = SimTime::from_millis(nemesis.start_ms);
    loop {
        at += draw(
            &mut rng,
            nemesis.interval_ms.min_ms,
            nemesis.interval_ms.max_ms,
        );
        if at >= end || nemesis.actions.is_empty() || targets.is_empty() {
            break;
        }
        let kind = pick(&mut rng, &weights);
        let lasts = draw(&mut rng, nemesis.fault_ms.min_ms, nemesis.fault_ms.max_ms);
        let until = (at + lasts).min(end);
        let plan = Plan {
            at,
            until,
            kind,
            nemesis,
            brokers: &brokers,
            all: &all,
            recovery,
        };
        if let Some(faults) = plan.draw(&mut rng, &targets, &mut faulty) {
            schedule.extend(faults);
        }
    }
    schedule.sort_by_key(|(at, _)| *at);
    schedule
}

/// The actions this seed draws from, with their weights. With `swarm` (swarm testing: a seed
/// that never pauses finds what pauses hide), each distinct action is switched on with
/// probability ½ — at least one always is — and weighted 1 to 4; otherwise all weigh 1.
pub fn swarm(nemesis: &Nemesis, rng: &mut SimRng) -> Vec<(FaultKind, u32)> {
    let mut kinds = nemesis.actions.clone();
    kinds.sort_unstable_by_key(|k| k.as_str());
    kinds.dedup();
    if !nemesis.swarm || kinds.is_empty() {
        return kinds.into_iter().map(|k| (k, 1)).collect();
    }
    let mut weights: Vec<(FaultKind, u32)> = kinds
        .iter()
        .filter_map(|&kind| {
            let on = rng.random_range(0..2u8) == 1;
            let weight = rng.random_range(1..=4u32);
            on.then_some((kind, weight))
        })
        .collect();
    if weights.is_empty() {
        let kind = kinds[rng.random_range(0..kinds.len())];
        weights.push((kind, rng.random_range(1..=4u32)));
    }
    weights
}

/// A kind drawn with the given weights.
fn pick(rng: &mut SimRng, weights: &[(FaultKind, u32)]) -> FaultKind {
    let total: u32 = weights.iter().map(|(_, w)| w).sum();
    let mut ticket = rng.random_range(0..total);
    for &(kind, weight) in weights {
        if ticket < weight {
            return kind;
        }
        ticket -= weight;
    }
    unreachable!("a ticket below the total weight lands on a kind")
}

fn draw(rng: &mut SimRng, min_ms: u64, max_ms: u64) -> SimDuration {
    SimDuration::from_millis(rng.random_range(min_ms..=max_ms))
}

/// One fault to draw.
struct Plan<'a> {
    at: SimTime,
    until: SimTime,
    kind: FaultKind,
    nemesis: &'a Nemesis,
    brokers: &'a [NodeId],
    /// Every node; the metadata service is node 0.
    all: &'a [NodeId],
    /// How long a broker takes to be whole after a fault ends: its session timeout plus
    /// `replica.lag.time.max.ms` to rejoin the ISR.
    recovery: SimDuration,
}

impl Plan<'_> {
    /// A broker other than `target`, drawn uniformly, if there is one.
    fn other_broker(&self, rng: &mut SimRng, target: NodeId) -> Option<NodeId> {
        let others: Vec<NodeId> = self
            .brokers
            .iter()
            .copied()
            .filter(|b| *b != target)
            .collect();
        (!others.is_empty()).then(|| others[rng.random_range(0..others.len())])
    }

    fn is_client(&self, node: NodeId) -> bool {
        node.index() != 0 && !self.brokers.contains(&node)
    }

    /// The fault and its undo, or none if no target keeps within the limits.
    fn draw(
        &self,
        rng: &mut SimRng,
        targets: &[NodeId],
        faulty: &mut Faulty,
    ) -> Option<Vec<(SimTime, FaultAction)>> {
        let network = matches!(
            self.kind,
            FaultKind::Partition | FaultKind::Isolate | FaultKind::Cut
        );
        if network && faulty.network_until > self.at {
            return None;
        }
        let busy = faulty.faulty_during(self.at, self.until);
        let busy_brokers = busy.iter().filter(|n| self.brokers.contains(n)).count();
        let allowed = |n: &NodeId| {
            !self.brokers.contains(n) || (busy_brokers as u32) < self.nemesis.max_faulty_brokers
        };
        // Only brokers and the metadata service (node 0) have disks to lose power or slow down.
        let disk_fault = matches!(self.kind, FaultKind::PowerOff | FaultKind::SlowDisk);
        let has_disk = |n: &NodeId| n.index() == 0 || self.brokers.contains(n);
        let candidates: Vec<NodeId> = targets
            .iter()
            .copied()
            .filter(|n| allowed(n) && !busy.contains(n) && (!disk_fault || has_disk(n)))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let target = candidates[rng.random_range(0..candidates.len())];
        let (at, until, lasts) = (self.at, self.until, self.until.saturating_since(self.at));
        let faults = match self.kind {
            FaultKind::Kill => vec![
                (at, FaultAction::Kill(target)),
                (until, FaultAction::Restart(target)),
            ],
            FaultKind::Restart => vec![
                (at, FaultAction::Kill(target)),
                (at, FaultAction::Restart(target)),
            ],
            FaultKind::PowerOff => {
                let torn = rng.random_range(0..2u8) == 1;
                vec![
                    (at, FaultAction::PowerOff { node: target, torn }),
                    (until, FaultAction::Restart(target)),
                ]
            }
            FaultKind::Pause => vec![
                (at, FaultAction::Pause(target)),
                (until, FaultAction::Resume(target)),
            ],
            FaultKind::Isolate => vec![
                (at, FaultAction::Isolate(target)),
                (until, FaultAction::Heal),
            ],
            FaultKind::Partition => {
                // The target and a random half of the clients against everyone else: a leader
                // may keep its producers while losing the controller (a zombie).
                let mut side = vec![target];
                for &node in self
                    .all
                    .iter()
                    .filter(|n| **n != target && self.is_client(**n))
                {
                    if rng.random_range(0..2u8) == 1 {
                        side.push(node);
                    }
                }
                let rest = self
                    .all
                    .iter()
                    .copied()
                    .filter(|n| !side.contains(n))
                    .collect();
                vec![
                    (at, FaultAction::Partition(vec![side, rest])),
                    (until, FaultAction::Heal),
                ]
            }
            FaultKind::Cut => {
                let to = self.other_broker(rng, target)?;
                vec![
                    (at, FaultAction::Cut { from: target, to }),
                    (until, FaultAction::Heal),
                ]
            }
            FaultKind::SlowLink => {
                let to = self.other_broker(rng, target)?;
                let extra = draw(rng, 10, 500);
                vec![(
                    at,
                    FaultAction::SlowLink {
                        from: target,
                        to,
                        extra,
                        for_: lasts,
                    },
                )]
            }
            FaultKind::SlowDisk => {
                let extra = draw(rng, 10, 500);
                vec![(
                    at,
                    FaultAction::SlowDisk {
                        node: target,
                        extra,
                        for_: lasts,
                    },
                )]
            }
            FaultKind::Resume | FaultKind::Heal => return None,
        };
        let takes_down = !matches!(self.kind, FaultKind::SlowLink | FaultKind::SlowDisk);
        if takes_down && self.brokers.contains(&target) {
            // A broker is not whole again when the fault ends: its old session must expire and
            // it must catch up into the ISR (a powered-off one with what it lost). Until then a
            // second fault would be a second failure Kafka never promised to survive.
            faulty.spans.push((target, at, until + self.recovery));
        } else if takes_down {
            faulty.spans.push((target, at, until));
        }
        if network {
            faulty.network_until = until;
        }
        Some(faults)
    }
}

//! The report's data, gathered from a run's observations: per partition, every replica's LEO and
//! HW as step series, leader epochs and ISRs as the controller committed them and as leaders
//! changed them, truncations; the run's faults as spans with a start and an end.
//!
//! Times are simulated microseconds. A step series holds one point per change, so a value holds
//! until the next point.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cli::FaultRecord;
use crate::node::Obs;
use crate::sim::{NodeId, SimTime};

/// A step series: `(time µs, value)` at every change, in time order.
pub type Steps = Vec<(u64, u64)>;

/// One replica's LEO and HW over time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaSeries {
    /// The broker holding the replica.
    pub broker: u32,
    /// Log end offset at every change.
    pub leo: Steps,
    /// High watermark at every change.
    pub hw: Steps,
}

/// A leader election: a new leader epoch and its leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochChange {
    /// When it was committed (µs).
    pub at_us: u64,
    /// The new leader epoch.
    pub epoch: u32,
    /// The leader, if any replica could lead.
    pub leader: Option<u32>,
}

/// A replica cut its log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruncationMark {
    /// When (µs).
    pub at_us: u64,
    /// Which broker.
    pub broker: u32,
    /// LEO before.
    pub from: u64,
    /// LEO after.
    pub to: u64,
    /// The rule that decided the point.
    pub rule: &'static str,
}

/// Everything a chart of one partition draws.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionSeries {
    /// Partition name (`orders-0`).
    pub name: String,
    /// Every replica that reported a LEO, an HW or a role, by broker id.
    pub replicas: Vec<ReplicaSeries>,
    /// Leader elections in time order.
    pub epochs: Vec<EpochChange>,
    /// The committed ISR over time: `(µs, members)`.
    pub isr: Vec<(u64, Vec<u32>)>,
    /// Truncations in time order.
    pub truncations: Vec<TruncationMark>,
}

impl PartitionSeries {
    /// The topic part of the name.
    pub fn topic(&self) -> &str {
        self.name.rsplit_once('-').map_or(&self.name, |(t, _)| t)
    }

    /// The partition number.
    pub fn partition(&self) -> u32 {
        self.name
            .rsplit_once('-')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(0)
    }

    /// The lowest and highest offsets shown between `from_us` and `to_us`: each line's value
    /// entering that span and every value it takes inside, and both ends of every truncation
    /// inside. `None` if nothing shows there.
    pub fn offsets_between(&self, from_us: u64, to_us: u64) -> Option<(u64, u64)> {
        fn shown(steps: &Steps, from_us: u64, to_us: u64) -> impl Iterator<Item = u64> + '_ {
            let entering = steps.partition_point(|(at, _)| *at <= from_us);
            let inside = steps[entering..]
                .iter()
                .take_while(move |(at, _)| *at <= to_us);
            let entered = entering.checked_sub(1).map(|k| &steps[k]);
            entered.into_iter().chain(inside).map(|(_, v)| *v)
        }
        let lines = self
            .replicas
            .iter()
            .flat_map(|r| shown(&r.leo, from_us, to_us).chain(shown(&r.hw, from_us, to_us)));
        let cuts = self
            .truncations
            .iter()
            .filter(|t| (from_us..=to_us).contains(&t.at_us))
            .flat_map(|t| [t.from, t.to]);
        lines.chain(cuts).fold(None, |range, v| match range {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
    }

    /// The leader at `at_us`: the leader of the last election at or before it.
    pub fn leader_at(&self, at_us: u64) -> Option<u32> {
        let k = self.epochs.partition_point(|e| e.at_us <= at_us);
        k.checked_sub(1).and_then(|k| self.epochs[k].leader)
    }

    fn replica(&mut self, broker: u32) -> &mut ReplicaSeries {
        let k = match self.replicas.binary_search_by_key(&broker, |r| r.broker) {
            Ok(k) => k,
            Err(k) => {
                let series = ReplicaSeries {
                    broker,
                    ..ReplicaSeries::default()
                };
                self.replicas.insert(k, series);
                k
            }
        };
        &mut self.replicas[k]
    }
}

/// Pushes a step unless the value is unchanged; a second change at the same instant replaces
/// the first, so a series never goes back in time.
fn push_step(steps: &mut Steps, at_us: u64, value: u64) {
    match steps.last_mut() {
        Some(last) if last.1 == value => {}
        Some(last) if last.0 == at_us => last.1 = value,
        _ => steps.push((at_us, value)),
    }
}

/// The broker id of a node named `broker-N`.
pub fn broker_of(names: &[String], node: NodeId) -> Option<u32> {
    names
        .get(node.index())?
        .strip_prefix("broker-")?
        .parse()
        .ok()
}

/// A controller's committed partition state, parsed from its short-log note
/// (`controller: orders-0 leader 1 epoch 2 isr [1, 2]`).
fn parse_controller_note(text: &str) -> Option<(&str, Option<u32>, u32, Vec<u32>)> {
    let rest = text.strip_prefix("controller: ")?;
    let (partition, rest) = rest.split_once(" leader ")?;
    let (leader, rest) = rest.split_once(" epoch ")?;
    let (epoch, isr) = rest.split_once(" isr ")?;
    let isr = isr.strip_prefix('[')?.strip_suffix(']')?;
    let isr = isr
        .split(", ")
        .filter(|m| !m.is_empty())
        .map(str::parse)
        .collect::<Result<Vec<u32>, _>>()
        .ok()?;
    Some((partition, leader.parse().ok(), epoch.parse().ok()?, isr))
}

/// Whether a report run keeps this observation besides what the checkers keep: LEO and HW moves
/// and the controller's committed partition states.
pub fn charted(obs: &Obs) -> bool {
    match obs {
        Obs::Leo { .. } | Obs::Hw { .. } => true,
        Obs::Note(text) => text.starts_with("controller: ") && text.contains(" epoch "),
        _ => false,
    }
}

/// Gathers every partition's series from a run's observations, in partition name order.
pub fn partitions(
    observations: &[(SimTime, NodeId, Obs)],
    names: &[String],
) -> Vec<PartitionSeries> {
    let mut by_name: BTreeMap<Arc<str>, PartitionSeries> = BTreeMap::new();
    fn entry<'m>(
        by_name: &'m mut BTreeMap<Arc<str>, PartitionSeries>,
        name: &Arc<str>,
    ) -> &'m mut PartitionSeries {
        by_name
            .entry(name.clone())
            .or_insert_with(|| PartitionSeries {
                name: name.to_string(),
                ..PartitionSeries::default()
            })
    }
    for (at, node, obs) in observations {
        let at_us = at.as_micros();
        let broker = broker_of(names, *node);
        match (obs, broker) {
            (Obs::Leo { partition, leo }, Some(b)) => {
                push_step(
                    &mut entry(&mut by_name, partition).replica(b).leo,
                    at_us,
                    *leo,
                );
            }
            (Obs::Hw { partition, hw }, Some(b)) => {
                push_step(
                    &mut entry(&mut by_name, partition).replica(b).hw,
                    at_us,
                    *hw,
                );
            }
            (Obs::Isr { partition, isr, .. }, Some(_)) => {
                entry(&mut by_name, partition)
                    .isr
                    .push((at_us, isr.clone()));
            }
            (
                Obs::Role {
                    partition,
                    leader,
                    epoch,
                    ..
                },
                Some(b),
            ) => {
                let series = entry(&mut by_name, partition);
                series.replica(b);
                if series.epochs.last().is_none_or(|e| e.epoch < *epoch) {
                    let leader = *leader;
                    series.epochs.push(EpochChange {
                        at_us,
                        epoch: *epoch,
                        leader,
                    });
                }
            }
            (
                Obs::Truncate {
                    partition,
                    from,
                    to,
                    rule,
                },
                Some(b),
            ) => entry(&mut by_name, partition)
                .truncations
                .push(TruncationMark {
                    at_us,
                    broker: b,
                    from: *from,
                    to: *to,
                    rule,
                }),
            (Obs::Note(text), _) => {
                let Some((partition, leader, epoch, isr)) = parse_controller_note(text) else {
                    continue;
                };
                let series = entry(&mut by_name, &Arc::from(partition));
                if series.epochs.last().is_none_or(|e| e.epoch < epoch) {
                    series.epochs.push(EpochChange {
                        at_us,
                        epoch,
                        leader,
                    });
                }
                series.isr.push((at_us, isr));
            }
            _ => {}
        }
    }
    by_name.into_values().collect()
}

/// What kind of trouble a fault span stands for, which picks its shade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpanKind {
    /// A node is down (kill, power-off) until it restarts.
    Down,
    /// A node is paused until it resumes.
    Paused,
    /// The network is cut (partition, isolate, cut) until it heals.
    Network,
    /// A link or a disk is slow for a while.
    Slow,
}

/// A fault as a span of time, labelled with what and whom it hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpan {
    /// When it started (ms).
    pub from_ms: u64,
    /// When it ended (ms), or the end of the run.
    pub to_ms: u64,
    /// What kind of trouble.
    pub kind: SpanKind,
    /// `kill broker-1`, `partition broker-0 | broker-1 broker-2`, …
    pub label: String,
}

/// Pairs the run's faults into spans: kill or power-off until restart, pause until resume,
/// partition, isolate and cut until heal, slowdowns for their duration. Ends alone (restart,
/// resume, heal) make no span of their own.
pub fn fault_spans(faults: &[FaultRecord], end_ms: u64) -> Vec<FaultSpan> {
    let mut spans = Vec::new();
    for (k, fault) in faults.iter().enumerate() {
        let node = fault.node.clone().unwrap_or_default();
        let later = &faults[k + 1..];
        let until = |ends: &dyn Fn(&FaultRecord) -> bool| {
            later.iter().find(|f| ends(f)).map_or(end_ms, |f| f.at_ms)
        };
        let (kind, to_ms, label) = match fault.action {
            "kill" | "power-off" => {
                let to = until(&|f| f.action == "restart" && f.node.as_ref() == Some(&node));
                (SpanKind::Down, to, format!("{} {node}", fault.action))
            }
            "pause" => {
                let to = until(&|f| f.action == "resume" && f.node.as_ref() == Some(&node));
                (SpanKind::Paused, to, format!("pause {node}"))
            }
            "partition" | "isolate" | "cut" => {
                let to = until(&|f| f.action == "heal");
                (SpanKind::Network, to, network_label(fault))
            }
            "slow-link" | "slow-disk" => {
                let to = fault.at_ms + fault.for_ms.unwrap_or(0);
                (SpanKind::Slow, to.min(end_ms), network_label(fault))
            }
            _ => continue,
        };
        spans.push(FaultSpan {
            from_ms: fault.at_ms,
            to_ms: to_ms.max(fault.at_ms),
            kind,
            label,
        });
    }
    spans
}

fn network_label(fault: &FaultRecord) -> String {
    let mut label = fault.action.to_owned();
    if let Some(node) = &fault.node {
        label += &format!(" {node}");
    }
    if let Some(groups) = &fault.groups {
        let sides: Vec<String> = groups.iter().map(|g| g.join(" ")).collect();
        label += &format!(" {}", sides.join(" | "));
    }
    if let (Some(from), Some(to)) = (&fault.from, &fault.to) {
        label += &format!(" {from} → {to}");
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_controller_note_gives_leader_epoch_and_isr() {
        assert_eq!(
            parse_controller_note("controller: orders-0 leader 1 epoch 2 isr [1, 2]"),
            Some(("orders-0", Some(1), 2, vec![1, 2]))
        );
        assert_eq!(
            parse_controller_note("controller: my-topic-3 leader none epoch 4 isr []"),
            Some(("my-topic-3", None, 4, vec![]))
        );
        assert_eq!(parse_controller_note("controller: live brokers [0]"), None);
    }

    #[test]
    fn the_offsets_shown_in_a_window_are_the_values_entering_it_and_taken_inside() {
        let series = PartitionSeries {
            replicas: vec![ReplicaSeries {
                broker: 0,
                leo: vec![(0, 0), (10, 100), (20, 200), (30, 300)],
                hw: vec![(0, 0), (15, 90), (25, 190)],
            }],
            truncations: vec![TruncationMark {
                at_us: 40,
                broker: 0,
                from: 300,
                to: 50,
                rule: "hw",
            }],
            ..PartitionSeries::default()
        };
        // The LEO enters at 100 and reaches 200; the HW enters at 0 and reaches 90.
        assert_eq!(series.offsets_between(12, 22), Some((0, 200)));
        assert_eq!(series.offsets_between(26, 29), Some((190, 200)));
        // A truncation inside shows both its ends.
        assert_eq!(series.offsets_between(35, 45), Some((50, 300)));
        assert_eq!(PartitionSeries::default().offsets_between(0, 10), None);
    }

    #[test]
    fn steps_keep_changes_only_and_never_go_back() {
        let mut steps = Steps::new();
        for (at, v) in [(1, 0), (2, 0), (3, 5), (3, 6), (4, 6), (5, 2)] {
            push_step(&mut steps, at, v);
        }
        assert_eq!(steps, vec![(1, 0), (3, 6), (5, 2)]);
    }

    #[test]
    fn faults_pair_into_spans() {
        let fault = |at_ms, action, node: Option<&str>| FaultRecord {
            at_ms,
            action,
            node: node.map(str::to_owned),
            groups: None,
            from: None,
            to: None,
            extra_ms: None,
            for_ms: None,
            torn: None,
        };
        let faults = [
            fault(10, "kill", Some("broker-1")),
            fault(20, "isolate", Some("broker-0")),
            fault(30, "restart", Some("broker-1")),
            fault(40, "heal", None),
            fault(50, "pause", Some("broker-2")),
        ];
        let spans = fault_spans(&faults, 100);
        let got: Vec<(u64, u64, &str)> = spans
            .iter()
            .map(|s| (s.from_ms, s.to_ms, s.label.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (10, 30, "kill broker-1"),
                (20, 40, "isolate broker-0"),
                (50, 100, "pause broker-2"),
            ]
        );
    }
}

//! Condition-triggered faults: `[[fault]]` entries with `when = { … }` fire the first time their
//! condition holds — a replica's LEO or HW reaching an offset, a partition's leader changing,
//! its ISR shrinking, the n-th acknowledged record — so that a protocol window one message wide
//! can be scripted exactly. A [`Watch`] follows the observations as the simulator makes them and
//! fires each fault once; the fault applies as soon as the event that made the condition true
//! has been handled, before anything else happens.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::FaultAction;
use super::scripted::resolve;
use crate::node::Obs;
use crate::scenario::{Condition, FaultTrigger, Scenario};
use crate::sim::{NodeId, SimDuration};

/// A condition with its names resolved.
#[derive(Debug)]
enum Watched {
    /// A replica's LEO or HW reaching `offset`.
    Reaches {
        metric: Metric,
        partition: Arc<str>,
        node: Option<NodeId>,
        offset: u64,
    },
    LeaderChange {
        partition: Arc<str>,
    },
    IsrShrink {
        partition: Arc<str>,
    },
    Acked {
        records: u64,
    },
}

/// Which offset of a replica a condition watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Metric {
    Leo,
    Hw,
}

impl Metric {
    /// The partition and the new value, if `obs` moves this metric.
    fn moved(self, obs: &Obs) -> Option<(&Arc<str>, u64)> {
        match (self, obs) {
            (Metric::Leo, Obs::Leo { partition, leo }) => Some((partition, *leo)),
            (Metric::Hw, Obs::Hw { partition, hw }) => Some((partition, *hw)),
            _ => None,
        }
    }
}

/// One condition-triggered fault.
#[derive(Debug)]
struct Rule {
    condition: Watched,
    /// The fault and, with `for_ms`, its undo after that delay.
    faults: Vec<(SimDuration, FaultAction)>,
    fired: bool,
}

/// Watches observations and fires the scenario's condition-triggered faults.
#[derive(Debug, Default)]
pub struct Watch {
    rules: Vec<Rule>,
    /// Records acknowledged so far, over every producer.
    acked: u64,
    /// The last broker seen taking each partition's leadership: another one is a change.
    leaders: BTreeMap<Arc<str>, NodeId>,
}

impl Watch {
    /// The watch of `scenario`'s condition-triggered faults, with nodes resolved against
    /// `names`; `None` if it has none.
    pub fn for_scenario(scenario: &Scenario, names: &[String]) -> Result<Option<Watch>, String> {
        let mut rules = Vec::new();
        for (index, fault) in scenario.faults.iter().enumerate() {
            let FaultTrigger::When(condition) = &fault.trigger else {
                continue;
            };
            let (action, undo) = resolve(fault, scenario.disk.torn_tail, names)
                .map_err(|e| format!("[[fault]] #{index}: {e}"))?;
            let node = |name: Option<&str>| -> Result<Option<NodeId>, String> {
                name.map(|name| {
                    names
                        .iter()
                        .position(|n| n == name)
                        .map(NodeId::from_index)
                        .ok_or_else(|| format!("[[fault]] #{index}: unknown node `{name}`"))
                })
                .transpose()
            };
            let partition = |topic: &str, p: u32| Arc::<str>::from(format!("{topic}-{p}"));
            let condition = match condition {
                Condition::LogEndOffset {
                    topic,
                    partition: p,
                    node: n,
                    offset,
                }
                | Condition::HighWatermark {
                    topic,
                    partition: p,
                    node: n,
                    offset,
                } => Watched::Reaches {
                    metric: if matches!(condition, Condition::LogEndOffset { .. }) {
                        Metric::Leo
                    } else {
                        Metric::Hw
                    },
                    partition: partition(topic, *p),
                    node: node(n.as_deref())?,
                    offset: *offset,
                },
                Condition::LeaderChange {
                    topic,
                    partition: p,
                } => Watched::LeaderChange {
                    partition: partition(topic, *p),
                },
                Condition::IsrShrink {
                    topic,
                    partition: p,
                } => Watched::IsrShrink {
                    partition: partition(topic, *p),
                },
                Condition::Acked { records } => Watched::Acked { records: *records },
            };
            let mut faults = vec![(SimDuration::ZERO, action)];
            faults.extend(undo);
            rules.push(Rule {
                condition,
                faults,
                fired: false,
            });
        }
        Ok((!rules.is_empty()).then(|| Watch {
            rules,
            ..Watch::default()
        }))
    }

    /// Follows one observation; pushes the faults whose condition now holds for the first time.
    pub fn observe(&mut self, node: NodeId, obs: &Obs, fire: &mut Vec<(SimDuration, FaultAction)>) {
        let mut leader_change = None;
        match obs {
            Obs::Ack { count, .. } => self.acked += u64::from(*count),
            Obs::Role {
                partition,
                leads: true,
                ..
            } => {
                // A new epoch under the same leader (an ISR change by the controller) is none.
                let previous = self.leaders.insert(partition.clone(), node);
                if previous.is_some_and(|p| p != node) {
                    leader_change = Some(partition);
                }
            }
            Obs::Leo { .. } | Obs::Hw { .. } | Obs::Isr { .. } => {}
            _ => return,
        }
        let acked = self.acked;
        for rule in self.rules.iter_mut().filter(|r| !r.fired) {
            let holds = match (&rule.condition, obs) {
                (
                    Watched::Reaches {
                        metric,
                        partition,
                        node: watched,
                        offset,
                    },
                    _,
                ) => metric.moved(obs).is_some_and(|(p, value)| {
                    p == partition && watched.is_none_or(|w| w == node) && value >= *offset
                }),
                (
                    Watched::IsrShrink { partition },
                    Obs::Isr {
                        partition: p,
                        expanded: false,
                        ..
                    },
                ) => p == partition,
                (Watched::LeaderChange { partition }, _) => leader_change == Some(partition),
                (Watched::Acked { records }, Obs::Ack { .. }) => acked >= *records,
                _ => false,
            };
            if holds {
                rule.fired = true;
                fire.extend(rule.faults.iter().cloned());
            }
        }
    }
}

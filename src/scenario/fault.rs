//! Scripted faults, `[[fault]]`: what happens (`action`), to whom (`node`, `groups`, `from`/`to`),
//! for how long (`for_ms`, `extra_ms`) and when — at a time (`at_ms`) or when a condition first
//! holds (`when = { hw = 3, topic = "orders", partition = 0 }`), so that narrow protocol windows
//! can be scripted exactly. Each action has a fixed set of required, optional and forbidden
//! fields ([`FieldRules`]); the loader rejects anything else rather than guess.

use serde::Deserialize;

use super::error::{Issue, key_path};
use super::kinds::FaultKind;

/// A `[[fault]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// When the fault fires.
    pub trigger: FaultTrigger,
    /// What the fault does.
    pub action: FaultKind,
    /// The node it hits (kill, power-off, restart, pause, resume, isolate, slow-disk).
    pub node: Option<String>,
    /// The sides of a network partition; each node appears at most once.
    pub groups: Vec<Vec<String>>,
    /// The sending side of a cut or slow link.
    pub from: Option<String>,
    /// The receiving side of a cut or slow link.
    pub to: Option<String>,
    /// How long the fault lasts before it is undone (pause, network faults, slowdowns).
    pub for_ms: Option<u64>,
    /// The added delay of a slow link or slow disk.
    pub extra_ms: Option<u64>,
    /// Whether a power-off tears the tail of unsynced files (default: the `[disk]` setting).
    pub torn: Option<bool>,
}

/// When a scripted fault fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultTrigger {
    /// At a fixed simulated time, in milliseconds from the start.
    AtMs(u64),
    /// The first time a condition holds.
    When(Condition),
}

/// A condition on the cluster's state that fires a fault the first time it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// A replica's log end offset reached `offset` (`when = { leo = … }`).
    LogEndOffset {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The broker whose replica is watched; `None` means any replica.
        node: Option<String>,
        /// The log end offset to reach.
        offset: u64,
    },
    /// A replica's high watermark reached `offset` (`when = { hw = … }`).
    HighWatermark {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The broker whose replica is watched; `None` means any replica.
        node: Option<String>,
        /// The high watermark to reach.
        offset: u64,
    },
    /// The partition got a new leader (`when = { leader_change = true, … }`).
    LeaderChange {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// The partition's ISR shrank (`when = { isr_shrink = true, … }`).
    IsrShrink {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// The `records`-th record was acknowledged to any producer (`when = { acked = … }`).
    Acked {
        /// How many acknowledged records, counting from 1.
        records: u64,
    },
}

impl Condition {
    /// The topic and partition the condition watches, if it watches one.
    pub fn partition(&self) -> Option<(&str, u32)> {
        match self {
            Condition::LogEndOffset {
                topic, partition, ..
            }
            | Condition::HighWatermark {
                topic, partition, ..
            }
            | Condition::LeaderChange { topic, partition }
            | Condition::IsrShrink { topic, partition } => Some((topic, *partition)),
            Condition::Acked { .. } => None,
        }
    }

    /// The broker node the condition watches, if it names one.
    pub fn node(&self) -> Option<&str> {
        match self {
            Condition::LogEndOffset { node, .. } | Condition::HighWatermark { node, .. } => {
                node.as_deref()
            }
            _ => None,
        }
    }
}

/// Whether a fault field must, may or must not be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The field must be given.
    Required,
    /// The field may be given.
    Optional,
    /// The field must not be given.
    Forbidden,
}

/// Which fields an action takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRules {
    /// `node`.
    pub node: Need,
    /// `groups`.
    pub groups: Need,
    /// `from` and `to`.
    pub from_to: Need,
    /// `for_ms`.
    pub for_ms: Need,
    /// `extra_ms`.
    pub extra_ms: Need,
    /// `torn`.
    pub torn: Need,
}

impl FieldRules {
    /// The fields `kind` takes.
    pub fn of(kind: FaultKind) -> FieldRules {
        use Need::{Forbidden as F, Optional as O, Required as R};
        let (node, groups, from_to, for_ms, extra_ms, torn) = match kind {
            FaultKind::Kill | FaultKind::Restart | FaultKind::Resume => (R, F, F, F, F, F),
            FaultKind::PowerOff => (R, F, F, F, F, O),
            FaultKind::Pause | FaultKind::Isolate => (R, F, F, O, F, F),
            FaultKind::Partition => (F, R, F, O, F, F),
            FaultKind::Cut => (F, F, R, O, F, F),
            FaultKind::Heal => (F, F, F, F, F, F),
            FaultKind::SlowLink => (F, F, R, R, R, F),
            FaultKind::SlowDisk => (R, F, F, R, R, F),
        };
        FieldRules {
            node,
            groups,
            from_to,
            for_ms,
            extra_ms,
            torn,
        }
    }
}

/// A `[[fault]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultFile {
    at_ms: Option<u64>,
    when: Option<WhenFile>,
    action: FaultKind,
    node: Option<String>,
    groups: Option<Vec<Vec<String>>>,
    from: Option<String>,
    to: Option<String>,
    for_ms: Option<u64>,
    extra_ms: Option<u64>,
    torn: Option<bool>,
}

/// A `when` table as written: one condition key plus where it applies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WhenFile {
    leo: Option<u64>,
    hw: Option<u64>,
    leader_change: Option<bool>,
    isr_shrink: Option<bool>,
    acked: Option<u64>,
    node: Option<String>,
    topic: Option<String>,
    partition: Option<u32>,
}

/// How `[[fault]]` #`index` is named in messages (0-based, like `--set fault.N.…`).
pub(crate) fn fault_label(index: usize) -> String {
    format!("[[fault]] #{index}")
}

impl FaultFile {
    /// Checks the fields against the action's rules and builds the fault.
    pub(crate) fn into_fault(self, index: usize) -> Result<Fault, Issue> {
        let label = fault_label(index);
        let trigger = match (self.at_ms, self.when) {
            (Some(at_ms), None) => FaultTrigger::AtMs(at_ms),
            (None, Some(when)) => FaultTrigger::When(when.into_condition(index)?),
            (Some(_), Some(_)) => {
                let msg = format!("{label}: give either `at_ms` or `when`, not both");
                return Err(Issue::at(key_path!["fault", index, "when"], msg));
            }
            (None, None) => {
                let msg = format!("{label}: missing `at_ms` (a time) or `when` (a condition)");
                return Err(Issue::at(key_path!["fault", index], msg));
            }
        };
        let rules = FieldRules::of(self.action);
        let action = self.action;
        let check = |key: &str, given: bool, need: Need| -> Result<(), Issue> {
            let msg = match (need, given) {
                (Need::Required, false) => format!("{label}: `{action}` needs `{key}`"),
                (Need::Forbidden, true) => format!("{label}: `{action}` does not take `{key}`"),
                _ => return Ok(()),
            };
            let at = if given {
                key_path!["fault", index, key]
            } else {
                key_path!["fault", index, "action"]
            };
            Err(Issue::at(at, msg))
        };
        check("node", self.node.is_some(), rules.node)?;
        check("groups", self.groups.is_some(), rules.groups)?;
        check("from", self.from.is_some(), rules.from_to)?;
        check("to", self.to.is_some(), rules.from_to)?;
        check("for_ms", self.for_ms.is_some(), rules.for_ms)?;
        check("extra_ms", self.extra_ms.is_some(), rules.extra_ms)?;
        check("torn", self.torn.is_some(), rules.torn)?;
        Ok(Fault {
            trigger,
            action,
            node: self.node,
            groups: self.groups.unwrap_or_default(),
            from: self.from,
            to: self.to,
            for_ms: self.for_ms,
            extra_ms: self.extra_ms,
            torn: self.torn,
        })
    }
}

impl WhenFile {
    fn into_condition(self, index: usize) -> Result<Condition, Issue> {
        let label = format!("`when` of {}", fault_label(index));
        let at = |key: &str| key_path!["fault", index, "when", key];
        let kind = self.condition_key(&label, index)?;
        if kind == "acked" {
            return self.acked(&label, index);
        }
        let Some(topic) = self.topic else {
            let msg = format!("{label}: `{kind}` needs `topic` (and `partition`, default 0)");
            return Err(Issue::at(at(kind), msg));
        };
        let partition = self.partition.unwrap_or(0);
        let node = self.node;
        match (kind, self.leo, self.hw) {
            ("leo", Some(offset), _) => Ok(Condition::LogEndOffset {
                topic,
                partition,
                node,
                offset,
            }),
            ("hw", _, Some(offset)) => Ok(Condition::HighWatermark {
                topic,
                partition,
                node,
                offset,
            }),
            _ => {
                if self.leader_change == Some(false) || self.isr_shrink == Some(false) {
                    let msg = format!("{label}: `{kind}` can only be `true`");
                    return Err(Issue::at(at(kind), msg));
                }
                if node.is_some() {
                    let msg = format!("{label}: `{kind}` watches a partition, not a node");
                    return Err(Issue::at(at("node"), msg));
                }
                if kind == "leader_change" {
                    Ok(Condition::LeaderChange { topic, partition })
                } else {
                    Ok(Condition::IsrShrink { topic, partition })
                }
            }
        }
    }

    /// The one condition key given: `leo`, `hw`, `leader_change`, `isr_shrink` or `acked`.
    fn condition_key(&self, label: &str, index: usize) -> Result<&'static str, Issue> {
        let given: Vec<&'static str> = [
            ("leo", self.leo.is_some()),
            ("hw", self.hw.is_some()),
            ("leader_change", self.leader_change.is_some()),
            ("isr_shrink", self.isr_shrink.is_some()),
            ("acked", self.acked.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect();
        match given[..] {
            [one] => Ok(one),
            [] => {
                let msg = format!(
                    "{label}: needs one condition: `leo`, `hw`, `leader_change`, `isr_shrink` \
                     or `acked`"
                );
                Err(Issue::at(key_path!["fault", index, "when"], msg))
            }
            [first, second, ..] => {
                let msg = format!("{label}: give one condition, found `{first}` and `{second}`");
                Err(Issue::at(key_path!["fault", index, "when", second], msg))
            }
        }
    }

    /// `{ acked = n }`: the n-th acknowledged record, with nothing else in the table.
    fn acked(&self, label: &str, index: usize) -> Result<Condition, Issue> {
        let at = |key: &str| key_path!["fault", index, "when", key];
        for (key, set) in [
            ("topic", self.topic.is_some()),
            ("partition", self.partition.is_some()),
            ("node", self.node.is_some()),
        ] {
            if set {
                let msg = format!("{label}: `acked` does not take `{key}`");
                return Err(Issue::at(at(key), msg));
            }
        }
        match self.acked {
            Some(records) if records > 0 => Ok(Condition::Acked { records }),
            _ => {
                let msg = format!("{label}: `acked` counts from 1 (the first acknowledged record)");
                Err(Issue::at(at("acked"), msg))
            }
        }
    }
}

//! Faults as data. A [`FaultAction`] is one fault with its targets resolved to node ids; the
//! simulator applies it at a scheduled time. Kill kinds are ordered by how destructive they are:
//! `pause` keeps everything, `kill` loses process state but keeps the page cache, `power-off`
//! loses whatever was not synced.
//!
//! Scenario `[[fault]]` entries and the nemesis both produce these values; every applied fault is
//! listed in the run's output so that any run can be replayed as a scripted scenario.

mod conditions;
pub mod nemesis;
mod scripted;

use std::fmt;

pub use conditions::Watch;
pub use scripted::schedule;

use crate::sim::{NodeId, SimDuration};

/// One fault, ready to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// The process dies; its page cache survives; peers see their connections close.
    Kill(NodeId),
    /// The machine loses power: unsynced bytes are lost (or torn); peers are not told.
    PowerOff {
        /// The node that loses power.
        node: NodeId,
        /// Whether files may keep a torn tail between their durable and written lengths.
        torn: bool,
    },
    /// A crashed node boots again from its disk.
    Restart(NodeId),
    /// The process stops running (SIGSTOP); messages and timers wait for it.
    Pause(NodeId),
    /// A paused process runs again and handles what waited.
    Resume(NodeId),
    /// Nodes in different groups cannot reach each other; unlisted nodes reach everyone.
    Partition(Vec<Vec<NodeId>>),
    /// The node can reach no one and no one can reach it.
    Isolate(NodeId),
    /// Packets from `from` no longer reach `to` (one way).
    Cut {
        /// Sending side.
        from: NodeId,
        /// Receiving side.
        to: NodeId,
    },
    /// Every link is restored.
    Heal,
    /// Messages from `from` to `to` take `extra` longer for `for_`.
    SlowLink {
        /// Sending side.
        from: NodeId,
        /// Receiving side.
        to: NodeId,
        /// Added delay.
        extra: SimDuration,
        /// How long the slowdown lasts.
        for_: SimDuration,
    },
    /// Syncs on `node`'s disk take `extra` longer for `for_`.
    SlowDisk {
        /// The node whose disk slows.
        node: NodeId,
        /// Added sync latency.
        extra: SimDuration,
        /// How long the slowdown lasts.
        for_: SimDuration,
    },
}

impl FaultAction {
    /// The action's name as scenarios spell it.
    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::Kill(_) => "kill",
            FaultAction::PowerOff { .. } => "power-off",
            FaultAction::Restart(_) => "restart",
            FaultAction::Pause(_) => "pause",
            FaultAction::Resume(_) => "resume",
            FaultAction::Partition(_) => "partition",
            FaultAction::Isolate(_) => "isolate",
            FaultAction::Cut { .. } => "cut",
            FaultAction::Heal => "heal",
            FaultAction::SlowLink { .. } => "slow-link",
            FaultAction::SlowDisk { .. } => "slow-disk",
        }
    }

    /// Every node the action names, in the order it names them.
    pub fn nodes(&self) -> Vec<NodeId> {
        match self {
            FaultAction::Kill(node)
            | FaultAction::PowerOff { node, .. }
            | FaultAction::Restart(node)
            | FaultAction::Pause(node)
            | FaultAction::Resume(node)
            | FaultAction::Isolate(node)
            | FaultAction::SlowDisk { node, .. } => vec![*node],
            FaultAction::Partition(groups) => groups.iter().flatten().copied().collect(),
            FaultAction::Cut { from, to } | FaultAction::SlowLink { from, to, .. } => {
                vec![*from, *to]
            }
            FaultAction::Heal => Vec::new(),
        }
    }

    /// Shows the action with node names from `names`, as the short log prints it.
    pub fn describe<'a>(&'a self, names: &'a [String]) -> Described<'a> {
        Described {
            action: self,
            names,
        }
    }
}

/// A fault shown with node names.
pub struct Described<'a> {
    action: &'a FaultAction,
    names: &'a [String],
}

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |node: &NodeId| self.names[node.index()].as_str();
        write!(f, "{}", self.action.name())?;
        match self.action {
            FaultAction::Kill(node)
            | FaultAction::Restart(node)
            | FaultAction::Pause(node)
            | FaultAction::Resume(node)
            | FaultAction::Isolate(node) => write!(f, " {}", name(node)),
            FaultAction::PowerOff { node, torn } => {
                write!(f, " {}{}", name(node), if *torn { " torn" } else { "" })
            }
            FaultAction::Partition(groups) => {
                for (i, group) in groups.iter().enumerate() {
                    let members: Vec<&str> = group.iter().map(name).collect();
                    write!(
                        f,
                        "{}[{}]",
                        if i == 0 { " " } else { " | " },
                        members.join(" ")
                    )?;
                }
                Ok(())
            }
            FaultAction::Cut { from, to } => write!(f, " {} -> {}", name(from), name(to)),
            FaultAction::Heal => Ok(()),
            FaultAction::SlowLink {
                from,
                to,
                extra,
                for_,
            } => {
                write!(f, " {} -> {} +{extra} for {for_}", name(from), name(to))
            }
            FaultAction::SlowDisk { node, extra, for_ } => {
                write!(f, " {} +{extra} for {for_}", name(node))
            }
        }
    }
}

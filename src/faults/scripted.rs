//! Scripted faults: a scenario's `[[fault]]` entries turned into a timed schedule of
//! [`FaultAction`]s. A fault with `for_ms` is undone after that long: a pause by a resume, a
//! network fault by a heal (which restores every link), a slowdown by its own end.

use super::FaultAction;
use crate::scenario::{Fault, FaultKind, FaultTrigger, Scenario};
use crate::sim::{NodeId, SimDuration, SimTime};

/// Resolves every time-triggered `[[fault]]` of `scenario` against the node `names`, in time
/// order (file order among equal times). Condition-triggered faults are left to a
/// [`Watch`](super::Watch).
pub fn schedule(
    scenario: &Scenario,
    names: &[String],
) -> Result<Vec<(SimTime, FaultAction)>, String> {
    let mut timed = Vec::new();
    for (index, fault) in scenario.faults.iter().enumerate() {
        let at_ms = match &fault.trigger {
            FaultTrigger::AtMs(at_ms) => *at_ms,
            FaultTrigger::When(_) => continue,
        };
        let at = SimTime::from_millis(at_ms);
        let (action, undo) = resolve(fault, scenario.disk.torn_tail, names)
            .map_err(|e| format!("[[fault]] #{index}: {e}"))?;
        timed.push((at, action));
        if let Some((after, undo)) = undo {
            timed.push((at + after, undo));
        }
    }
    timed.sort_by_key(|(at, _)| *at);
    Ok(timed)
}

pub(super) type Undo = Option<(SimDuration, FaultAction)>;

/// One fault's action and, with `for_ms`, the action that undoes it and when.
pub(super) fn resolve(
    fault: &Fault,
    torn_default: bool,
    names: &[String],
) -> Result<(FaultAction, Undo), String> {
    let node = |name: Option<&String>| -> Result<NodeId, String> {
        let name = name.ok_or_else(|| format!("{} needs a node", fault.action.as_str()))?;
        names
            .iter()
            .position(|n| n == name)
            .map(NodeId::from_index)
            .ok_or_else(|| format!("unknown node `{name}`"))
    };
    let for_ = fault.for_ms.map(SimDuration::from_millis);
    let extra = SimDuration::from_millis(fault.extra_ms.unwrap_or(0));
    let heal_after = |for_: Option<SimDuration>| for_.map(|d| (d, FaultAction::Heal));
    Ok(match fault.action {
        FaultKind::Kill => (FaultAction::Kill(node(fault.node.as_ref())?), None),
        FaultKind::PowerOff => {
            let torn = fault.torn.unwrap_or(torn_default);
            (
                FaultAction::PowerOff {
                    node: node(fault.node.as_ref())?,
                    torn,
                },
                None,
            )
        }
        FaultKind::Restart => (FaultAction::Restart(node(fault.node.as_ref())?), None),
        FaultKind::Pause => {
            let target = node(fault.node.as_ref())?;
            (
                FaultAction::Pause(target),
                for_.map(|d| (d, FaultAction::Resume(target))),
            )
        }
        FaultKind::Resume => (FaultAction::Resume(node(fault.node.as_ref())?), None),
        FaultKind::Partition => {
            let groups = fault
                .groups
                .iter()
                .map(|group| group.iter().map(|name| node(Some(name))).collect())
                .collect::<Result<Vec<Vec<NodeId>>, String>>()?;
            (FaultAction::Partition(groups), heal_after(for_))
        }
        FaultKind::Isolate => (
            FaultAction::Isolate(node(fault.node.as_ref())?),
            heal_after(for_),
        ),
        FaultKind::Cut => {
            let (from, to) = (node(fault.from.as_ref())?, node(fault.to.as_ref())?);
            (FaultAction::Cut { from, to }, heal_after(for_))
        }
        FaultKind::Heal => (FaultAction::Heal, None),
        FaultKind::SlowLink => {
            let (from, to) = (node(fault.from.as_ref())?, node(fault.to.as_ref())?);
            let for_ = for_.ok_or("slow-link needs for_ms")?;
            (
                FaultAction::SlowLink {
                    from,
                    to,
                    extra,
                    for_,
                },
                None,
            )
        }
        FaultKind::SlowDisk => {
            let target = node(fault.node.as_ref())?;
            let for_ = for_.ok_or("slow-disk needs for_ms")?;
            (
                FaultAction::SlowDisk {
                    node: target,
                    extra,
                    for_,
                },
                None,
            )
        }
    })
}

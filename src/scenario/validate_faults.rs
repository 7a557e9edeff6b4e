//! Checks of everything that injects faults or judges the run: scripted `[[fault]]` entries
//! (known nodes, sensible durations, times inside the safety phase, conditions on existing
//! partitions), the `[nemesis]` (drawable actions, ordered ranges, globs that hit something) and
//! `[expect]` (each anomaly kind once). The per-action required and forbidden fields are
//! checked earlier, when the fault is built (`fault::FieldRules`).

use super::error::{Issue, Seg, key_path, suggest};
use super::fault::{Condition, Fault, FaultTrigger, fault_label};
use super::kinds::FaultKind;
use super::schema::{Nemesis, Scenario, broker_id, glob_matches};
use super::validate::Cx;

/// Checks faults, the nemesis and the expectations.
pub(crate) fn check(s: &Scenario) -> Result<(), Issue> {
    let nodes = s.node_names();
    for (i, fault) in s.faults.iter().enumerate() {
        check_fault(s, &nodes, i, fault)?;
    }
    if let Some(nemesis) = &s.nemesis {
        check_nemesis(s, &nodes, nemesis)?;
    }
    expect(s)
}

fn known_node(cx: &Cx, nodes: &[String], at: Vec<Seg>, node: &str) -> Result<(), Issue> {
    if nodes.iter().any(|n| n == node) {
        return Ok(());
    }
    let known: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let brokers = known.iter().filter(|n| broker_id(n).is_some()).count();
    let hint = match suggest(node, &known) {
        _ if broker_id(node).is_some() => match brokers {
            1 => "the cluster has one broker, broker-0".to_string(),
            n => format!("the cluster has {n} brokers, broker-0 … broker-{}", n - 1),
        },
        Some(close) => format!("did you mean \"{close}\"?"),
        None => format!("nodes are {}", known.join(", ")),
    };
    Err(cx.fail(at, format!("unknown node \"{node}\"; {hint}")))
}

fn check_fault(s: &Scenario, nodes: &[String], i: usize, f: &Fault) -> Result<(), Issue> {
    let cx = Cx::new(fault_label(i), key_path!["fault", i]);
    match &f.trigger {
        FaultTrigger::AtMs(at_ms) => cx.not_after_end("at_ms", *at_ms, s.duration_ms)?,
        FaultTrigger::When(condition) => check_condition(s, i, condition)?,
    }
    if let Some(node) = &f.node {
        known_node(&cx, nodes, key_path!["node"], node)?;
        if matches!(f.action, FaultKind::PowerOff | FaultKind::SlowDisk)
            && broker_id(node).is_none()
            && node != crate::scenario::ZK_NODE
        {
            let msg = format!(
                "`{}` needs a broker or \"zk\" (only they have disks), not \"{node}\"",
                f.action
            );
            return Err(cx.fail(key_path!["node"], msg));
        }
    }
    if let (Some(from), Some(to)) = (&f.from, &f.to) {
        known_node(&cx, nodes, key_path!["from"], from)?;
        known_node(&cx, nodes, key_path!["to"], to)?;
        if from == to {
            return Err(cx.fail(
                key_path!["to"],
                format!("`from` and `to` are both \"{from}\""),
            ));
        }
    }
    if f.action == FaultKind::Partition {
        check_groups(&cx, nodes, &f.groups)?;
    }
    for (key, value) in [("for_ms", f.for_ms), ("extra_ms", f.extra_ms)] {
        if let Some(value) = value {
            cx.at_least(key, value, 1)?;
        }
    }
    Ok(())
}

fn check_groups(cx: &Cx, nodes: &[String], groups: &[Vec<String>]) -> Result<(), Issue> {
    if groups.len() < 2 {
        let msg = format!(
            "`partition` needs at least two groups, \
             e.g. groups = [[\"broker-0\"], [\"broker-1\", \"zk\"]] (found {})",
            groups.len()
        );
        return Err(cx.fail(key_path!["groups"], msg));
    }
    for (g, group) in groups.iter().enumerate() {
        if group.is_empty() {
            return Err(cx.fail(
                key_path!["groups", g],
                format!("group {g} of `groups` is empty"),
            ));
        }
        for (k, node) in group.iter().enumerate() {
            known_node(cx, nodes, key_path!["groups", g, k], node)?;
            let earlier =
                groups[..g].iter().any(|seen| seen.contains(node)) || group[..k].contains(node);
            if earlier {
                let msg = format!("\"{node}\" appears in `groups` more than once");
                return Err(cx.fail(key_path!["groups", g, k], msg));
            }
        }
    }
    Ok(())
}

fn check_condition(s: &Scenario, i: usize, condition: &Condition) -> Result<(), Issue> {
    let when = Cx::new(
        format!("`when` of {}", fault_label(i)),
        key_path!["fault", i, "when"],
    );
    let Some((topic_name, partition)) = condition.partition() else {
        return Ok(());
    };
    let Some(topic) = s.topic(topic_name) else {
        let known: Vec<&str> = s.topics.iter().map(|t| t.name.as_str()).collect();
        let hint = suggest(topic_name, &known)
            .map(|c| format!("; did you mean \"{c}\"?"))
            .unwrap_or_default();
        return Err(when.fail(
            key_path!["topic"],
            format!("unknown topic \"{topic_name}\"{hint}"),
        ));
    };
    if partition >= topic.partitions {
        let msg = format!(
            "\"{topic_name}\" has no partition {partition} (it has {})",
            topic.partitions
        );
        return Err(when.fail(key_path!["partition"], msg));
    }
    if let Some(node) = condition.node() {
        let Some(id) = broker_id(node).filter(|id| *id < s.cluster.brokers) else {
            let msg = format!("`node` must be a broker holding a replica, not \"{node}\"");
            return Err(when.fail(key_path!["node"], msg));
        };
        let replicas = topic.replica_assignment(s.cluster.brokers);
        let holders = replicas
            .get(partition as usize)
            .cloned()
            .unwrap_or_default();
        if !holders.contains(&id) {
            let list: Vec<String> = holders.iter().map(|b| format!("broker-{b}")).collect();
            let msg = format!(
                "\"{node}\" holds no replica of {topic_name}-{partition} (replicas: {})",
                list.join(", ")
            );
            return Err(when.fail(key_path!["node"], msg));
        }
    }
    Ok(())
}

fn check_nemesis(s: &Scenario, nodes: &[String], n: &Nemesis) -> Result<(), Issue> {
    let cx = Cx::new("[nemesis]", key_path!["nemesis"]);
    if n.actions.is_empty() {
        return Err(cx.fail(
            key_path!["actions"],
            "`actions` must list at least one fault kind",
        ));
    }
    for (k, action) in n.actions.iter().enumerate() {
        if !FaultKind::NEMESIS.contains(action) {
            let allowed: Vec<&str> = FaultKind::NEMESIS.iter().map(|a| a.as_str()).collect();
            let msg = format!(
                "\"{action}\" cannot be drawn at random; use one of {}",
                allowed.join(", ")
            );
            return Err(cx.fail(key_path!["actions", k], msg));
        }
    }
    cx.range("interval_ms", n.interval_ms, 1)?;
    cx.range("fault_ms", n.fault_ms, 1)?;
    if n.targets.is_empty() {
        return Err(cx.fail(
            key_path!["targets"],
            "`targets` must list at least one node glob",
        ));
    }
    for (k, glob) in n.targets.iter().enumerate() {
        if !nodes.iter().any(|node| glob_matches(glob, node)) {
            let msg = format!(
                "target \"{glob}\" matches no node; nodes are {}",
                nodes.join(", ")
            );
            return Err(cx.fail(key_path!["targets", k], msg));
        }
    }
    let brokers = s.cluster.brokers;
    if n.max_faulty_brokers > brokers {
        let msg = format!(
            "`max_faulty_brokers` = {} exceeds the {brokers} broker(s)",
            n.max_faulty_brokers
        );
        return Err(cx.fail(key_path!["max_faulty_brokers"], msg));
    }
    let disk_actions = n
        .actions
        .iter()
        .find(|a| matches!(a, FaultKind::PowerOff | FaultKind::SlowDisk));
    let targets_broker = n
        .target_nodes(nodes)
        .iter()
        .any(|node| broker_id(node).is_some());
    if let Some(action) = disk_actions.filter(|_| !targets_broker) {
        let msg = format!("\"{action}\" needs a broker among `targets`, but none matches one");
        return Err(cx.fail(key_path!["targets"], msg));
    }
    cx.before_end("start_ms", n.start_ms, s.duration_ms)
}

fn expect(s: &Scenario) -> Result<(), Issue> {
    let cx = Cx::new("[expect]", key_path!["expect"]);
    let kinds = &s.expect.anomalies;
    for (k, kind) in kinds.iter().enumerate() {
        if kinds[..k].contains(kind) {
            return Err(cx.fail(
                key_path!["anomalies", k],
                format!("`anomalies` lists \"{kind}\" twice"),
            ));
        }
    }
    Ok(())
}

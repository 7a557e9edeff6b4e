//! `lost-write`: an acknowledged record is missing from the final log of its partition (and
//! not because retention deleted the segment holding it).

use std::collections::{BTreeMap, BTreeSet};

use super::{Anomaly, FinalPartition, History, Outcome};
use crate::record::RecordId;
use crate::scenario::AnomalyKind;

/// Finds acknowledged records absent from the final committed log.
pub fn check(history: &History, finals: &[FinalPartition], end_ms: u64) -> Vec<Anomaly> {
    let present: BTreeMap<&str, (&FinalPartition, BTreeSet<RecordId>)> = finals
        .iter()
        .filter(|p| p.leader.is_some())
        .map(|p| {
            (
                &*p.name,
                (p, p.committed().iter().map(|(_, id)| *id).collect()),
            )
        })
        .collect();
    let mut anomalies = Vec::new();
    for (id, op) in history.sends() {
        let Outcome::Acked { offset, at } = op.outcome else {
            continue;
        };
        let Some((partition, records)) = present.get(&*op.partition) else {
            continue;
        };
        // Below the log start, retention deleted it: that is no loss.
        if records.contains(&id) || offset < partition.log_start_offset() {
            continue;
        }
        let explanation = explain(history, partition, id, offset, at.as_millis());
        anomalies.push(Anomaly {
            kind: AnomalyKind::LostWrite,
            partition: partition.name.to_string(),
            offset,
            record: history.record_name(id),
            at_ms: end_ms,
            explanation,
        });
    }
    anomalies
}

/// Who acked it, who truncated past it, which election made it unreachable.
fn explain(
    history: &History,
    partition: &FinalPartition,
    id: RecordId,
    offset: u64,
    acked_ms: u64,
) -> String {
    let name = &partition.name;
    let mut text = format!(
        "{} was acknowledged at offset {offset} at {acked_ms} ms",
        history.record_name(id)
    );
    if let Some((at, node, _, epoch)) = history
        .leaderships
        .iter()
        .rev()
        .find(|(at, _, p, _)| p == name && at.as_millis() <= acked_ms)
    {
        text += &format!(
            " by {} (leader since {} ms, epoch {epoch})",
            history.node_name(*node),
            at.as_millis()
        );
    }
    if let Some((_, _, _, isr)) = history
        .isrs
        .iter()
        .rev()
        .find(|(at, _, p, _)| p == name && at.as_millis() <= acked_ms)
    {
        text += &format!(" with ISR {isr:?}");
    }
    let cuts = history
        .truncations
        .iter()
        .filter(|t| &t.partition == name && t.to <= offset && t.from > offset);
    for t in cuts {
        text += &format!(
            "; {} truncated {} -> {} at {} ms by the {} rule",
            history.node_name(t.node),
            t.from,
            t.to,
            t.at.as_millis(),
            t.rule
        );
    }
    if let Some((at, node, _, epoch)) = history
        .leaderships
        .iter()
        .rev()
        .find(|(at, _, p, _)| p == name && at.as_millis() > acked_ms)
    {
        text += &format!(
            "; {} was elected at {} ms (epoch {epoch}) without it",
            history.node_name(*node),
            at.as_millis()
        );
    }
    text + "."
}

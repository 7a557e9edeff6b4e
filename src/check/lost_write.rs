//! `lost-write`: an acknowledged record is missing from the final log of its partition (and
//! not because retention deleted the segment holding it).

use super::record_set::RecordSet;
use super::{Anomaly, FinalPartition, History, Outcome, finals_by_sent_partition};
use crate::record::RecordId;
use crate::scenario::AnomalyKind;

/// Finds acknowledged records absent from the final committed log.
pub fn check(history: &History, finals: &[FinalPartition], end_ms: u64) -> Vec<Anomaly> {
    // By sent partition: the partition's final state and the records its final log holds.
    let present: Vec<Option<(&FinalPartition, RecordSet)>> =
        finals_by_sent_partition(history, finals)
            .into_iter()
            .map(|p| {
                let p = p.filter(|p| p.read.is_some())?;
                Some((p, p.committed().iter().map(|(_, id)| *id).collect()))
            })
            .collect();
    let mut anomalies = Vec::new();
    for (id, op) in history.sends() {
        let Outcome::Acked { offset, at, broker } = op.outcome else {
            continue;
        };
        let Some(Some((partition, records))) = present.get(op.partition_id as usize) else {
            continue;
        };
        // Below the log start, retention deleted it: that is no loss. Held by the leader above
        // a stuck high watermark, it is not lost either (the liveness checker reports that).
        if records.contains(id)
            || offset < partition.log_start_offset()
            || partition.leader_holds(offset, id)
        {
            continue;
        }
        let explanation = explain(history, partition, id, (offset, broker), at.as_millis());
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
    (offset, broker): (u64, u32),
    acked_ms: u64,
) -> String {
    let name = &partition.name;
    let by = format!("broker-{broker}");
    let mut text = format!(
        "{} was acknowledged at offset {offset} at {acked_ms} ms by {by}",
        history.record_name(id)
    );
    // The answering broker's own leadership of the partition at that time.
    let leadership = history.leaderships.iter().rev().find(|(at, node, p, _)| {
        p == name && at.as_millis() <= acked_ms && history.node_name(*node) == by
    });
    if let Some((at, _, _, epoch)) = leadership {
        text += &format!(" (leader since {} ms, epoch {epoch})", at.as_millis());
        let newer = history.leaderships.iter().find(|(t, n, p, e)| {
            p == name
                && t <= &crate::sim::SimTime::from_millis(acked_ms)
                && e > epoch
                && history.node_name(*n) != by
        });
        if let Some((t, n, _, e)) = newer {
            text += &format!(
                ", a zombie: {} had led epoch {e} since {} ms",
                history.node_name(*n),
                t.as_millis()
            );
        }
    }
    if let Some((_, _, _, isr)) = history.isrs.iter().rev().find(|(at, node, p, _)| {
        p == name && at.as_millis() <= acked_ms && history.node_name(*node) == by
    }) {
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

//! `poll-skip` and `nonmonotonic-poll`: a member's successive polls of a partition must go on
//! exactly where the previous one ended, unless the partition was revoked (or lost) or sought
//! (committed offset, `auto.offset.reset`) in between. A partition the member keeps across a
//! rebalance (cooperative, or assigned again without a revocation) keeps its position. A later start that jumps
//! over offsets holding records in the final log is a skip; an earlier one re-reads.

use std::collections::BTreeMap;

use super::consumption::{ConsumerEvent, Name};
use super::{Anomaly, FinalPartition, History};
use crate::scenario::AnomalyKind;
use crate::sim::NodeId;

/// Whether any replica of the final log (or the final read) holds a record in `[from, to)`; for
/// a `read_committed` member, a record its isolation level shows (the final `read_committed`
/// read, when the run has one): records of aborted transactions are passed over legitimately.
fn holds_records(
    finals: &[FinalPartition],
    partition: &str,
    (from, to): (u64, u64),
    read_committed: bool,
) -> bool {
    let Some(f) = finals.iter().find(|f| &*f.name == partition) else {
        return false;
    };
    let any_in = |records: &[(u64, crate::record::RecordId)]| {
        let k = records.partition_point(|(o, _)| *o < from);
        records.get(k).is_some_and(|(o, _)| *o < to)
    };
    if read_committed && let Some(visible) = &f.read_committed {
        return any_in(visible);
    }
    f.read.as_deref().is_some_and(any_in) || f.replicas.iter().any(|r| any_in(&r.records))
}

/// Checks every member's polls.
pub fn check(history: &History, finals: &[FinalPartition]) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let mut ends: BTreeMap<(NodeId, Name), u64> = BTreeMap::new();
    let names = &history.consumption.names;
    for (at, node, event) in history.consumption.events.iter() {
        match event {
            ConsumerEvent::Assigned { partitions } => {
                ends.retain(|(n, p), _| n != node || partitions.contains(p))
            }
            ConsumerEvent::Revoked { partitions } => {
                ends.retain(|(n, p), _| n != node || !partitions.contains(p))
            }
            ConsumerEvent::Seek { partition } => {
                ends.remove(&(*node, *partition));
            }
            ConsumerEvent::Poll {
                partition,
                offset,
                first,
                read_committed,
                end: poll_end,
                ..
            } => {
                let key = (*node, *partition);
                let partition = names.get(*partition);
                let name = &history.nodes[node.index()];
                if let Some(&end) = ends.get(&key) {
                    let record = || history.record_name(*first);
                    let skipped = (end, *offset);
                    if *offset > end && holds_records(finals, partition, skipped, *read_committed) {
                        anomalies.push(Anomaly {
                            kind: AnomalyKind::PollSkip,
                            partition: partition.to_string(),
                            offset: end,
                            record: record(),
                            at_ms: at.as_millis(),
                            explanation: format!(
                                "{name}'s previous poll of {partition} ended at {end} but its next \
                                 poll started at {offset}, skipping offsets {end}..{offset} that \
                                 hold records, with no rebalance or seek in between"
                            ),
                        });
                    } else if *offset < end {
                        anomalies.push(Anomaly {
                            kind: AnomalyKind::NonmonotonicPoll,
                            partition: partition.to_string(),
                            offset: *offset,
                            record: record(),
                            at_ms: at.as_millis(),
                            explanation: format!(
                                "{name}'s previous poll of {partition} ended at {end} but its next \
                                 poll started at {offset}, with no rebalance or seek in between"
                            ),
                        });
                    }
                }
                ends.insert(key, *poll_end);
            }
        }
    }
    anomalies
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::check::consumption::Names;
    use crate::check::history::ReplicaView;
    use crate::record::RecordId;
    use crate::sim::SimTime;

    fn names(names: &mut Names, list: &[&str]) -> Vec<Name> {
        list.iter().map(|p| names.intern(&Arc::from(*p))).collect()
    }

    /// A history of one member: the events `events` makes (with the history's names), in
    /// order, and a final log of `orders-0` with 20 records.
    fn kinds(events: impl FnOnce(&mut Names) -> Vec<ConsumerEvent>) -> Vec<AnomalyKind> {
        let mut history = History::new(vec!["p1".into()], vec!["c-0".into()]);
        let node = NodeId::from_index(0);
        let events = events(&mut history.consumption.names);
        for (i, e) in events.into_iter().enumerate() {
            let at = SimTime::from_millis(i as u64);
            history.consumption.events.push((at, node, e));
        }
        let records: Vec<(u64, RecordId)> = (0..20)
            .map(|n| {
                (
                    n,
                    RecordId {
                        producer: 0,
                        n: n as u32,
                    },
                )
            })
            .collect();
        let finals = vec![FinalPartition {
            name: "orders-0".into(),
            leader: Some(0),
            replicas: vec![ReplicaView {
                broker: 0,
                high_watermark: 20,
                records,
                log_end_offset: 20,
                log_start_offset: 0,
            }],
            read: None,
            read_committed: None,
            stable: None,
        }];
        check(&history, &finals).iter().map(|a| a.kind).collect()
    }

    fn poll(names: &mut Names, offset: u64, count: u32) -> ConsumerEvent {
        let [group, member_id, partition] =
            ["g1", "c-0-1", "orders-0"].map(|n| names.intern(&n.into()));
        ConsumerEvent::Poll {
            group,
            member_id,
            generation: 1,
            partition,
            offset,
            count,
            first: RecordId {
                producer: 0,
                n: offset as u32,
            },
            read_committed: false,
            end: offset + u64::from(count),
        }
    }

    #[test]
    fn a_skip_over_a_partition_the_member_kept_across_a_rebalance_is_poll_skip() {
        let kept = |n: &mut Names| {
            vec![
                ConsumerEvent::Assigned {
                    partitions: names(n, &["orders-0", "orders-1"]),
                },
                poll(n, 0, 5),
                ConsumerEvent::Revoked {
                    partitions: names(n, &["orders-1"]),
                },
                ConsumerEvent::Assigned {
                    partitions: names(n, &["orders-0"]),
                },
                poll(n, 8, 2),
            ]
        };
        assert_eq!(kinds(kept), vec![AnomalyKind::PollSkip]);
    }

    #[test]
    fn a_revoked_or_sought_partition_may_start_anywhere() {
        let revoked = |n: &mut Names| {
            vec![
                poll(n, 0, 5),
                ConsumerEvent::Revoked {
                    partitions: names(n, &["orders-0"]),
                },
                ConsumerEvent::Assigned {
                    partitions: names(n, &["orders-0"]),
                },
                poll(n, 8, 2),
            ]
        };
        assert_eq!(kinds(revoked), vec![]);
        let sought = |n: &mut Names| {
            vec![
                poll(n, 0, 5),
                ConsumerEvent::Seek {
                    partition: names(n, &["orders-0"])[0],
                },
                poll(n, 3, 2),
            ]
        };
        assert_eq!(kinds(sought), vec![]);
        assert_eq!(
            kinds(|n| vec![poll(n, 0, 5), poll(n, 3, 1)]),
            vec![AnomalyKind::NonmonotonicPoll]
        );
    }
}

//! Offsets committed inside a transaction (Kafka's `handleTxnCommitOffsets`,
//! `scheduleHandleTxnCompletion` and the transactional part of `GroupMetadataManager`):
//!
//! - `TxnOffsetCommit` is validated like an offset commit of a group member when it carries a
//!   member id or generation (KIP-447: a zombie whose generation is gone is refused
//!   `ILLEGAL_GENERATION`, `UNKNOWN_MEMBER_ID` or `FENCED_INSTANCE_ID`), then appended to the
//!   group's `__consumer_offsets` partition as a transactional batch of the producer and answered
//!   once the high watermark passes it;
//! - its offsets stay pending, per group and producer id, until the transaction's marker on that
//!   partition is replicated: COMMIT makes them the group's committed offsets, ABORT drops them;
//! - while a partition has pending offsets, an `OffsetFetch` with `require_stable` (a
//!   read_committed consumer's) is answered `UNSTABLE_OFFSET_COMMIT`, so a new owner never starts
//!   from an offset a transaction in flight is about to move;
//! - loading a partition replays transactional offset batches as pending until their marker.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::records::{self, GroupRecord, RecordValues};
use super::{Action, AfterAppend, Group, GroupCoordinator, Waiter, reply_error};
use crate::protocol::consumer::CommittedOffset;
use crate::protocol::{ConsumerRequest, ConsumerResponse, KafkaError, TopicPartition};
use crate::record::{ControlType, NO_PRODUCER_ID, RecordBatch};

/// An offset one producer's open transaction carries for one partition of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingOffset {
    /// The next offset to read.
    pub offset: u64,
    /// Where its record ends in the group's partition, once its append is replicated (only an
    /// appended offset becomes committed on COMMIT).
    pub appended_at: Option<u64>,
}

/// Offsets one producer's open transaction carries for one group (Kafka's
/// `pendingTransactionalOffsetCommits` entry).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PendingTxnOffsets {
    /// By partition.
    pub offsets: BTreeMap<TopicPartition, PendingOffset>,
}

/// Pending transactional offsets by (group, producer id).
pub type TxnOffsets = BTreeMap<(Arc<str>, i64), PendingTxnOffsets>;

impl GroupCoordinator {
    /// `TxnOffsetCommit` (Kafka's `handleTxnCommitOffsets`): a group unknown here is created
    /// empty; the request is validated against the member and generation when it names them,
    /// then appended as the producer's transactional batch.
    pub(super) fn txn_offset_commit(
        &mut self,
        waiter: Waiter,
        request: ConsumerRequest,
        out: &mut Vec<Action>,
    ) {
        let ConsumerRequest::TxnOffsetCommit {
            ref group,
            producer,
            generation,
            ref member_id,
            ref group_instance_id,
            ref offsets,
            ..
        } = request
        else {
            return;
        };
        let index = self.group_index(group);
        let error = self
            .groups
            .entry(group.clone())
            .or_insert_with(|| Group::new(group.clone(), index))
            .validate_txn_commit(member_id, group_instance_id.as_deref(), generation);
        if let Some(error) = error {
            out.push(Action::Note(format!(
                "group {group}: TxnOffsetCommit of {member_id} generation {generation} (producer \
                 {}) rejected: {error}",
                producer.0
            )));
            return reply_error(out, waiter, &request, error);
        }
        if offsets.is_empty() {
            // Nothing to store: answered at once, as Kafka's coordinator does.
            return answer(out, waiter, Ok(()));
        }
        let pending = self
            .txn_offsets
            .entry((group.clone(), producer.0))
            .or_default();
        for &(tp, offset) in offsets {
            let entry = PendingOffset {
                offset,
                appended_at: None,
            };
            pending.offsets.insert(tp, entry);
        }
        let records: Vec<GroupRecord> = offsets
            .iter()
            .map(|&(tp, offset)| GroupRecord::Offset {
                group: index,
                tp,
                offset: committed(offset),
            })
            .collect();
        out.push(Action::AppendTransactional {
            partition: self.partition_of(group),
            producer,
            records: records::encode(&self.spec.values, &records),
            then: AfterAppend::TxnCommit {
                group: group.clone(),
                producer_id: producer.0,
                offsets: offsets.clone(),
                to: waiter,
            },
        });
    }

    /// A transactional offset append is replicated, its records ending at `appended_at`: the
    /// offsets still pending as appended wait for the marker (Kafka's `onTxnOffsetCommitAppend`).
    pub(super) fn txn_commit_appended(
        &mut self,
        group: Arc<str>,
        producer_id: i64,
        offsets: &[(TopicPartition, u64)],
        appended_at: u64,
        to: Waiter,
        out: &mut Vec<Action>,
    ) {
        if let Some(pending) = self.txn_offsets.get_mut(&(group, producer_id)) {
            for (tp, offset) in offsets {
                if let Some(entry) = pending.offsets.get_mut(tp)
                    && entry.offset == *offset
                {
                    entry.appended_at = Some(appended_at);
                }
            }
        }
        answer(out, to, Ok(()));
    }

    /// A transactional offset append failed: its partitions are no longer pending (Kafka's
    /// `failPendingTxnOffsetCommit`).
    pub(super) fn txn_commit_failed(
        &mut self,
        group: Arc<str>,
        producer_id: i64,
        offsets: &[(TopicPartition, u64)],
        to: Waiter,
        error: KafkaError,
        out: &mut Vec<Action>,
    ) {
        let key = (group.clone(), producer_id);
        if let Some(pending) = self.txn_offsets.get_mut(&key) {
            for (tp, _) in offsets {
                pending.offsets.remove(tp);
            }
            if pending.offsets.is_empty() {
                self.txn_offsets.remove(&key);
            }
        }
        out.push(Action::Note(format!(
            "group {group}: TxnOffsetCommit of producer {producer_id} failed: {error}"
        )));
        answer(out, to, Err(error));
    }

    /// A COMMIT or ABORT marker of `producer_id` on offsets partition `partition` is replicated
    /// (Kafka's `handleTxnCompletion`): the producer's pending offsets there become committed
    /// unless a later record in the log already moved them, or are dropped. A partition still
    /// loading completes them in the groups it is loading (Kafka completes them on the loading
    /// thread, after the load).
    pub fn on_txn_completed(
        &mut self,
        partition: u32,
        producer_id: i64,
        result: ControlType,
        out: &mut Vec<Action>,
    ) {
        let keys: Vec<(Arc<str>, i64)> = self
            .txn_offsets
            .keys()
            .filter(|(g, p)| *p == producer_id && self.partition_of(g) == partition)
            .cloned()
            .collect();
        for key in keys {
            let pending = self.txn_offsets.remove(&key).expect("listed");
            let name = key.0;
            if result != ControlType::Commit {
                out.push(Action::Note(format!(
                    "group {name}: transactional offsets of producer {producer_id} dropped \
                     ({result})"
                )));
                continue;
            }
            let index = self.group_index(&name);
            let group = match self.loading.get_mut(&partition) {
                Some(loading) => match loading.iter().position(|g| g.name == name) {
                    Some(i) => &mut loading[i],
                    None => {
                        loading.push(Group::new(name.clone(), index));
                        loading.last_mut().expect("pushed")
                    }
                },
                None => self
                    .groups
                    .entry(name.clone())
                    .or_insert_with(|| Group::new(name.clone(), index)),
            };
            let mut applied = Vec::new();
            for (tp, entry) in &pending.offsets {
                let Some(at) = entry.appended_at else {
                    continue;
                };
                group.commit_offset(*tp, committed(entry.offset), at);
                if group.committed_at.get(tp) == Some(&at) {
                    applied.push((tp.partition, entry.offset));
                }
            }
            out.push(Action::Note(format!(
                "group {name}: transactional offsets of producer {producer_id} committed: \
                 {applied:?}"
            )));
        }
    }

    /// Whether a transaction holds offsets of `group` for `tp` not yet completed.
    pub(super) fn has_pending_txn_offsets(&self, group: &str, tp: TopicPartition) -> bool {
        self.txn_offsets
            .iter()
            .any(|((g, _), p)| &**g == group && p.offsets.contains_key(&tp))
    }

    /// Forgets the pending offsets of groups on `partition` (it was unloaded).
    pub(super) fn unload_txn_offsets(&mut self, partition: u32) {
        let offsets = std::mem::take(&mut self.txn_offsets);
        self.txn_offsets = offsets
            .into_iter()
            .filter(|((g, _), _)| self.partition_of(g) != partition)
            .collect();
    }
}

/// A transactional commit's offset: `TxnOffsetCommit` carries no leader epoch here.
fn committed(offset: u64) -> CommittedOffset {
    CommittedOffset {
        offset,
        leader_epoch: None,
    }
}

/// Answers a `TxnOffsetCommit`.
fn answer(out: &mut Vec<Action>, to: Waiter, result: Result<(), KafkaError>) {
    let response = ConsumerResponse::TxnOffsetCommit {
        correlation: to.correlation,
        result,
    };
    out.push(Action::Reply {
        to: to.node,
        response,
    });
}

/// A partition's log split for loading: the records of non-transactional batches and of
/// committed transactions, each with where it ends in the log, and the offsets of transactions
/// still open, by group index and producer id.
pub(super) struct Replayed {
    /// Records to replay as committed, with their log end positions, in the order they apply.
    pub records: Vec<(u64, GroupRecord)>,
    /// Offsets of open transactions: offset and log end position, by partition.
    pub pending: BTreeMap<(u32, i64), BTreeMap<TopicPartition, (u64, u64)>>,
    /// How many records were read.
    pub count: u64,
}

/// Reads `batches` of an offsets partition as a loading coordinator does: a transactional
/// batch's offsets wait for their producer's marker, which commits or drops them.
pub(super) fn replay_batches<'a>(
    values: &RecordValues,
    batches: impl IntoIterator<Item = &'a RecordBatch>,
) -> Replayed {
    let mut replayed = Replayed {
        records: Vec::new(),
        pending: BTreeMap::new(),
        count: 0,
    };
    for batch in batches {
        replayed.count += batch.records.len() as u64;
        let position = batch.base_offset + batch.offset_count();
        if let Some(result) = batch.control {
            let keys: Vec<(u32, i64)> = replayed
                .pending
                .keys()
                .filter(|(_, p)| *p == batch.producer_id)
                .copied()
                .collect();
            for key in keys {
                let offsets = replayed.pending.remove(&key).expect("listed");
                if result == ControlType::Commit {
                    let records = offsets.into_iter().map(|(tp, (offset, at))| {
                        let record = GroupRecord::Offset {
                            group: key.0,
                            tp,
                            offset: committed(offset),
                        };
                        (at, record)
                    });
                    replayed.records.extend(records);
                }
            }
            continue;
        }
        let decoded = records::decode(values, batch.records.iter());
        if !batch.transactional || batch.producer_id == NO_PRODUCER_ID {
            replayed
                .records
                .extend(decoded.into_iter().map(|r| (position, r)));
            continue;
        }
        for record in decoded {
            if let GroupRecord::Offset { group, tp, offset } = record {
                replayed
                    .pending
                    .entry((group, batch.producer_id))
                    .or_default()
                    .insert(tp, (offset.offset, position));
            }
        }
    }
    replayed
}

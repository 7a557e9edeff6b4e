//! Taking over and giving up `__consumer_offsets` partitions: a coordinator that becomes leader
//! of one replays its log into groups (generation, members with their timeouts, subscriptions and
//! assignments, committed offsets; transactional offsets stay pending until their marker) and
//! serves them after a load delay that grows with the log; one that stops leading drops them and
//! fails what waits.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::records::{self, GroupRecord};
use super::{
    Action, Group, GroupCoordinator, GroupState, LOAD_MS_BASE, LOAD_MS_PER_THOUSAND_RECORDS,
    Member, Ownership, PendingOffset, PendingTxnOffsets, membership, txn_offsets,
};
use crate::protocol::KafkaError;
use crate::record::Record;
use crate::sim::{SimDuration, SimTime};

impl GroupCoordinator {
    /// The broker became leader of offsets partition `partition`, whose log holds `records`
    /// (none transactional): load its groups, ready after a delay that grows with the log.
    pub fn load<'a>(
        &mut self,
        now: SimTime,
        partition: u32,
        records: impl IntoIterator<Item = &'a Record>,
        out: &mut Vec<Action>,
    ) {
        let mut count = 0u64;
        let decoded = records::decode(
            &self.spec.values,
            records.into_iter().inspect(|_| count += 1),
        );
        let replayed = txn_offsets::Replayed {
            records: (1..).zip(decoded).collect(),
            pending: BTreeMap::new(),
            count,
        };
        self.install(now, partition, replayed, out);
    }

    /// As [`GroupCoordinator::load`], from the partition's batches: offsets of transactions
    /// without a marker yet are pending.
    pub fn load_batches<'a>(
        &mut self,
        now: SimTime,
        partition: u32,
        batches: impl IntoIterator<Item = &'a crate::record::RecordBatch>,
        out: &mut Vec<Action>,
    ) {
        let replayed = txn_offsets::replay_batches(&self.spec.values, batches);
        self.install(now, partition, replayed, out);
    }

    /// Starts serving `partition` with what its log replayed to.
    fn install(
        &mut self,
        now: SimTime,
        partition: u32,
        replayed: txn_offsets::Replayed,
        out: &mut Vec<Action>,
    ) {
        let count = replayed.count;
        let mut groups: BTreeMap<u32, Group> = BTreeMap::new();
        for (position, record) in replayed.records {
            self.replay(&mut groups, record, position, now);
        }
        for ((index, producer_id), offsets) in replayed.pending {
            let Some(name) = self.spec.groups.get(index as usize) else {
                continue;
            };
            // A group with only pending offsets is loaded empty, as Kafka loads it.
            groups
                .entry(index)
                .or_insert_with(|| Group::new(name.clone(), index));
            let offsets = offsets
                .into_iter()
                .map(|(tp, (offset, at))| {
                    let appended_at = Some(at);
                    (
                        tp,
                        PendingOffset {
                            offset,
                            appended_at,
                        },
                    )
                })
                .collect();
            let pending = PendingTxnOffsets { offsets };
            self.txn_offsets
                .insert((name.clone(), producer_id), pending);
        }
        let ms = LOAD_MS_BASE + count / 1_000 * LOAD_MS_PER_THOUSAND_RECORDS;
        let ready = now + SimDuration::from_millis(ms);
        if count > 0 {
            out.push(Action::Note(format!(
                "group coordinator loading __consumer_offsets-{partition}: {count} records, {} \
                 group(s)",
                groups.len()
            )));
        }
        self.loading
            .insert(partition, groups.into_values().collect());
        self.owned.insert(partition, Ownership::Loading(ready));
    }

    /// Applies one record read from the log, ending at `position`, to the groups being loaded.
    fn replay(
        &self,
        groups: &mut BTreeMap<u32, Group>,
        record: GroupRecord,
        position: u64,
        now: SimTime,
    ) {
        let index = match &record {
            GroupRecord::Offset { group, .. } | GroupRecord::Metadata { group, .. } => *group,
        };
        let Some(name) = self.spec.groups.get(index as usize) else {
            return;
        };
        let group = groups
            .entry(index)
            .or_insert_with(|| Group::new(name.clone(), index));
        match record {
            GroupRecord::Offset { tp, offset, .. } => group.commit_offset(tp, offset, position),
            GroupRecord::Metadata {
                generation,
                protocol,
                members,
                ..
            } => {
                group.generation = generation;
                group.protocol = protocol;
                group.leader = None;
                group.members.clear();
                for stored in members {
                    let Some(client) = self.spec.clients.get(stored.client as usize) else {
                        continue;
                    };
                    let member_id: Arc<str> = format!("{client}-{}", stored.number).into();
                    if stored.leader {
                        group.leader = Some(member_id.clone());
                    }
                    group.members.insert(
                        member_id.clone(),
                        loaded_member(member_id, client, stored, now),
                    );
                }
                group.state = if group.members.is_empty() {
                    GroupState::Empty
                } else {
                    GroupState::Stable
                };
            }
        }
    }

    /// The broker stopped leading `partition`: drop its groups, fail what waits.
    pub fn unload(&mut self, now: SimTime, partition: u32, out: &mut Vec<Action>) {
        if self.owned.remove(&partition).is_none() {
            return;
        }
        self.loading.remove(&partition);
        self.unload_txn_offsets(partition);
        let names: Vec<Arc<str>> = self
            .groups
            .keys()
            .filter(|g| self.partition_of(g) == partition)
            .cloned()
            .collect();
        for name in &names {
            if let Some(group) = self.groups.remove(name) {
                for member in group.members.values() {
                    if let Some(waiter) = member.awaiting_join {
                        membership::join_error(out, waiter, KafkaError::NotCoordinator);
                    }
                    if let Some(waiter) = member.awaiting_sync {
                        membership::sync_reply(out, waiter, Err(KafkaError::NotCoordinator));
                    }
                }
            }
        }
        let (failed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.partition == partition);
        self.pending = kept;
        for p in failed {
            self.fail_append(now, p.then, KafkaError::NotCoordinator, out);
        }
        if !names.is_empty() {
            out.push(Action::Note(format!(
                "group coordinator unloaded __consumer_offsets-{partition}: {names:?}"
            )));
        }
    }
}

/// A member restored from a group metadata record, with everything it had when stored; its
/// session starts when the load completes.
fn loaded_member(
    member_id: Arc<str>,
    client: &Arc<str>,
    stored: records::StoredMember,
    now: SimTime,
) -> Member {
    Member {
        member_id,
        client: stored.client,
        number: stored.number,
        group_instance_id: stored.is_static.then(|| client.clone()),
        session_timeout_ms: stored.session_timeout_ms,
        rebalance_timeout_ms: stored.rebalance_timeout_ms,
        protocols: stored.protocols,
        subscription: stored.subscription,
        awaiting_join: None,
        awaiting_sync: None,
        assignment: stored.assignment,
        session_deadline: now,
    }
}

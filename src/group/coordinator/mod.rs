//! The group coordinator (Kafka's classic `GroupCoordinator` with its `GroupMetadataManager`),
//! as a sans-I/O state machine that a broker runs for the `__consumer_offsets` partitions it
//! leads. A group lives on partition `java_abs(java_string_hash(group)) % partitions`.
//!
//! - `FindCoordinator` is answered by any broker from its metadata (see the broker's glue);
//!   everything else here: `JoinGroup`, `SyncGroup`, `Heartbeat`, `LeaveGroup`, `OffsetCommit`,
//!   `OffsetFetch`, with Kafka's states, generations and errors.
//! - Offset commits and group metadata are appended to the group's partition and take effect
//!   (and are answered) only once the high watermark passes them (`offsets.commit.required.acks`
//!   = -1); an append that cannot be made or times out (`offsets.commit.timeout.ms`) is answered
//!   `NOT_COORDINATOR` or `COORDINATOR_NOT_AVAILABLE`.
//! - When the broker becomes leader of a partition it loads the partition's groups and offsets
//!   from its log, answering `COORDINATOR_LOAD_IN_PROGRESS` meanwhile; when it stops leading it
//!   unloads them and answers `NOT_COORDINATOR`.
//!
//! - Members of a new generation that do not send SyncGroup within the rebalance timeout are
//!   removed and the group rebalances (Kafka's pending-sync expiration, 3.1+).
//! - A new dynamic member is first answered `MEMBER_ID_REQUIRED` with its member id (KIP-394);
//!   an id not joined with within the member's session timeout is forgotten.
//!
//! - A valid OffsetCommit of a member in Stable or PreparingRebalance counts as its heartbeat.
//! - Offsets sent with a transaction (`TxnOffsetCommit`) stay pending until the transaction's
//!   marker (see `txn_offsets`).
//!
//! Volatile: everything; the log is the durable copy (a loaded group is Stable with its stored
//! members, timeouts and assignments). Left out: offset expiration (`offsets.retention.minutes`),
//! group deletion and the KIP-848 protocol.

mod group;
mod loading;
mod membership;
pub mod records;
#[cfg(test)]
mod tests;
mod txn_offsets;
#[cfg(test)]
mod txn_offsets_tests;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use group::{Group, GroupState, Member, PendingMember, Waiter};
use records::{GroupRecord, RecordValues};
pub use txn_offsets::{PendingOffset, PendingTxnOffsets};

use crate::group::assignor::java;
use crate::protocol::consumer::CommittedOffset;
use crate::protocol::{ConsumerRequest, ConsumerResponse, KafkaError, TopicPartition};
use crate::record::Record;
use crate::sim::{NodeId, SimDuration, SimTime};

/// Kafka's `offsets.commit.timeout.ms`: how long an offset or group append may wait for the HW.
pub const OFFSETS_COMMIT_TIMEOUT_MS: u64 = 5_000;
/// How long loading a partition takes: a fixed part and a part per thousand records read.
pub const LOAD_MS_BASE: u64 = 5;
/// See [`LOAD_MS_BASE`].
pub const LOAD_MS_PER_THOUSAND_RECORDS: u64 = 1;

/// What every coordinator knows of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoordinatorSpec {
    /// Group names; a group's index names it in `__consumer_offsets` records.
    pub groups: Vec<Arc<str>>,
    /// Consumer instance names (client ids); an index names a member's client in records.
    pub clients: Vec<Arc<str>>,
    /// Partitions of `__consumer_offsets` (`offsets.topic.num.partitions`).
    pub offsets_partitions: u32,
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay_ms: u64,
    /// The values of `__consumer_offsets` records, shared by every broker's coordinator.
    pub values: RecordValues,
}

/// Kafka's `Utils.abs` as `partitionFor` uses it: `i32::MIN` maps to 0.
pub fn java_abs(i: i32) -> i32 {
    if i == i32::MIN { 0 } else { i.abs() }
}

/// The `__consumer_offsets` partition of `group` (Kafka's `partitionFor`).
pub fn partition_for(group: &str, partitions: u32) -> u32 {
    java_abs(java::string_hash(group)) as u32 % partitions.max(1)
}

/// What the coordinator asks its broker to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Answer a member.
    Reply {
        /// The member's node.
        to: NodeId,
        /// The answer.
        response: ConsumerResponse,
    },
    /// Append records to a `__consumer_offsets` partition as leader, then tell
    /// [`GroupCoordinator::append_started`] or [`GroupCoordinator::append_failed`].
    Append {
        /// The partition number.
        partition: u32,
        /// The records.
        records: Vec<Record>,
        /// What completes when they are replicated.
        then: AfterAppend,
    },
    /// Append records to a `__consumer_offsets` partition as leader in a transactional batch of
    /// `producer` (a `TxnOffsetCommit`), then as [`Action::Append`].
    AppendTransactional {
        /// The partition number.
        partition: u32,
        /// The transactional producer's id and epoch.
        producer: (i64, i16),
        /// The records.
        records: Vec<Record>,
        /// What completes when they are replicated.
        then: AfterAppend,
    },
    /// A line for the short log.
    Note(String),
}

/// What waits on an append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterAppend {
    /// An offset commit: apply the offsets and answer.
    Commit {
        /// The group.
        group: Arc<str>,
        /// The offsets.
        offsets: Vec<(TopicPartition, CommittedOffset)>,
        /// The committing member.
        to: Waiter,
    },
    /// The leader's assignment of `generation`: send everyone theirs.
    Sync {
        /// The group.
        group: Arc<str>,
        /// The generation assigned.
        generation: i32,
    },
    /// A transactional offset commit: its offsets wait for the marker; answer.
    TxnCommit {
        /// The group.
        group: Arc<str>,
        /// The transactional producer.
        producer_id: i64,
        /// The offsets appended.
        offsets: Vec<(TopicPartition, u64)>,
        /// The committing producer.
        to: Waiter,
    },
    /// Nothing waits (an emptied group's record).
    Nothing,
}

/// An append waiting for the high watermark.
#[derive(Clone, Debug)]
struct PendingAppend {
    partition: u32,
    required_offset: u64,
    deadline: SimTime,
    then: AfterAppend,
}

/// A `__consumer_offsets` partition this broker leads.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ownership {
    /// Reading the log; ready at the given time.
    Loading(SimTime),
    /// Serving its groups.
    Loaded,
}

/// The group coordinator of one broker.
#[derive(Clone, Debug)]
pub struct GroupCoordinator {
    spec: CoordinatorSpec,
    /// Offsets partitions led here, by partition number.
    owned: BTreeMap<u32, Ownership>,
    /// Groups of loaded partitions, by name.
    groups: BTreeMap<Arc<str>, Group>,
    /// Groups read from a partition being loaded, installed when loading ends.
    loading: BTreeMap<u32, Vec<Group>>,
    pending: Vec<PendingAppend>,
    /// Offsets of open transactions, by group and producer id.
    txn_offsets: txn_offsets::TxnOffsets,
    /// The last member id number given out (member ids stay unique across restarts because
    /// numbers start from the time).
    last_number: u32,
}

impl GroupCoordinator {
    /// A coordinator leading no partition.
    pub fn new(spec: CoordinatorSpec) -> GroupCoordinator {
        GroupCoordinator {
            spec,
            owned: BTreeMap::new(),
            groups: BTreeMap::new(),
            loading: BTreeMap::new(),
            pending: Vec::new(),
            txn_offsets: BTreeMap::new(),
            last_number: 0,
        }
    }

    /// The run's coordinator spec.
    pub fn spec(&self) -> &CoordinatorSpec {
        &self.spec
    }

    /// The group `name`, if loaded here.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(name)
    }

    /// Whether this coordinator has taken over offsets partition `partition` (loading or loaded).
    pub fn owns(&self, partition: u32) -> bool {
        self.owned.contains_key(&partition)
    }

    /// Whether this coordinator has loaded offsets partition `partition` and serves its groups.
    pub fn serves(&self, partition: u32) -> bool {
        self.owned.get(&partition) == Some(&Ownership::Loaded)
    }

    /// The partition of `group`.
    pub fn partition_of(&self, group: &str) -> u32 {
        partition_for(group, self.spec.offsets_partitions)
    }

    /// Handles a group request from `from`.
    pub fn handle(
        &mut self,
        now: SimTime,
        from: NodeId,
        request: ConsumerRequest,
        out: &mut Vec<Action>,
    ) {
        self.on_time(now, out);
        let Some(group) = request.group().cloned() else {
            return;
        };
        let waiter = Waiter {
            node: from,
            correlation: request.correlation(),
        };
        match self.owned.get(&self.partition_of(&group)) {
            None => return reply_error(out, waiter, &request, KafkaError::NotCoordinator),
            Some(Ownership::Loading(_)) => {
                return reply_error(out, waiter, &request, KafkaError::CoordinatorLoadInProgress);
            }
            Some(Ownership::Loaded) => {}
        }
        match request {
            ConsumerRequest::JoinGroup { .. } => self.join_group(now, waiter, request, out),
            ConsumerRequest::SyncGroup { .. } => self.sync_group(now, waiter, request, out),
            ConsumerRequest::Heartbeat { .. } => self.heartbeat(now, waiter, request, out),
            ConsumerRequest::LeaveGroup { .. } => self.leave_group(now, waiter, request, out),
            ConsumerRequest::OffsetCommit { .. } => self.offset_commit(now, waiter, request, out),
            ConsumerRequest::TxnOffsetCommit { .. } => self.txn_offset_commit(waiter, request, out),
            ConsumerRequest::OffsetFetch {
                correlation,
                partitions,
                require_stable,
                ..
            } => {
                if require_stable
                    && partitions
                        .iter()
                        .any(|tp| self.has_pending_txn_offsets(&group, *tp))
                {
                    let response = ConsumerResponse::OffsetFetch {
                        correlation,
                        result: Err(KafkaError::UnstableOffsetCommit),
                    };
                    out.push(Action::Reply { to: from, response });
                    return;
                }
                let offsets = self.groups.get(&group).map(|g| &g.offsets);
                let result = partitions
                    .iter()
                    .map(|tp| (*tp, offsets.and_then(|o| o.get(tp)).copied()))
                    .collect();
                let response = ConsumerResponse::OffsetFetch {
                    correlation,
                    result: Ok(result),
                };
                out.push(Action::Reply { to: from, response });
            }
            ConsumerRequest::FindCoordinator { .. } | ConsumerRequest::ListOffsets { .. } => {}
        }
    }

    /// `OffsetCommit`: validated against the member and generation, then appended; in Stable
    /// or PreparingRebalance a member's valid commit also counts as a heartbeat (Kafka's
    /// `doCommitOffsets` calls `completeAndScheduleNextHeartbeatExpiration`).
    fn offset_commit(
        &mut self,
        now: SimTime,
        waiter: Waiter,
        request: ConsumerRequest,
        out: &mut Vec<Action>,
    ) {
        let ConsumerRequest::OffsetCommit {
            ref group,
            generation,
            ref member_id,
            ref group_instance_id,
            ref offsets,
            ..
        } = request
        else {
            return;
        };
        let error = match self.groups.get(group) {
            // A group unknown here accepts only commits outside group management.
            None if generation < 0 && member_id.is_empty() => None,
            None => Some(KafkaError::IllegalGeneration),
            Some(g) if generation < 0 && member_id.is_empty() && g.state == GroupState::Empty => {
                None
            }
            Some(g) => match g.validate_member(member_id, group_instance_id.as_deref()) {
                Some(error) => Some(error),
                None if generation != g.generation => Some(KafkaError::IllegalGeneration),
                None if g.state == GroupState::CompletingRebalance => {
                    Some(KafkaError::RebalanceInProgress)
                }
                None => None,
            },
        };
        if let Some(error) = error {
            out.push(Action::Note(format!(
                "group {group}: OffsetCommit of {member_id} generation {generation} rejected: {error}"
            )));
            return reply_error(out, waiter, &request, error);
        }
        if let Some(g) = self.groups.get_mut(group)
            && matches!(g.state, GroupState::Stable | GroupState::PreparingRebalance)
            && let Some(m) = g.members.get_mut(member_id)
        {
            m.session_deadline = now + SimDuration::from_millis(m.session_timeout_ms);
        }
        let index = self.group_index(group);
        let records: Vec<GroupRecord> = offsets
            .iter()
            .map(|&(tp, offset)| GroupRecord::Offset {
                group: index,
                tp,
                offset,
            })
            .collect();
        out.push(Action::Append {
            partition: self.partition_of(group),
            records: records::encode(&self.spec.values, &records),
            then: AfterAppend::Commit {
                group: group.clone(),
                offsets: offsets.clone(),
                to: waiter,
            },
        });
    }

    fn group_index(&self, group: &str) -> u32 {
        self.spec
            .groups
            .iter()
            .position(|g| &**g == group)
            .unwrap_or(self.spec.groups.len()) as u32
    }

    /// The broker appended an [`Action::Append`]: it completes when the HW reaches
    /// `required_offset`.
    pub fn append_started(
        &mut self,
        now: SimTime,
        partition: u32,
        required_offset: u64,
        then: AfterAppend,
    ) {
        self.pending.push(PendingAppend {
            partition,
            required_offset,
            deadline: now + SimDuration::from_millis(OFFSETS_COMMIT_TIMEOUT_MS),
            then,
        });
    }

    /// The broker could not append (not leader, ISR too small): fail what waited on it.
    pub fn append_failed(
        &mut self,
        now: SimTime,
        then: AfterAppend,
        error: KafkaError,
        out: &mut Vec<Action>,
    ) {
        // Kafka's mapping of append errors for group requests.
        let error = match error {
            KafkaError::NotLeaderOrFollower => KafkaError::NotCoordinator,
            KafkaError::InvalidProducerEpoch => KafkaError::ProducerFenced,
            _ => KafkaError::CoordinatorNotAvailable,
        };
        self.fail_append(now, then, error, out);
    }

    fn fail_append(
        &mut self,
        now: SimTime,
        then: AfterAppend,
        error: KafkaError,
        out: &mut Vec<Action>,
    ) {
        match then {
            AfterAppend::Commit { to, group, .. } => {
                out.push(Action::Note(format!(
                    "group {group}: OffsetCommit failed: {error}"
                )));
                let response = ConsumerResponse::OffsetCommit {
                    correlation: to.correlation,
                    result: Err(error),
                };
                out.push(Action::Reply {
                    to: to.node,
                    response,
                });
            }
            AfterAppend::Sync { group, generation } => {
                self.sync_failed(now, &group, generation, error, out)
            }
            AfterAppend::TxnCommit {
                group,
                producer_id,
                offsets,
                to,
            } => self.txn_commit_failed(group, producer_id, &offsets, to, error, out),
            AfterAppend::Nothing => {}
        }
    }

    /// The high watermark of offsets partition `partition` moved to `hw`.
    pub fn on_high_watermark(
        &mut self,
        now: SimTime,
        partition: u32,
        hw: u64,
        out: &mut Vec<Action>,
    ) {
        let (done, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.partition == partition && p.required_offset <= hw);
        self.pending = kept;
        for p in done {
            match p.then {
                AfterAppend::Commit { group, offsets, to } => {
                    if let Some(g) = self.groups.get_mut(&group) {
                        for (tp, offset) in offsets {
                            g.commit_offset(tp, offset, p.required_offset);
                        }
                    }
                    let response = ConsumerResponse::OffsetCommit {
                        correlation: to.correlation,
                        result: Ok(()),
                    };
                    out.push(Action::Reply {
                        to: to.node,
                        response,
                    });
                }
                AfterAppend::Sync { group, generation } => {
                    self.sync_stored(now, &group, generation, out)
                }
                AfterAppend::TxnCommit {
                    group,
                    producer_id,
                    offsets,
                    to,
                } => {
                    let at = p.required_offset;
                    self.txn_commit_appended(group, producer_id, &offsets, at, to, out)
                }
                AfterAppend::Nothing => {}
            }
        }
    }

    /// Advances time: loads finish, appends time out, sessions expire, rebalances complete.
    pub fn on_time(&mut self, now: SimTime, out: &mut Vec<Action>) {
        let ready: Vec<u32> = self
            .owned
            .iter()
            .filter(|(_, o)| matches!(o, Ownership::Loading(at) if *at <= now))
            .map(|(p, _)| *p)
            .collect();
        for partition in ready {
            self.owned.insert(partition, Ownership::Loaded);
            for mut group in self.loading.remove(&partition).unwrap_or_default() {
                for member in group.members.values_mut() {
                    member.session_deadline =
                        now + SimDuration::from_millis(member.session_timeout_ms);
                }
                out.push(Action::Note(format!(
                    "group {} loaded: {} generation {}, {} member(s)",
                    group.name,
                    group.state.name(),
                    group.generation,
                    group.members.len()
                )));
                self.groups.insert(group.name.clone(), group);
            }
        }
        let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.deadline <= now);
        self.pending = kept;
        for p in expired {
            self.fail_append(now, p.then, KafkaError::CoordinatorNotAvailable, out);
        }
        self.expire_sessions(now, out);
        self.expire_pending_syncs(now, out);
        self.complete_due_joins(now, out);
    }

    /// The earliest time [`GroupCoordinator::on_time`] has something to do.
    pub fn next_deadline(&self) -> Option<SimTime> {
        let loads = self.owned.values().filter_map(|o| match o {
            Ownership::Loading(at) => Some(*at),
            Ownership::Loaded => None,
        });
        let appends = self.pending.iter().map(|p| p.deadline);
        let groups = self.groups.values().flat_map(|g| {
            let sessions = g
                .members
                .values()
                .filter(|m| !m.kept_alive())
                .map(|m| m.session_deadline);
            let pending = g.pending_members.values().map(|p| p.deadline);
            sessions
                .chain(pending)
                .chain(g.join_deadline)
                .chain(g.sync_deadline)
        });
        loads.chain(appends).chain(groups).min()
    }

    /// A fresh member id number: the time in ms, or one more than the last if that is later.
    fn next_number(&mut self, now: SimTime) -> u32 {
        let ms = u32::try_from(now.as_millis()).unwrap_or(u32::MAX);
        self.last_number = ms.max(self.last_number.saturating_add(1));
        self.last_number
    }
}

/// An error answer to `request` for `waiter`.
fn reply_error(
    out: &mut Vec<Action>,
    waiter: Waiter,
    request: &ConsumerRequest,
    error: KafkaError,
) {
    let mut response = request.error_response(error);
    set_correlation(&mut response, waiter.correlation);
    out.push(Action::Reply {
        to: waiter.node,
        response,
    });
}

fn set_correlation(response: &mut ConsumerResponse, value: u64) {
    match response {
        ConsumerResponse::FindCoordinator { correlation, .. }
        | ConsumerResponse::JoinGroup { correlation, .. }
        | ConsumerResponse::SyncGroup { correlation, .. }
        | ConsumerResponse::Heartbeat { correlation, .. }
        | ConsumerResponse::LeaveGroup { correlation, .. }
        | ConsumerResponse::OffsetCommit { correlation, .. }
        | ConsumerResponse::TxnOffsetCommit { correlation, .. }
        | ConsumerResponse::OffsetFetch { correlation, .. }
        | ConsumerResponse::ListOffsets { correlation, .. } => *correlation = value,
    }
}

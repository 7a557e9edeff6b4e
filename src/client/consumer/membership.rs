//! The consumer's side of the group protocol (Kafka's `AbstractCoordinator` and
//! `ConsumerCoordinator`): finding the coordinator, joining, the leader's assignment, syncing,
//! heartbeats, revocation (eager or cooperative), the poll timeout and offset commits.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{App, Consumer, ConsumerObs, Kind, MemberState, RETRY_BACKOFF_MS};
use crate::group::assignor::{self, Strategy};
use crate::node::{Msg, Node, Obs, millis};
use crate::protocol::consumer::{CommittedOffset, Joined, NO_GENERATION, Subscription};
use crate::protocol::{ConsumerRequest, KafkaError, TopicPartition};
use crate::scenario::CommitPolicy;
use crate::sim::Ctx;

/// Errors after which the coordinator must be looked up again.
fn coordinator_moved(error: KafkaError) -> bool {
    matches!(
        error,
        KafkaError::NotCoordinator
            | KafkaError::CoordinatorNotAvailable
            | KafkaError::RequestTimedOut
            | KafkaError::NetworkException
    )
}

impl Consumer {
    fn strategies(&self) -> Vec<Strategy> {
        self.spec
            .config
            .partition_assignment_strategy
            .iter()
            .filter_map(|s| Strategy::from_name(s.as_str()))
            .collect()
    }

    /// Whether the member rebalances cooperatively: every configured assignor is cooperative.
    pub(super) fn cooperative(&self) -> bool {
        let strategies = self.strategies();
        !strategies.is_empty() && strategies.iter().all(|s| *s == Strategy::CooperativeSticky)
    }

    fn instance_id(&self) -> Option<Arc<str>> {
        self.spec.static_membership.then(|| self.spec.name.clone())
    }

    /// Looks the coordinator up if it is unknown.
    pub(super) fn ensure_coordinator(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.coordinator.is_some()
            || ctx.now() < self.coordinator_retry_at
            || self.in_flight_kind(|k| *k == Kind::FindCoordinator)
        {
            return;
        }
        let correlation = self.correlation();
        let broker = (correlation % self.spec.brokers.len() as u64) as u32;
        let request = ConsumerRequest::FindCoordinator {
            correlation,
            group: self.spec.group.clone(),
        };
        self.send(
            ctx,
            broker,
            Msg::Consumer(Box::new(request)),
            Kind::FindCoordinator,
        );
    }

    /// Forgets the coordinator; a join or sync in flight is abandoned.
    pub(super) fn coordinator_unknown(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.coordinator.take().is_some() {
            ctx.observe(Obs::Note(format!(
                "group {}: coordinator unknown",
                self.spec.group
            )));
        }
        self.coordinator_retry_at = ctx.now() + millis(RETRY_BACKOFF_MS);
        if matches!(self.state, MemberState::Joining | MemberState::Syncing) {
            self.state = MemberState::Unjoined;
            self.rejoin_needed = true;
        }
    }

    /// Kafka's `onJoinPrepare` with auto-commit: commit the positions before revoking. Returns
    /// whether the application now waits for that commit.
    pub(super) fn commit_before_rebalance(&mut self, ctx: &mut Ctx<'_, Node>) -> bool {
        if self.spec.commit != CommitPolicy::Auto
            || self.generation == NO_GENERATION
            || self.state != MemberState::Stable
            || self.positions().is_empty()
        {
            return false;
        }
        self.app = App::Committing { then_process: None };
        self.commit(ctx, true);
        // The rejoin follows the commit whatever its outcome.
        self.state = MemberState::Unjoined;
        true
    }

    /// Sends JoinGroup, revoking first (everything when eager).
    pub(super) fn join(&mut self, ctx: &mut Ctx<'_, Node>) {
        let Some(coordinator) = self.coordinator.filter(|_| self.fatal.is_none()) else {
            return;
        };
        if !self.cooperative() && !self.assigned.is_empty() {
            let lost = self.generation == NO_GENERATION;
            self.previous = self.assigned.keys().copied().collect();
            self.revoke(ctx, self.previous.clone(), lost);
        }
        let owned: Vec<TopicPartition> = if self.cooperative() {
            self.assigned.keys().copied().collect()
        } else {
            self.previous.clone()
        };
        ctx.observe(Obs::Note(format!(
            "group {}: JoinGroup as {:?} (generation {}), owning {} partition(s)",
            self.spec.group,
            &*self.member_id,
            self.generation,
            owned.len()
        )));
        let correlation = self.correlation();
        let request = ConsumerRequest::JoinGroup {
            correlation,
            group: self.spec.group.clone(),
            member_id: self.member_id.clone(),
            group_instance_id: self.instance_id(),
            client_id: self.spec.name.clone(),
            session_timeout_ms: self.spec.config.session_timeout_ms,
            rebalance_timeout_ms: self.spec.config.max_poll_interval_ms,
            protocols: self.strategies(),
            subscription: Subscription {
                topics: self.spec.topics.clone(),
                owned_partitions: owned,
                generation: self.generation,
            },
        };
        self.state = MemberState::Joining;
        self.rejoin_needed = false;
        // A JoinGroup waits for the whole rebalance: its timeout is the rebalance timeout.
        self.send(
            ctx,
            coordinator,
            Msg::Consumer(Box::new(request)),
            Kind::Join,
        );
        if let Some(f) = self.in_flight.get_mut(&correlation) {
            f.deadline = ctx.now()
                + millis(
                    self.spec.config.max_poll_interval_ms + self.spec.config.request_timeout_ms,
                );
        }
    }

    /// Gives up partitions: their buffered records are dropped.
    fn revoke(&mut self, ctx: &mut Ctx<'_, Node>, partitions: Vec<TopicPartition>, lost: bool) {
        if partitions.is_empty() {
            return;
        }
        for tp in &partitions {
            self.assigned.remove(tp);
        }
        ctx.observe(Obs::Consumer(ConsumerObs::Revoked {
            group: self.spec.group.clone(),
            partitions: partitions.iter().map(|tp| self.names[tp].clone()).collect(),
            lost,
        }));
    }

    /// The generation is lost (an error fenced the member): partitions are lost, not revoked.
    fn reset_generation(&mut self, ctx: &mut Ctx<'_, Node>, reset_member_id: bool) {
        self.generation = NO_GENERATION;
        if reset_member_id {
            self.member_id = Arc::from("");
        }
        self.state = MemberState::Unjoined;
        self.rejoin_needed = true;
        let owned: Vec<TopicPartition> = self.assigned.keys().copied().collect();
        self.previous.clear();
        self.revoke(ctx, owned, true);
    }

    /// Handles an error that ends the member's generation or its coordinator.
    fn on_group_error(&mut self, ctx: &mut Ctx<'_, Node>, error: KafkaError) {
        match error {
            KafkaError::UnknownMemberId => self.reset_generation(ctx, true),
            KafkaError::IllegalGeneration => self.reset_generation(ctx, false),
            KafkaError::FencedInstanceId => {
                ctx.observe(Obs::Note(format!(
                    "group {}: fenced by a newer instance of {}: stopping",
                    self.spec.group, self.spec.name
                )));
                let owned: Vec<TopicPartition> = self.assigned.keys().copied().collect();
                self.revoke(ctx, owned, true);
                self.app = App::Failed;
            }
            KafkaError::RebalanceInProgress => self.rejoin_needed = true,
            e if coordinator_moved(e) || e == KafkaError::CoordinatorLoadInProgress => {
                if e != KafkaError::CoordinatorLoadInProgress {
                    self.coordinator_unknown(ctx);
                }
                if matches!(self.state, MemberState::Joining | MemberState::Syncing) {
                    self.state = MemberState::Unjoined;
                    self.rejoin_needed = true;
                }
            }
            _ => {}
        }
    }

    /// The JoinGroup answer: the leader assigns, everyone syncs; a new member told
    /// `MEMBER_ID_REQUIRED` joins again at once with the member id it was given.
    pub(super) fn on_joined(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        result: Result<Joined, KafkaError>,
        given_member_id: Arc<str>,
    ) {
        let joined = match result {
            Ok(joined) => joined,
            Err(KafkaError::MemberIdRequired) => {
                self.member_id = given_member_id;
                self.state = MemberState::Unjoined;
                self.rejoin_needed = true;
                return;
            }
            Err(KafkaError::InconsistentGroupProtocol) => {
                // Fatal in Kafka's client: the application gets the exception and stops.
                ctx.observe(Obs::Note(
                    "JoinGroup: INCONSISTENT_GROUP_PROTOCOL (no strategy in common with the \
                     group): the consumer stops"
                        .into(),
                ));
                self.state = MemberState::Unjoined;
                self.fatal = Some(KafkaError::InconsistentGroupProtocol);
                return;
            }
            Err(error) => {
                self.state = MemberState::Unjoined;
                self.rejoin_needed = true;
                return self.on_group_error(ctx, error);
            }
        };
        self.member_id = joined.member_id.clone();
        self.generation = joined.generation;
        self.protocol = Some(joined.protocol);
        let assignments = if joined.leader == joined.member_id && !joined.members.is_empty() {
            self.assign(ctx, &joined)
        } else {
            Vec::new()
        };
        let Some(coordinator) = self.coordinator else {
            self.state = MemberState::Unjoined;
            self.rejoin_needed = true;
            return;
        };
        let correlation = self.correlation();
        let request = ConsumerRequest::SyncGroup {
            correlation,
            group: self.spec.group.clone(),
            generation: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: self.instance_id(),
            assignments,
        };
        self.state = MemberState::Syncing;
        self.send(
            ctx,
            coordinator,
            Msg::Consumer(Box::new(request)),
            Kind::Sync,
        );
    }

    /// The leader runs the group's assignor over every member's subscription.
    fn assign(
        &self,
        ctx: &mut Ctx<'_, Node>,
        joined: &Joined,
    ) -> Vec<(Arc<str>, Vec<TopicPartition>)> {
        let name = |t: u32| self.spec.topic_names[t as usize].clone();
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        let members: Vec<assignor::Member> = joined
            .members
            .iter()
            .map(|m| {
                for &t in &m.subscription.topics {
                    counts.insert(name(t), self.spec.partitions[t as usize]);
                }
                assignor::Member {
                    member_id: m.member_id.to_string(),
                    group_instance_id: m.group_instance_id.as_deref().map(str::to_owned),
                    topics: m.subscription.topics.iter().map(|&t| name(t)).collect(),
                    owned_partitions: m
                        .subscription
                        .owned_partitions
                        .iter()
                        .map(|tp| assignor::TopicPartition::new(&name(tp.topic), tp.partition))
                        .collect(),
                    generation: m.subscription.generation,
                }
            })
            .collect();
        let index = |topic: &str| {
            self.spec
                .topic_names
                .iter()
                .position(|t| t == topic)
                .map(|t| t as u32)
        };
        match assignor::assign(joined.protocol, &counts, &members) {
            Ok(assignment) => assignment
                .into_iter()
                .map(|(member, tps)| {
                    let tps = tps
                        .iter()
                        .filter_map(|tp| {
                            index(&tp.topic).map(|topic| TopicPartition {
                                topic,
                                partition: tp.partition,
                            })
                        })
                        .collect();
                    (Arc::from(member), tps)
                })
                .collect(),
            Err(error) => {
                ctx.observe(Obs::Note(format!(
                    "group {}: the assignor failed: {error}",
                    self.spec.group
                )));
                Vec::new()
            }
        }
    }

    /// The SyncGroup answer: the member owns its partitions (cooperative: revokes what moved
    /// and rejoins).
    pub(super) fn on_synced(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        result: Result<Vec<TopicPartition>, KafkaError>,
    ) {
        let assignment = match result {
            Ok(assignment) => assignment,
            Err(error) => {
                self.state = MemberState::Unjoined;
                self.rejoin_needed = true;
                return self.on_group_error(ctx, error);
            }
        };
        self.state = MemberState::Stable;
        self.owned_generation = self.generation;
        self.heartbeat_at = ctx.now() + millis(self.spec.config.heartbeat_interval_ms);
        let revoked: Vec<TopicPartition> = self
            .assigned
            .keys()
            .filter(|tp| !assignment.contains(tp))
            .copied()
            .collect();
        if !revoked.is_empty() {
            self.revoke(ctx, revoked, false);
            // Cooperative: a follow-up rebalance gives the revoked partitions away.
            self.rejoin_needed = true;
        }
        for tp in &assignment {
            if self.names.contains_key(tp) {
                self.assigned.entry(*tp).or_default();
            }
        }
        self.previous.clear();
        ctx.observe(Obs::Consumer(ConsumerObs::Assigned {
            group: self.spec.group.clone(),
            member_id: self.member_id.clone(),
            generation: self.generation,
            partitions: self
                .assigned
                .keys()
                .map(|tp| self.names[tp].clone())
                .collect(),
        }));
    }

    /// Sends a heartbeat when one is due.
    pub(super) fn maybe_heartbeat(&mut self, ctx: &mut Ctx<'_, Node>) {
        let Some(coordinator) = self.coordinator else {
            return;
        };
        if self.state != MemberState::Stable
            || ctx.now() < self.heartbeat_at
            || self.in_flight_kind(|k| *k == Kind::Heartbeat)
        {
            return;
        }
        self.heartbeat_at = ctx.now() + millis(self.spec.config.heartbeat_interval_ms);
        let correlation = self.correlation();
        let request = ConsumerRequest::Heartbeat {
            correlation,
            group: self.spec.group.clone(),
            generation: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: self.instance_id(),
        };
        self.send(
            ctx,
            coordinator,
            Msg::Consumer(Box::new(request)),
            Kind::Heartbeat,
        );
    }

    pub(super) fn on_heartbeat(&mut self, ctx: &mut Ctx<'_, Node>, error: Option<KafkaError>) {
        if let Some(error) = error
            && self.state == MemberState::Stable
        {
            self.on_group_error(ctx, error);
        }
    }

    /// The application has not polled within `max.poll.interval.ms`: leave the group (the
    /// heartbeat thread's `maybeLeaveGroup`); the next poll rejoins as a new member.
    pub(super) fn check_poll_timeout(&mut self, ctx: &mut Ctx<'_, Node>) {
        let limit = millis(self.spec.config.max_poll_interval_ms);
        if self.app == App::Polling
            || self.generation == NO_GENERATION && self.member_id.is_empty()
            || ctx.now().saturating_since(self.last_poll) <= limit
        {
            return;
        }
        ctx.observe(Obs::Note(format!(
            "group {}: poll timeout (max.poll.interval.ms): {}",
            self.spec.group,
            if self.spec.static_membership {
                "a static member stays in the group until its session times out"
            } else {
                "leaving the group"
            }
        )));
        // Kafka ≥ 2.3 (`maybeLeaveGroup`): only a dynamic member sends LeaveGroup; a static one
        // keeps its place so that a slow poll does not rebalance the group.
        if let Some(coordinator) = self.coordinator.filter(|_| !self.spec.static_membership) {
            let correlation = self.correlation();
            let request = ConsumerRequest::LeaveGroup {
                correlation,
                group: self.spec.group.clone(),
                member_id: self.member_id.clone(),
            };
            self.send(
                ctx,
                coordinator,
                Msg::Consumer(Box::new(request)),
                Kind::Leave,
            );
        }
        let member_id = !self.spec.static_membership;
        self.reset_generation(ctx, member_id);
    }

    /// Positions of every assigned partition that has one, with the leader epoch of the record
    /// before each (Kafka's `allConsumed`; the epoch only from a KIP-320 client).
    fn positions(&self) -> Vec<(TopicPartition, CommittedOffset)> {
        let validate = self.spec.validate_positions;
        self.assigned
            .iter()
            .filter_map(|(tp, a)| {
                let offset = a.position?;
                let leader_epoch = a.position_epoch.filter(|_| validate);
                Some((
                    *tp,
                    CommittedOffset {
                        offset,
                        leader_epoch,
                    },
                ))
            })
            .collect()
    }

    /// Auto-commit: every `auto.commit.interval.ms`, asynchronously.
    pub(super) fn maybe_auto_commit(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.spec.commit != CommitPolicy::Auto || ctx.now() < self.next_auto_commit {
            return;
        }
        self.next_auto_commit = ctx.now() + millis(self.spec.config.auto_commit_interval_ms);
        if !self.in_flight_kind(|k| matches!(k, Kind::Commit { .. })) {
            self.commit(ctx, false);
        }
    }

    /// Commits the positions; `sync` makes the application wait for the answer.
    pub(super) fn commit(&mut self, ctx: &mut Ctx<'_, Node>, sync: bool) {
        let offsets = self.positions();
        let coordinator = match self.coordinator {
            Some(c) if !offsets.is_empty() && self.generation != NO_GENERATION => c,
            _ => {
                // Nothing to commit, or no generation (Kafka fails such a commit locally).
                if sync {
                    self.commit_done(ctx);
                }
                return;
            }
        };
        if self.state != MemberState::Stable {
            // Kafka's client commits only in a stable generation (`generationIfStable`): during
            // a (cooperative) rebalance the commit fails at once with RebalanceInProgressException.
            let kind = Kind::Commit {
                sync,
                offsets,
                generation: self.generation,
            };
            return self.on_committed(ctx, kind, Err(KafkaError::RebalanceInProgress));
        }
        let correlation = self.correlation();
        let request = ConsumerRequest::OffsetCommit {
            correlation,
            group: self.spec.group.clone(),
            generation: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: self.instance_id(),
            offsets: offsets.clone(),
        };
        let kind = Kind::Commit {
            sync,
            offsets,
            generation: self.generation,
        };
        self.send(ctx, coordinator, Msg::Consumer(Box::new(request)), kind);
    }

    /// A commit's answer (or its failure).
    pub(super) fn on_committed(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        kind: Kind,
        result: Result<(), KafkaError>,
    ) {
        let Kind::Commit {
            sync,
            offsets,
            generation,
        } = kind
        else {
            return;
        };
        ctx.observe(Obs::Consumer(ConsumerObs::Commit {
            group: self.spec.group.clone(),
            member_id: self.member_id.clone(),
            generation,
            offsets: offsets
                .iter()
                .map(|(tp, o)| (self.names[tp].clone(), o.offset))
                .collect(),
            result,
        }));
        if let Err(error) = result {
            let retriable =
                coordinator_moved(error) || error == KafkaError::CoordinatorLoadInProgress;
            if error != KafkaError::RebalanceInProgress || self.state == MemberState::Stable {
                self.on_group_error(ctx, error);
            }
            if sync && retriable && self.generation == generation {
                // commitSync retries retriable errors (until `default.api.timeout.ms`).
                self.app = App::Committing {
                    then_process: self.pending_processing(),
                };
                self.retry_commit = true;
                return;
            }
            if sync && let Some(records) = self.pending_processing() {
                // commitSync threw CommitFailedException before processing (at-most-once):
                // the application drops the poll's records.
                let count: usize = records.iter().map(|p| p.ids.len()).sum();
                ctx.observe(Obs::Note(format!(
                    "group {}: CommitFailedException ({error}): {count} polled records not \
                     processed",
                    self.spec.group
                )));
            }
        }
        if sync {
            self.commit_done(ctx);
        }
    }

    fn pending_processing(&mut self) -> Option<Vec<super::Polled>> {
        match &mut self.app {
            App::Committing { then_process } => then_process.take(),
            _ => None,
        }
    }

    /// `commitSync` returned: process the poll's records (before-processing) or poll again.
    fn commit_done(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.retry_commit = false;
        match std::mem::replace(&mut self.app, App::Polling) {
            App::Committing {
                then_process: Some(records),
            } => self.process(ctx, records),
            App::Committing { then_process: None } => {}
            other => self.app = other,
        }
    }
}

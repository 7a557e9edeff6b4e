//! The membership protocol of the group coordinator (Kafka's `GroupCoordinator.handleJoinGroup`,
//! `handleSyncGroup`, `handleHeartbeat`, `handleLeaveGroup`, the delayed join and the heartbeat
//! expiration): rebalances, generations, static members and the errors that fence stale ones.

use std::sync::Arc;

use super::group::{Group, GroupState, Member, PendingMember, Waiter};
use super::records::{self, GroupRecord, StoredMember};
use super::{Action, AfterAppend, CoordinatorSpec, GroupCoordinator};
use crate::protocol::consumer::Joined;
use crate::protocol::{ConsumerRequest, ConsumerResponse, KafkaError, TopicPartition};
use crate::sim::{SimDuration, SimTime};

/// Answers a JoinGroup with an error.
pub(super) fn join_error(out: &mut Vec<Action>, waiter: Waiter, error: KafkaError) {
    out.push(Action::Reply {
        to: waiter.node,
        response: ConsumerResponse::JoinGroup {
            correlation: waiter.correlation,
            member_id: Arc::from(""),
            result: Err(error),
        },
    });
}

/// Answers a SyncGroup.
pub(super) fn sync_reply(
    out: &mut Vec<Action>,
    waiter: Waiter,
    result: Result<Vec<TopicPartition>, KafkaError>,
) {
    out.push(Action::Reply {
        to: waiter.node,
        response: ConsumerResponse::SyncGroup {
            correlation: waiter.correlation,
            result,
        },
    });
}

fn simple_reply(
    out: &mut Vec<Action>,
    waiter: Waiter,
    request: &ConsumerRequest,
    error: Option<KafkaError>,
) {
    let response = match (request, error) {
        (ConsumerRequest::Heartbeat { .. }, error) => ConsumerResponse::Heartbeat {
            correlation: waiter.correlation,
            error,
        },
        (_, error) => ConsumerResponse::LeaveGroup {
            correlation: waiter.correlation,
            error,
        },
    };
    out.push(Action::Reply {
        to: waiter.node,
        response,
    });
}

fn millis(ms: u64) -> SimDuration {
    SimDuration::from_millis(ms)
}

impl GroupCoordinator {
    /// `JoinGroup`.
    pub(super) fn join_group(
        &mut self,
        now: SimTime,
        waiter: Waiter,
        request: ConsumerRequest,
        out: &mut Vec<Action>,
    ) {
        let ConsumerRequest::JoinGroup {
            group,
            member_id,
            group_instance_id,
            client_id,
            session_timeout_ms,
            rebalance_timeout_ms,
            protocols,
            subscription,
            ..
        } = request
        else {
            return;
        };
        if !self.groups.contains_key(&group) {
            if !member_id.is_empty() {
                return join_error(out, waiter, KafkaError::UnknownMemberId);
            }
            let index = self.group_index(&group);
            self.groups
                .insert(group.clone(), Group::new(group.clone(), index));
        }
        let client = self
            .spec
            .clients
            .iter()
            .position(|c| *c == client_id)
            .unwrap_or(u32::MAX as usize) as u32;
        if !self.groups[&group].supports(&protocols, &member_id) {
            return join_error(out, waiter, KafkaError::InconsistentGroupProtocol);
        }
        if member_id.is_empty() && group_instance_id.is_none() {
            let number = self.next_number(now);
            let pending = PendingMember {
                client,
                number,
                deadline: now + millis(session_timeout_ms),
            };
            let id: Arc<str> = format!("{client_id}-{number}").into();
            let g = self.groups.get_mut(&group).expect("created above");
            return require_member_id(g, waiter, id, pending, out);
        }
        let g = self.groups.get_mut(&group).expect("created above");
        let pending = g.pending_members.remove(&member_id);
        let number = match pending {
            Some(p) => p.number,
            None if member_id.is_empty() => self.next_number(now),
            None => 0,
        };
        let g = self.groups.get_mut(&group).expect("created above");
        let mut member = Member {
            member_id: member_id.clone(),
            client,
            number,
            group_instance_id: group_instance_id.clone(),
            session_timeout_ms,
            rebalance_timeout_ms,
            protocols,
            subscription,
            awaiting_join: Some(waiter),
            awaiting_sync: None,
            assignment: None,
            session_deadline: now + millis(session_timeout_ms),
        };
        if pending.is_some() {
            self.add_member(now, &group, member, out);
        } else if member_id.is_empty() {
            member.member_id = format!("{client_id}-{number}").into();
            let old = group_instance_id
                .as_deref()
                .and_then(|i| g.static_member(i))
                .cloned();
            match old {
                Some(old) => self.replace_static_member(now, &group, old, member, out),
                None => self.add_member(now, &group, member, out),
            }
        } else {
            self.rejoin_member(now, &group, member, out);
        }
        self.complete_due_joins(now, out);
    }

    fn add_member(
        &mut self,
        now: SimTime,
        group: &Arc<str>,
        member: Member,
        out: &mut Vec<Action>,
    ) {
        let delay_ms = self.spec.initial_rebalance_delay_ms;
        let g = self.groups.get_mut(group).expect("known group");
        out.push(Action::Note(format!(
            "group {group}: {} joins ({})",
            member.member_id,
            g.state.name()
        )));
        if g.leader.is_none() {
            g.leader = Some(member.member_id.clone());
        }
        g.members.insert(member.member_id.clone(), member);
        match g.state {
            GroupState::PreparingRebalance => {
                if let Some(until) = g.initial_delay_until {
                    // Kafka's InitialDelayedJoin: each new member extends the wait.
                    g.join_deadline = Some((now + millis(delay_ms)).min(until));
                }
            }
            _ => prepare_rebalance(g, now, delay_ms, "a new member joined", out),
        }
    }

    /// A static member rejoined with a new member id: it takes the old one's place; a stable
    /// group keeps its generation and assignment (no rebalance, KIP-345).
    fn replace_static_member(
        &mut self,
        now: SimTime,
        group: &Arc<str>,
        old_id: Arc<str>,
        mut member: Member,
        out: &mut Vec<Action>,
    ) {
        let delay_ms = self.spec.initial_rebalance_delay_ms;
        let g = self.groups.get_mut(group).expect("known group");
        let Some(old) = g.members.remove(&old_id) else {
            return;
        };
        if let Some(w) = old.awaiting_join {
            join_error(out, w, KafkaError::FencedInstanceId);
        }
        if let Some(w) = old.awaiting_sync {
            sync_reply(out, w, Err(KafkaError::FencedInstanceId));
        }
        if g.leader.as_ref() == Some(&old_id) {
            g.leader = Some(member.member_id.clone());
        }
        out.push(Action::Note(format!(
            "group {group}: static member {} replaces {old_id} ({})",
            member.member_id,
            g.state.name()
        )));
        member.assignment = old.assignment;
        let id = member.member_id.clone();
        if g.pending_sync.remove(&old_id) {
            g.pending_sync.insert(id.clone());
        }
        if g.state == GroupState::Stable {
            let waiter = member.awaiting_join.take().expect("joining");
            g.members.insert(id.clone(), member);
            let joined = Joined {
                generation: g.generation,
                protocol: g
                    .protocol
                    .unwrap_or(crate::group::assignor::Strategy::Range),
                leader: g.leader.clone().unwrap_or_else(|| id.clone()),
                member_id: id,
                members: Vec::new(),
            };
            reply_joined(out, waiter, joined);
            let append = store_group(g, &self.spec, AfterAppend::Nothing);
            out.push(append);
            return;
        }
        g.members.insert(id, member);
        if g.state != GroupState::PreparingRebalance {
            prepare_rebalance(g, now, delay_ms, "a static member rejoined", out);
        }
    }

    /// A known member joins again.
    fn rejoin_member(
        &mut self,
        now: SimTime,
        group: &Arc<str>,
        member: Member,
        out: &mut Vec<Action>,
    ) {
        let delay_ms = self.spec.initial_rebalance_delay_ms;
        let g = self.groups.get_mut(group).expect("known group");
        let waiter = member.awaiting_join.expect("joining");
        if let Some(error) =
            g.validate_member(&member.member_id, member.group_instance_id.as_deref())
        {
            return join_error(out, waiter, error);
        }
        let known = g.members.get_mut(&member.member_id).expect("validated");
        let changed =
            known.subscription != member.subscription || known.protocols != member.protocols;
        known.subscription = member.subscription;
        known.protocols = member.protocols;
        known.session_timeout_ms = member.session_timeout_ms;
        known.rebalance_timeout_ms = member.rebalance_timeout_ms;
        known.session_deadline = member.session_deadline;
        let is_leader = g.leader.as_ref() == Some(&member.member_id);
        match g.state {
            GroupState::Empty | GroupState::Dead => {
                join_error(out, waiter, KafkaError::UnknownMemberId)
            }
            GroupState::PreparingRebalance => known.awaiting_join = Some(waiter),
            GroupState::CompletingRebalance | GroupState::Stable
                if !(changed || is_leader && g.state == GroupState::Stable) =>
            {
                // The same metadata again (a lost answer): the current generation stands.
                let joined = Joined {
                    generation: g.generation,
                    protocol: g
                        .protocol
                        .unwrap_or(crate::group::assignor::Strategy::Range),
                    leader: g.leader.clone().unwrap_or_else(|| member.member_id.clone()),
                    member_id: member.member_id.clone(),
                    members: if is_leader {
                        g.joined_members()
                    } else {
                        Vec::new()
                    },
                };
                reply_joined(out, waiter, joined);
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                known.awaiting_join = Some(waiter);
                let why = if changed {
                    "a member's subscription changed"
                } else {
                    "the leader rejoined"
                };
                prepare_rebalance(g, now, delay_ms, why, out);
            }
        }
    }

    /// `SyncGroup`.
    pub(super) fn sync_group(
        &mut self,
        now: SimTime,
        waiter: Waiter,
        request: ConsumerRequest,
        out: &mut Vec<Action>,
    ) {
        let ConsumerRequest::SyncGroup {
            group,
            generation,
            member_id,
            group_instance_id,
            assignments,
            ..
        } = request
        else {
            return;
        };
        let delay_ms = self.spec.initial_rebalance_delay_ms;
        let spec = &self.spec;
        let Some(g) = self.groups.get_mut(&group) else {
            return sync_reply(out, waiter, Err(KafkaError::UnknownMemberId));
        };
        let error = match g.validate_member(&member_id, group_instance_id.as_deref()) {
            Some(error) => Some(error),
            None if generation != g.generation => Some(KafkaError::IllegalGeneration),
            None => match g.state {
                GroupState::Empty | GroupState::Dead => Some(KafkaError::UnknownMemberId),
                GroupState::PreparingRebalance => Some(KafkaError::RebalanceInProgress),
                _ => None,
            },
        };
        if let Some(error) = error {
            return sync_reply(out, waiter, Err(error));
        }
        let is_leader = g.leader.as_ref() == Some(&member_id);
        g.pending_sync.remove(&member_id);
        let member = g.members.get_mut(&member_id).expect("checked");
        member.session_deadline = now + millis(member.session_timeout_ms);
        if g.state == GroupState::Stable {
            match member.assignment.clone() {
                Some(assignment) => sync_reply(out, waiter, Ok(assignment)),
                None => {
                    // No stored assignment to give (defensive: every stored generation has one).
                    sync_reply(out, waiter, Err(KafkaError::RebalanceInProgress));
                    prepare_rebalance(g, now, delay_ms, "an assignment is unknown", out);
                }
            }
            return;
        }
        member.awaiting_sync = Some(waiter);
        if is_leader {
            for m in g.members.values_mut() {
                let assigned = assignments
                    .iter()
                    .find(|(id, _)| *id == m.member_id)
                    .map(|(_, tps)| tps.clone())
                    .unwrap_or_default();
                m.assignment = Some(assigned);
            }
            let then = AfterAppend::Sync {
                group: group.clone(),
                generation,
            };
            out.push(store_group(g, spec, then));
        }
    }

    /// The leader's assignment is replicated: the group is stable.
    pub(super) fn sync_stored(
        &mut self,
        _now: SimTime,
        group: &str,
        generation: i32,
        out: &mut Vec<Action>,
    ) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        if g.generation != generation || g.state != GroupState::CompletingRebalance {
            return;
        }
        g.state = GroupState::Stable;
        out.push(Action::Note(format!(
            "group {group}: Stable generation {generation}"
        )));
        for m in g.members.values_mut() {
            if let Some(w) = m.awaiting_sync.take() {
                sync_reply(out, w, Ok(m.assignment.clone().unwrap_or_default()));
            }
        }
    }

    /// The leader's assignment could not be stored: rebalance again.
    pub(super) fn sync_failed(
        &mut self,
        now: SimTime,
        group: &str,
        generation: i32,
        error: KafkaError,
        out: &mut Vec<Action>,
    ) {
        let delay_ms = self.spec.initial_rebalance_delay_ms;
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        if g.generation != generation || g.state != GroupState::CompletingRebalance {
            return;
        }
        for m in g.members.values_mut() {
            m.assignment = None;
            if let Some(w) = m.awaiting_sync.take() {
                sync_reply(out, w, Err(error));
            }
        }
        prepare_rebalance(g, now, delay_ms, "storing the assignment failed", out);
    }

    /// `Heartbeat`.
    pub(super) fn heartbeat(
        &mut self,
        now: SimTime,
        waiter: Waiter,
        request: ConsumerRequest,
        out: &mut Vec<Action>,
    ) {
        let ConsumerRequest::Heartbeat {
            ref group,
            generation,
            ref member_id,
            ref group_instance_id,
            ..
        } = request
        else {
            return;
        };
        let error = match self.groups.get_mut(group) {
            None => Some(KafkaError::UnknownMemberId),
            Some(g) => {
                let (state, current) = (g.state, g.generation);
                match g.validate_member(member_id, group_instance_id.as_deref()) {
                    Some(error) => Some(error),
                    None if matches!(state, GroupState::Empty | GroupState::Dead) => {
                        Some(KafkaError::UnknownMemberId)
                    }
                    None if generation != current => Some(KafkaError::IllegalGeneration),
                    None => {
                        let m = g.members.get_mut(member_id).expect("validated");
                        m.session_deadline = now + millis(m.session_timeout_ms);
                        (state == GroupState::PreparingRebalance)
                            .then_some(KafkaError::RebalanceInProgress)
                    }
                }
            }
        };
        simple_reply(out, waiter, &request, error);
    }

    /// `LeaveGroup`.
    pub(super) fn leave_group(
        &mut self,
        now: SimTime,
        waiter: Waiter,
        request: ConsumerRequest,
        out: &mut Vec<Action>,
    ) {
        let ConsumerRequest::LeaveGroup {
            ref group,
            ref member_id,
            ..
        } = request
        else {
            return;
        };
        let known = self
            .groups
            .get(group)
            .is_some_and(|g| g.members.contains_key(member_id));
        if !known {
            return simple_reply(out, waiter, &request, Some(KafkaError::UnknownMemberId));
        }
        self.remove_member(now, group, member_id, "left the group", out);
        simple_reply(out, waiter, &request, None);
        self.complete_due_joins(now, out);
    }

    /// Removes a member; a stable or completing group rebalances.
    fn remove_member(
        &mut self,
        now: SimTime,
        group: &str,
        member_id: &str,
        why: &str,
        out: &mut Vec<Action>,
    ) {
        let delay_ms = self.spec.initial_rebalance_delay_ms;
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        let Some(removed) = g.members.remove(member_id) else {
            return;
        };
        g.pending_sync.remove(member_id);
        out.push(Action::Note(format!("group {group}: {member_id} {why}")));
        if let Some(w) = removed.awaiting_join {
            join_error(out, w, KafkaError::UnknownMemberId);
        }
        if let Some(w) = removed.awaiting_sync {
            sync_reply(out, w, Err(KafkaError::UnknownMemberId));
        }
        if g.leader.as_deref() == Some(member_id) {
            g.leader = g.members.keys().next().cloned();
        }
        if matches!(
            g.state,
            GroupState::Stable | GroupState::CompletingRebalance
        ) {
            prepare_rebalance(g, now, delay_ms, why, out);
        }
    }

    /// Members whose session ran out are removed.
    pub(super) fn expire_sessions(&mut self, now: SimTime, out: &mut Vec<Action>) {
        let expired: Vec<(Arc<str>, Arc<str>)> = self
            .groups
            .values()
            .flat_map(|g| {
                g.members
                    .values()
                    .filter(|m| !m.kept_alive() && m.session_deadline <= now)
                    .map(|m| (g.name.clone(), m.member_id.clone()))
            })
            .collect();
        for (group, member) in expired {
            self.remove_member(now, &group, &member, "expired (session.timeout.ms)", out);
        }
        for g in self.groups.values_mut() {
            let name = &g.name;
            g.pending_members.retain(|id, p| {
                let keep = p.deadline > now;
                if !keep {
                    out.push(Action::Note(format!(
                        "group {name}: pending member {id} expired: it never joined with its id"
                    )));
                }
                keep
            });
        }
    }

    /// Members that never sent SyncGroup for their generation within the rebalance timeout are
    /// removed and the group rebalances (Kafka's `onExpirePendingSync`).
    pub(super) fn expire_pending_syncs(&mut self, now: SimTime, out: &mut Vec<Action>) {
        let delay_ms = self.spec.initial_rebalance_delay_ms;
        for g in self.groups.values_mut() {
            if g.sync_deadline.is_none_or(|d| d > now) {
                continue;
            }
            g.sync_deadline = None;
            let mut stale = std::mem::take(&mut g.pending_sync);
            stale.retain(|id| g.members.contains_key(id));
            if stale.is_empty()
                || !matches!(
                    g.state,
                    GroupState::CompletingRebalance | GroupState::Stable
                )
            {
                continue;
            }
            for id in &stale {
                g.members.remove(id);
                out.push(Action::Note(format!(
                    "group {}: {id} removed: no SyncGroup within the rebalance timeout",
                    g.name
                )));
            }
            if g.leader.as_ref().is_some_and(|l| stale.contains(l)) {
                g.leader = g.members.keys().next().cloned();
            }
            prepare_rebalance(g, now, delay_ms, "members did not sync", out);
        }
    }

    /// Completes every rebalance whose members all rejoined or whose timeout passed.
    pub(super) fn complete_due_joins(&mut self, now: SimTime, out: &mut Vec<Action>) {
        let spec = &self.spec;
        for g in self.groups.values_mut() {
            if g.state != GroupState::PreparingRebalance {
                continue;
            }
            let timed_out = g.join_deadline.is_some_and(|d| d <= now);
            let early = g.initial_delay_until.is_none() && !g.members.is_empty() && g.all_joined();
            if (timed_out || early || g.members.is_empty())
                && let Some(append) = complete_join(g, now, spec, out)
            {
                out.push(append);
            }
        }
    }
}

/// KIP-394: a new dynamic member gets its member id with `MEMBER_ID_REQUIRED` and must join
/// again with it within its session timeout.
fn require_member_id(
    g: &mut Group,
    waiter: Waiter,
    member_id: Arc<str>,
    pending: PendingMember,
    out: &mut Vec<Action>,
) {
    out.push(Action::Note(format!(
        "group {}: {member_id} must join again with its member id (MEMBER_ID_REQUIRED)",
        g.name
    )));
    g.pending_members.insert(member_id.clone(), pending);
    out.push(Action::Reply {
        to: waiter.node,
        response: ConsumerResponse::JoinGroup {
            correlation: waiter.correlation,
            member_id,
            result: Err(KafkaError::MemberIdRequired),
        },
    });
}

/// Kafka's `prepareRebalance`: pending syncs fail, the group waits for members to rejoin.
fn prepare_rebalance(
    g: &mut Group,
    now: SimTime,
    initial_delay_ms: u64,
    why: &str,
    out: &mut Vec<Action>,
) {
    if g.state == GroupState::CompletingRebalance {
        for m in g.members.values_mut() {
            m.assignment = None;
            if let Some(w) = m.awaiting_sync.take() {
                sync_reply(out, w, Err(KafkaError::RebalanceInProgress));
            }
        }
    }
    g.pending_sync.clear();
    g.sync_deadline = None;
    let timeout = millis(g.rebalance_timeout_ms());
    if g.state == GroupState::Empty {
        g.initial_delay_until = Some(now + timeout);
        g.join_deadline = Some((now + millis(initial_delay_ms)).min(now + timeout));
    } else {
        g.initial_delay_until = None;
        g.join_deadline = Some(now + timeout);
    }
    out.push(Action::Note(format!(
        "group {}: PreparingRebalance from {} generation {} ({why})",
        g.name,
        g.state.name(),
        g.generation
    )));
    g.state = GroupState::PreparingRebalance;
}

/// Kafka's `onCompleteJoin`: dynamic members that did not rejoin are removed, the generation is
/// bumped and every waiting JoinGroup is answered (the leader with the member list).
fn complete_join(
    g: &mut Group,
    now: SimTime,
    spec: &CoordinatorSpec,
    out: &mut Vec<Action>,
) -> Option<Action> {
    let gone: Vec<Arc<str>> = g
        .members
        .values()
        .filter(|m| m.awaiting_join.is_none() && m.group_instance_id.is_none())
        .map(|m| m.member_id.clone())
        .collect();
    for id in gone {
        g.members.remove(&id);
        out.push(Action::Note(format!(
            "group {}: {id} removed: did not rejoin within the rebalance timeout",
            g.name
        )));
    }
    if g.leader
        .as_ref()
        .is_none_or(|l| g.members.get(l).is_none_or(|m| m.awaiting_join.is_none()))
    {
        g.leader = g
            .members
            .values()
            .find(|m| m.awaiting_join.is_some())
            .map(|m| m.member_id.clone());
    }
    g.generation += 1;
    g.join_deadline = None;
    g.initial_delay_until = None;
    if g.members.is_empty() || g.leader.is_none() {
        g.state = GroupState::Empty;
        g.protocol = None;
        g.leader = None;
        out.push(Action::Note(format!(
            "group {}: Empty generation {}",
            g.name, g.generation
        )));
        return Some(store_group(g, spec, AfterAppend::Nothing));
    }
    g.protocol = g.select_protocol();
    g.state = GroupState::CompletingRebalance;
    g.pending_sync = g.members.keys().cloned().collect();
    g.sync_deadline = Some(now + millis(g.rebalance_timeout_ms()));
    let leader = g.leader.clone().expect("checked");
    let members_list = g.joined_members();
    let ids: Vec<&str> = g.members.keys().map(|k| &**k).collect();
    out.push(Action::Note(format!(
        "group {}: CompletingRebalance generation {} ({}) members {ids:?} leader {leader}",
        g.name,
        g.generation,
        g.protocol.map_or("none", |p| p.name()),
    )));
    let (generation, protocol) = (g.generation, g.protocol.expect("members agree on one"));
    for m in g.members.values_mut() {
        if let Some(w) = m.awaiting_join.take() {
            m.session_deadline = now + millis(m.session_timeout_ms);
            let joined = Joined {
                generation,
                protocol,
                leader: leader.clone(),
                member_id: m.member_id.clone(),
                members: if m.member_id == leader {
                    members_list.clone()
                } else {
                    Vec::new()
                },
            };
            reply_joined(out, w, joined);
        }
    }
    None
}

fn reply_joined(out: &mut Vec<Action>, waiter: Waiter, joined: Joined) {
    out.push(Action::Reply {
        to: waiter.node,
        response: ConsumerResponse::JoinGroup {
            correlation: waiter.correlation,
            member_id: Arc::from(""),
            result: Ok(joined),
        },
    });
}

/// The group metadata record of `g`, as an append.
fn store_group(g: &Group, spec: &CoordinatorSpec, then: AfterAppend) -> Action {
    let members = g
        .members
        .values()
        .map(|m| StoredMember {
            client: m.client,
            number: m.number,
            leader: g.leader.as_ref() == Some(&m.member_id),
            is_static: m.group_instance_id.is_some(),
            session_timeout_ms: m.session_timeout_ms,
            rebalance_timeout_ms: m.rebalance_timeout_ms,
            protocols: m.protocols.clone(),
            subscription: m.subscription.clone(),
            assignment: m.assignment.clone(),
        })
        .collect();
    let record = GroupRecord::Metadata {
        group: g.index,
        generation: g.generation,
        protocol: g.protocol,
        members,
    };
    Action::Append {
        partition: super::partition_for(&g.name, spec.offsets_partitions),
        records: records::encode(&spec.values, &[record]),
        then,
    }
}

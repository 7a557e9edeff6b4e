//! The coordinator state machine, request by request: joins and generations, syncs, heartbeats,
//! leaves, session and rebalance timeouts, static members, offset commits and loading.

use std::sync::Arc;

use super::*;
use crate::group::assignor::Strategy;
use crate::protocol::consumer::{Joined, Subscription};

pub(super) const GROUP: &str = "g1";
const DELAY_MS: u64 = 100;
/// The leader epoch the harness's offset commits carry.
const COMMITTED_LEADER_EPOCH: u32 = 3;

/// A coordinator leading the group's partition, and the partition's log as a list of records.
pub(super) struct Harness {
    pub(super) c: GroupCoordinator,
    now: SimTime,
    log: Vec<Record>,
    correlation: u64,
    pub(super) replies: Vec<(NodeId, ConsumerResponse)>,
    notes: Vec<String>,
}

pub(super) fn tp(partition: u32) -> TopicPartition {
    TopicPartition {
        topic: 0,
        partition,
    }
}

impl Harness {
    pub(super) fn new() -> Harness {
        Harness::with_log(Vec::new(), RecordValues::default())
    }

    /// A coordinator loading `log`, whose record values are in `values`.
    fn with_log(log: Vec<Record>, values: RecordValues) -> Harness {
        let spec = CoordinatorSpec {
            groups: vec![Arc::from(GROUP)],
            clients: (0..3).map(|i| Arc::from(format!("c-{i}"))).collect(),
            offsets_partitions: 50,
            initial_rebalance_delay_ms: DELAY_MS,
            values,
        };
        let mut h = Harness {
            c: GroupCoordinator::new(spec),
            now: SimTime::ZERO,
            log,
            correlation: 0,
            replies: Vec::new(),
            notes: Vec::new(),
        };
        let mut out = Vec::new();
        let log = h.log.clone();
        h.c.load(h.now, h.c.partition_of(GROUP), log.iter(), &mut out);
        h.apply(out);
        h.advance(LOAD_MS_BASE + 1);
        h
    }

    /// Applies actions as a broker would: appends land in the log and replicate at once.
    fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Reply { to, response } => self.replies.push((to, response)),
                Action::Note(text) => self.notes.push(text),
                Action::Append {
                    partition,
                    records,
                    then,
                }
                | Action::AppendTransactional {
                    partition,
                    records,
                    then,
                    ..
                } => {
                    self.log.extend(records);
                    let end = self.log.len() as u64;
                    self.c.append_started(self.now, partition, end, then);
                    let mut out = Vec::new();
                    self.c.on_high_watermark(self.now, partition, end, &mut out);
                    self.apply(out);
                }
            }
        }
    }

    /// The harness's time.
    pub(super) fn now(&self) -> SimTime {
        self.now
    }

    pub(super) fn advance(&mut self, ms: u64) {
        self.now += SimDuration::from_millis(ms);
        let mut out = Vec::new();
        self.c.on_time(self.now, &mut out);
        self.apply(out);
    }

    pub(super) fn send(&mut self, node: usize, request: ConsumerRequest) {
        let mut out = Vec::new();
        self.c
            .handle(self.now, NodeId::from_index(node), request, &mut out);
        self.apply(out);
    }

    pub(super) fn next(&mut self) -> u64 {
        self.correlation += 1;
        self.correlation
    }

    /// A JoinGroup as Kafka's client sends it: a new dynamic member answered
    /// `MEMBER_ID_REQUIRED` joins again with the member id it was given.
    fn join(&mut self, node: usize, member_id: &str, instance: Option<&str>) {
        self.join_once(node, member_id, instance);
        if let Some(given) = self.member_id_required(node) {
            self.join_once(node, &given, instance);
        }
    }

    /// The member id of a `MEMBER_ID_REQUIRED` answer to `node`, if there is one (forgotten).
    fn member_id_required(&mut self, node: usize) -> Option<String> {
        let at = self.replies.iter().position(|(to, r)| {
            to.index() == node
                && matches!(
                    r,
                    ConsumerResponse::JoinGroup {
                        result: Err(KafkaError::MemberIdRequired),
                        ..
                    }
                )
        })?;
        match self.replies.remove(at).1 {
            ConsumerResponse::JoinGroup { member_id, .. } => Some(member_id.to_string()),
            _ => unreachable!("matched above"),
        }
    }

    /// One JoinGroup request.
    fn join_once(&mut self, node: usize, member_id: &str, instance: Option<&str>) {
        let correlation = self.next();
        self.send(
            node,
            ConsumerRequest::JoinGroup {
                correlation,
                group: GROUP.into(),
                member_id: member_id.into(),
                group_instance_id: instance.map(Arc::from),
                client_id: format!("c-{node}").into(),
                session_timeout_ms: 1_000,
                rebalance_timeout_ms: 2_000,
                protocols: vec![Strategy::Range],
                subscription: Subscription {
                    topics: vec![0],
                    owned_partitions: Vec::new(),
                    generation: -1,
                },
            },
        );
    }

    fn sync(&mut self, node: usize, member_id: &str, generation: i32, assignments: &[(&str, u32)]) {
        let correlation = self.next();
        let assignments = assignments
            .iter()
            .map(|(m, p)| (Arc::from(*m), vec![tp(*p)]))
            .collect();
        self.send(
            node,
            ConsumerRequest::SyncGroup {
                correlation,
                group: GROUP.into(),
                generation,
                member_id: member_id.into(),
                group_instance_id: None,
                assignments,
            },
        );
    }

    fn heartbeat(&mut self, node: usize, member_id: &str, generation: i32) -> Option<KafkaError> {
        self.heartbeat_as(node, member_id, generation, None)
    }

    /// A heartbeat carrying `group.instance.id` `instance`.
    fn heartbeat_as(
        &mut self,
        node: usize,
        member_id: &str,
        generation: i32,
        instance: Option<&str>,
    ) -> Option<KafkaError> {
        let correlation = self.next();
        self.send(
            node,
            ConsumerRequest::Heartbeat {
                correlation,
                group: GROUP.into(),
                generation,
                member_id: member_id.into(),
                group_instance_id: instance.map(Arc::from),
            },
        );
        match self.replies.pop() {
            Some((_, ConsumerResponse::Heartbeat { error, .. })) => error,
            other => panic!("expected a heartbeat answer, got {other:?}"),
        }
    }

    pub(super) fn commit(
        &mut self,
        member_id: &str,
        generation: i32,
        offset: u64,
    ) -> Result<(), KafkaError> {
        self.commit_as(member_id, generation, None, offset)
    }

    /// An offset commit carrying `group.instance.id` `instance`.
    fn commit_as(
        &mut self,
        member_id: &str,
        generation: i32,
        instance: Option<&str>,
        offset: u64,
    ) -> Result<(), KafkaError> {
        let correlation = self.next();
        self.send(
            0,
            ConsumerRequest::OffsetCommit {
                correlation,
                group: GROUP.into(),
                generation,
                member_id: member_id.into(),
                group_instance_id: instance.map(Arc::from),
                offsets: vec![(
                    tp(0),
                    CommittedOffset {
                        offset,
                        leader_epoch: Some(COMMITTED_LEADER_EPOCH),
                    },
                )],
            },
        );
        match self.replies.pop() {
            Some((_, ConsumerResponse::OffsetCommit { result, .. })) => result,
            other => panic!("expected a commit answer, got {other:?}"),
        }
    }

    /// The JoinGroup answers received by `node`, oldest first (and forgets them).
    fn joined(&mut self, node: usize) -> Vec<Result<Joined, KafkaError>> {
        let mut found = Vec::new();
        self.replies.retain(|(to, r)| match r {
            ConsumerResponse::JoinGroup { result, .. } if to.index() == node => {
                found.push(result.clone());
                false
            }
            _ => true,
        });
        found
    }

    fn synced(&mut self, node: usize) -> Vec<Result<Vec<TopicPartition>, KafkaError>> {
        let mut found = Vec::new();
        self.replies.retain(|(to, r)| match r {
            ConsumerResponse::SyncGroup { result, .. } if to.index() == node => {
                found.push(result.clone());
                false
            }
            _ => true,
        });
        found
    }

    fn state(&self) -> (GroupState, i32, usize) {
        let g = self.c.group(GROUP).expect("group loaded");
        (g.state, g.generation, g.members.len())
    }

    /// Two members join and sync: (leader id, follower id), generation 1, stable.
    pub(super) fn stable_pair(&mut self) -> (String, String) {
        self.join(0, "", None);
        self.advance(10);
        self.join(1, "", None);
        self.advance(DELAY_MS);
        let a = self.joined(0).pop().unwrap().unwrap();
        let b = self.joined(1).pop().unwrap().unwrap();
        assert_eq!(a.leader, a.member_id, "the first member leads");
        assert_eq!(a.members.len(), 2, "the leader gets the member list");
        assert!(b.members.is_empty(), "followers get none");
        let (leader, follower) = (a.member_id.to_string(), b.member_id.to_string());
        self.sync(1, &follower, 1, &[]);
        assert!(self.synced(1).is_empty(), "a follower waits for the leader");
        self.sync(0, &leader, 1, &[(&leader, 0), (&follower, 1)]);
        assert_eq!(self.synced(0), vec![Ok(vec![tp(0)])]);
        assert_eq!(self.synced(1), vec![Ok(vec![tp(1)])]);
        assert_eq!(self.state(), (GroupState::Stable, 1, 2));
        (leader, follower)
    }
}

#[test]
fn partition_for_matches_kafka() {
    assert_eq!(partition_for("my-group", 50), 12);
    assert_eq!(partition_for("group", 50), 47);
    assert_eq!(partition_for("group1", 50), 40);
    assert_eq!(partition_for("", 50), 0);
}

#[test]
fn join_and_sync_form_generation_one_after_the_initial_delay() {
    let mut h = Harness::new();
    h.join(0, "", None);
    assert_eq!(h.state().0, GroupState::PreparingRebalance);
    h.advance(DELAY_MS / 2);
    assert!(
        h.joined(0).is_empty(),
        "the initial delay waits for more members"
    );
    h.stable_pair_after_first();
}

impl Harness {
    fn stable_pair_after_first(&mut self) {
        self.join(1, "", None);
        self.advance(DELAY_MS);
        assert_eq!(self.state(), (GroupState::CompletingRebalance, 1, 2));
    }
}

#[test]
fn heartbeats_fence_stale_and_unknown_members() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    assert_eq!(h.heartbeat(0, &leader, 1), None);
    assert_eq!(
        h.heartbeat(0, &leader, 0),
        Some(KafkaError::IllegalGeneration)
    );
    assert_eq!(
        h.heartbeat(0, "c-0-999", 1),
        Some(KafkaError::UnknownMemberId)
    );
    // A rejoin of the leader starts a rebalance: the others hear it in their heartbeat.
    h.join(0, &leader, None);
    assert_eq!(h.state().0, GroupState::PreparingRebalance);
    assert_eq!(
        h.heartbeat(1, &follower, 1),
        Some(KafkaError::RebalanceInProgress)
    );
    // A commit of the current generation is still accepted while members rejoin.
    assert_eq!(h.commit(&follower, 1, 7), Ok(()));
}

#[test]
fn a_member_that_stops_heartbeating_is_removed_and_the_group_rebalances() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    for _ in 0..2 {
        h.advance(400);
        assert_eq!(h.heartbeat(0, &leader, 1), None);
    }
    h.advance(400);
    assert_eq!(
        h.heartbeat(0, &leader, 1),
        Some(KafkaError::RebalanceInProgress),
        "the survivor hears of the rebalance"
    );
    assert!(
        h.notes
            .iter()
            .any(|n| n.contains(&format!("{follower} expired (session.timeout.ms)")))
    );
    assert_eq!(h.state().0, GroupState::PreparingRebalance);
    h.join(0, &leader, None);
    let joined = h.joined(0).pop().unwrap().unwrap();
    assert_eq!(
        joined.generation, 2,
        "the rebalance completes at once: all rejoined"
    );
    assert_eq!(h.state(), (GroupState::CompletingRebalance, 2, 1));
}

#[test]
fn the_rebalance_timeout_removes_members_that_did_not_rejoin() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    h.join(0, &leader, None);
    // The follower keeps heartbeating but never rejoins.
    for _ in 0..4 {
        h.advance(500);
        h.heartbeat(1, &follower, 1);
    }
    h.advance(100);
    assert!(h.notes.iter().any(|n| n.contains("did not rejoin")));
    assert_eq!(h.state(), (GroupState::CompletingRebalance, 2, 1));
    assert_eq!(
        h.heartbeat(1, &follower, 1),
        Some(KafkaError::UnknownMemberId)
    );
}

#[test]
fn a_zombies_commit_with_a_stale_generation_or_member_is_rejected() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    assert_eq!(h.commit(&leader, 1, 5), Ok(()));
    assert_eq!(h.commit(&leader, 0, 6), Err(KafkaError::IllegalGeneration));
    let correlation = h.next();
    h.send(
        1,
        ConsumerRequest::LeaveGroup {
            correlation,
            group: GROUP.into(),
            member_id: follower.as_str().into(),
        },
    );
    assert_eq!(h.commit(&follower, 1, 6), Err(KafkaError::UnknownMemberId));
    assert_eq!(h.state().0, GroupState::PreparingRebalance);
    assert_eq!(h.c.group(GROUP).unwrap().offsets[&tp(0)].offset, 5);
}

#[test]
fn a_static_member_restarting_keeps_generation_and_assignment() {
    let mut h = Harness::new();
    h.join(0, "", Some("c-0"));
    h.advance(DELAY_MS);
    let first = h.joined(0).pop().unwrap().unwrap();
    let id = first.member_id.to_string();
    h.sync(0, &id, 1, &[(&id, 0)]);
    assert_eq!(h.synced(0), vec![Ok(vec![tp(0)])]);
    h.advance(10);
    h.join(0, "", Some("c-0"));
    let again = h.joined(0).pop().unwrap().unwrap();
    assert_ne!(again.member_id, first.member_id, "a new member id");
    assert_eq!(again.generation, 1, "no rebalance");
    assert_eq!(h.state(), (GroupState::Stable, 1, 1));
    h.sync(0, &again.member_id, 1, &[]);
    assert_eq!(h.synced(0), vec![Ok(vec![tp(0)])], "the old assignment");
    assert_eq!(h.commit(&id, 1, 3), Err(KafkaError::UnknownMemberId));
}

#[test]
fn requests_for_partitions_not_led_or_still_loading_are_refused() {
    let mut h = Harness::new();
    let mut out = Vec::new();
    h.c.unload(h.now, h.c.partition_of(GROUP), &mut out);
    h.apply(out);
    assert_eq!(h.commit("x", -1, 1), Err(KafkaError::NotCoordinator));
    let mut out = Vec::new();
    let log = h.log.clone();
    h.c.load(h.now, h.c.partition_of(GROUP), log.iter(), &mut out);
    assert_eq!(
        h.commit("x", -1, 1),
        Err(KafkaError::CoordinatorLoadInProgress)
    );
}

#[test]
fn a_new_coordinator_loads_generation_members_and_offsets_with_leader_epochs_from_the_log() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    assert_eq!(h.commit(&leader, 1, 42), Ok(()));
    let mut loaded = Harness::with_log(h.log.clone(), h.c.spec().values.clone());
    assert_eq!(loaded.state(), (GroupState::Stable, 1, 2));
    let committed = CommittedOffset {
        offset: 42,
        leader_epoch: Some(COMMITTED_LEADER_EPOCH),
    };
    let correlation = loaded.next();
    loaded.send(
        2,
        ConsumerRequest::OffsetFetch {
            correlation,
            group: GROUP.into(),
            partitions: vec![tp(0), tp(1)],
            require_stable: false,
        },
    );
    match loaded.replies.pop() {
        Some((_, ConsumerResponse::OffsetFetch { result, .. })) => {
            assert_eq!(result, Ok(vec![(tp(0), Some(committed)), (tp(1), None)]))
        }
        other => panic!("expected an OffsetFetch answer, got {other:?}"),
    }
    assert_eq!(loaded.heartbeat(1, &follower, 1), None);
    assert_eq!(loaded.commit(&leader, 1, 43), Ok(()));
}

#[test]
fn a_replaced_static_members_old_id_is_fenced_with_fenced_instance_id() {
    let mut h = Harness::new();
    h.join(0, "", Some("c-0"));
    h.advance(DELAY_MS);
    let old = h.joined(0).pop().unwrap().unwrap().member_id.to_string();
    h.sync(0, &old, 1, &[(&old, 0)]);
    h.advance(10);
    // A new instance with the same group.instance.id takes the old member's place.
    h.join(1, "", Some("c-0"));
    let new = h.joined(1).pop().unwrap().unwrap().member_id.to_string();
    assert_ne!(new, old);
    assert_eq!(
        h.heartbeat_as(0, &old, 1, Some("c-0")),
        Some(KafkaError::FencedInstanceId),
        "the old instance is fenced, not told it is unknown"
    );
    assert_eq!(
        h.commit_as(&old, 1, Some("c-0"), 9),
        Err(KafkaError::FencedInstanceId)
    );
    assert_eq!(h.heartbeat_as(1, &new, 1, Some("c-0")), None);
    assert_eq!(
        h.heartbeat_as(0, &old, 1, Some("c-9")),
        Some(KafkaError::UnknownMemberId),
        "an instance id the group does not know is an unknown member"
    );
}

#[test]
fn a_new_dynamic_member_must_join_again_with_the_member_id_it_is_given() {
    let mut h = Harness::new();
    h.join_once(0, "", None);
    let given = h
        .member_id_required(0)
        .expect("MEMBER_ID_REQUIRED with a member id");
    assert!(given.starts_with("c-0-"), "{given}");
    assert_eq!(h.state(), (GroupState::Empty, 0, 0), "not a member yet");
    h.join_once(0, &given, None);
    h.advance(DELAY_MS);
    let joined = h.joined(0).pop().unwrap().unwrap();
    assert_eq!(
        &*joined.member_id, given,
        "the member joins under the given id"
    );
    assert_eq!(h.state(), (GroupState::CompletingRebalance, 1, 1));
}

#[test]
fn a_pending_member_that_never_joins_again_expires_after_its_session_timeout() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    h.join(0, &leader, None);
    // A third member gets its id while the group rebalances and is never heard from again.
    h.join_once(2, "", None);
    h.join(1, &follower, None);
    let ghost = h.member_id_required(2).expect("an id for the newcomer");
    assert!(
        h.joined(0).is_empty(),
        "the rebalance waits for the member id handed out"
    );
    h.advance(1_001);
    assert!(
        h.notes
            .iter()
            .any(|n| n.contains(&format!("pending member {ghost} expired")))
    );
    assert_eq!(h.joined(0).pop().unwrap().unwrap().generation, 2);
    assert_eq!(h.state(), (GroupState::CompletingRebalance, 2, 2));
    h.join_once(2, &ghost, None);
    assert_eq!(h.joined(2), vec![Err(KafkaError::UnknownMemberId)]);
}

#[test]
fn a_member_that_joins_but_never_syncs_is_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new();
    h.join(0, "", None);
    h.advance(10);
    h.join(1, "", None);
    h.advance(DELAY_MS);
    let leader = h.joined(0).pop().unwrap().unwrap().member_id.to_string();
    let follower = h.joined(1).pop().unwrap().unwrap().member_id.to_string();
    h.sync(0, &leader, 1, &[(&leader, 0), (&follower, 1)]);
    assert_eq!(h.state(), (GroupState::Stable, 1, 2));
    // The follower heartbeats, so its session lives, but it never sends SyncGroup.
    for _ in 0..3 {
        h.advance(600);
        assert_eq!(h.heartbeat(1, &follower, 1), None);
        assert_eq!(h.heartbeat(0, &leader, 1), None);
    }
    h.advance(300);
    assert!(
        h.notes
            .iter()
            .any(|n| n.contains(&format!("{follower} removed: no SyncGroup"))),
        "{:?}",
        h.notes
    );
    assert_eq!(h.state(), (GroupState::PreparingRebalance, 1, 1));
    assert_eq!(
        h.heartbeat(0, &leader, 1),
        Some(KafkaError::RebalanceInProgress)
    );
    assert_eq!(
        h.heartbeat(1, &follower, 1),
        Some(KafkaError::UnknownMemberId)
    );
}

#[test]
fn a_members_offset_commit_keeps_its_session_alive_like_a_heartbeat() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    // The follower only commits (its heartbeats are lost); the leader heartbeats.
    for offset in 0..5 {
        h.advance(400);
        assert_eq!(h.commit(&follower, 1, offset), Ok(()));
        assert_eq!(h.heartbeat(0, &leader, 1), None);
    }
    assert_eq!(h.state(), (GroupState::Stable, 1, 2), "{:?}", h.notes);
    // Without commits or heartbeats the session runs out.
    for _ in 0..3 {
        h.advance(400);
        h.heartbeat(0, &leader, 1);
    }
    assert_eq!(h.state(), (GroupState::PreparingRebalance, 1, 1));
}

#[test]
fn a_group_survives_coordinator_failover_stable_with_its_members_timeouts_and_assignments() {
    let mut h = Harness::new();
    let (leader, follower) = h.stable_pair();
    let mut loaded = Harness::with_log(h.log.clone(), h.c.spec().values.clone());
    assert_eq!(loaded.state(), (GroupState::Stable, 1, 2));
    let g = loaded.c.group(GROUP).unwrap();
    let m = &g.members[&*follower];
    assert_eq!(
        (m.session_timeout_ms, m.rebalance_timeout_ms),
        (1_000, 2_000)
    );
    assert_eq!(m.protocols, vec![Strategy::Range]);
    assert_eq!(m.subscription.topics, vec![0]);
    assert_eq!(m.assignment, Some(vec![tp(1)]));
    assert_eq!(g.leader.as_deref(), Some(&*leader));
    assert_eq!(g.protocol, Some(Strategy::Range));
    // A member that lost its SyncGroup answer asks again: no rebalance, its assignment.
    loaded.sync(1, &follower, 1, &[]);
    assert_eq!(loaded.synced(1), vec![Ok(vec![tp(1)])]);
    // Members keep heartbeating in generation 1; the real session timeout (1 s) applies.
    loaded.advance(500);
    assert_eq!(loaded.heartbeat(0, &leader, 1), None);
    assert_eq!(loaded.heartbeat(1, &follower, 1), None);
    for _ in 0..3 {
        loaded.advance(500);
        loaded.heartbeat(0, &leader, 1);
    }
    assert_eq!(loaded.state(), (GroupState::PreparingRebalance, 1, 1));
    assert!(
        loaded
            .notes
            .iter()
            .any(|n| n.contains(&format!("{follower} expired (session.timeout.ms)"))),
        "the follower stopped heartbeating: its 1 s session ran out"
    );
}

#[test]
fn a_static_member_replaced_before_it_synced_is_not_expired_once_its_replacement_syncs() {
    let mut h = Harness::new();
    h.join(0, "", None);
    h.join(1, "", Some("c-1"));
    h.advance(DELAY_MS);
    let leader = h.joined(0).pop().unwrap().unwrap().member_id.to_string();
    let old = h.joined(1).pop().unwrap().unwrap().member_id.to_string();
    h.sync(0, &leader, 1, &[(&leader, 0), (&old, 1)]);
    assert_eq!(h.state(), (GroupState::Stable, 1, 2));
    // The static member restarts before its SyncGroup; its new instance syncs.
    h.join(1, "", Some("c-1"));
    let new = h.joined(1).pop().unwrap().unwrap().member_id.to_string();
    let correlation = h.next();
    h.send(
        1,
        ConsumerRequest::SyncGroup {
            correlation,
            group: GROUP.into(),
            generation: 1,
            member_id: new.as_str().into(),
            group_instance_id: Some("c-1".into()),
            assignments: Vec::new(),
        },
    );
    assert_eq!(h.synced(1), vec![Ok(vec![tp(1)])]);
    for _ in 0..5 {
        h.advance(500);
        h.heartbeat(0, &leader, 1);
        h.heartbeat_as(1, &new, 1, Some("c-1"));
    }
    assert_eq!(h.state(), (GroupState::Stable, 1, 2), "{:?}", h.notes);
}

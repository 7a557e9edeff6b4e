//! One replica of one partition on a broker: its log (durable), its high watermark (volatile,
//! seeded from the HW checkpoint on boot), its leader epoch and its role. As leader it appends
//! produced batches, serves follower fetches, tracks follower state, moves the HW and proposes
//! ISR changes; as follower it truncates by the configured protocol and appends what it fetched.
//! The broker owns the messaging; this module owns Kafka's per-partition rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::isr::{self, HwRule, IsrState};
use super::replica::FollowerState;
use crate::log::PartitionLog;
use crate::node::Obs;
use crate::protocol::{BrokerId, PartitionState, TopicPartition};
use crate::record::RecordBatch;
use crate::sim::{DiskOp, SimTime};

/// The leader's extra state.
#[derive(Clone, Debug)]
pub struct LeaderState {
    /// What the leader knows of each follower.
    pub followers: BTreeMap<BrokerId, FollowerState>,
    /// The ISR, committed and in flight.
    pub isr: IsrState,
    /// Version of the partition's state znode, for conditional ISR updates.
    pub zk_version: i32,
    /// The LEO when this leader epoch began: a follower joins the ISR only past it.
    pub epoch_start_offset: u64,
}

/// Where a follower is in its fetch loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowerPhase {
    /// Waiting for `OffsetsForLeaderEpoch` (KIP-101/279) before fetching.
    Truncating,
    /// Fetching from the leader.
    Fetching,
}

/// The follower's extra state.
#[derive(Clone, Copy, Debug)]
pub struct FollowerRole {
    /// The leader it follows.
    pub leader: BrokerId,
    /// Truncating or fetching.
    pub phase: FollowerPhase,
    /// The correlation id of the epoch query in flight, if any; a response with another is
    /// stale. (Fetches are tracked per leader broker, as they carry many partitions.)
    pub in_flight: Option<u64>,
    /// The end of the `replica.fetch.backoff.ms` taken after an error: fetches leave the
    /// partition out until then.
    pub backoff_until: SimTime,
}

impl FollowerRole {
    /// Whether a fetch to the leader sent at `now` should carry this partition.
    pub fn is_ready_to_fetch(&self, now: SimTime) -> bool {
        self.phase == FollowerPhase::Fetching
            && self.in_flight.is_none()
            && now >= self.backoff_until
    }
}

/// What a replica is doing.
#[derive(Clone, Debug)]
pub enum Role {
    /// No role yet (before the first `LeaderAndIsr`).
    None,
    /// It leads.
    Leader(Box<LeaderState>),
    /// It follows.
    Follower(FollowerRole),
}

/// One replica.
#[derive(Debug)]
pub struct Partition {
    /// Which partition.
    pub tp: TopicPartition,
    /// `<topic>-<partition>`, for the short log and the log directory.
    pub name: Arc<str>,
    /// Assigned replicas, in preference order.
    pub replicas: Vec<BrokerId>,
    /// Durable: the log on this broker's disk.
    pub log: PartitionLog,
    /// Volatile: the high watermark (from the checkpoint on boot).
    pub high_watermark: u64,
    /// Volatile: the leader epoch from the last `LeaderAndIsr`.
    pub leader_epoch: u32,
    /// Volatile: the role.
    pub role: Role,
    /// Volatile: records appended since the last fsync (`log.flush.interval.messages`).
    pub unflushed_messages: u64,
    /// Volatile: the ISR as this replica last heard it, from `LeaderAndIsr` or, as leader, from
    /// its own ISR writes; a new leader compares it with the ISR it is elected with.
    pub known_isr: Vec<BrokerId>,
}

impl Partition {
    /// Whether this replica leads.
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    /// The log end offset.
    pub fn log_end_offset(&self) -> u64 {
        self.log.log_end_offset()
    }

    /// Becomes leader for `state` (Kafka's `makeLeader`): resets follower state, assigns the
    /// epoch's start offset in the epoch cache.
    pub fn become_leader(
        &mut self,
        state: &PartitionState,
        now: SimTime,
        out: &mut Vec<DiskOp>,
    ) -> Obs {
        let leo = self.log_end_offset();
        self.set_epoch(state.leader_epoch);
        self.replicas = state.replicas.clone();
        self.log.assign_epoch_start(state.leader_epoch, out);
        let me = state.leader.expect("a leader state names its leader");
        let followers = state
            .replicas
            .iter()
            .filter(|&&id| id != me)
            .map(|&id| {
                (
                    id,
                    FollowerState::on_become_leader(now, leo, state.isr.contains(&id)),
                )
            })
            .collect();
        self.role = Role::Leader(Box::new(LeaderState {
            followers,
            isr: IsrState::committed(state.isr.clone()),
            zk_version: state.zk_version,
            epoch_start_offset: leo,
        }));
        self.role_obs(state.leader, true)
    }

    /// Becomes follower of `leader` in `state`'s epoch; the caller starts the fetch loop.
    pub fn become_follower(&mut self, state: &PartitionState, phase: FollowerPhase) -> Obs {
        self.set_epoch(state.leader_epoch);
        self.replicas = state.replicas.clone();
        let leader = state.leader.expect("a follower follows a leader");
        self.role = Role::Follower(FollowerRole {
            leader,
            phase,
            in_flight: None,
            backoff_until: SimTime::ZERO,
        });
        self.role_obs(state.leader, false)
    }

    /// Loses any role (the partition went offline or this replica was dropped).
    pub fn become_idle(&mut self, state: &PartitionState) -> Obs {
        self.set_epoch(state.leader_epoch);
        self.role = Role::None;
        self.role_obs(None, false)
    }

    /// Moves to a leader epoch; epochs never go back on a replica.
    fn set_epoch(&mut self, epoch: u32) {
        assert!(
            epoch >= self.leader_epoch,
            "{}: leader epoch {} after {}",
            self.name,
            epoch,
            self.leader_epoch
        );
        self.leader_epoch = epoch;
    }

    fn role_obs(&self, leader: Option<BrokerId>, leads: bool) -> Obs {
        Obs::Role {
            partition: self.name.clone(),
            leader,
            epoch: self.leader_epoch,
            leads,
        }
    }

    /// Appends a produced batch as leader; returns (base offset, next offset).
    pub fn append_as_leader(
        &mut self,
        batch: RecordBatch,
        now: SimTime,
        out: &mut Vec<DiskOp>,
    ) -> (u64, u64) {
        assert!(self.is_leader(), "only a leader appends produced batches");
        let (first, last) =
            self.log
                .append_as_leader(batch, self.leader_epoch, now.as_millis(), out);
        (first, last + 1)
    }

    /// Counts appended records and fsyncs the log every `flush_interval_messages` of them (Kafka's
    /// `log.flush.interval.messages`; by default never: durability comes from replication).
    pub fn maybe_flush(
        &mut self,
        appended: u64,
        flush_interval_messages: u64,
        out: &mut Vec<DiskOp>,
    ) {
        self.unflushed_messages += appended;
        if self.unflushed_messages >= flush_interval_messages {
            self.log.flush(out);
            self.unflushed_messages = 0;
        }
    }

    /// Truncates the log to `offset` (no-op at or past the LEO); the HW follows it down.
    pub fn truncate_to(
        &mut self,
        offset: u64,
        rule: &'static str,
        now: SimTime,
        out: &mut Vec<DiskOp>,
    ) -> Option<Obs> {
        let from = self.log_end_offset();
        if offset >= from {
            return None;
        }
        self.log.truncate_to(offset, now.as_millis(), out);
        let to = self.log_end_offset();
        self.high_watermark = self.high_watermark.min(to);
        Some(Obs::Truncate {
            partition: self.name.clone(),
            from,
            to,
            rule,
        })
    }

    /// Records a follower's fetch; returns an ISR expansion to propose, if it may join.
    pub fn on_follower_fetch(
        &mut self,
        follower: BrokerId,
        fetch_offset: u64,
        now: SimTime,
    ) -> Option<Vec<BrokerId>> {
        let leo = self.log_end_offset();
        let hw = self.high_watermark;
        let Role::Leader(leader) = &mut self.role else {
            return None;
        };
        let state = leader.followers.get_mut(&follower)?;
        state.on_fetch(fetch_offset, leo, now);
        let state = *state;
        leader
            .isr
            .can_expand(follower, &state, hw, leader.epoch_start_offset)
            .then(|| {
                let mut isr = leader.isr.committed.clone();
                isr.push(follower);
                isr
            })
    }

    /// Recomputes the leader's HW; returns the observation if it moved.
    pub fn maybe_increment_hw(
        &mut self,
        eligible: impl Fn(BrokerId) -> bool,
        now: SimTime,
        rule: HwRule,
    ) -> Option<Obs> {
        let leo = self.log_end_offset();
        let Role::Leader(leader) = &self.role else {
            return None;
        };
        let new = isr::leader_high_watermark(
            leo,
            self.high_watermark,
            &leader.followers,
            &leader.isr,
            eligible,
            now,
            rule,
        );
        self.set_high_watermark(new)
    }

    /// Sets the HW (a leader's never goes back; a follower's may after truncation).
    pub fn set_high_watermark(&mut self, hw: u64) -> Option<Obs> {
        let hw = hw.min(self.log_end_offset());
        if hw == self.high_watermark {
            return None;
        }
        assert!(
            !self.is_leader() || hw > self.high_watermark,
            "a leader's HW never goes back"
        );
        self.high_watermark = hw;
        self.log.on_high_watermark(hw);
        Some(Obs::Hw {
            partition: self.name.clone(),
            hw,
        })
    }

    /// The observation of the current LEO.
    pub fn leo_obs(&self) -> Obs {
        Obs::Leo {
            partition: self.name.clone(),
            leo: self.log_end_offset(),
        }
    }

    /// The committed ISR size (the leader's view), for acks and min.insync.replicas.
    pub fn isr_size(&self) -> usize {
        match &self.role {
            Role::Leader(leader) => leader.isr.committed.len(),
            _ => 0,
        }
    }

    /// Checks the replica's invariants and its log's shape (segments, cached LEO, epochs): the
    /// full check, for debug builds after every handler and every run's end.
    pub fn check_all(&self) -> Result<(), String> {
        self.check()?;
        self.log
            .check_invariants()
            .map_err(|problem| format!("{}: {problem}", self.name))
    }

    /// Checks the replica's invariants.
    pub fn check(&self) -> Result<(), String> {
        let leo = self.log_end_offset();
        if self.high_watermark > leo {
            return Err(format!(
                "{}: HW {} > LEO {leo}",
                self.name, self.high_watermark
            ));
        }
        if self.log.log_start_offset() > leo {
            return Err(format!("{}: log start past LEO", self.name));
        }
        if let Some((producer, epoch, offset)) = self.log.producer_state().fenced_append() {
            return Err(format!(
                "{}: producer {producer} appended with fenced epoch {epoch} at {offset}",
                self.name
            ));
        }
        Ok(())
    }
}

//! The leader's in-sync replica set and high watermark, by Kafka's rules (`Partition.scala`):
//!
//! - ISR changes are proposed one at a time (a conditional write to the metadata service); while
//!   one is in flight, the HW is computed over the **maximal** ISR — the committed ISR plus any
//!   member being added, with members being removed kept until the removal commits.
//! - HW = min LEO over the maximal ISR, also waiting for caught-up, eligible followers outside it
//!   so they can join; it never goes back on one leader. Since Kafka 3.7 it does not move at all
//!   while the committed ISR is smaller than `min.insync.replicas`.
//! - Shrink: every member that is out of sync leaves in one change. Expand: a follower joins once
//!   its LEO has reached the HW and the start offset of the current leader epoch.
//! - acks=all: `NOT_ENOUGH_REPLICAS` before the append, `NOT_ENOUGH_REPLICAS_AFTER_APPEND` when
//!   the HW passes the batch with too small an ISR.

use std::collections::BTreeMap;

use super::replica::{BrokerId, FollowerState};
use crate::protocol::KafkaError;
use crate::sim::{SimDuration, SimTime};

/// An ISR change sent to the metadata service and not yet committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingIsr {
    /// The ISR the leader asked for.
    pub proposed: Vec<BrokerId>,
}

/// The leader's ISR: committed, and possibly a change in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsrState {
    /// The ISR as last committed, sorted.
    pub committed: Vec<BrokerId>,
    /// The change in flight, if any.
    pub pending: Option<PendingIsr>,
}

/// Which HW rule the cluster follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HwRule {
    /// `min.insync.replicas` of the topic.
    pub min_insync_replicas: u32,
    /// Kafka 3.7+: the HW waits while the committed ISR is below `min.insync.replicas`.
    pub waits_for_min_isr: bool,
    /// `replica.lag.time.max.ms`.
    pub lag_max: SimDuration,
}

impl IsrState {
    /// A committed ISR with nothing in flight.
    pub fn committed(mut isr: Vec<BrokerId>) -> IsrState {
        isr.sort_unstable();
        isr.dedup();
        IsrState {
            committed: isr,
            pending: None,
        }
    }

    /// Whether `id` is in the maximal ISR: a committed member, or one being added (members
    /// being removed still count until the removal commits).
    pub fn in_maximal(&self, id: BrokerId) -> bool {
        self.committed.contains(&id)
            || self
                .pending
                .as_ref()
                .is_some_and(|p| p.proposed.contains(&id))
    }

    /// The ISR members a shrink removes now: every out-of-sync member but the leader. None while
    /// a change is in flight or when everyone is in sync.
    pub fn shrink_candidates(
        &self,
        leader: BrokerId,
        leader_log_end_offset: u64,
        followers: &BTreeMap<BrokerId, FollowerState>,
        now: SimTime,
        lag_max: SimDuration,
    ) -> Option<Vec<BrokerId>> {
        if self.pending.is_some() {
            return None;
        }
        let out: Vec<BrokerId> = self
            .committed
            .iter()
            .copied()
            .filter(|&id| id != leader)
            .filter(|id| {
                followers
                    .get(id)
                    .is_none_or(|f| f.is_out_of_sync(leader_log_end_offset, now, lag_max))
            })
            .collect();
        (!out.is_empty()).then_some(out)
    }

    /// Whether `follower` may join the ISR now (no change in flight, not a member, and its LEO
    /// reached both the HW and the start of the current leader epoch).
    pub fn can_expand(
        &self,
        follower: BrokerId,
        state: &FollowerState,
        high_watermark: u64,
        leader_epoch_start_offset: u64,
    ) -> bool {
        self.pending.is_none()
            && !self.committed.contains(&follower)
            && state
                .log_end_offset
                .is_some_and(|leo| leo >= high_watermark && leo >= leader_epoch_start_offset)
    }

    /// Proposes a new ISR; one change at a time.
    pub fn propose(&mut self, proposed: Vec<BrokerId>) {
        assert!(self.pending.is_none(), "one ISR change at a time");
        let mut proposed = proposed;
        proposed.sort_unstable();
        proposed.dedup();
        self.pending = Some(PendingIsr { proposed });
    }

    /// Takes an ISR read back from the metadata service (nothing in flight).
    pub fn settle_from(&mut self, isr: Vec<BrokerId>) {
        assert!(self.pending.is_none(), "an ISR change is in flight");
        *self = IsrState::committed(isr);
    }

    /// The metadata service accepted (Some) or refused (None) the change in flight.
    pub fn settle(&mut self, accepted: Option<Vec<BrokerId>>) {
        assert!(self.pending.is_some(), "no ISR change in flight");
        self.pending = None;
        if let Some(isr) = accepted {
            *self = IsrState::committed(isr);
        }
    }
}

/// The leader's new high watermark, by Kafka's `maybeIncrementLeaderHW`.
///
/// `eligible` says whether a broker may join the ISR (alive and registered).
#[allow(clippy::too_many_arguments)]
pub fn leader_high_watermark(
    leader_log_end_offset: u64,
    current: u64,
    followers: &BTreeMap<BrokerId, FollowerState>,
    isr: &IsrState,
    eligible: impl Fn(BrokerId) -> bool,
    now: SimTime,
    rule: HwRule,
) -> u64 {
    assert!(
        current <= leader_log_end_offset,
        "HW {current} past LEO {leader_log_end_offset}"
    );
    if rule.waits_for_min_isr && (isr.committed.len() as u32) < rule.min_insync_replicas {
        return current;
    }
    let mut new = leader_log_end_offset;
    for (&id, follower) in followers {
        let waits = isr.in_maximal(id)
            || (eligible(id) && follower.is_caught_up(leader_log_end_offset, now, rule.lag_max));
        if waits {
            // An unknown LEO (no fetch yet) holds the HW where it is.
            new = new.min(follower.log_end_offset.unwrap_or(0));
        }
    }
    new.max(current)
}

/// acks=all before the append: refuse when the committed ISR is below `min.insync.replicas`.
pub fn check_enough_replicas(isr_size: usize, min_insync_replicas: u32) -> Result<(), KafkaError> {
    if (isr_size as u32) < min_insync_replicas {
        return Err(KafkaError::NotEnoughReplicas);
    }
    Ok(())
}

/// acks=all after the append: None while the HW is below `required_offset` (the batch's next
/// offset); then success, or `NOT_ENOUGH_REPLICAS_AFTER_APPEND` if the ISR is too small.
pub fn replicas_reached(
    high_watermark: u64,
    required_offset: u64,
    isr_size: usize,
    min_insync_replicas: u32,
) -> Option<Result<(), KafkaError>> {
    if high_watermark < required_offset {
        return None;
    }
    if (isr_size as u32) < min_insync_replicas {
        return Some(Err(KafkaError::NotEnoughReplicasAfterAppend));
    }
    Some(Ok(()))
}

#[cfg(test)]
mod tests;

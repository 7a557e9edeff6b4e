//! The leader's view of one follower replica, as Kafka's `Replica` keeps it: the follower's log
//! end offset (learned from its fetch offset), when it last fetched, the leader's LEO at that
//! fetch, and the **last caught-up time** from which the ISR shrink check decides whether the
//! follower has fallen out of sync.
//!
//! Volatile: rebuilt (reset) whenever the broker becomes leader of the partition.

use crate::sim::{SimDuration, SimTime};

pub use crate::protocol::BrokerId;

/// What the leader knows about one follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowerState {
    /// The follower's log end offset, once it has fetched (Kafka's "unknown offset" before).
    pub log_end_offset: Option<u64>,
    /// When the follower last fetched.
    pub last_fetch_time: SimTime,
    /// The leader's LEO when the follower last fetched.
    pub last_fetch_leader_log_end_offset: u64,
    /// The last time the follower was known to have caught up to the leader's LEO (never, for
    /// a replica outside the ISR when this broker became leader).
    pub last_caught_up_time: Option<SimTime>,
}

impl FollowerState {
    /// The state of a follower when this broker becomes leader (Kafka's `resetReplicaState`):
    /// an ISR member counts as caught up now, any other replica as never.
    pub fn on_become_leader(now: SimTime, leader_log_end_offset: u64, in_isr: bool) -> Self {
        FollowerState {
            log_end_offset: None,
            last_fetch_time: now,
            last_fetch_leader_log_end_offset: leader_log_end_offset,
            last_caught_up_time: in_isr.then_some(now),
        }
    }

    /// Records a fetch at `fetch_offset` while the leader's LEO is `leader_log_end_offset`.
    ///
    /// A fetch at the leader's LEO means caught up now; a fetch at or past the leader's LEO of
    /// the previous fetch means the follower had caught up by then; otherwise nothing changes.
    pub fn on_fetch(&mut self, fetch_offset: u64, leader_log_end_offset: u64, now: SimTime) {
        assert!(now >= self.last_fetch_time, "fetches arrive in time order");
        let caught_up_at = if fetch_offset >= leader_log_end_offset {
            Some(now)
        } else if fetch_offset >= self.last_fetch_leader_log_end_offset {
            Some(self.last_fetch_time)
        } else {
            None
        };
        self.last_caught_up_time = self.last_caught_up_time.max(caught_up_at);
        self.log_end_offset = Some(fetch_offset);
        self.last_fetch_leader_log_end_offset = leader_log_end_offset;
        self.last_fetch_time = now;
    }

    /// Kafka's `isCaughtUp`: at the leader's LEO, or caught up within `lag_max`.
    pub fn is_caught_up(
        &self,
        leader_log_end_offset: u64,
        now: SimTime,
        lag_max: SimDuration,
    ) -> bool {
        self.log_end_offset == Some(leader_log_end_offset)
            || self
                .last_caught_up_time
                .is_some_and(|t| now.saturating_since(t) <= lag_max)
    }

    /// The shrink test: out of sync when not caught up (never while at the leader's LEO).
    pub fn is_out_of_sync(
        &self,
        leader_log_end_offset: u64,
        now: SimTime,
        lag_max: SimDuration,
    ) -> bool {
        !self.is_caught_up(leader_log_end_offset, now, lag_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> SimTime {
        SimTime::from_millis(ms)
    }

    const LAG: SimDuration = SimDuration::from_millis(30_000);

    #[test]
    fn last_caught_up_time_follows_kafkas_three_cases() {
        let mut f = FollowerState::on_become_leader(ms(0), 10, true);
        // Fetch at the leader's LEO: caught up now.
        f.on_fetch(10, 10, ms(100));
        assert_eq!(f.last_caught_up_time, Some(ms(100)));
        // Leader moved to 15; the follower fetches 10 (>= LEO at its previous fetch, 10):
        // it had caught up at its previous fetch time.
        f.on_fetch(10, 15, ms(200));
        assert_eq!(f.last_caught_up_time, Some(ms(100)));
        f.on_fetch(15, 20, ms(300));
        assert_eq!(
            f.last_caught_up_time,
            Some(ms(200)),
            "caught up to 15 = leader LEO at 200"
        );
        // Behind even the previous fetch's leader LEO: unchanged.
        f.on_fetch(16, 30, ms(400));
        assert_eq!(f.last_caught_up_time, Some(ms(200)));
        assert_eq!(f.log_end_offset, Some(16));
    }

    #[test]
    fn a_follower_at_the_leaders_leo_is_never_out_of_sync() {
        let mut f = FollowerState::on_become_leader(ms(0), 5, true);
        f.on_fetch(5, 5, ms(1));
        assert!(
            !f.is_out_of_sync(5, ms(1_000_000), LAG),
            "an idle partition keeps its ISR"
        );
        assert!(
            f.is_out_of_sync(6, ms(30_002), LAG),
            "behind and stale for > lag"
        );
        assert!(
            !f.is_out_of_sync(6, ms(30_001), LAG),
            "exactly lag is still in sync"
        );
    }

    #[test]
    fn a_new_leader_trusts_isr_members_and_not_others() {
        let member = FollowerState::on_become_leader(ms(50_000), 7, true);
        let outsider = FollowerState::on_become_leader(ms(50_000), 7, false);
        assert!(!member.is_out_of_sync(7, ms(60_000), LAG));
        assert!(outsider.is_out_of_sync(7, ms(50_000), LAG));
        let at_start = FollowerState::on_become_leader(SimTime::ZERO, 7, false);
        assert!(
            !at_start.is_caught_up(7, SimTime::ZERO, LAG),
            "never caught up, even at time 0"
        );
    }
}

//! Leader election as Kafka's controller does it for an offline partition: keep a leader that is
//! still alive and in the ISR; else the first replica in assignment order that is alive and in
//! the ISR; else, only with `unclean.leader.election.enable`, the first alive replica (which may
//! have lost committed records). Every election bumps the leader epoch (the caller's job).

use super::replica::BrokerId;

/// How a leader was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Election {
    /// The current leader stays.
    Kept(BrokerId),
    /// A live ISR member was elected.
    Clean(BrokerId),
    /// A live replica outside the ISR was elected (unclean election).
    Unclean(BrokerId),
    /// No replica can lead: the partition is offline.
    Offline,
}

impl Election {
    /// The leader, unless the partition is offline.
    pub fn leader(self) -> Option<BrokerId> {
        match self {
            Election::Kept(id) | Election::Clean(id) | Election::Unclean(id) => Some(id),
            Election::Offline => None,
        }
    }
}

/// Elects a leader from `assignment` (in order), given the ISR and which brokers are alive.
pub fn elect_leader(
    current: Option<BrokerId>,
    assignment: &[BrokerId],
    isr: &[BrokerId],
    alive: impl Fn(BrokerId) -> bool,
    unclean_leader_election_enable: bool,
) -> Election {
    if let Some(leader) = current
        && alive(leader)
        && isr.contains(&leader)
    {
        return Election::Kept(leader);
    }
    if let Some(&id) = assignment
        .iter()
        .find(|&&id| alive(id) && isr.contains(&id))
    {
        return Election::Clean(id);
    }
    if unclean_leader_election_enable && let Some(&id) = assignment.iter().find(|&&id| alive(id)) {
        return Election::Unclean(id);
    }
    Election::Offline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn election_order_is_assignment_order_among_live_isr_members() {
        let alive = |id: BrokerId| id != 2;
        assert_eq!(
            elect_leader(Some(1), &[2, 1, 0], &[0, 1, 2], alive, false),
            Election::Kept(1)
        );
        assert_eq!(
            elect_leader(Some(2), &[2, 1, 0], &[0, 1, 2], alive, false),
            Election::Clean(1)
        );
        assert_eq!(
            elect_leader(None, &[2, 0, 1], &[1, 0], alive, false),
            Election::Clean(0)
        );
    }

    #[test]
    fn with_no_live_isr_member_only_unclean_election_finds_a_leader() {
        let alive = |id: BrokerId| id == 1;
        assert_eq!(
            elect_leader(Some(0), &[0, 1], &[0], alive, false),
            Election::Offline
        );
        assert_eq!(
            elect_leader(Some(0), &[0, 1], &[0], alive, true),
            Election::Unclean(1)
        );
        assert_eq!(
            elect_leader(None, &[0, 1], &[0], |_| false, true).leader(),
            None
        );
    }
}

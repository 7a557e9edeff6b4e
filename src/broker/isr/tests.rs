//! Kafka's ISR and HW rules, case by case.

use super::*;

fn ms(ms: u64) -> SimTime {
    SimTime::from_millis(ms)
}

const LAG: SimDuration = SimDuration::from_millis(30_000);

fn rule(min_isr: u32, waits: bool) -> HwRule {
    HwRule {
        min_insync_replicas: min_isr,
        waits_for_min_isr: waits,
        lag_max: LAG,
    }
}

/// Followers with these LEOs, all having fetched at `at` with the leader at `leader_leo`.
fn followers(
    leos: &[(BrokerId, u64)],
    leader_leo: u64,
    at: SimTime,
) -> BTreeMap<BrokerId, FollowerState> {
    leos.iter()
        .map(|&(id, leo)| {
            let mut f = FollowerState::on_become_leader(SimTime::ZERO, 0, true);
            f.on_fetch(leo, leader_leo, at);
            (id, f)
        })
        .collect()
}

fn all_alive(_: BrokerId) -> bool {
    true
}

#[test]
fn hw_is_the_min_leo_over_the_maximal_isr() {
    let fs = followers(&[(1, 8), (2, 3)], 10, ms(1));
    let mut isr = IsrState::committed(vec![0, 1]);
    let stale = ms(40_000); // follower 2 is not caught up any more
    assert_eq!(
        leader_high_watermark(10, 0, &fs, &isr, all_alive, stale, rule(1, true)),
        8
    );
    isr.propose(vec![0, 1, 2]);
    assert!([0, 1, 2].into_iter().all(|id| isr.in_maximal(id)));
    assert!(!isr.in_maximal(3) && !IsrState::committed(vec![0, 1]).in_maximal(2));
    assert_eq!(
        leader_high_watermark(10, 0, &fs, &isr, all_alive, stale, rule(1, true)),
        3
    );
}

#[test]
fn a_member_being_removed_still_holds_the_hw_until_the_removal_commits() {
    let fs = followers(&[(1, 9), (2, 2)], 10, ms(1));
    let mut isr = IsrState::committed(vec![0, 1, 2]);
    isr.propose(vec![0, 1]);
    let now = ms(40_000);
    assert_eq!(
        leader_high_watermark(10, 0, &fs, &isr, all_alive, now, rule(1, true)),
        2
    );
    isr.settle(Some(vec![0, 1]));
    assert_eq!(
        leader_high_watermark(10, 2, &fs, &isr, all_alive, now, rule(1, true)),
        9
    );
}

#[test]
fn hw_waits_for_a_caught_up_eligible_follower_outside_the_isr() {
    let fs = followers(&[(1, 10), (2, 6)], 6, ms(1_000));
    let isr = IsrState::committed(vec![0, 1]);
    let now = ms(2_000);
    assert_eq!(
        leader_high_watermark(10, 0, &fs, &isr, all_alive, now, rule(1, true)),
        6
    );
    let dead_2 = |id: BrokerId| id != 2;
    assert_eq!(
        leader_high_watermark(10, 0, &fs, &isr, dead_2, now, rule(1, true)),
        10
    );
}

#[test]
fn since_3_7_the_hw_waits_while_the_isr_is_below_min_isr() {
    let fs = followers(&[(1, 4)], 10, ms(1));
    let isr = IsrState::committed(vec![0]);
    let now = ms(40_000);
    assert_eq!(
        leader_high_watermark(10, 2, &fs, &isr, all_alive, now, rule(2, true)),
        2
    );
    assert_eq!(
        leader_high_watermark(10, 2, &fs, &isr, all_alive, now, rule(2, false)),
        10
    );
}

#[test]
fn hw_never_goes_back_on_one_leader() {
    let fs = followers(&[(1, 3)], 10, ms(1));
    let isr = IsrState::committed(vec![0, 1]);
    assert_eq!(
        leader_high_watermark(10, 5, &fs, &isr, all_alive, ms(2), rule(1, true)),
        5
    );
}

#[test]
fn a_follower_that_has_not_fetched_holds_the_hw() {
    let mut fs = BTreeMap::new();
    fs.insert(1, FollowerState::on_become_leader(ms(0), 10, true));
    let isr = IsrState::committed(vec![0, 1]);
    assert_eq!(
        leader_high_watermark(10, 4, &fs, &isr, all_alive, ms(1), rule(1, true)),
        4
    );
}

#[test]
fn one_shrink_removes_every_out_of_sync_member_and_none_while_a_change_is_in_flight() {
    let mut fs = followers(&[(1, 10), (2, 3), (3, 4)], 10, ms(1_000));
    fs.get_mut(&1).unwrap().on_fetch(10, 10, ms(40_000));
    let mut isr = IsrState::committed(vec![0, 1, 2, 3]);
    let at = |t| isr.shrink_candidates(0, 10, &fs, ms(t), LAG);
    // 2 and 3 last caught up when this broker became leader, at 0 ms.
    assert_eq!(
        at(30_000),
        None,
        "exactly the lag time after catching up is still in sync"
    );
    assert_eq!(
        at(30_001),
        Some(vec![2, 3]),
        "1 stays: it fetched at the leader's LEO"
    );
    isr.propose(vec![0, 1]);
    assert_eq!(isr.shrink_candidates(0, 10, &fs, ms(50_000), LAG), None);
}

#[test]
fn a_follower_joins_once_it_reaches_the_hw_and_the_epoch_start() {
    let isr = IsrState::committed(vec![0, 1]);
    let f = |leo| followers(&[(2, leo)], 10, ms(1))[&2];
    assert!(!isr.can_expand(2, &f(6), 7, 5), "below the HW");
    assert!(
        !isr.can_expand(2, &f(7), 7, 8),
        "below the start of the leader epoch"
    );
    assert!(isr.can_expand(2, &f(8), 7, 8));
    assert!(!isr.can_expand(1, &f(8), 7, 8), "already a member");
    let mut busy = isr.clone();
    busy.propose(vec![0]);
    assert!(!busy.can_expand(2, &f(8), 7, 8), "one change at a time");
}

#[test]
fn a_refused_isr_change_leaves_the_committed_isr() {
    let mut isr = IsrState::committed(vec![0, 1, 2]);
    isr.propose(vec![0, 1]);
    isr.settle(None);
    assert_eq!(isr, IsrState::committed(vec![0, 1, 2]));
}

#[test]
fn acks_all_errors_before_and_after_the_append() {
    assert_eq!(
        check_enough_replicas(1, 2),
        Err(KafkaError::NotEnoughReplicas)
    );
    assert_eq!(check_enough_replicas(2, 2), Ok(()));
    assert_eq!(
        replicas_reached(4, 5, 3, 2),
        None,
        "HW has not passed the batch"
    );
    assert_eq!(replicas_reached(5, 5, 3, 2), Some(Ok(())));
    assert_eq!(
        replicas_reached(5, 5, 1, 2),
        Some(Err(KafkaError::NotEnoughReplicasAfterAppend))
    );
}

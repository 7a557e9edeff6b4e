//! Kafka's partition assignors: the examples in Kafka's javadoc, cases derived from the rules,
//! properties over random groups, and `kafkasim assign` through the binary.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use common::binary::text;
use kafkasim::group::assignor::Strategy::{CooperativeSticky, Range, RoundRobin, Sticky};
use kafkasim::group::assignor::{self, Assignment, Member, TopicPartition, assign};
use proptest::collection::vec;
use proptest::prelude::*;

fn topics(counts: &[(&str, u32)]) -> BTreeMap<String, u32> {
    counts.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
}

fn run(strategy: assignor::Strategy, counts: &[(&str, u32)], members: &[Member]) -> Assignment {
    assign(strategy, &topics(counts), members).expect("the assignor accepts the group")
}

/// Each member's list in the javadoc's notation: `"t0p0 t1p1"`.
fn render(assignment: &Assignment) -> Vec<(String, String)> {
    assignment
        .iter()
        .map(|(member, list)| {
            let parts: Vec<String> = list
                .iter()
                .map(|tp| format!("{}p{}", tp.topic, tp.partition))
                .collect();
            (member.clone(), parts.join(" "))
        })
        .collect()
}

fn expect(assignment: &Assignment, expected: &[(&str, &str)]) {
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, l)| ((*m).to_owned(), (*l).to_owned()))
        .collect();
    assert_eq!(render(assignment), expected);
}

/// A member subscribed to `subscription` that owns `owned` ("t0p1 t2p0") since `generation`.
fn owner(id: &str, subscription: &[&str], owned: &str, generation: i32) -> Member {
    let owned: Vec<(String, u32)> = owned
        .split_whitespace()
        .map(|tp| {
            let (topic, partition) = tp.rsplit_once('p').expect("tNpM");
            (topic.to_owned(), partition.parse().expect("a number"))
        })
        .collect();
    let owned: Vec<(&str, u32)> = owned.iter().map(|(t, p)| (t.as_str(), *p)).collect();
    Member::new(id, subscription).owning(&owned, generation)
}

const ALL4: [&str; 4] = ["t0", "t1", "t2", "t3"];

// ---- RangeAssignor ----

#[test]
fn range_javadoc_two_consumers_two_topics_of_three() {
    let members = [
        Member::new("C0", &["t0", "t1"]),
        Member::new("C1", &["t0", "t1"]),
    ];
    let a = run(Range, &[("t0", 3), ("t1", 3)], &members);
    expect(&a, &[("C0", "t0p0 t0p1 t1p0 t1p1"), ("C1", "t0p2 t1p2")]);
}

#[test]
fn range_javadoc_static_members_keep_their_ranges_across_new_member_ids() {
    // After a rolling bounce C0 became C3 and C1 became C2; instance ids I0 and I1 keep order.
    let members = [
        Member::new("C3", &["t0", "t1"]).with_instance_id("I0"),
        Member::new("C2", &["t0", "t1"]).with_instance_id("I1"),
    ];
    let a = run(Range, &[("t0", 3), ("t1", 3)], &members);
    expect(&a, &[("C2", "t0p2 t1p2"), ("C3", "t0p0 t0p1 t1p0 t1p1")]);
}

#[test]
fn range_puts_static_members_first_then_dynamic_ones_by_member_id() {
    let members = [
        Member::new("a", &["t"]),
        Member::new("z", &["t"]).with_instance_id("i2"),
        Member::new("b", &["t"]),
        Member::new("y", &["t"]).with_instance_id("i1"),
    ];
    let a = run(Range, &[("t", 6)], &members);
    expect(
        &a,
        &[
            ("a", "tp4"),
            ("b", "tp5"),
            ("y", "tp0 tp1"),
            ("z", "tp2 tp3"),
        ],
    );
}

#[test]
fn range_with_more_members_than_partitions_leaves_the_last_ones_empty() {
    let members: Vec<Member> = (0..4)
        .map(|i| Member::new(&format!("c{i}"), &["t"]))
        .collect();
    let a = run(Range, &[("t", 2)], &members);
    expect(&a, &[("c0", "tp0"), ("c1", "tp1"), ("c2", ""), ("c3", "")]);
}

#[test]
fn range_lists_topics_in_java_hash_map_order() {
    // "b" (98) and "a" (97) sit in buckets 2 and 1 of Java's table, "q" (113) in bucket 1 after
    // "a": the member's list follows the table, not the alphabet ("q" before "b").
    let members = [Member::new("m", &["q", "b", "a"])];
    let a = run(Range, &[("a", 1), ("b", 1), ("q", 1)], &members);
    expect(&a, &[("m", "ap0 qp0 bp0")]);
}

// ---- RoundRobinAssignor ----

#[test]
fn roundrobin_javadoc_two_consumers_two_topics_of_three() {
    let members = [
        Member::new("C0", &["t0", "t1"]),
        Member::new("C1", &["t0", "t1"]),
    ];
    let a = run(RoundRobin, &[("t0", 3), ("t1", 3)], &members);
    expect(&a, &[("C0", "t0p0 t0p2 t1p1"), ("C1", "t0p1 t1p0 t1p2")]);
}

#[test]
fn roundrobin_javadoc_differing_subscriptions() {
    let members = [
        Member::new("C0", &["t0"]),
        Member::new("C1", &["t0", "t1"]),
        Member::new("C2", &["t0", "t1", "t2"]),
    ];
    let a = run(RoundRobin, &[("t0", 1), ("t1", 2), ("t2", 3)], &members);
    expect(
        &a,
        &[
            ("C0", "t0p0"),
            ("C1", "t1p0"),
            ("C2", "t1p1 t2p0 t2p1 t2p2"),
        ],
    );
}

#[test]
fn roundrobin_deals_static_members_first() {
    let members = [
        Member::new("a", &["t"]),
        Member::new("b", &["t"]).with_instance_id("x"),
    ];
    let a = run(RoundRobin, &[("t", 3)], &members);
    expect(&a, &[("a", "tp1"), ("b", "tp0 tp2")]);
}

#[test]
fn members_with_no_subscriptions_get_empty_lists() {
    let members = [Member::new("c0", &["t"]), Member::new("c1", &[])];
    for strategy in [Range, RoundRobin] {
        expect(
            &run(strategy, &[("t", 2)], &members),
            &[("c0", "tp0 tp1"), ("c1", "")],
        );
    }
}

// ---- StickyAssignor and CooperativeStickyAssignor ----

#[test]
fn sticky_javadoc_three_consumers_four_topics_of_two() {
    let members = [
        Member::new("C0", &ALL4),
        Member::new("C1", &ALL4),
        Member::new("C2", &ALL4),
    ];
    let counts = [("t0", 2), ("t1", 2), ("t2", 2), ("t3", 2)];
    for strategy in [Sticky, CooperativeSticky] {
        let a = run(strategy, &counts, &members);
        expect(
            &a,
            &[
                ("C0", "t0p0 t1p1 t3p0"),
                ("C1", "t0p1 t2p0 t3p1"),
                ("C2", "t1p0 t2p1"),
            ],
        );
    }
}

#[test]
fn sticky_javadoc_when_c1_leaves_the_others_keep_their_partitions() {
    let members = [
        owner("C0", &ALL4, "t0p0 t1p1 t3p0", 1),
        owner("C2", &ALL4, "t1p0 t2p1", 1),
    ];
    let counts = [("t0", 2), ("t1", 2), ("t2", 2), ("t3", 2)];
    let a = run(Sticky, &counts, &members);
    // The javadoc (written for the pre-2.8 algorithm) hands C1's t0p1, t2p0, t3p1 out as C0 +t2p0
    // and C2 +t0p1 +t3p1. Kafka now lists kept partitions by partition number then topic and
    // deals the free ones, sorted, round-robin over the members below quota: C0 +t0p1, C2 +t2p0
    // +t3p1. Both keep every owned partition and balance 4/4.
    expect(
        &a,
        &[("C0", "t0p0 t3p0 t1p1 t0p1"), ("C2", "t1p0 t2p1 t2p0 t3p1")],
    );
    // Nothing changed owner, so the cooperative assignor withholds nothing.
    assert_eq!(run(CooperativeSticky, &counts, &members), a);
}

#[test]
fn sticky_javadoc_differing_subscriptions() {
    let members = [
        Member::new("C0", &["t0"]),
        Member::new("C1", &["t0", "t1"]),
        Member::new("C2", &["t0", "t1", "t2"]),
    ];
    let counts = [("t0", 1), ("t1", 2), ("t2", 3)];
    let a = run(Sticky, &counts, &members);
    expect(
        &a,
        &[
            ("C0", "t0p0"),
            ("C1", "t1p0 t1p1"),
            ("C2", "t2p0 t2p1 t2p2"),
        ],
    );
    // C0 leaves: its partition goes to the less loaded C1; nothing else moves.
    let members = [
        owner("C1", &["t0", "t1"], "t1p0 t1p1", 1),
        owner("C2", &["t0", "t1", "t2"], "t2p0 t2p1 t2p2", 1),
    ];
    let a = run(Sticky, &counts, &members);
    expect(&a, &[("C1", "t1p0 t1p1 t0p0"), ("C2", "t2p0 t2p1 t2p2")]);
}

#[test]
fn cooperative_revokes_a_moving_partition_before_its_new_owner_gets_it() {
    let counts = [("t", 3)];
    let joined = [
        owner("C0", &["t"], "tp0 tp1 tp2", 1),
        Member::new("C1", &["t"]),
    ];
    // Eager sticky moves tp2 at once; cooperative leaves it unassigned so C0 revokes it first.
    expect(
        &run(Sticky, &counts, &joined),
        &[("C0", "tp0 tp1"), ("C1", "tp2")],
    );
    expect(
        &run(CooperativeSticky, &counts, &joined),
        &[("C0", "tp0 tp1"), ("C1", "")],
    );
    // The follow-up rebalance: C0 no longer owns tp2, which now goes to C1.
    let rejoined = [
        owner("C0", &["t"], "tp0 tp1", 2),
        owner("C1", &["t"], "", 2),
    ];
    expect(
        &run(CooperativeSticky, &counts, &rejoined),
        &[("C0", "tp0 tp1"), ("C1", "tp2")],
    );
}

#[test]
fn cooperative_revokes_in_the_general_algorithm_too() {
    let counts = [("t0", 2), ("t1", 2)];
    let members = [
        owner("C0", &["t0", "t1"], "t0p0 t0p1 t1p0 t1p1", 1),
        Member::new("C1", &["t1"]),
    ];
    expect(
        &run(Sticky, &counts, &members),
        &[("C0", "t0p0 t0p1"), ("C1", "t1p0 t1p1")],
    );
    expect(
        &run(CooperativeSticky, &counts, &members),
        &[("C0", "t0p0 t0p1"), ("C1", "")],
    );
}

#[test]
fn a_stale_claim_from_an_older_generation_loses_to_the_newer_one() {
    let counts = [("t", 3)];
    let members = [
        owner("C0", &["t"], "tp0", 1),
        owner("C1", &["t"], "tp0 tp1", 2),
        owner("C2", &["t"], "tp2", 2),
    ];
    // C1 keeps tp0 (newer generation) and, at quota 1, gives up tp1, which goes to C0.
    expect(
        &run(Sticky, &counts, &members),
        &[("C0", "tp1"), ("C1", "tp0"), ("C2", "tp2")],
    );
    expect(
        &run(CooperativeSticky, &counts, &members),
        &[("C0", ""), ("C1", "tp0"), ("C2", "tp2")],
    );
    // The general algorithm resolves claims the same way.
    let counts = [("t0", 1), ("t1", 2)];
    let members = [
        owner("C0", &["t0", "t1"], "t1p0", 1),
        owner("C1", &["t1"], "t1p0 t1p1", 2),
    ];
    expect(
        &run(Sticky, &counts, &members),
        &[("C0", "t0p0"), ("C1", "t1p0 t1p1")],
    );
}

#[test]
fn two_claims_in_the_same_generation_both_lose_the_partition() {
    let counts = [("t", 2)];
    let members = [owner("C0", &["t"], "tp0", 3), owner("C1", &["t"], "tp0", 3)];
    expect(
        &run(Sticky, &counts, &members),
        &[("C0", "tp0"), ("C1", "tp1")],
    );
    expect(
        &run(CooperativeSticky, &counts, &members),
        &[("C0", ""), ("C1", "tp1")],
    );
}

#[test]
fn sticky_with_more_members_than_partitions() {
    let members: Vec<Member> = (0..4)
        .map(|i| Member::new(&format!("c{i}"), &["t"]))
        .collect();
    let a = run(Sticky, &[("t", 2)], &members);
    expect(&a, &[("c0", "tp0"), ("c1", "tp1"), ("c2", ""), ("c3", "")]);
}

#[test]
fn which_member_keeps_an_extra_partition_follows_java_hash_map_order() {
    // "q" and "a" share bucket 1 of Java's table, so the JoinGroup order decides which of them
    // the constrained algorithm meets first; that one keeps two partitions.
    let q = owner("q", &["t"], "tp0 tp1", 1);
    let a = owner("a", &["t"], "tp2 tp3", 1);
    let c = Member::new("c", &["t"]);
    let counts = [("t", 4)];
    let first_q = run(Sticky, &counts, &[q.clone(), a.clone(), c.clone()]);
    expect(&first_q, &[("a", "tp2"), ("c", "tp3"), ("q", "tp0 tp1")]);
    let first_a = run(Sticky, &counts, &[a, q, c]);
    expect(&first_a, &[("a", "tp2 tp3"), ("c", "tp1"), ("q", "tp0")]);
}

#[test]
fn sticky_reproduces_kafka_when_an_empty_subscription_comes_first() {
    // Kafka compares subscriptions with the first non-empty one it meets in HashMap order, so a
    // member with no topics met first ("C0", bucket 13) does not make them differ, and the
    // constrained algorithm gives it a partition. Met later ("C1", bucket 14), it gets nothing.
    let counts = [("t", 2)];
    let a = run(
        Sticky,
        &counts,
        &[Member::new("C0", &[]), Member::new("C1", &["t"])],
    );
    expect(&a, &[("C0", "tp0"), ("C1", "tp1")]);
    let a = run(
        Sticky,
        &counts,
        &[Member::new("C1", &[]), Member::new("C0", &["t"])],
    );
    expect(&a, &[("C0", "tp0 tp1"), ("C1", "")]);
}

#[test]
fn bad_groups_are_refused_with_the_member_named() {
    let counts = topics(&[("t", 2)]);
    let cases: [(&[Member], &str); 5] = [
        (
            &[Member::new("c", &["t"]), Member::new("c", &["t"])],
            "duplicate member_id \"c\"",
        ),
        (
            &[Member::new("c", &["u"])],
            "\"u\", which is not in partitions_per_topic",
        ),
        (&[Member::new("c", &["t", "t"])], "listed twice"),
        (
            &[owner("c", &["t"], "tp2", 1)],
            "owns t-2, but topic \"t\" has 2 partitions",
        ),
        (&[owner("c", &["t"], "tp0", -2)], "generation -2"),
    ];
    for (members, message) in cases {
        for strategy in assignor::Strategy::ALL {
            let err = assign(strategy, &counts, members).unwrap_err().to_string();
            assert!(err.contains(message), "{strategy:?}: {err}");
        }
    }
}

// ---- Properties over random groups ----

/// A random group: topics `t0`…, members with non-empty subscriptions (identical ones if asked),
/// and a previous assignment in which each partition has at most one owner, subscribed to it.
#[derive(Clone, Debug)]
struct Group {
    counts: BTreeMap<String, u32>,
    members: Vec<Member>,
}

/// Member ids with collisions in Java's table ("a"/"q", "b"/"r") so JoinGroup order matters.
const IDS: [&str; 6] = ["a", "q", "b", "r", "c0", "c1"];

fn group(identical: bool) -> impl proptest::strategy::Strategy<Value = Group> {
    (1usize..=4, 1usize..=6).prop_flat_map(move |(topic_count, member_count)| {
        (
            vec(0u32..=6, topic_count),
            vec(1u32..(1 << topic_count), member_count),
            Just(IDS.to_vec()).prop_shuffle(),
            vec(any::<Option<u8>>(), 24),
            vec(prop_oneof![Just(-1), 1i32..=3], member_count),
        )
            .prop_map(move |(counts, masks, ids, owners, generations)| {
                build_group(identical, &counts, &masks, &ids, &owners, &generations)
            })
    })
}

fn build_group(
    identical: bool,
    counts: &[u32],
    masks: &[u32],
    ids: &[&str],
    owners: &[Option<u8>],
    generations: &[i32],
) -> Group {
    let names: Vec<String> = (0..counts.len()).map(|t| format!("t{t}")).collect();
    let mut members: Vec<Member> = masks
        .iter()
        .enumerate()
        .map(|(i, mask)| {
            let mask = if identical { masks[0] } else { *mask };
            let topics: Vec<&str> = (0..names.len())
                .filter(|t| mask & (1 << t) != 0)
                .map(|t| names[t].as_str())
                .collect();
            let mut member = Member::new(ids[i], &topics);
            member.generation = generations[i];
            member
        })
        .collect();
    let mut choice = owners.iter();
    for (t, count) in counts.iter().enumerate() {
        let subscribers: Vec<usize> = (0..members.len())
            .filter(|m| members[*m].topics.contains(&names[t]))
            .collect();
        for p in 0..*count {
            if let Some(Some(x)) = choice.next()
                && !subscribers.is_empty()
            {
                let m = subscribers[usize::from(*x) % subscribers.len()];
                members[m]
                    .owned_partitions
                    .push(TopicPartition::new(&names[t], p));
            }
        }
    }
    let counts = names.into_iter().zip(counts.iter().copied()).collect();
    Group { counts, members }
}

/// The subscribed partitions of `group`, each with the members subscribed to its topic.
fn subscribed_partitions(group: &Group) -> BTreeMap<TopicPartition, BTreeSet<String>> {
    let mut all = BTreeMap::new();
    for (topic, count) in &group.counts {
        let subscribers: BTreeSet<String> = group
            .members
            .iter()
            .filter(|m| m.topics.contains(topic))
            .map(|m| m.member_id.clone())
            .collect();
        if subscribers.is_empty() {
            continue;
        }
        for p in 0..*count {
            all.insert(TopicPartition::new(topic, p), subscribers.clone());
        }
    }
    all
}

/// Each assigned partition with its member; fails if one is assigned twice or to a member not
/// subscribed to its topic.
fn owners_of(group: &Group, assignment: &Assignment) -> BTreeMap<TopicPartition, String> {
    let all = subscribed_partitions(group);
    let mut owner = BTreeMap::new();
    for (member, list) in assignment {
        for tp in list {
            assert!(
                all[tp].contains(member),
                "{tp} given to {member}, not subscribed"
            );
            assert!(
                owner.insert(tp.clone(), member.clone()).is_none(),
                "{tp} given twice"
            );
        }
    }
    owner
}

fn previous_owner(group: &Group, tp: &TopicPartition) -> Option<String> {
    group
        .members
        .iter()
        .find(|m| m.owned_partitions.contains(tp))
        .map(|m| m.member_id.clone())
}

fn as_sets(assignment: &Assignment) -> BTreeMap<String, BTreeSet<TopicPartition>> {
    assignment
        .iter()
        .map(|(m, list)| (m.clone(), list.iter().cloned().collect()))
        .collect()
}

/// `group` with `assignment` as every member's owned partitions, in generation `generation`.
fn owning(group: &Group, assignment: &Assignment, generation: i32) -> Group {
    let mut next = group.clone();
    for member in &mut next.members {
        member.owned_partitions = assignment[&member.member_id].clone();
        member.generation = generation;
    }
    next
}

proptest! {
    #[test]
    fn every_subscribed_partition_goes_to_exactly_one_subscriber(g in group(false)) {
        for strategy in [Range, RoundRobin, Sticky] {
            let a = assign(strategy, &g.counts, &g.members).expect("accepted");
            prop_assert_eq!(a.len(), g.members.len());
            let owner = owners_of(&g, &a);
            let all: BTreeSet<_> = subscribed_partitions(&g).into_keys().collect();
            prop_assert_eq!(owner.into_keys().collect::<BTreeSet<_>>(), all, "{:?}", strategy);
        }
    }

    #[test]
    fn cooperative_withholds_only_partitions_changing_owner(g in group(false)) {
        let cooperative = assign(CooperativeSticky, &g.counts, &g.members).expect("accepted");
        let sticky = assign(Sticky, &g.counts, &g.members).expect("accepted");
        let owner = owners_of(&g, &cooperative);
        for (tp, member) in &owner {
            // No partition goes to a member other than its current owner in the same rebalance.
            if let Some(previous) = previous_owner(&g, tp) {
                prop_assert_eq!(&previous, member, "{} moved without being revoked", tp);
            }
        }
        let sticky_sets = as_sets(&sticky);
        for (member, list) in &as_sets(&cooperative) {
            prop_assert!(list.is_subset(&sticky_sets[member]));
            for tp in sticky_sets[member].difference(list) {
                let previous = previous_owner(&g, tp);
                prop_assert!(previous.is_some() && previous.as_ref() != Some(member));
            }
        }
    }

    #[test]
    fn sticky_with_identical_subscriptions_is_balanced(g in group(true)) {
        for strategy in [Sticky, CooperativeSticky] {
            let a = assign(strategy, &g.counts, &g.members).expect("accepted");
            if strategy == Sticky {
                let counts: Vec<usize> = a.values().map(Vec::len).collect();
                let (min, max) = (counts.iter().min(), counts.iter().max());
                prop_assert!(max.unwrap() - min.unwrap() <= 1, "{:?}", a);
            }
        }
    }

    #[test]
    fn a_balanced_assignment_does_not_move(g in group(true)) {
        let nothing = g.members.iter().map(|m| (m.member_id.clone(), vec![])).collect();
        let fresh = owning(&g, &nothing, -1);
        for previous in [RoundRobin, Sticky] {
            let before = assign(previous, &g.counts, &fresh.members).expect("accepted");
            let next = owning(&g, &before, 5);
            for strategy in [Sticky, CooperativeSticky] {
                let after = assign(strategy, &next.counts, &next.members).expect("accepted");
                let (after, before) = (as_sets(&after), as_sets(&before));
                prop_assert_eq!(after, before, "{:?} after {:?}", strategy, previous);
            }
        }
    }
}

// ---- kafkasim assign ----

fn kafkasim_assign(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafkasim"))
        .arg("assign")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    // The binary may exit before reading (a usage error): a broken pipe is fine.
    let _ = pipe.write_all(stdin.as_bytes());
    drop(pipe);
    child.wait_with_output().expect("the binary finishes")
}

const DESIGN_EXAMPLE: &str = r#"{"partitions_per_topic": {"t1": 3, "t2": 2},
 "members": [{"member_id": "c1", "group_instance_id": null, "topics": ["t1", "t2"],
              "owned_partitions": [["t1", 0]], "generation": 4},
             {"member_id": "c2", "topics": ["t1"]}]}"#;

#[test]
fn cli_prints_every_members_partitions() {
    let out = kafkasim_assign(&["--strategy", "cooperative-sticky"], DESIGN_EXAMPLE);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // General algorithm: t2 only c1 can take; c1 keeps t1-0, c2 gets the rest of t1 to balance.
    assert_eq!(
        text(&out.stdout),
        "{\"c1\": [[\"t1\", 0], [\"t2\", 0], [\"t2\", 1]], \"c2\": [[\"t1\", 1], [\"t1\", 2]]}\n"
    );
    let out = kafkasim_assign(&["--strategy", "roundrobin"], DESIGN_EXAMPLE);
    assert_eq!(
        text(&out.stdout),
        "{\"c1\": [[\"t1\", 0], [\"t1\", 2], [\"t2\", 0], [\"t2\", 1]], \"c2\": [[\"t1\", 1]]}\n"
    );
}

#[test]
fn cli_bad_input_exits_2_with_nothing_on_stdout() {
    let one =
        |member: &str| format!(r#"{{"partitions_per_topic": {{"t": 1}}, "members": [{member}]}}"#);
    let cases: Vec<(Vec<&str>, String, &str)> = vec![
        (
            vec!["--strategy", "range"],
            "{\n  \"partitions_per_topic\": {\"t\": 1},\n  \"members\": [}".into(),
            "<stdin>:3:15: expected value",
        ),
        (
            vec!["--strategy", "range"],
            one(r#"{"member_id": "c", "topics": ["t"], "rack": "a"}"#),
            "unknown field `rack`",
        ),
        (
            vec!["--strategy", "range"],
            one(r#"{"member_id": "c"}"#),
            "missing field `topics`",
        ),
        (
            vec!["--strategy", "sticky"],
            one(r#"{"member_id": "c", "topics": ["t"]}, {"member_id": "c", "topics": ["t"]}"#),
            "duplicate member_id \"c\"",
        ),
        (
            vec!["--strategy", "roundrobin"],
            one(r#"{"member_id": "c", "topics": ["u"]}"#),
            "topic \"u\", which is not in partitions_per_topic",
        ),
        (
            vec!["--strategy", "fair"],
            one(r#"{"member_id": "c", "topics": ["t"]}"#),
            "invalid value 'fair'",
        ),
        (
            vec![],
            one(r#"{"member_id": "c", "topics": ["t"]}"#),
            "--strategy",
        ),
    ];
    for (args, stdin, message) in cases {
        let out = kafkasim_assign(&args, &stdin);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {stdin}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn cli_help_lists_assign() {
    let out = Command::new(env!("CARGO_BIN_EXE_kafkasim"))
        .arg("--help")
        .output()
        .expect("the binary runs");
    let help = text(&out.stdout);
    assert!(help.contains("kafkasim assign --strategy"), "{help}");
    let out = Command::new(env!("CARGO_BIN_EXE_kafkasim"))
        .args(["assign", "--help"])
        .output()
        .expect("the binary runs");
    assert!(text(&out.stdout).contains("cooperative-sticky"));
}

#[test]
fn kafka_test_assignment_with_conflicting_previous_generations() {
    // AbstractStickyAssignorTest.testAssignmentWithConflictingPreviousGenerations, without racks:
    // consumer1 (generation 1) claims partitions that consumer2 and consumer3 (generation 2)
    // also claim; the newer claims win and the result is 4/4/4.
    let all = ["topic", "topic2", "topic3"];
    let counts = [("topic", 4), ("topic2", 4), ("topic3", 4)];
    for all_equal in [true, false] {
        let (c1_topics, c2_topics): (&[&str], &[&str]) = if all_equal {
            (&all, &all)
        } else {
            (&["topic"], &["topic", "topic2"])
        };
        let c1_owned = if all_equal {
            "topicp0 topicp1 topicp2 topic2p2 topic2p3 topic3p0"
        } else {
            "topicp0 topicp1 topicp2 topicp3"
        };
        let c2_owned = "topicp0 topicp1 topic2p0 topic2p1 topic2p2 topic2p3";
        let c3_owned = "topicp2 topicp3 topic3p0 topic3p1 topic3p2 topic3p3";
        let members = [
            owner("consumer1", c1_topics, c1_owned, 1),
            owner("consumer2", c2_topics, c2_owned, 2),
            owner("consumer3", &all, c3_owned, 2),
        ];
        let a = run(Sticky, &counts, &members);
        let sizes: Vec<usize> = a.values().map(Vec::len).collect();
        assert_eq!(sizes, [4, 4, 4], "{a:?}");
        for (member, list) in &a {
            let m = members
                .iter()
                .find(|m| &m.member_id == member)
                .expect("a member");
            assert!(list.iter().all(|tp| m.topics.contains(&tp.topic)), "{a:?}");
            if member != "consumer1" {
                assert!(
                    list.iter().all(|tp| m.owned_partitions.contains(tp)),
                    "{a:?}"
                );
            }
        }
    }
}

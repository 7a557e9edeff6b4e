//! Kafka's `RangeAssignor`: for each topic, the subscribed members in `MemberInfo` order (static
//! members by `group.instance.id` first, then the others by member id); with `n` partitions and
//! `m` members each gets `n / m` contiguous partitions and the first `n % m` one more.
//!
//! Topics are taken in the order Kafka's `partitionsPerTopic` `HashMap` iterates them, so a
//! member's list is grouped by topic in that order (`t0` before `t1`, but not always
//! alphabetical: see [`topic_order`]).

use std::collections::BTreeMap;

use super::java;
use super::{Assignment, Member, TopicPartition};

/// Assigns ranges; `members` are in the leader's `HashMap` order, topics have partitions.
pub(super) fn assign(
    partitions_per_topic: &BTreeMap<String, u32>,
    members: &[&Member],
) -> Assignment {
    let mut assignment: Assignment = members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect();
    for topic in topic_order(partitions_per_topic, members) {
        let count = partitions_per_topic[&topic];
        let mut consumers: Vec<&Member> = members
            .iter()
            .copied()
            .filter(|m| m.topics.contains(&topic))
            .collect();
        consumers.sort_by(|a, b| a.cmp_member_info(b));
        let per_member = count / consumers.len() as u32;
        let with_extra = count % consumers.len() as u32;
        let mut next = 0;
        for (i, member) in consumers.iter().enumerate() {
            let length = per_member + u32::from((i as u32) < with_extra);
            let list = assignment
                .get_mut(&member.member_id)
                .expect("every member has a list");
            list.extend((next..next + length).map(|p| TopicPartition::new(&topic, p)));
            next += length;
        }
        debug_assert_eq!(next, count);
    }
    assignment
}

/// The topics in the order `AbstractPartitionAssignor`'s `partitionsPerTopic` iterates them: it is
/// a `HashMap` filled from the `HashSet` of all subscribed topics, which was filled member by
/// member (in `HashMap` order) from each subscription's topic list (sorted on the wire).
pub(super) fn topic_order(
    partitions_per_topic: &BTreeMap<String, u32>,
    members: &[&Member],
) -> Vec<String> {
    let mut first_seen: Vec<&str> = Vec::new();
    for member in members {
        let mut topics: Vec<&str> = member.topics.iter().map(String::as_str).collect();
        topics.sort_by(|a, b| java::string_cmp(a, b));
        for topic in topics {
            if !first_seen.contains(&topic) {
                first_seen.push(topic);
            }
        }
    }
    let all_subscribed: Vec<&str> = java::hash_order(&first_seen)
        .into_iter()
        .map(|i| first_seen[i])
        .collect();
    let with_partitions: Vec<&str> = all_subscribed
        .into_iter()
        .filter(|t| partitions_per_topic.contains_key(*t))
        .collect();
    java::hash_order(&with_partitions)
        .into_iter()
        .map(|i| with_partitions[i].to_owned())
        .collect()
}

//! Kafka's `RoundRobinAssignor`: every partition of every subscribed topic, topics in name order
//! and partitions ascending, dealt in turn over the members in `MemberInfo` order (static members
//! by `group.instance.id` first, then the others by member id); a member not subscribed to the
//! partition's topic is skipped, and the turn passes on from whoever took the partition.

use std::collections::BTreeMap;

use super::java;
use super::{Assignment, Member, TopicPartition};

/// Deals the partitions out; every topic in `partitions_per_topic` has a subscriber.
pub(super) fn assign(
    partitions_per_topic: &BTreeMap<String, u32>,
    members: &[&Member],
) -> Assignment {
    let mut assignment: Assignment = members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect();
    let mut circle: Vec<&Member> = members.to_vec();
    circle.sort_by(|a, b| a.cmp_member_info(b));
    let mut topics: Vec<&String> = partitions_per_topic.keys().collect();
    topics.sort_by(|a, b| java::string_cmp(a, b));
    let mut turn = 0;
    for topic in topics {
        for partition in 0..partitions_per_topic[topic] {
            // Kafka's CircularIterator: skip members not subscribed to this topic.
            while !circle[turn].topics.contains(topic) {
                turn = (turn + 1) % circle.len();
            }
            let list = assignment
                .get_mut(&circle[turn].member_id)
                .expect("every member has a list");
            list.push(TopicPartition::new(topic, partition));
            turn = (turn + 1) % circle.len();
        }
    }
    assignment
}

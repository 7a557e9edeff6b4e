//! Kafka's `AbstractStickyAssignor`, shared by `StickyAssignor` and `CooperativeStickyAssignor`:
//! which owned partitions count, which of the two algorithms runs, and the cooperative
//! assignor's revocation step.
//!
//! Owned partitions: each member's claims on partitions of topics still in the assignment are
//! kept, except that when two members claim the same partition the one with the higher generation
//! keeps it, and with equal generations neither does (the partition is then treated as changing
//! owner). When every member has the same subscription the "constrained" algorithm runs
//! ([`super::constrained`]), otherwise the "general" one ([`super::general`]).
//!
//! Cooperative: a partition that moves from one owner to another is left out of the new owner's
//! list in this rebalance, so the old owner revokes it first; the follow-up rebalance assigns it.

use std::collections::{BTreeMap, BTreeSet};

use super::java;
use super::{AssignError, Assignment, DEFAULT_GENERATION, Member, TopicPartition};

/// One member's still-valid owned partitions (`consumerToOwnedPartitions`).
#[derive(Clone, Debug)]
pub(super) struct Owned {
    /// The member.
    pub member_id: String,
    /// The partitions it keeps a claim on, in the order its member data lists them.
    pub partitions: Vec<TopicPartition>,
}

/// What the sticky algorithms start from.
pub(super) struct Prepared {
    /// Owned partitions per member, in the leader's `HashMap` order of members.
    pub owned: Vec<Owned>,
    /// Partitions claimed by two members of the same generation.
    pub multiple_owners: BTreeSet<TopicPartition>,
    /// Whether Kafka found all subscriptions equal.
    pub all_equal: bool,
    /// The highest generation among the members.
    pub max_generation: i32,
}

/// Runs the sticky assignor (`cooperative` selects `CooperativeStickyAssignor`); `members` are
/// in the leader's `HashMap` order.
pub(super) fn assign(
    partitions_per_topic: &BTreeMap<String, u32>,
    members: &[&Member],
    cooperative: bool,
) -> Result<Assignment, AssignError> {
    if members.is_empty() {
        return Ok(Assignment::new());
    }
    let member_data: Vec<Vec<TopicPartition>> = members
        .iter()
        .map(|m| member_data_partitions(&m.owned_partitions, cooperative))
        .collect();
    let prepared = prepare(partitions_per_topic, members, &member_data);
    let (mut assignment, transferring) = if prepared.all_equal {
        let (assignment, transferring) =
            super::constrained::assign(partitions_per_topic, &prepared)?;
        (assignment, Some(transferring))
    } else {
        let assignment =
            super::general::assign(partitions_per_topic, members, &member_data, prepared)?;
        (assignment, None)
    };
    if cooperative {
        let transferring =
            transferring.unwrap_or_else(|| partitions_changing_owner(members, &assignment));
        for (tp, new_owner) in transferring {
            let list = assignment
                .get_mut(&new_owner)
                .expect("every member has a list");
            if let Some(at) = list.iter().position(|x| *x == tp) {
                list.remove(at);
            }
        }
    }
    Ok(assignment)
}

/// A member's owned partitions in the order the leader's assignor receives them. The cooperative
/// assignor reads the subscription's `ownedPartitions`, which the consumer protocol serializes
/// sorted by topic and partition. The eager sticky assignor reads its user data, which groups
/// the previous assignment by topic through a `HashMap` (topics in `HashMap` order, partitions in
/// the order given).
fn member_data_partitions(owned: &[TopicPartition], cooperative: bool) -> Vec<TopicPartition> {
    let mut partitions = owned.to_vec();
    if cooperative {
        partitions.sort_by(|a, b| a.cmp_topic_then_partition(b));
        return partitions;
    }
    let mut topics: Vec<&str> = Vec::new();
    for tp in owned {
        if !topics.contains(&tp.topic.as_str()) {
            topics.push(&tp.topic);
        }
    }
    java::hash_order(&topics)
        .into_iter()
        .flat_map(|i| {
            let topic = topics[i];
            owned.iter().filter(move |tp| tp.topic == topic).cloned()
        })
        .collect()
}

/// Kafka's `allSubscriptionsEqual`: decides the algorithm and resolves owned partitions.
///
/// Kafka compares each subscription with the first non-empty one it met, so a member with no
/// topics that comes first in `HashMap` order does not make the subscriptions differ (and then
/// gets partitions in the constrained algorithm); this is reproduced.
fn prepare(
    partitions_per_topic: &BTreeMap<String, u32>,
    members: &[&Member],
    member_data: &[Vec<TopicPartition>],
) -> Prepared {
    let mut all_equal = true;
    let mut subscribed: BTreeSet<&str> = BTreeSet::new();
    let mut owner_of: BTreeMap<TopicPartition, usize> = BTreeMap::new();
    let mut owned: Vec<Vec<TopicPartition>> = vec![Vec::new(); members.len()];
    let mut multiple_owners = BTreeSet::new();
    let mut max_generation = DEFAULT_GENERATION;
    for (i, member) in members.iter().enumerate() {
        let topics: BTreeSet<&str> = member.topics.iter().map(String::as_str).collect();
        if subscribed.is_empty() {
            subscribed = topics;
        } else if all_equal && topics != subscribed {
            all_equal = false;
        }
        let generation = member.generation;
        max_generation = max_generation.max(generation);
        for tp in &member_data[i] {
            if !partitions_per_topic.contains_key(&tp.topic) {
                continue;
            }
            let Some(&other) = owner_of.get(tp) else {
                owned[i].push(tp.clone());
                owner_of.insert(tp.clone(), i);
                continue;
            };
            let other_generation = members[other].generation;
            if generation >= other_generation {
                // Same generation: nobody keeps it. Higher: this member takes it over.
                owned[other].retain(|x| x != tp);
                if generation == other_generation {
                    multiple_owners.insert(tp.clone());
                } else {
                    owned[i].push(tp.clone());
                }
                owner_of.insert(tp.clone(), i);
            }
        }
    }
    let owned = members
        .iter()
        .zip(owned)
        .map(|(m, partitions)| Owned {
            member_id: m.member_id.clone(),
            partitions,
        })
        .collect();
    Prepared {
        owned,
        multiple_owners,
        all_equal,
        max_generation,
    }
}

/// `CooperativeStickyAssignor.computePartitionsTransferringOwnership`, for the general algorithm:
/// partitions now assigned to a member that did not own them while some member that owned them
/// (by its subscription's `ownedPartitions`, generation not considered) lost them.
fn partitions_changing_owner(
    members: &[&Member],
    assignment: &Assignment,
) -> BTreeMap<TopicPartition, String> {
    let mut added = BTreeMap::new();
    let mut revoked = BTreeSet::new();
    for member in members {
        let assigned = &assignment[&member.member_id];
        let owned: BTreeSet<&TopicPartition> = member.owned_partitions.iter().collect();
        for tp in assigned {
            if !owned.contains(tp) {
                added.insert(tp.clone(), member.member_id.clone());
            }
        }
        let assigned: BTreeSet<&TopicPartition> = assigned.iter().collect();
        for tp in &member.owned_partitions {
            if !assigned.contains(tp) {
                revoked.insert(tp.clone());
            }
        }
    }
    added.retain(|tp, _| revoked.contains(tp));
    added
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tps(list: &[(&str, u32)]) -> Vec<TopicPartition> {
        list.iter()
            .map(|(t, p)| TopicPartition::new(t, *p))
            .collect()
    }

    #[test]
    fn member_data_orders_owned_partitions_as_each_assignor_receives_them() {
        let owned = tps(&[("b", 1), ("q", 0), ("a", 2), ("b", 0), ("a", 1)]);
        // Cooperative: the consumer protocol sorts by topic, then partition.
        let cooperative = tps(&[("a", 1), ("a", 2), ("b", 0), ("b", 1), ("q", 0)]);
        assert_eq!(member_data_partitions(&owned, true), cooperative);
        // Eager sticky user data: topics in Java HashMap order ("q", met before "a", shares
        // bucket 1 with it; "b" is in bucket 2), each topic's partitions as given.
        let eager = tps(&[("q", 0), ("a", 2), ("a", 1), ("b", 1), ("b", 0)]);
        assert_eq!(member_data_partitions(&owned, false), eager);
    }
}

//! The sticky assignors' "constrained" algorithm (Kafka's `ConstrainedAssignmentBuilder`), used
//! when every member subscribes to the same topics. With `P` partitions and `M` members every
//! member ends with `P / M` partitions (`min_quota`) or one more (`max_quota`), and `P % M`
//! members get the extra one.
//!
//! 1. Owned partitions, members in the leader's `HashMap` order: each member's owned partitions
//!    are sorted by partition number, then topic. A member owning fewer than `min_quota` keeps
//!    them all; one owning `max_quota` or more keeps the first `max_quota` while members with an
//!    extra partition are still wanted; otherwise it keeps the first `min_quota`. The rest are
//!    revoked. So which members keep an extra partition depends on the `HashMap` order.
//! 2. The unassigned partitions, sorted by topic then partition, go round-robin to the members
//!    below `min_quota` (sorted by member id), and then one each to the members at exactly
//!    `min_quota` that may still take an extra one (sorted by member id).
//!
//! A newly assigned partition that some member had to give up (revoked in step 1, or claimed by
//! two members of the same generation) is "transferring ownership": the cooperative assignor
//! withholds it in this rebalance.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::java;
use super::sticky::Prepared;
use super::{AssignError, Assignment, TopicPartition};

/// Partitions that change owner, with their new owner.
pub(super) type Transferring = BTreeMap<TopicPartition, String>;

/// The constrained algorithm's working state.
struct Builder<'a> {
    prepared: &'a Prepared,
    min_quota: usize,
    max_quota: usize,
    /// How many members end with `max_quota` (zero when the quotas are equal).
    expected_over_min: usize,
    /// How many members have been given `max_quota` so far.
    current_over_min: usize,
    assignment: Assignment,
    assigned: BTreeSet<TopicPartition>,
    revoked: BTreeSet<TopicPartition>,
    /// Members below `min_quota`.
    under_min: Vec<String>,
    /// Members at exactly `min_quota` that may still take one more.
    exactly_min: VecDeque<String>,
    transferring: Transferring,
}

/// Runs the constrained algorithm over `prepared` (at least one member).
pub(super) fn assign(
    partitions_per_topic: &BTreeMap<String, u32>,
    prepared: &Prepared,
) -> Result<(Assignment, Transferring), AssignError> {
    let total: usize = partitions_per_topic.values().map(|n| *n as usize).sum();
    let members = prepared.owned.len();
    let mut b = Builder {
        prepared,
        min_quota: total / members,
        max_quota: total.div_ceil(members),
        expected_over_min: total % members,
        current_over_min: 0,
        assignment: prepared
            .owned
            .iter()
            .map(|o| (o.member_id.clone(), Vec::new()))
            .collect(),
        assigned: BTreeSet::new(),
        revoked: BTreeSet::new(),
        under_min: Vec::new(),
        exactly_min: VecDeque::new(),
        transferring: Transferring::new(),
    };
    b.assign_owned();
    let mut topics: Vec<&String> = partitions_per_topic.keys().collect();
    topics.sort_by(|x, y| java::string_cmp(x, y));
    let unassigned: Vec<TopicPartition> = topics
        .into_iter()
        .flat_map(|t| (0..partitions_per_topic[t]).map(move |p| TopicPartition::new(t, p)))
        .filter(|tp| !b.assigned.contains(tp))
        .collect();
    b.under_min.sort_by(|x, y| java::string_cmp(x, y));
    b.exactly_min
        .make_contiguous()
        .sort_by(|x, y| java::string_cmp(x, y));
    b.assign_round_robin(&unassigned)?;
    b.verify_unfilled()?;
    Ok((b.assignment, b.transferring))
}

impl Builder<'_> {
    /// Step 1: keep owned partitions up to the quotas.
    fn assign_owned(&mut self) {
        for owned in &self.prepared.owned {
            let member = &owned.member_id;
            let mut partitions: Vec<TopicPartition> = owned
                .partitions
                .iter()
                .filter(|tp| !self.prepared.multiple_owners.contains(*tp))
                .cloned()
                .collect();
            partitions.sort_by(|a, b| {
                a.partition
                    .cmp(&b.partition)
                    .then_with(|| java::string_cmp(&a.topic, &b.topic))
            });
            let keep = if partitions.len() < self.min_quota {
                self.under_min.push(member.clone());
                partitions.len()
            } else if partitions.len() >= self.max_quota
                && self.current_over_min < self.expected_over_min
            {
                self.current_over_min += 1;
                if self.current_over_min == self.expected_over_min {
                    self.exactly_min.clear();
                }
                self.max_quota
            } else {
                if self.current_over_min < self.expected_over_min {
                    self.exactly_min.push_back(member.clone());
                }
                self.min_quota
            };
            let revoked = partitions.split_off(keep);
            self.revoked.extend(revoked);
            self.assigned.extend(partitions.iter().cloned());
            self.assignment
                .get_mut(member)
                .expect("every member has a list")
                .extend(partitions);
        }
    }

    /// Step 2: deal the unassigned partitions, as Kafka's `assignRoundRobin` walks its lists.
    fn assign_round_robin(&mut self, unassigned: &[TopicPartition]) -> Result<(), AssignError> {
        // Kafka walks `under_min` with an iterator that removes members reaching `min_quota`
        // and starts over at the end; `cursor` is that iterator's position.
        let mut cursor = 0;
        for tp in unassigned {
            let (member, from_under_min) = if cursor < self.under_min.len() {
                cursor += 1;
                (self.under_min[cursor - 1].clone(), true)
            } else if self.under_min.is_empty() {
                match self.exactly_min.pop_front() {
                    Some(member) => (member, false),
                    None => {
                        return Err(AssignError::KafkaThrows(
                            "IllegalStateException: No more unfilled consumers to be assigned."
                                .to_owned(),
                        ));
                    }
                }
            } else {
                cursor = 1;
                (self.under_min[0].clone(), true)
            };
            let count = self.assign_new(tp, &member);
            if count == self.min_quota {
                // Only a member from `under_min` can reach `min_quota` here.
                debug_assert!(from_under_min);
                cursor -= 1;
                self.under_min.remove(cursor);
                self.exactly_min.push_back(member);
            } else if count == self.max_quota {
                self.current_over_min += 1;
            }
        }
        Ok(())
    }

    /// Gives `tp` to `member`, noting a change of owner; returns the member's new count.
    fn assign_new(&mut self, tp: &TopicPartition, member: &str) -> usize {
        if self.revoked.contains(tp) || self.prepared.multiple_owners.contains(tp) {
            self.transferring.insert(tp.clone(), member.to_owned());
        }
        let list = self
            .assignment
            .get_mut(member)
            .expect("every member has a list");
        list.push(tp.clone());
        list.len()
    }

    /// Kafka's `verifyUnfilledMembers`: members left below `min_quota` mean a bug; Kafka throws.
    fn verify_unfilled(&self) -> Result<(), AssignError> {
        if self.under_min.is_empty() {
            return Ok(());
        }
        if self.current_over_min != self.expected_over_min {
            return Err(AssignError::KafkaThrows(
                "IllegalStateException: We haven't reached the expected number of members with \
                 more than the minQuota partitions, but no more partitions to be assigned"
                    .to_owned(),
            ));
        }
        for member in &self.under_min {
            if self.assignment[member].len() != self.min_quota {
                return Err(AssignError::KafkaThrows(format!(
                    "IllegalStateException: Consumer: [{member}] doesn't reach minQuota \
                     partitions, and no more partitions to be assigned"
                )));
            }
        }
        Ok(())
    }
}

//! The sticky assignors' "general" algorithm (Kafka's `GeneralAssignmentBuilder`), used when
//! members subscribe to different topics.
//!
//! 1. Every member keeps its valid owned partitions of topics it still subscribes to.
//! 2. Topics are sorted by how many members subscribe to them (fewest first), then by name; the
//!    unassigned partitions, in that order, each go to the member with the fewest partitions
//!    (ties by member id) among those subscribed to the topic.
//! 3. While the assignment is not balanced, partitions are moved from a member to a less loaded
//!    one: back to the member that owned it in an older generation if that one has at least two
//!    fewer, else to the least loaded subscriber. A move that undoes an earlier move between the
//!    same two members moves an earlier-moved partition back instead (Kafka's
//!    `PartitionMovements`; "earlier-moved" is the first of a `HashSet`, reproduced with
//!    [`super::java::JavaHashSet`]). If that did not improve the balance score (sum of pairwise
//!    count differences) over step 2's result, and the group was not starting from nothing, the
//!    moves are undone.
//!
//! Topics only one member subscribes to, and members that already have every partition they
//! could get of such topics, take no part in step 3. Moved partitions go to the end of the new
//! owner's list.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use super::java::{self, JavaHashSet};
use super::sticky::Prepared;
use super::{AssignError, Assignment, DEFAULT_GENERATION, Member, TopicPartition};

/// Most partition moves step 3 may make; Kafka has no bound, and a sequence this long would mean
/// it never settles.
const REASSIGNMENTS_MAX: usize = 1_000_000;

/// A member id ordered as Java orders strings.
#[derive(Clone, Debug, PartialEq, Eq)]
struct JavaString(String);

impl Ord for JavaString {
    fn cmp(&self, other: &Self) -> Ordering {
        java::string_cmp(&self.0, &other.0)
    }
}

impl PartialOrd for JavaString {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A move of some partition from one member to another.
type MemberPair = (String, String);

/// Kafka's `PartitionMovements`: where each moved partition came from, per topic and pair.
#[derive(Default)]
struct Movements {
    by_partition: BTreeMap<TopicPartition, MemberPair>,
    by_topic: BTreeMap<String, BTreeMap<MemberPair, JavaHashSet<TopicPartition>>>,
}

impl Movements {
    fn remove_record(&mut self, tp: &TopicPartition) -> Option<MemberPair> {
        let pair = self.by_partition.remove(tp)?;
        let topic = self.by_topic.get_mut(&tp.topic)?;
        if let Some(set) = topic.get_mut(&pair) {
            set.remove(tp.java_hash(), tp);
            if set.is_empty() {
                topic.remove(&pair);
            }
        }
        if topic.is_empty() {
            self.by_topic.remove(&tp.topic);
        }
        Some(pair)
    }

    fn add_record(&mut self, tp: &TopicPartition, pair: MemberPair) {
        self.by_partition.insert(tp.clone(), pair.clone());
        let topic = self.by_topic.entry(tp.topic.clone()).or_default();
        topic
            .entry(pair)
            .or_default()
            .insert(tp.java_hash(), tp.clone());
    }

    fn move_partition(&mut self, tp: &TopicPartition, old: &str, new: &str) {
        if let Some((source, _)) = self.remove_record(tp) {
            // A partition moving back to where it started leaves no record.
            if source != new {
                self.add_record(tp, (source, new.to_owned()));
            }
        } else {
            self.add_record(tp, (old.to_owned(), new.to_owned()));
        }
    }

    /// Kafka's `getTheActualPartitionToBeMoved`: moving `tp` from `old` to `new` moves instead a
    /// partition of the same topic that earlier moved from `new` to `old`, if there is one.
    fn actual_partition_to_move(
        &self,
        tp: &TopicPartition,
        old: &str,
        new: &str,
    ) -> TopicPartition {
        let Some(topic) = self.by_topic.get(&tp.topic) else {
            return tp.clone();
        };
        let old = match self.by_partition.get(tp) {
            Some((source, _)) => source.as_str(),
            None => old,
        };
        match topic.get(&(new.to_owned(), old.to_owned())) {
            Some(set) => set.iter().next().cloned().unwrap_or_else(|| tp.clone()),
            None => tp.clone(),
        }
    }
}

/// The general algorithm's working state.
struct Builder<'a> {
    partitions_per_topic: &'a BTreeMap<String, u32>,
    /// Members subscribed to each topic (`topic2AllPotentialConsumers`).
    topic_members: BTreeMap<String, Vec<String>>,
    /// Topics each member subscribes to (`consumer2AllPotentialTopics`).
    member_topics: BTreeMap<String, BTreeSet<String>>,
    /// Each taking-part member's partitions, in Kafka's list order (`currentAssignment`).
    current: Assignment,
    /// The owner of each assigned partition (`currentPartitionConsumer`).
    owner: BTreeMap<TopicPartition, String>,
    /// Taking-part members by (partition count, member id) (`sortedCurrentSubscriptions`).
    by_load: BTreeSet<(usize, JavaString)>,
    /// The owner of a partition in the most recent older generation, with that generation.
    previous: BTreeMap<TopicPartition, (String, i32)>,
    movements: Movements,
    reassignments: usize,
}

/// Runs the general algorithm; `members` are in the leader's `HashMap` order and
/// `member_data[i]` lists member `i`'s owned partitions as its member data orders them.
pub(super) fn assign(
    partitions_per_topic: &BTreeMap<String, u32>,
    members: &[&Member],
    member_data: &[Vec<TopicPartition>],
    prepared: Prepared,
) -> Result<Assignment, AssignError> {
    let mut topic_members: BTreeMap<String, Vec<String>> = partitions_per_topic
        .keys()
        .map(|t| (t.clone(), Vec::new()))
        .collect();
    let mut member_topics = BTreeMap::new();
    for member in members {
        let topics: BTreeSet<String> = member
            .topics
            .iter()
            .filter(|t| partitions_per_topic.contains_key(*t))
            .cloned()
            .collect();
        for topic in &topics {
            topic_members
                .entry(topic.clone())
                .or_default()
                .push(member.member_id.clone());
        }
        member_topics.insert(member.member_id.clone(), topics);
    }
    let mut b = Builder {
        partitions_per_topic,
        topic_members,
        member_topics,
        current: prepared
            .owned
            .into_iter()
            .map(|o| (o.member_id, o.partitions))
            .collect(),
        owner: BTreeMap::new(),
        by_load: BTreeSet::new(),
        previous: BTreeMap::new(),
        movements: Movements::default(),
        reassignments: 0,
    };
    b.record_previous(members, member_data, prepared.max_generation);
    let revocation_required = b.keep_owned();
    let sorted_all = b.sorted_all_partitions();
    let unassigned: Vec<TopicPartition> = sorted_all
        .iter()
        .filter(|tp| !b.owner.contains_key(*tp))
        .cloned()
        .collect();
    let members: Vec<String> = b.current.keys().cloned().collect();
    for member in members {
        b.add_load(&member);
    }
    b.balance(sorted_all, unassigned, revocation_required)?;
    Ok(b.current)
}

impl Builder<'_> {
    /// Kafka's `prepopulateCurrentAssignments`: for members of an older generation than the
    /// newest, remember their partitions with the newest such generation (first member wins ties).
    fn record_previous(&mut self, members: &[&Member], data: &[Vec<TopicPartition>], max: i32) {
        for (member, partitions) in members.iter().zip(data) {
            let generation = member.generation.max(DEFAULT_GENERATION);
            if generation >= max {
                continue;
            }
            for tp in partitions {
                let newer = match self.previous.get(tp) {
                    Some((_, known)) => generation > *known,
                    None => true,
                };
                if newer {
                    self.previous
                        .insert(tp.clone(), (member.member_id.clone(), generation));
                }
            }
        }
    }

    /// Keeps each member's owned partitions of topics it still subscribes to; true if some
    /// member lost a partition because it unsubscribed (Kafka's `revocationRequired`).
    fn keep_owned(&mut self) -> bool {
        let mut revocation_required = false;
        for (member, partitions) in &mut self.current {
            let topics = &self.member_topics[member];
            partitions.retain(|tp| {
                let keep = topics.contains(&tp.topic);
                revocation_required |= !keep;
                keep
            });
            for tp in partitions.iter() {
                self.owner.insert(tp.clone(), member.clone());
            }
        }
        revocation_required
    }

    /// Topics by subscriber count then name, each topic's partitions ascending.
    fn sorted_all_partitions(&self) -> Vec<TopicPartition> {
        let mut topics: Vec<&String> = self.partitions_per_topic.keys().collect();
        topics.sort_by(|a, b| {
            self.topic_members[*a]
                .len()
                .cmp(&self.topic_members[*b].len())
                .then_with(|| java::string_cmp(a, b))
        });
        topics
            .into_iter()
            .flat_map(|t| (0..self.partitions_per_topic[t]).map(move |p| TopicPartition::new(t, p)))
            .collect()
    }

    fn load_key(&self, member: &str) -> (usize, JavaString) {
        (self.current[member].len(), JavaString(member.to_owned()))
    }

    fn add_load(&mut self, member: &str) {
        let key = self.load_key(member);
        self.by_load.insert(key);
    }

    fn remove_load(&mut self, member: &str) {
        let key = self.load_key(member);
        self.by_load.remove(&key);
    }

    /// The partitions `member` would have with every partition of its topics.
    fn max_assignment_size(&self, member: &str) -> usize {
        self.member_topics[member]
            .iter()
            .map(|t| self.partitions_per_topic[t] as usize)
            .sum()
    }

    fn size_of(&self, member: &str) -> Result<usize, AssignError> {
        self.current.get(member).map(Vec::len).ok_or_else(|| {
            AssignError::KafkaThrows(format!(
                "NullPointerException: member {member} takes no part in balancing"
            ))
        })
    }

    /// Gives `tp` to the least loaded member subscribed to its topic.
    fn assign_to_least_loaded(&mut self, tp: &TopicPartition) {
        let found = self
            .by_load
            .iter()
            .find(|(_, m)| self.member_topics[&m.0].contains(&tp.topic))
            .map(|(_, m)| m.0.clone());
        if let Some(member) = found {
            self.remove_load(&member);
            self.current
                .get_mut(&member)
                .expect("listed")
                .push(tp.clone());
            self.owner.insert(tp.clone(), member.clone());
            self.add_load(&member);
        }
    }

    /// Whether `member` can take part in balancing: it could get more, or it holds a partition
    /// that another member could take.
    fn takes_part(&self, member: &str) -> bool {
        let partitions = &self.current[member];
        partitions.len() < self.max_assignment_size(member)
            || partitions
                .iter()
                .any(|tp| self.topic_members[&tp.topic].len() >= 2)
    }

    /// Kafka's `balance`: steps 2 and 3.
    fn balance(
        &mut self,
        mut sorted_all: Vec<TopicPartition>,
        mut unassigned: Vec<TopicPartition>,
        revocation_required: bool,
    ) -> Result<(), AssignError> {
        let initializing = self
            .by_load
            .last()
            .is_none_or(|(_, m)| self.current[&m.0].is_empty());
        for tp in &unassigned {
            self.assign_to_least_loaded(tp);
        }
        let fixed_topics: BTreeSet<String> = self
            .topic_members
            .iter()
            .filter(|(_, members)| members.len() < 2)
            .map(|(t, _)| t.clone())
            .collect();
        sorted_all.retain(|tp| !fixed_topics.contains(&tp.topic));
        unassigned.retain(|tp| !fixed_topics.contains(&tp.topic));
        let mut fixed = Assignment::new();
        let members: Vec<String> = self.member_topics.keys().cloned().collect();
        for member in members {
            if !self.takes_part(&member) {
                self.remove_load(&member);
                let partitions = self.current.remove(&member).expect("listed");
                fixed.insert(member, partitions);
            }
        }
        let before = self.current.clone();
        let owner_before = self.owner.clone();
        if !revocation_required {
            self.perform_reassignments(&unassigned)?;
        }
        let reassigned = self.perform_reassignments(&sorted_all)?;
        if !initializing && reassigned && balance_score(&self.current) >= balance_score(&before) {
            self.current = before;
            self.owner = owner_before;
        }
        self.current.extend(fixed);
        Ok(())
    }

    /// Kafka's `isBalanced`: loads differ by at most one, or no partition could move to a member
    /// with at least two fewer.
    fn is_balanced(&self) -> Result<bool, AssignError> {
        let (Some((min, _)), Some((max, _))) = (self.by_load.first(), self.by_load.last()) else {
            return Ok(true);
        };
        if min + 1 >= *max {
            return Ok(true);
        }
        for (count, member) in &self.by_load {
            if *count == self.max_assignment_size(&member.0) {
                continue;
            }
            let mine: BTreeSet<&TopicPartition> = self.current[&member.0].iter().collect();
            for topic in &self.member_topics[&member.0] {
                for p in 0..self.partitions_per_topic[topic] {
                    let tp = TopicPartition::new(topic, p);
                    if mine.contains(&tp) {
                        continue;
                    }
                    let other = self.owner.get(&tp).ok_or_else(|| {
                        AssignError::KafkaThrows(format!("NullPointerException: {tp} has no owner"))
                    })?;
                    if count + 1 < self.size_of(other)? {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    /// Kafka's `performReassignments`: passes over `partitions` until nothing moves or the
    /// assignment is balanced; true if anything moved.
    fn perform_reassignments(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<bool, AssignError> {
        let mut reassigned = false;
        loop {
            let mut modified = false;
            for tp in partitions {
                if self.is_balanced()? {
                    break;
                }
                let member = self.owner.get(tp).cloned().ok_or_else(|| {
                    AssignError::KafkaThrows(format!("NullPointerException: {tp} has no owner"))
                })?;
                let size = self.size_of(&member)?;
                if let Some((previous, _)) = self.previous.get(tp).cloned()
                    && size > self.size_of(&previous)? + 1
                {
                    self.reassign(tp, &previous)?;
                    (reassigned, modified) = (true, true);
                    continue;
                }
                let mut better = false;
                for other in &self.topic_members[&tp.topic] {
                    if size > self.size_of(other)? + 1 {
                        better = true;
                        break;
                    }
                }
                if better {
                    let topic = &tp.topic;
                    let least_loaded = self
                        .by_load
                        .iter()
                        .find(|(_, m)| self.member_topics[&m.0].contains(topic))
                        .map(|(_, m)| m.0.clone())
                        .expect("a less loaded subscriber exists");
                    self.reassign(tp, &least_loaded)?;
                    (reassigned, modified) = (true, true);
                }
            }
            if !modified {
                return Ok(reassigned);
            }
        }
    }

    /// Moves `tp` (or the partition that undoes an earlier move) to `new_owner`.
    fn reassign(&mut self, tp: &TopicPartition, new_owner: &str) -> Result<(), AssignError> {
        self.reassignments += 1;
        if self.reassignments > REASSIGNMENTS_MAX {
            return Err(AssignError::KafkaThrows(format!(
                "the sticky assignor's balancing does not settle within {REASSIGNMENTS_MAX} moves"
            )));
        }
        let owner_of = |b: &Self, tp: &TopicPartition| {
            b.owner.get(tp).cloned().ok_or_else(|| {
                AssignError::KafkaThrows(format!("NullPointerException: {tp} has no owner"))
            })
        };
        let old_owner = owner_of(self, tp)?;
        let tp = self
            .movements
            .actual_partition_to_move(tp, &old_owner, new_owner);
        let old_owner = owner_of(self, &tp)?;
        // Kafka's sorted set compares loads of both members: both must take part.
        self.size_of(&old_owner)?;
        self.size_of(new_owner)?;
        self.remove_load(&old_owner);
        self.remove_load(new_owner);
        self.movements.move_partition(&tp, &old_owner, new_owner);
        let list = self.current.get_mut(&old_owner).expect("owner takes part");
        if let Some(at) = list.iter().position(|x| *x == tp) {
            list.remove(at);
        }
        self.current
            .get_mut(new_owner)
            .expect("checked")
            .push(tp.clone());
        self.owner.insert(tp, new_owner.to_owned());
        self.add_load(new_owner);
        self.add_load(&old_owner);
        Ok(())
    }
}

/// Kafka's `getBalanceScore`: the sum over member pairs of their count difference.
fn balance_score(assignment: &Assignment) -> usize {
    let counts: Vec<usize> = assignment.values().map(Vec::len).collect();
    let mut score = 0;
    for (i, a) in counts.iter().enumerate() {
        for b in &counts[i + 1..] {
            score += a.abs_diff(*b);
        }
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(partition: u32) -> TopicPartition {
        TopicPartition::new("t", partition)
    }

    #[test]
    fn undoing_a_move_picks_the_first_earlier_move_in_java_hash_set_order() {
        let mut movements = Movements::default();
        movements.move_partition(&tp(0), "a", "b");
        movements.move_partition(&tp(1), "a", "b");
        // t-0 hashes to bucket 5 and t-1 to bucket 4 of Java's table: t-1 comes first.
        assert_eq!(movements.actual_partition_to_move(&tp(7), "b", "a"), tp(1));
        // No earlier move from c to b: the partition itself moves.
        assert_eq!(movements.actual_partition_to_move(&tp(7), "b", "c"), tp(7));
        // Another topic's moves do not count.
        let other = TopicPartition::new("u", 0);
        assert_eq!(movements.actual_partition_to_move(&other, "b", "a"), other);
    }

    #[test]
    fn a_partition_moved_back_leaves_no_record_and_chains_collapse() {
        let mut movements = Movements::default();
        movements.move_partition(&tp(0), "a", "b");
        movements.move_partition(&tp(1), "a", "b");
        movements.move_partition(&tp(1), "b", "a");
        assert_eq!(movements.actual_partition_to_move(&tp(7), "b", "a"), tp(0));
        movements.move_partition(&tp(0), "b", "c");
        assert_eq!(
            movements.by_partition[&tp(0)],
            ("a".to_owned(), "c".to_owned())
        );
        let pair = ("a".to_owned(), "b".to_owned());
        assert!(!movements.by_topic["t"].contains_key(&pair));
    }

    #[test]
    fn balance_score_sums_pairwise_differences() {
        let assignment: Assignment = [("a", 3), ("b", 1), ("c", 0)]
            .into_iter()
            .map(|(m, n)| (m.to_owned(), (0..n).map(tp).collect()))
            .collect();
        assert_eq!(balance_score(&assignment), 2 + 3 + 1);
    }
}

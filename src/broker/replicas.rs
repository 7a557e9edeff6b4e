//! The replicas a broker holds, by partition, and which of them a handler changed. Every
//! mutable access goes through [`Replicas::get_mut`], [`Replicas::values_mut`] or
//! [`Replicas::insert`], which note the partitions it may change; the broker's invariant check
//! after a handler then checks those replicas only ([`Replicas::check_changed`]), which keeps
//! the per-handler guarantee while a handler that touched one partition of sixty pays for one.
//! [`Replicas::check_all`] checks every replica, for the end of a run and for debug builds.
//!
//! The replicas sit in a table indexed by topic id, then partition number (both dense: topic
//! ids index the cluster's topics), because every request looks partitions up, many times per
//! fetch; iterating the table visits them in partition order, as an ordered map would.

use super::partition::{Partition, Role};
use crate::protocol::{BrokerId, FetchPartition, TopicPartition};
use crate::sim::SimTime;

/// A broker's replicas with the set of those changed since the last check.
#[derive(Debug, Default)]
pub struct Replicas {
    /// Volatile: the replicas, by topic id then partition number.
    table: Vec<Vec<Option<Partition>>>,
    /// How many replicas the table holds.
    len: usize,
    /// Partitions handed out mutably since the last check (may repeat).
    changed: Vec<TopicPartition>,
    /// Whether every replica was handed out mutably since the last check.
    all_changed: bool,
}

impl Replicas {
    /// The replica of `tp`.
    pub fn get(&self, tp: &TopicPartition) -> Option<&Partition> {
        self.table
            .get(tp.topic as usize)?
            .get(tp.partition as usize)?
            .as_ref()
    }

    /// Whether this broker holds a replica of `tp`.
    pub fn contains_key(&self, tp: &TopicPartition) -> bool {
        self.get(tp).is_some()
    }

    /// How many replicas this broker holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether this broker holds no replica.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every replica with its partition, in partition order.
    pub fn iter(&self) -> impl Iterator<Item = (&TopicPartition, &Partition)> {
        self.values().map(|p| (&p.tp, p))
    }

    /// Every replica, in partition order.
    pub fn values(&self) -> impl Iterator<Item = &Partition> {
        self.table.iter().flatten().flatten()
    }

    /// What a fetch to `leader` sent at `now` asks for: every replica following it that is
    /// ready to fetch, from its LEO in its epoch, with its HW, in partition order. A follower
    /// runs this after every fetch response, over every replica it holds.
    pub fn ready_to_fetch_from(&self, leader: BrokerId, now: SimTime) -> Vec<FetchPartition> {
        // Sized for every replica up front: growing it push by push reallocates several times.
        let mut wanted = Vec::with_capacity(self.len);
        for partitions in &self.table {
            for p in partitions.iter().flatten() {
                if let Role::Follower(f) = &p.role
                    && f.leader == leader
                    && f.is_ready_to_fetch(now)
                {
                    wanted.push(FetchPartition {
                        tp: p.tp,
                        fetch_offset: p.log_end_offset(),
                        current_leader_epoch: Some(p.leader_epoch),
                        follower_high_watermark: Some(p.high_watermark),
                    });
                }
            }
        }
        wanted
    }

    /// The replica of `tp`, to change; the next check looks at it.
    pub fn get_mut(&mut self, tp: &TopicPartition) -> Option<&mut Partition> {
        let partition = self
            .table
            .get_mut(tp.topic as usize)?
            .get_mut(tp.partition as usize)?
            .as_mut()?;
        self.changed.push(*tp);
        Some(partition)
    }

    /// Every replica, to change; the next check looks at all of them.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Partition> {
        self.all_changed = true;
        self.table.iter_mut().flatten().flatten()
    }

    /// Adds (or replaces) the replica of `tp`.
    pub fn insert(&mut self, tp: TopicPartition, partition: Partition) {
        assert_eq!(
            partition.tp, tp,
            "a replica is filed under its own partition"
        );
        let (topic, index) = (tp.topic as usize, tp.partition as usize);
        if self.table.len() <= topic {
            self.table.resize_with(topic + 1, Vec::new);
        }
        let partitions = &mut self.table[topic];
        if partitions.len() <= index {
            partitions.resize_with(index + 1, || None);
        }
        if partitions[index].replace(partition).is_none() {
            self.len += 1;
        }
        self.changed.push(tp);
    }

    /// Checks the replicas changed since the last check, then forgets that they changed.
    pub fn check_changed(&mut self) -> Result<(), String> {
        if std::mem::take(&mut self.all_changed) {
            self.changed.clear();
            return self.check_all();
        }
        // A replica handed out twice is checked twice: cheaper than sorting out repeats.
        let result = self
            .changed
            .iter()
            .filter_map(|tp| self.get(tp))
            .try_for_each(Partition::check);
        self.changed.clear();
        result
    }

    /// Checks every replica.
    pub fn check_all(&self) -> Result<(), String> {
        self.values().try_for_each(Partition::check_all)
    }
}

impl std::ops::Index<&TopicPartition> for Replicas {
    type Output = Partition;

    fn index(&self, tp: &TopicPartition) -> &Partition {
        self.get(tp).expect("a replica this broker holds")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::broker::partition::Role;
    use crate::log::PartitionLog;
    use crate::scenario::LogConfig;

    fn replica(partition: u32) -> (TopicPartition, Partition) {
        let config = LogConfig {
            retention_ms: -1,
            retention_bytes: -1,
            segment_bytes: 1 << 30,
            segment_ms: 604_800_000,
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
            index_interval_bytes: 4096,
        };
        let name = format!("orders-{partition}");
        let log = PartitionLog::create(&name, config, 0, &mut Vec::new());
        let tp = TopicPartition {
            topic: 0,
            partition,
        };
        let replica = Partition {
            tp,
            name: Arc::from(name),
            replicas: vec![0],
            log,
            high_watermark: 0,
            leader_epoch: 0,
            role: Role::None,
            unflushed_messages: 0,
            known_isr: Vec::new(),
        };
        (tp, replica)
    }

    #[test]
    fn a_replica_changed_through_get_mut_is_checked_once_then_forgotten() {
        let mut replicas = Replicas::default();
        for p in 0..3 {
            let (tp, replica) = replica(p);
            replicas.insert(tp, replica);
        }
        assert_eq!(replicas.check_changed(), Ok(()));
        let broken = TopicPartition {
            topic: 0,
            partition: 1,
        };
        replicas.get_mut(&broken).expect("held").high_watermark = 5;
        let problem = replicas.check_changed().expect_err("HW past the LEO");
        assert!(problem.contains("orders-1: HW 5 > LEO 0"), "{problem}");
        // The next handler did not touch it: only the full check still sees it.
        assert_eq!(replicas.check_changed(), Ok(()));
        assert!(replicas.check_all().is_err());
    }

    #[test]
    fn values_mut_makes_the_next_check_look_at_every_replica() {
        let mut replicas = Replicas::default();
        let (tp, replica) = replica(0);
        replicas.insert(tp, replica);
        assert_eq!(replicas.check_changed(), Ok(()));
        for replica in replicas.values_mut() {
            replica.high_watermark = 1;
        }
        assert!(replicas.check_changed().is_err());
    }
}

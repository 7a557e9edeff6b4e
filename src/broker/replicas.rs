//! The replicas a broker holds, by partition, and which of them a handler changed. Every
//! mutable access goes through [`Replicas::get_mut`], [`Replicas::values_mut`] or
//! [`Replicas::insert`], which note the partitions it may change; the broker's invariant check
//! after a handler then checks those replicas only ([`Replicas::check_changed`]), which keeps
//! the per-handler guarantee while a handler that touched one partition of sixty pays for one.
//! [`Replicas::check_all`] checks every replica, for the end of a run and for debug builds.

use std::collections::BTreeMap;

use super::partition::Partition;
use crate::protocol::TopicPartition;

/// A broker's replicas with the set of those changed since the last check.
#[derive(Debug, Default)]
pub struct Replicas {
    /// Volatile: the replicas, by partition.
    map: BTreeMap<TopicPartition, Partition>,
    /// Partitions handed out mutably since the last check (may repeat).
    changed: Vec<TopicPartition>,
    /// Whether every replica was handed out mutably since the last check.
    all_changed: bool,
}

impl Replicas {
    /// The replicas as a map, read-only.
    pub fn map(&self) -> &BTreeMap<TopicPartition, Partition> {
        &self.map
    }

    /// The replica of `tp`.
    pub fn get(&self, tp: &TopicPartition) -> Option<&Partition> {
        self.map.get(tp)
    }

    /// Whether this broker holds a replica of `tp`.
    pub fn contains_key(&self, tp: &TopicPartition) -> bool {
        self.map.contains_key(tp)
    }

    /// Every replica with its partition, in partition order.
    pub fn iter(&self) -> impl Iterator<Item = (&TopicPartition, &Partition)> {
        self.map.iter()
    }

    /// Every replica, in partition order.
    pub fn values(&self) -> impl Iterator<Item = &Partition> {
        self.map.values()
    }

    /// The replica of `tp`, to change; the next check looks at it.
    pub fn get_mut(&mut self, tp: &TopicPartition) -> Option<&mut Partition> {
        let partition = self.map.get_mut(tp)?;
        self.changed.push(*tp);
        Some(partition)
    }

    /// Every replica, to change; the next check looks at all of them.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Partition> {
        self.all_changed = true;
        self.map.values_mut()
    }

    /// Adds (or replaces) the replica of `tp`.
    pub fn insert(&mut self, tp: TopicPartition, partition: Partition) {
        self.changed.push(tp);
        self.map.insert(tp, partition);
    }

    /// Checks the replicas changed since the last check, then forgets that they changed.
    pub fn check_changed(&mut self) -> Result<(), String> {
        if std::mem::take(&mut self.all_changed) {
            self.changed.clear();
            return self.check_all();
        }
        self.changed.sort_unstable();
        self.changed.dedup();
        let result = self
            .changed
            .iter()
            .filter_map(|tp| self.map.get(tp))
            .try_for_each(Partition::check);
        self.changed.clear();
        result
    }

    /// Checks every replica.
    pub fn check_all(&self) -> Result<(), String> {
        self.map.values().try_for_each(Partition::check)
    }
}

impl std::ops::Index<&TopicPartition> for Replicas {
    type Output = Partition;

    fn index(&self, tp: &TopicPartition) -> &Partition {
        &self.map[tp]
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

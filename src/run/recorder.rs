//! What a run keeps of its observations, folded in as they are made: the checkers' history
//! (sends and their outcomes, leaderships, ISR changes, truncations, consumer polls), what the
//! tail reader read up to the end of settling, what the final reader read, and the ISR change
//! counts of the summary. A busy run makes millions of observations; keeping only what the
//! checkers read of them, in compact form, is what lets an hour of a cluster fit in memory. The
//! trace hash and the short log see every observation either way.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::check::History;
use crate::node::{Node, Obs};
use crate::record::RecordId;
use crate::sim::{NodeId, SimTime, Simulator};

/// A run's observations as the checkers and the summary need them.
#[derive(Debug)]
pub struct Recorder {
    /// The checkers' history.
    pub history: History,
    /// What the final reader read, by partition: (offset, record), in the order read.
    pub final_reads: BTreeMap<Arc<str>, Vec<(u64, RecordId)>>,
    /// What the final reader's `read_committed` pass handed on, per partition.
    pub final_committed_reads: BTreeMap<Arc<str>, Vec<(u64, RecordId)>>,
    /// ISR shrinks committed by leaders.
    pub isr_shrinks: u64,
    /// ISR expansions committed by leaders.
    pub isr_expands: u64,
    tail_reader: NodeId,
    final_reader: NodeId,
    /// The end of the settle phase: the final reader starts there and reads to the HW it finds,
    /// so what the tail reader reads later is beyond the final view, not lost from it.
    settled: SimTime,
}

impl Recorder {
    /// A recorder for a run whose readers are `tail_reader` and `final_reader`.
    pub fn new(
        history: History,
        tail_reader: NodeId,
        final_reader: NodeId,
        settled: SimTime,
    ) -> Recorder {
        Recorder {
            history,
            final_reads: BTreeMap::new(),
            final_committed_reads: BTreeMap::new(),
            isr_shrinks: 0,
            isr_expands: 0,
            tail_reader,
            final_reader,
            settled,
        }
    }

    /// Installs a recorder as `sim`'s observer; the caller takes it back with
    /// [`Recorder::take`] once the run is over.
    pub fn install(self, sim: &mut Simulator<Node>) -> Rc<RefCell<Recorder>> {
        let recorder = Rc::new(RefCell::new(self));
        let shared = Rc::clone(&recorder);
        sim.set_observer(Box::new(move |at, node, obs| {
            shared.borrow_mut().observe(at, node, obs)
        }));
        recorder
    }

    /// Removes the observer from `sim` and returns what it recorded.
    pub fn take(sim: &mut Simulator<Node>, recorder: Rc<RefCell<Recorder>>) -> Recorder {
        sim.clear_observer();
        Rc::try_unwrap(recorder)
            .expect("the simulator dropped its observer")
            .into_inner()
    }

    /// Takes in one observation made by `node` at `at`.
    pub fn observe(&mut self, at: SimTime, node: NodeId, obs: &Obs) {
        match obs {
            Obs::Read {
                partition,
                offset,
                ids,
            } if node == self.tail_reader => {
                if at <= self.settled {
                    self.history.tail_reads.push(at, partition, *offset, ids);
                }
            }
            Obs::Read {
                partition,
                offset,
                ids,
            } if node == self.final_reader => {
                let reads = self.final_reads.entry(partition.clone()).or_default();
                let read = ids
                    .iter()
                    .enumerate()
                    .map(|(k, id)| (offset + k as u64, *id));
                reads.extend(read);
            }
            Obs::ReadCommitted { partition, records } if node == self.final_reader => {
                let reads = self.final_committed_reads.entry(partition.clone());
                reads.or_default().extend(records.iter().copied());
            }
            Obs::Isr { expanded, .. } => {
                if *expanded {
                    self.isr_expands += 1;
                } else {
                    self.isr_shrinks += 1;
                }
                self.history.observe(at, node, obs);
            }
            _ => self.history.observe(at, node, obs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(partition: &Arc<str>, offset: u64, first: u32, count: u32) -> Obs {
        Obs::Read {
            partition: partition.clone(),
            offset,
            ids: (first..first + count)
                .map(|n| RecordId { producer: 0, n })
                .collect(),
        }
    }

    #[test]
    fn reads_go_to_the_reader_that_made_them_and_tail_reads_stop_at_the_settle_end() {
        let (tail, last) = (NodeId::from_index(5), NodeId::from_index(6));
        let settled = SimTime::from_millis(1_000);
        let history = History::new(vec!["p1".into()], Vec::new());
        let mut recorder = Recorder::new(history, tail, last, settled);
        let orders: Arc<str> = Arc::from("orders-0");
        recorder.observe(SimTime::from_millis(10), tail, &read(&orders, 0, 0, 2));
        recorder.observe(SimTime::from_millis(1_001), tail, &read(&orders, 2, 2, 1));
        recorder.observe(SimTime::from_millis(2_000), last, &read(&orders, 0, 0, 3));
        let tail_reads: Vec<(u64, u32)> = recorder
            .history
            .tail_reads
            .iter()
            .map(|(_, _, offset, id)| (offset, id.n))
            .collect();
        assert_eq!(
            tail_reads,
            [(0, 0), (1, 1)],
            "the read after settling is left out"
        );
        let final_reads = &recorder.final_reads[&orders];
        assert_eq!(final_reads.len(), 3);
        assert_eq!(final_reads[2], (2, RecordId { producer: 0, n: 2 }));
    }

    #[test]
    fn isr_changes_are_counted_and_kept_in_the_history() {
        let (tail, last) = (NodeId::from_index(5), NodeId::from_index(6));
        let history = History::new(Vec::new(), Vec::new());
        let mut recorder = Recorder::new(history, tail, last, SimTime::ZERO);
        let isr = |isr: Vec<u32>, expanded| Obs::Isr {
            partition: Arc::from("orders-0"),
            isr,
            expanded,
        };
        let leader = NodeId::from_index(1);
        recorder.observe(SimTime::ZERO, leader, &isr(vec![0, 1], false));
        recorder.observe(SimTime::ZERO, leader, &isr(vec![0, 1, 2], true));
        recorder.observe(SimTime::ZERO, leader, &isr(vec![0, 2], false));
        assert_eq!((recorder.isr_shrinks, recorder.isr_expands), (2, 1));
        assert_eq!(recorder.history.isrs.len(), 3);
    }
}

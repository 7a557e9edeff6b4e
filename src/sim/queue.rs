//! The event queue: a min-heap totally ordered by `(time, sequence number)`, so events scheduled
//! for the same instant fire in the order they were scheduled (FIFO ties, as FoundationDB's task
//! queue does). The heap holds only 24-byte keys; payloads sit in a slab indexed by the key, so
//! sifting never moves a large message.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::time::SimTime;

/// Heap key: when, the tie-breaking sequence number, and the payload's slab slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    time: SimTime,
    seq: u64,
    slot: u32,
}

/// A queue of payloads `E` ordered by `(time, sequence number)`.
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<Key>>,
    /// Payloads by slot; `None` marks a free slot listed in `free`.
    slab: Vec<Option<E>>,
    /// Free slots, reused last-in first-out to keep the slab dense.
    free: Vec<u32>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `time`, after everything already scheduled for that time.
    pub fn push(&mut self, time: SimTime, event: E) {
        let slot = match self.free.pop() {
            Some(slot) => {
                debug_assert!(self.slab[slot as usize].is_none());
                self.slab[slot as usize] = Some(event);
                slot
            }
            None => {
                let slot = u32::try_from(self.slab.len()).expect("more than 2^32 pending events");
                self.slab.push(Some(event));
                slot
            }
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Key { time, seq, slot }));
    }

    /// Removes and returns the earliest event with its time.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let Reverse(key) = self.heap.pop()?;
        let event = self.slab[key.slot as usize]
            .take()
            .expect("heap key without payload");
        self.free.push(key.slot);
        Some((key.time, event))
    }

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|Reverse(key)| key.time)
    }

    /// How many events are pending.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_time_then_insertion() {
        let mut q = EventQueue::new();
        q.push(SimTime::from_micros(5), "c");
        q.push(SimTime::from_micros(1), "a");
        q.push(SimTime::from_micros(5), "d");
        q.push(SimTime::from_micros(1), "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
        assert!(q.is_empty());
    }

    #[test]
    fn reuses_slots() {
        let mut q = EventQueue::new();
        for round in 0..3u64 {
            q.push(SimTime::from_micros(round), round);
            assert_eq!(q.pop(), Some((SimTime::from_micros(round), round)));
        }
        assert_eq!(q.slab.len(), 1);
    }
}

//! The event queue, totally ordered by `(time, sequence number)`, so events scheduled for the
//! same instant fire in the order they were scheduled (FIFO ties, as FoundationDB's task queue
//! does).
//!
//! Most events are due soon (a message in a few milliseconds, the next record of a producer), so
//! the queue is a timing wheel: one bucket per microsecond of the next [`WHEEL_US`], each a FIFO
//! list, with a bitmap to find the next full bucket. Events further off wait in a heap ordered by
//! `(time, sequence number)` and move into their bucket as the wheel comes within reach of them,
//! which is always before anything else can be scheduled at their time: so a bucket's order is
//! the order of scheduling, and the queue pops exactly what one heap over all events would. The
//! heap holds only 24-byte keys; payloads sit in a slab, linked into their bucket.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::time::SimTime;

/// Microseconds the wheel spans ahead of the last event popped.
const WHEEL_BITS: u32 = 16;
const WHEEL_US: u64 = 1 << WHEEL_BITS;
const MASK: u64 = WHEEL_US - 1;
const WORDS: usize = (WHEEL_US / 64) as usize;
/// No slot: the end of a bucket's list.
const NONE: u32 = u32::MAX;

/// Heap key of a far event: when, the tie-breaking sequence number, and the payload's slab slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    time: SimTime,
    seq: u64,
    slot: u32,
}

/// A payload and the next slot of its bucket.
#[derive(Debug)]
struct Entry<E> {
    event: Option<E>,
    next: u32,
}

/// The first and last slot of one microsecond's events.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    head: u32,
    tail: u32,
}

const EMPTY: Bucket = Bucket {
    head: NONE,
    tail: NONE,
};

/// Pending events.
#[derive(Debug)]
pub struct EventQueue<E> {
    slab: Vec<Entry<E>>,
    free: Vec<u32>,
    /// Bucket `t & MASK` holds the events at `t`, for `t` in `[cursor, cursor + WHEEL_US)`.
    buckets: Box<[Bucket]>,
    /// A bit per non-empty bucket, and a bit per non-zero word of those.
    occupied: Box<[u64]>,
    summary: [u64; WORDS / 64],
    in_wheel: usize,
    /// The first non-empty bucket and its time, when known.
    first: Option<(usize, SimTime)>,
    /// The time of the last event popped: nothing pending is earlier.
    cursor: SimTime,
    /// Events at `cursor + WHEEL_US` or later.
    far: BinaryHeap<Reverse<Key>>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            slab: Vec::new(),
            free: Vec::new(),
            buckets: vec![EMPTY; WHEEL_US as usize].into_boxed_slice(),
            occupied: vec![0; WORDS].into_boxed_slice(),
            summary: [0; WORDS / 64],
            in_wheel: 0,
            first: None,
            cursor: SimTime::ZERO,
            far: BinaryHeap::new(),
            next_seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `time`, which is no earlier than the last event popped.
    #[inline(always)]
    pub fn push(&mut self, time: SimTime, event: E) {
        assert!(
            time >= self.cursor,
            "an event scheduled before the last one popped"
        );
        let slot = match self.free.pop() {
            Some(slot) => {
                let entry = &mut self.slab[slot as usize];
                debug_assert!(entry.event.is_none(), "a free slot holds no payload");
                // Filling the empty payload in place, so nothing is dropped.
                entry.event.get_or_insert(event);
                entry.next = NONE;
                slot
            }
            None => {
                let slot = u32::try_from(self.slab.len()).expect("under 2^32 pending events");
                self.slab.push(Entry {
                    event: Some(event),
                    next: NONE,
                });
                slot
            }
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        if time.as_micros() - self.cursor.as_micros() < WHEEL_US {
            self.link(time, slot);
        } else {
            self.far.push(Reverse(Key { time, seq, slot }));
        }
    }

    /// Takes the earliest event (of those at one time, the first scheduled).
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        if self.in_wheel == 0 {
            let Reverse(first) = *self.far.peek()?;
            self.advance(first.time);
        }
        let (index, time) = match self.first {
            Some(first) => first,
            None => self.first_in_wheel().expect("the wheel holds an event"),
        };
        if time != self.cursor {
            self.advance(time);
        }
        let bucket = &mut self.buckets[index];
        let slot = bucket.head;
        let entry = &mut self.slab[slot as usize];
        bucket.head = entry.next;
        self.first = Some((index, time));
        if bucket.head == NONE {
            self.first = None;
            bucket.tail = NONE;
            let word = index / 64;
            self.occupied[word] &= !(1 << (index % 64));
            if self.occupied[word] == 0 {
                self.summary[word / 64] &= !(1 << (word % 64));
            }
        }
        self.in_wheel -= 1;
        let event = entry.event.take().expect("a linked slot has its payload");
        self.free.push(slot);
        Some((time, event))
    }

    /// When the earliest event is due.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        if self.first.is_none() {
            self.first = self.first_in_wheel();
        }
        match self.first {
            Some((_, time)) => Some(time),
            None => self.far.peek().map(|Reverse(key)| key.time),
        }
    }

    /// How many events are pending.
    pub fn len(&self) -> usize {
        self.in_wheel + self.far.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `slot` to the bucket of `time`, which is within the wheel.
    #[inline(always)]
    fn link(&mut self, time: SimTime, slot: u32) {
        let index = (time.as_micros() & MASK) as usize;
        let bucket = &mut self.buckets[index];
        if bucket.tail == NONE {
            bucket.head = slot;
            let word = index / 64;
            self.occupied[word] |= 1 << (index % 64);
            self.summary[word / 64] |= 1 << (word % 64);
        } else {
            self.slab[bucket.tail as usize].next = slot;
        }
        bucket.tail = slot;
        self.in_wheel += 1;
        if let Some((_, first)) = self.first
            && time < first
        {
            self.first = Some((index, time));
        }
    }

    /// Moves the wheel to start at `to`, bringing in the far events it now reaches (in their
    /// heap order, so by time and then by scheduling).
    #[inline(always)]
    fn advance(&mut self, to: SimTime) {
        self.cursor = to;
        let reach = to.as_micros().saturating_add(WHEEL_US);
        while let Some(&Reverse(key)) = self.far.peek()
            && key.time.as_micros() < reach
        {
            self.far.pop();
            self.link(key.time, key.slot);
        }
    }

    /// The first non-empty bucket from the cursor on, and its time.
    fn first_in_wheel(&self) -> Option<(usize, SimTime)> {
        if self.in_wheel == 0 {
            return None;
        }
        let start = (self.cursor.as_micros() & MASK) as usize;
        let index = self
            .next_occupied(start)
            .or_else(|| self.next_occupied(0))?;
        let ahead = (index as u64).wrapping_sub(start as u64) & MASK;
        Some((index, SimTime::from_micros(self.cursor.as_micros() + ahead)))
    }

    /// The first non-empty bucket at `from` or after, without wrapping.
    fn next_occupied(&self, from: usize) -> Option<usize> {
        let word = from / 64;
        let bits = self.occupied[word] & (u64::MAX << (from % 64));
        if bits != 0 {
            return Some(word * 64 + bits.trailing_zeros() as usize);
        }
        let next_word = word + 1;
        let mut group = next_word / 64;
        let mut words = self.summary.get(group)? & (u64::MAX << (next_word % 64));
        loop {
            if words != 0 {
                let word = group * 64 + words.trailing_zeros() as usize;
                return Some(word * 64 + self.occupied[word].trailing_zeros() as usize);
            }
            group += 1;
            words = *self.summary.get(group)?;
        }
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

    /// Far events come into the wheel ahead of near events scheduled later at the same time.
    #[test]
    fn a_far_event_keeps_its_place_among_near_ones_at_its_time() {
        let mut q = EventQueue::new();
        let far = SimTime::from_micros(3 * WHEEL_US + 7);
        q.push(far, "far, first");
        q.push(SimTime::from_micros(2 * WHEEL_US + 100), "stepping stone");
        assert_eq!(q.pop().map(|(_, e)| e), Some("stepping stone"));
        q.push(far, "near, second");
        q.push(SimTime::from_micros(2 * WHEEL_US + 100), "now");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            [
                (SimTime::from_micros(2 * WHEEL_US + 100), "now"),
                (far, "far, first"),
                (far, "near, second"),
            ]
        );
    }

    proptest::proptest! {
        /// Any schedule pops in exactly the order of one heap by (time, sequence number).
        #[test]
        fn pops_as_one_heap_would(
            steps in proptest::collection::vec((0u64..5, 0u64..3 * WHEEL_US), 1..400)
        ) {
            let mut q = EventQueue::new();
            let mut reference = BinaryHeap::new();
            let (mut now, mut seq) = (0u64, 0u64);
            for (what, delay) in steps {
                if what == 0 {
                    let popped = q.pop();
                    let expected = reference.pop().map(|Reverse((t, s))| (SimTime::from_micros(t), s));
                    proptest::prop_assert_eq!(popped, expected);
                    if let Some((t, _)) = popped {
                        now = t.as_micros();
                    }
                } else {
                    // Same-instant and near delays, delays about the wheel's reach, far ones.
                    let at = now + match what {
                        1 => delay % 4,
                        2 => WHEEL_US - 2 + delay % 4,
                        3 => 2 * WHEEL_US - 1 + delay % 2,
                        _ => delay,
                    };
                    q.push(SimTime::from_micros(at), seq);
                    reference.push(Reverse((at, seq)));
                    seq += 1;
                }
                proptest::prop_assert_eq!(q.len(), reference.len());
                let next = reference.peek().map(|Reverse((t, _))| SimTime::from_micros(*t));
                proptest::prop_assert_eq!(q.peek_time(), next);
            }
            while let Some(Reverse((t, s))) = reference.pop() {
                proptest::prop_assert_eq!(q.pop(), Some((SimTime::from_micros(t), s)));
            }
            proptest::prop_assert!(q.is_empty());
        }
    }
}

//! Timeouts without a timer per request. A process keeps its deadlines here and holds at most
//! one armed timer for the earliest; when that timer fires it takes what is due and re-arms for
//! the next. Completed requests simply leave the set, so the event queue never fills with timers
//! of requests that finished long ago (a request timeout of 30 s at thousands of requests per
//! second would otherwise keep a hundred thousand dead timers queued).

use std::collections::BTreeMap;

use super::time::{SimDuration, SimTime};

/// Names one deadline, to remove it when its request completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeadlineId(SimTime, u64);

/// Deadlines with payloads, earliest first.
#[derive(Clone, Debug)]
pub struct Deadlines<K> {
    entries: BTreeMap<DeadlineId, K>,
    next: u64,
    /// When the armed timer fires, if one is armed.
    armed: Option<SimTime>,
}

impl<K> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            entries: BTreeMap::new(),
            next: 0,
            armed: None,
        }
    }
}

impl<K> Deadlines<K> {
    /// Adds a deadline.
    pub fn insert(&mut self, at: SimTime, key: K) -> DeadlineId {
        let id = DeadlineId(at, self.next);
        self.next += 1;
        self.entries.insert(id, key);
        id
    }

    /// Removes a deadline (its request completed); returns its payload if it was still there.
    pub fn remove(&mut self, id: DeadlineId) -> Option<K> {
        self.entries.remove(&id)
    }

    /// Takes every payload due at `now`, earliest first; the armed timer, if due, is spent.
    pub fn expired(&mut self, now: SimTime) -> Vec<K> {
        if self.armed.is_some_and(|at| at <= now) {
            self.armed = None;
        }
        let later = self.entries.split_off(&DeadlineId(now, u64::MAX));
        std::mem::replace(&mut self.entries, later)
            .into_values()
            .collect()
    }

    /// The delay of a timer to arm now, if the earliest deadline has none armed by then.
    pub fn timer_needed(&mut self, now: SimTime) -> Option<SimDuration> {
        let earliest = self.entries.keys().next()?.0;
        if self.armed.is_some_and(|at| at <= earliest) {
            return None;
        }
        self.armed = Some(earliest);
        Some(earliest.saturating_since(now))
    }

    /// How many deadlines are pending.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> SimTime {
        SimTime::from_millis(ms)
    }

    #[test]
    fn one_timer_serves_many_deadlines() {
        let mut d = Deadlines::default();
        let a = d.insert(t(30), "a");
        assert_eq!(d.timer_needed(t(0)), Some(SimDuration::from_millis(30)));
        d.insert(t(31), "b");
        assert_eq!(d.timer_needed(t(1)), None, "the armed timer fires first");
        assert_eq!(d.remove(a), Some("a"));
        assert!(d.expired(t(30)).is_empty(), "a completed; nothing is due");
        assert_eq!(d.timer_needed(t(30)), Some(SimDuration::from_millis(1)));
        d.insert(t(31), "c");
        assert_eq!(d.expired(t(31)), ["b", "c"]);
        assert!(d.is_empty());
        d.insert(t(50), "late");
        d.insert(t(40), "early");
        assert_eq!(
            d.timer_needed(t(31)),
            Some(SimDuration::from_millis(9)),
            "an earlier one re-arms"
        );
    }
}

//! Simulated time: microseconds since the start of a run. Configs speak Kafka's milliseconds;
//! the engine keeps microseconds so that sub-millisecond latencies order correctly. There is no
//! wall clock anywhere in simulation code.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// An instant of simulated time, in microseconds since the run began.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(u64);

/// A span of simulated time, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// A time no run reaches; used as "never".
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// The instant `us` microseconds after the start.
    pub const fn from_micros(us: u64) -> SimTime {
        SimTime(us)
    }

    /// The instant `ms` milliseconds after the start.
    pub const fn from_millis(ms: u64) -> SimTime {
        SimTime(ms.saturating_mul(1_000))
    }

    /// Microseconds since the start.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Whole milliseconds since the start (rounded down).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000
    }

    /// The span from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    /// No time at all.
    pub const ZERO: SimDuration = SimDuration(0);

    /// A span of `us` microseconds.
    pub const fn from_micros(us: u64) -> SimDuration {
        SimDuration(us)
    }

    /// A span of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> SimDuration {
        SimDuration(ms.saturating_mul(1_000))
    }

    /// The span in microseconds.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// The span in whole milliseconds (rounded down).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, rhs: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, rhs: SimDuration) {
        *self = *self + rhs;
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, rhs: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(rhs.0))
    }
}

impl Sub for SimTime {
    type Output = SimDuration;
    /// The span between two instants; panics if `rhs` is later, which is a logic error.
    fn sub(self, rhs: SimTime) -> SimDuration {
        assert!(rhs.0 <= self.0, "time went backwards: {rhs} > {self}");
        SimDuration(self.0 - rhs.0)
    }
}

/// Shown as milliseconds with three decimals (`12000.250`), the unit of every Kafka config.
impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1_000, self.0 % 1_000)
    }
}

/// Shown like [`SimTime`], with a unit: `2.500ms`.
impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}ms", self.0 / 1_000, self.0 % 1_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_and_micros_agree() {
        let t = SimTime::from_millis(3) + SimDuration::from_micros(250);
        assert_eq!(t.as_micros(), 3_250);
        assert_eq!(t.as_millis(), 3);
        assert_eq!(t.to_string(), "3.250");
        assert_eq!(SimDuration::from_millis(2).to_string(), "2.000ms");
        assert_eq!(t - SimTime::from_millis(1), SimDuration::from_micros(2_250));
        assert_eq!(SimTime::ZERO.saturating_since(t), SimDuration::ZERO);
        assert_eq!(SimTime::MAX + SimDuration::from_millis(1), SimTime::MAX);
    }
}

//! The workload's parameters and the small deterministic generator the peers draw from.

use std::time::Duration;

/// Fastest one-way delay, in microseconds.
pub const LATENCY_US_MIN: u64 = 1_000;
/// Slowest one-way delay, in microseconds.
pub const LATENCY_US_MAX: u64 = 10_000;
/// Simulated time of one run, in microseconds.
pub const DURATION_US: u64 = 60_000_000;

/// One configuration of the workload.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Hosts.
    pub hosts: usize,
    /// Closed-loop callers per host.
    pub callers: usize,
    /// The run's seed.
    pub seed: u64,
}

/// What one run of one engine measured.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// Requests and responses delivered within the simulated minute.
    pub deliveries: u64,
    /// Wall time of the run, set-up included.
    pub wall: Duration,
}

impl Outcome {
    /// Deliveries per wall second.
    pub fn per_sec(&self) -> f64 {
        self.deliveries as f64 / self.wall.as_secs_f64()
    }
}

/// SplitMix64: a cheap, seedable generator for the peers' draws (kafkasim's processes draw from
/// the engine's own ChaCha8 streams instead).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator for one stream of one run.
    pub fn new(seed: u64, stream: u64) -> SplitMix {
        SplitMix(seed ^ stream.wrapping_mul(0xa076_1d64_78bd_642f))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// A host other than `me` among `hosts`, uniformly.
    pub fn other_host(&mut self, me: usize, hosts: usize) -> usize {
        let pick = self.below(hosts as u64 - 1) as usize;
        if pick >= me { pick + 1 } else { pick }
    }

    /// A one-way delay, uniform in the workload's range, in microseconds.
    pub fn latency_us(&mut self) -> u64 {
        LATENCY_US_MIN + self.below(LATENCY_US_MAX - LATENCY_US_MIN + 1)
    }
}

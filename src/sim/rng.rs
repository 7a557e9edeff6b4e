//! The run's randomness: one root `ChaCha8Rng` seeded from the run's seed, and one independent
//! fork per component. A fork is the root key on its own ChaCha stream, so components never
//! consume each other's draws: adding a draw to the network does not shift what a broker sees.
//!
//! The stream numbers are part of the determinism contract (changing them changes every trace
//! hash), so they are listed here once:
//!
//! | stream | component |
//! |---|---|
//! | 1 | network: latency, long tail, loss |
//! | 2 | disks: sync latency, torn tails |
//! | 3 | scripted faults |
//! | 4 | nemesis |
//! | 5 | workload (client pacing) |
//! | 1024 + node id | each process's own draws |

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The RNG type used everywhere in simulation code.
pub type SimRng = ChaCha8Rng;

/// A named fork of the root RNG; its value is the ChaCha stream number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The virtual network.
    Network,
    /// The virtual disks.
    Disk,
    /// Scripted faults.
    Faults,
    /// The randomized nemesis.
    Nemesis,
    /// Client workload pacing.
    Workload,
    /// The process running on a node.
    Node(u32),
}

impl Stream {
    /// The ChaCha stream number of this fork.
    pub fn number(self) -> u64 {
        match self {
            Stream::Network => 1,
            Stream::Disk => 2,
            Stream::Faults => 3,
            Stream::Nemesis => 4,
            Stream::Workload => 5,
            Stream::Node(id) => 1024 + u64::from(id),
        }
    }
}

/// The root of a run's randomness.
#[derive(Clone, Debug)]
pub struct RootRng {
    seed: u64,
}

impl RootRng {
    /// The root for a run with this seed.
    pub fn new(seed: u64) -> RootRng {
        RootRng { seed }
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// An independent RNG for one component, the same for the same seed and stream.
    pub fn fork(&self, stream: Stream) -> SimRng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(stream.number());
        rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn forks_are_reproducible_and_independent() {
        let root = RootRng::new(7);
        let a: Vec<u64> = (0..4)
            .map(|_| root.fork(Stream::Network).next_u64())
            .collect();
        assert!(
            a.windows(2).all(|w| w[0] == w[1]),
            "same stream, same first draw"
        );
        let mut net = root.fork(Stream::Network);
        let mut disk = root.fork(Stream::Disk);
        assert_ne!(net.next_u64(), disk.next_u64());
        let mut other_seed = RootRng::new(8).fork(Stream::Network);
        assert_ne!(root.fork(Stream::Network).next_u64(), other_seed.next_u64());
        assert_ne!(Stream::Node(0).number(), Stream::Workload.number());
    }
}

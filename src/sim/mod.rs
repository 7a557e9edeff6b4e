//! The deterministic engine: simulated time, the event queue, the seeded RNG and its forks,
//! node ids, the sans-I/O process interface with its effects, and the [`Simulator`] loop that
//! applies effects, moves messages over the [`crate::net`] network, keeps each node's
//! [`crate::disk`] disk, applies [`crate::faults`] and feeds the [`crate::trace`].
//!
//! One run is one thread and one seed: nothing here reads the wall clock, the OS's entropy or a
//! hash map's iteration order, and events at the same instant fire in the order they were
//! scheduled.

mod deadlines;
mod fault_apply;
mod ids;
mod process;
mod queue;
mod rng;
mod simulator;
mod time;

pub use deadlines::{DeadlineId, Deadlines};
pub use ids::{NodeId, TimerId};
pub use process::{Ctx, DiskOp, Effect, Process};
pub use queue::EventQueue;
pub use rng::{RootRng, SimRng, Stream};
pub use simulator::{NodeStatus, Observer, SimError, Simulator, World};
pub use time::{SimDuration, SimTime};

//! Dense identifiers. Nodes are numbered from 0 in the order DESIGN §3 gives (`zk`, brokers,
//! then client instances in file order), so per-node state lives in `Vec`s indexed by id.

use std::fmt;

/// A node of the simulated world: the metadata service, a broker or a client instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(u32);

impl NodeId {
    /// The node with this dense index.
    pub fn from_index(index: usize) -> NodeId {
        NodeId(u32::try_from(index).expect("node index fits in u32"))
    }

    /// The dense index, for `Vec` lookups.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The raw number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A timer set by a process; cancelling it by id is how a process forgets a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub(crate) u64);

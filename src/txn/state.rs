//! A transactional id's metadata and Kafka's transaction state machine
//! (`TransactionMetadata.scala`, `TransactionState.java`): the states, which previous states each
//! may follow, and the one-pending-transition rule.

use std::collections::BTreeSet;

use crate::protocol::TopicPartition;

/// Kafka's `TransactionState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TxnState {
    /// No transaction open (a new id, or after `InitProducerId`).
    Empty,
    /// A transaction is open: partitions were added.
    Ongoing,
    /// `EndTxn(commit)` is persisted; markers are being written.
    PrepareCommit,
    /// `EndTxn(abort)` (or a fence, or a timeout) is persisted; markers are being written.
    PrepareAbort,
    /// Every COMMIT marker is written.
    CompleteCommit,
    /// Every ABORT marker is written.
    CompleteAbort,
    /// The id expired (not reached in a run: `transactional.id.expiration.ms` is left out).
    Dead,
    /// An epoch bump on the way to aborting an ongoing transaction (a fence or a timeout).
    PrepareEpochFence,
}

impl TxnState {
    /// All states, in Kafka's id order.
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    /// Kafka's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// Kafka's id of the state (as the transaction log stores it).
    pub fn id(self) -> u8 {
        TxnState::ALL
            .iter()
            .position(|&s| s == self)
            .expect("every state is listed") as u8
    }

    /// The state of a stored id.
    pub fn from_id(id: u8) -> Option<TxnState> {
        TxnState::ALL.get(usize::from(id)).copied()
    }

    /// The states this one may follow (`TransactionState.validPreviousStates`).
    pub fn valid_previous_states(self) -> &'static [TxnState] {
        use TxnState::*;
        match self {
            Empty => &[Empty, CompleteCommit, CompleteAbort],
            Ongoing => &[Ongoing, Empty, CompleteCommit, CompleteAbort],
            PrepareCommit => &[Ongoing],
            PrepareAbort => &[Ongoing, PrepareEpochFence],
            CompleteCommit => &[PrepareCommit],
            CompleteAbort => &[PrepareAbort],
            Dead => &[Empty, CompleteAbort, CompleteCommit],
            PrepareEpochFence => &[Ongoing],
        }
    }

    /// Whether a transition from `from` to this state is valid.
    pub fn may_follow(self, from: TxnState) -> bool {
        self.valid_previous_states().contains(&from)
    }

    /// Whether markers are being written in this state.
    pub fn is_prepare(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

impl std::fmt::Display for TxnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One transactional id's metadata (`TransactionMetadata`), as the log stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnMetadata {
    /// The transactional id's index.
    pub txn: u32,
    /// Its producer id.
    pub producer_id: i64,
    /// Its current producer epoch.
    pub producer_epoch: i16,
    /// `transaction.timeout.ms` from the last `InitProducerId`.
    pub timeout_ms: u64,
    /// The state.
    pub state: TxnState,
    /// The partitions of the open (or ending) transaction.
    pub partitions: BTreeSet<TopicPartition>,
    /// When the open transaction started, in simulated ms.
    pub txn_start_ms: u64,
}

/// A transition that is persisted but not yet applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The metadata once the transition's record is replicated.
    pub target: TxnMetadata,
}

/// Metadata and at most one pending transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnEntry {
    /// The applied metadata.
    pub metadata: TxnMetadata,
    /// The transition in flight, if any: another one must wait (`CONCURRENT_TRANSACTIONS`).
    pub pending: Option<Pending>,
}

impl TxnEntry {
    /// Starts a transition to `target`; panics if it is not a valid one or one is in flight.
    pub fn prepare(&mut self, target: TxnMetadata) {
        assert!(self.pending.is_none(), "one pending transition at a time");
        assert!(
            target.state.may_follow(self.metadata.state),
            "invalid transition {} -> {}",
            self.metadata.state,
            target.state
        );
        assert!(
            target.producer_epoch >= self.metadata.producer_epoch,
            "producer epochs never go back"
        );
        self.pending = Some(Pending { target });
    }

    /// Applies the pending transition; returns the new metadata.
    pub fn complete(&mut self) -> &TxnMetadata {
        let pending = self.pending.take().expect("a pending transition");
        self.metadata = pending.target;
        &self.metadata
    }
}

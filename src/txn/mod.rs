//! The transaction coordinator (Kafka's `TransactionCoordinator` with its
//! `TransactionStateManager` and `TransactionMarkerChannelManager`), as a sans-I/O state machine a
//! broker runs for the `__transaction_state` partitions it leads. A transactional id lives on
//! partition `java_abs(java_string_hash(id)) % partitions`.
//!
//! - `InitProducerId`, `AddPartitionsToTxn`, `EndTxn` with Kafka's states and transitions (see
//!   [`state`]): one transition per id at a time (`CONCURRENT_TRANSACTIONS` otherwise), each
//!   persisted to the id's partition and applied (and answered) only once the high watermark
//!   passes it (acks=all, `transaction.state.log.min.isr`).
//! - A prepared commit or abort writes COMMIT/ABORT markers to every partition of the transaction
//!   (`WriteTxnMarkers` to their leaders, retried until each is written), then persists
//!   CompleteCommit/CompleteAbort. `InitProducerId` on an ongoing transaction fences it: the epoch
//!   is bumped and the transaction aborted with markers at the new epoch; the client is told
//!   `CONCURRENT_TRANSACTIONS` and retries. Transactions open longer than their
//!   `transaction.timeout.ms` are aborted the same way, checked every
//!   `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
//! - Under KIP-890 (`transactions.protocol = "kip-890"`) every `EndTxn` bumps the epoch, the
//!   markers carry the new one and the answer tells the producer; partition leaders verify a
//!   producer's first transactional write to a partition (`VerifyPartitionsInTxn`).
//! - `AddOffsetsToTxn` adds the group's `__consumer_offsets` partition to the transaction, so
//!   the offsets sent with it get its marker.
//! - Leading a partition loads its ids from the log (`COORDINATOR_LOAD_IN_PROGRESS` meanwhile)
//!   and completes the commits and aborts that were prepared; the coordinator epoch (the
//!   partition's leader epoch) goes with every marker so partition leaders fence an old
//!   coordinator.
//!
//! A new transactional id gets its producer id from the broker's producer id block (shared with
//! idempotent producers), and keeps it.
//!
//! Volatile: everything; the log is the durable copy. Left out: id expiration (`Dead`) and epoch
//! exhaustion (a new producer id when the epoch runs out).

mod handlers;
mod markers;
pub mod records;
pub mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::protocol::{KafkaError, TopicPartition, TxnResponse};
use crate::record::{ControlType, Record};
use crate::scenario::TransactionsProtocol;
use crate::sim::{NodeId, SimDuration, SimTime};
pub use markers::MarkerJob;
pub use state::{TxnEntry, TxnMetadata, TxnState};

/// How long a coordinator append may wait for the HW (Kafka's `transaction.state.log` writes
/// time out with `request.timeout.ms`).
pub const APPEND_TIMEOUT_MS: u64 = 5_000;
/// How long loading a partition takes.
pub const LOAD_MS: u64 = 5;

/// What every transaction coordinator knows of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnCoordinatorSpec {
    /// The transactional ids; an id's index names it in requests and records.
    pub ids: Vec<Arc<str>>,
    /// Partitions of `__transaction_state` (`transaction.state.log.num.partitions`).
    pub partitions: u32,
    /// Classic or KIP-890.
    pub protocol: TransactionsProtocol,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub abort_check_interval_ms: u64,
    /// `__consumer_offsets` as (topic index, partitions), when the run has groups: where
    /// `AddOffsetsToTxn` finds a group's partition.
    pub offsets_topic: Option<(u32, u32)>,
}

/// The `__transaction_state` partition of `id` (Kafka's `partitionFor`).
pub fn partition_for(id: &str, partitions: u32) -> u32 {
    crate::group::coordinator::partition_for(id, partitions)
}

/// What the coordinator asks its broker to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnAction {
    /// Answer a producer.
    Reply {
        /// The producer's node.
        to: NodeId,
        /// The answer.
        response: TxnResponse,
    },
    /// Append records to a `__transaction_state` partition as leader, then tell
    /// [`TxnCoordinator::append_started`] or [`TxnCoordinator::append_failed`].
    Append {
        /// The partition number.
        partition: u32,
        /// The records.
        records: Vec<Record>,
        /// What completes when they are replicated.
        then: AfterAppend,
    },
    /// Send `WriteTxnMarkers` for these partitions to their leaders, then tell
    /// [`TxnCoordinator::marker_written`] or [`TxnCoordinator::marker_failed`] per partition.
    WriteMarkers {
        /// The transactional id's index.
        txn: u32,
        /// The producer id and the epoch the markers carry.
        producer: (i64, i16),
        /// COMMIT or ABORT.
        result: ControlType,
        /// The coordinator epoch.
        coordinator_epoch: u32,
        /// The partitions.
        partitions: Vec<TopicPartition>,
    },
    /// A line for the short log.
    Note(String),
}

/// What waits on a coordinator append: the id whose pending transition it persists and the
/// answer to send once it is replicated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AfterAppend {
    /// The transactional id's index.
    pub txn: u32,
    /// Who to answer, with what, once the transition applies.
    pub reply: Option<(NodeId, TxnResponse)>,
}

/// An append waiting for the high watermark.
#[derive(Clone, Debug)]
struct PendingAppend {
    partition: u32,
    required_offset: u64,
    deadline: SimTime,
    then: AfterAppend,
}

/// A `__transaction_state` partition this broker leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Owned {
    /// The partition's leader epoch: the coordinator epoch of its ids.
    coordinator_epoch: u32,
    /// Ready to serve from this time on (loading until then).
    ready_at: SimTime,
}

/// The transaction coordinator of one broker.
#[derive(Clone, Debug)]
pub struct TxnCoordinator {
    spec: TxnCoordinatorSpec,
    owned: BTreeMap<u32, Owned>,
    /// Ids of loaded partitions, by index.
    entries: BTreeMap<u32, TxnEntry>,
    pending: Vec<PendingAppend>,
    /// Markers being written, by transactional id index.
    markers: BTreeMap<u32, MarkerJob>,
    /// The next timed-out-transaction check.
    next_abort_check: SimTime,
}

impl TxnCoordinator {
    /// A coordinator leading no partition.
    pub fn new(spec: TxnCoordinatorSpec) -> TxnCoordinator {
        TxnCoordinator {
            spec,
            owned: BTreeMap::new(),
            entries: BTreeMap::new(),
            pending: Vec::new(),
            markers: BTreeMap::new(),
            next_abort_check: SimTime::ZERO,
        }
    }

    /// The run's coordinator spec.
    pub fn spec(&self) -> &TxnCoordinatorSpec {
        &self.spec
    }

    /// The partition of transactional id index `txn`.
    pub fn partition_of(&self, txn: u32) -> u32 {
        let id = self.spec.ids.get(txn as usize).map_or("", |s| &**s);
        partition_for(id, self.spec.partitions)
    }

    /// The metadata of id `txn`, if loaded here.
    pub fn entry(&self, txn: u32) -> Option<&TxnEntry> {
        self.entries.get(&txn)
    }

    /// Whether this coordinator has taken over partition `partition` (loading or loaded).
    pub fn owns(&self, partition: u32) -> bool {
        self.owned.contains_key(&partition)
    }

    /// The coordinator epoch of `partition`, if owned.
    pub fn coordinator_epoch(&self, partition: u32) -> Option<u32> {
        self.owned.get(&partition).map(|o| o.coordinator_epoch)
    }

    /// Whether id `txn` may be served now: `Err` with `NOT_COORDINATOR` or
    /// `COORDINATOR_LOAD_IN_PROGRESS` otherwise.
    fn serving(&self, now: SimTime, txn: u32) -> Result<(), KafkaError> {
        if txn as usize >= self.spec.ids.len() {
            return Err(KafkaError::NotCoordinator);
        }
        match self.owned.get(&self.partition_of(txn)) {
            None => Err(KafkaError::NotCoordinator),
            Some(o) if now < o.ready_at => Err(KafkaError::CoordinatorLoadInProgress),
            Some(_) => Ok(()),
        }
    }

    /// The broker became leader of `partition` in `coordinator_epoch`, whose log holds
    /// `records`: load its ids; prepared commits and aborts resume once loaded.
    pub fn load<'a>(
        &mut self,
        now: SimTime,
        partition: u32,
        coordinator_epoch: u32,
        records: impl IntoIterator<Item = &'a Record>,
        out: &mut Vec<TxnAction>,
    ) {
        let mut loaded = BTreeMap::new();
        for metadata in records::decode(records) {
            let valid = (metadata.txn as usize) < self.spec.ids.len()
                && self.partition_of(metadata.txn) == partition;
            if valid {
                loaded.insert(metadata.txn, metadata);
            }
        }
        if !loaded.is_empty() {
            out.push(TxnAction::Note(format!(
                "transaction coordinator loading __transaction_state-{partition} (coordinator \
                 epoch {coordinator_epoch}): {} id(s)",
                loaded.len()
            )));
        }
        for (txn, metadata) in loaded {
            self.entries.insert(
                txn,
                TxnEntry {
                    metadata,
                    pending: None,
                },
            );
        }
        let ready_at = now + SimDuration::from_millis(LOAD_MS);
        self.owned.insert(
            partition,
            Owned {
                coordinator_epoch,
                ready_at,
            },
        );
    }

    /// The broker stopped leading `partition`: drop its ids, fail what waits.
    pub fn unload(&mut self, partition: u32, out: &mut Vec<TxnAction>) {
        if self.owned.remove(&partition).is_none() {
            return;
        }
        let txns: Vec<u32> = self
            .entries
            .keys()
            .copied()
            .filter(|&t| self.partition_of(t) == partition)
            .collect();
        for txn in &txns {
            self.entries.remove(txn);
            self.markers.remove(txn);
        }
        let (failed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.partition == partition);
        self.pending = kept;
        for p in failed {
            reply_failed(p.then, KafkaError::NotCoordinator, out);
        }
        out.push(TxnAction::Note(format!(
            "transaction coordinator unloaded __transaction_state-{partition}"
        )));
    }

    /// The broker appended an [`TxnAction::Append`]: it completes when the HW reaches
    /// `required_offset`.
    pub fn append_started(
        &mut self,
        now: SimTime,
        partition: u32,
        required_offset: u64,
        then: AfterAppend,
    ) {
        let deadline = now + SimDuration::from_millis(APPEND_TIMEOUT_MS);
        self.pending.push(PendingAppend {
            partition,
            required_offset,
            deadline,
            then,
        });
    }

    /// The append could not be made: the transition is dropped and the producer told.
    pub fn append_failed(
        &mut self,
        then: AfterAppend,
        error: KafkaError,
        out: &mut Vec<TxnAction>,
    ) {
        if let Some(entry) = self.entries.get_mut(&then.txn) {
            entry.pending = None;
        }
        let error = match error {
            KafkaError::NotLeaderOrFollower => KafkaError::NotCoordinator,
            KafkaError::NotEnoughReplicas | KafkaError::RequestTimedOut => {
                KafkaError::CoordinatorNotAvailable
            }
            other => other,
        };
        reply_failed(then, error, out);
    }

    /// The HW of `partition` moved to `hw`: apply the transitions it passed.
    pub fn on_high_watermark(
        &mut self,
        now: SimTime,
        partition: u32,
        hw: u64,
        out: &mut Vec<TxnAction>,
    ) {
        let (done, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.partition == partition && hw >= p.required_offset);
        self.pending = kept;
        for p in done {
            self.apply(now, p.then, out);
        }
    }

    /// A persisted transition applies: answer, and start or finish markers.
    fn apply(&mut self, now: SimTime, then: AfterAppend, out: &mut Vec<TxnAction>) {
        let Some(entry) = self.entries.get_mut(&then.txn) else {
            return;
        };
        if entry.pending.is_none() {
            return;
        }
        let from = entry.metadata.state;
        let metadata = entry.complete().clone();
        out.push(TxnAction::Note(format!(
            "txn {} {from} -> {} (producer id {} epoch {}, {} partition(s))",
            self.spec.ids[then.txn as usize],
            metadata.state,
            metadata.producer_id,
            metadata.producer_epoch,
            metadata.partitions.len()
        )));
        if let Some((to, response)) = then.reply {
            out.push(TxnAction::Reply { to, response });
        }
        if metadata.state.is_prepare() {
            self.start_markers(now, &metadata, out);
        }
    }

    /// Appends timed out, timed-out transactions, loads finished, marker retries.
    pub fn on_time(&mut self, now: SimTime, out: &mut Vec<TxnAction>) {
        let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| now >= p.deadline);
        self.pending = kept;
        for p in expired {
            self.append_failed(p.then, KafkaError::RequestTimedOut, out);
        }
        self.resume_loaded(now, out);
        if now >= self.next_abort_check {
            let every = self.spec.abort_check_interval_ms.max(1);
            self.next_abort_check = now + SimDuration::from_millis(every);
            self.abort_timed_out(now, out);
        }
        self.retry_markers(now, out);
    }

    /// Partitions whose load just finished: their prepared commits and aborts write markers.
    fn resume_loaded(&mut self, now: SimTime, out: &mut Vec<TxnAction>) {
        let prepared: Vec<TxnMetadata> = self
            .entries
            .values()
            .filter(|e| e.pending.is_none() && e.metadata.state.is_prepare())
            .filter(|e| !self.markers.contains_key(&e.metadata.txn))
            .filter(|e| self.serving(now, e.metadata.txn).is_ok())
            .map(|e| e.metadata.clone())
            .collect();
        for metadata in prepared {
            self.start_markers(now, &metadata, out);
        }
    }

    /// When the coordinator needs to run next after `now`, if ever.
    pub fn next_deadline(&self, now: SimTime) -> Option<SimTime> {
        let appends = self.pending.iter().map(|p| p.deadline);
        let loads = self
            .owned
            .values()
            .map(|o| o.ready_at)
            .filter(|&at| at > now);
        let markers = self.markers.values().filter_map(MarkerJob::next_due);
        let check = (!self.entries.is_empty()).then_some(self.next_abort_check);
        appends.chain(loads).chain(markers).chain(check).min()
    }
}

/// Answers what waited on a failed append with `error`.
fn reply_failed(then: AfterAppend, error: KafkaError, out: &mut Vec<TxnAction>) {
    if let Some((to, response)) = then.reply {
        out.push(TxnAction::Reply {
            to,
            response: with_error(response, error),
        });
    }
}

/// `response` turned into a failure with `error`.
fn with_error(response: TxnResponse, error: KafkaError) -> TxnResponse {
    match response {
        TxnResponse::InitProducerId { correlation, .. } => TxnResponse::InitProducerId {
            correlation,
            result: Err(error),
        },
        TxnResponse::AddPartitionsToTxn { correlation, .. } => TxnResponse::AddPartitionsToTxn {
            correlation,
            result: Err(error),
        },
        TxnResponse::AddOffsetsToTxn { correlation, .. } => TxnResponse::AddOffsetsToTxn {
            correlation,
            result: Err(error),
        },
        TxnResponse::EndTxn { correlation, .. } => TxnResponse::EndTxn {
            correlation,
            result: Err(error),
        },
        other => other,
    }
}

//! The coordinator's side of transaction markers (Kafka's `TransactionMarkerChannelManager`):
//! a prepared commit or abort is a job with the partitions still to mark; each is sent to its
//! leader, retried after [`MARKER_RETRY_BACKOFF_MS`] when the leader is unknown or refuses, or
//! after [`MARKER_REQUEST_TIMEOUT_MS`] without an answer. When every partition is marked the
//! coordinator persists CompleteCommit/CompleteAbort.

use std::collections::BTreeMap;

use super::{AfterAppend, TxnAction, TxnCoordinator, TxnMetadata, TxnState, records};
use crate::protocol::{KafkaError, TopicPartition};
use crate::record::ControlType;
use crate::sim::{SimDuration, SimTime};

/// How long before a marker is sent again after a failure (`retry.backoff.ms`).
pub const MARKER_RETRY_BACKOFF_MS: u64 = 100;
/// How long a marker request may go unanswered (`request.timeout.ms` of the inter-broker
/// channel, shortened: a lost answer is resent rather than waited on for 30 s).
pub const MARKER_REQUEST_TIMEOUT_MS: u64 = 5_000;

/// One transaction's markers being written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkerJob {
    /// The producer id and the epoch the markers carry.
    pub producer: (i64, i16),
    /// COMMIT or ABORT.
    pub result: ControlType,
    /// The coordinator epoch at the time.
    pub coordinator_epoch: u32,
    /// Partitions not yet marked, with when to (re)send: `None` means in flight.
    pub remaining: BTreeMap<TopicPartition, Option<SimTime>>,
    /// When the request in flight of each partition times out.
    pub in_flight_until: BTreeMap<TopicPartition, SimTime>,
}

impl MarkerJob {
    /// When something of the job is due: a retry or an in-flight timeout.
    pub fn next_due(&self) -> Option<SimTime> {
        let retries = self.remaining.values().filter_map(|at| *at);
        retries.chain(self.in_flight_until.values().copied()).min()
    }
}

impl TxnCoordinator {
    /// Starts writing the markers of a prepared transaction.
    pub(super) fn start_markers(
        &mut self,
        now: SimTime,
        metadata: &TxnMetadata,
        out: &mut Vec<TxnAction>,
    ) {
        let result = match metadata.state {
            TxnState::PrepareCommit => ControlType::Commit,
            TxnState::PrepareAbort => ControlType::Abort,
            other => unreachable!("markers in state {other}"),
        };
        let coordinator_epoch = self
            .coordinator_epoch(self.partition_of(metadata.txn))
            .unwrap_or(0);
        let job = MarkerJob {
            producer: (metadata.producer_id, metadata.producer_epoch),
            result,
            coordinator_epoch,
            remaining: metadata
                .partitions
                .iter()
                .map(|&tp| (tp, Some(now)))
                .collect(),
            in_flight_until: BTreeMap::new(),
        };
        self.markers.insert(metadata.txn, job);
        self.maybe_finish(metadata.txn, out);
        self.retry_markers(now, out);
    }

    /// Sends the markers that are due (all of a new job; retries after their backoff).
    pub(super) fn retry_markers(&mut self, now: SimTime, out: &mut Vec<TxnAction>) {
        let timeout = SimDuration::from_millis(MARKER_REQUEST_TIMEOUT_MS);
        for (&txn, job) in &mut self.markers {
            let timed_out: Vec<TopicPartition> = job
                .in_flight_until
                .iter()
                .filter(|(_, until)| now >= **until)
                .map(|(tp, _)| *tp)
                .collect();
            for tp in timed_out {
                job.in_flight_until.remove(&tp);
                job.remaining.insert(tp, Some(now));
            }
            let due: Vec<TopicPartition> = job
                .remaining
                .iter()
                .filter(|(_, at)| at.is_some_and(|at| now >= at))
                .map(|(tp, _)| *tp)
                .collect();
            if due.is_empty() {
                continue;
            }
            for tp in &due {
                job.remaining.insert(*tp, None);
                job.in_flight_until.insert(*tp, now + timeout);
            }
            out.push(TxnAction::WriteMarkers {
                txn,
                producer: job.producer,
                result: job.result,
                coordinator_epoch: job.coordinator_epoch,
                partitions: due,
            });
        }
    }

    /// A partition leader wrote the marker of `txn` on `tp` (or refused it for good).
    pub fn marker_written(&mut self, txn: u32, tp: TopicPartition, out: &mut Vec<TxnAction>) {
        let Some(job) = self.markers.get_mut(&txn) else {
            return;
        };
        job.remaining.remove(&tp);
        job.in_flight_until.remove(&tp);
        self.maybe_finish(txn, out);
    }

    /// A marker of `txn` on `tp` could not be written now: send it again after a backoff; an
    /// error that no retry can fix (a newer producer epoch or coordinator there) ends it.
    pub fn marker_failed(
        &mut self,
        now: SimTime,
        txn: u32,
        tp: TopicPartition,
        error: KafkaError,
        out: &mut Vec<TxnAction>,
    ) {
        let Some(job) = self.markers.get_mut(&txn) else {
            return;
        };
        if !job.remaining.contains_key(&tp) {
            return;
        }
        match error {
            KafkaError::InvalidProducerEpoch | KafkaError::TransactionCoordinatorFenced => {
                out.push(TxnAction::Note(format!(
                    "txn {}: marker for topic {} partition {} refused: {error}",
                    self.spec.ids[txn as usize], tp.topic, tp.partition
                )));
                self.marker_written(txn, tp, out);
            }
            _ => {
                job.in_flight_until.remove(&tp);
                let backoff = SimDuration::from_millis(MARKER_RETRY_BACKOFF_MS);
                job.remaining.insert(tp, Some(now + backoff));
            }
        }
    }

    /// Every marker written: persist CompleteCommit/CompleteAbort.
    fn maybe_finish(&mut self, txn: u32, out: &mut Vec<TxnAction>) {
        if self
            .markers
            .get(&txn)
            .is_none_or(|j| !j.remaining.is_empty())
        {
            return;
        }
        self.markers.remove(&txn);
        let Some(entry) = self.entries.get_mut(&txn) else {
            return;
        };
        if entry.pending.is_some() || !entry.metadata.state.is_prepare() {
            return;
        }
        let mut target = entry.metadata.clone();
        target.state = match target.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            _ => TxnState::CompleteAbort,
        };
        target.partitions.clear();
        entry.prepare(target.clone());
        out.push(TxnAction::Append {
            partition: self.partition_of(txn),
            records: records::encode(&target),
            then: AfterAppend { txn, reply: None },
        });
    }

    /// The job of `txn`, for inspection.
    pub fn marker_job(&self, txn: u32) -> Option<&MarkerJob> {
        self.markers.get(&txn)
    }
}

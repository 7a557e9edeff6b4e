//! The transactional producer (the transactional part of Kafka's client `TransactionManager`):
//! `FindCoordinator` for its `transactional.id`, `InitProducerId` through the coordinator, then a
//! workload of transactions of `records_per_transaction` records, every `abort_every`-th aborted.
//! The application blocks while a transaction ends, so the workload's next record waits.
//!
//! Kafka's client rules, as modelled: a partition is added with `AddPartitionsToTxn` before its
//! first batch of a transaction is drained; `EndTxn` goes out only when no batch is incomplete
//! (queued or in flight), and an abort first fails the batches not yet drained. A batch that
//! fails for good makes the transaction abortable: a commit turns into an abort. Fatal errors
//! (`PRODUCER_FENCED`, `INVALID_PRODUCER_EPOCH` on a produce, `INVALID_PRODUCER_ID_MAPPING`,
//! `INVALID_TXN_STATE`) stop the producer. Retriable coordinator errors are retried after
//! `retry.backoff.ms`, `NOT_COORDINATOR` and lost connections after finding the coordinator again.
//! Under KIP-890 the `EndTxn` answer carries the bumped epoch, whose sequences start at 0. After
//! an abort that left sequences unknown (an expired batch) the producer asks `InitProducerId`
//! again for a new epoch (KIP-360) instead of bumping it locally.
//!
//! `sendOffsetsToTransaction` (a pipeline's, see [`super::pipeline`]) sends `AddOffsetsToTxn` to
//! the transaction coordinator, then `TxnOffsetCommit` with the consumer's group metadata to the
//! group's coordinator (found with its own `FindCoordinator`); `EndTxn` waits for both.
//! `UNKNOWN_MEMBER_ID`, `ILLEGAL_GENERATION` and `FENCED_INSTANCE_ID` on the offsets make the
//! transaction abortable (Kafka's `CommitFailedException`): a zombie's offsets never commit.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Producer;
use crate::node::{Msg, Node, Obs, millis};
use crate::protocol::{
    BrokerId, ConsumerRequest, ConsumerResponse, KafkaError, TopicPartition, TxnRequest,
    TxnResponse,
};
use crate::record::RecordId;
use crate::sim::{Ctx, NodeId, SimTime};

/// Kafka's `TransactionManager.ADD_PARTITIONS_RETRY_BACKOFF_MS`.
const ADD_PARTITIONS_RETRY_BACKOFF_MS: u64 = 20;

/// Where the transactional producer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// It needs a producer id and epoch from the coordinator.
    NeedsInit,
    /// It may begin a transaction (or is in one).
    Ready,
    /// The application asked to commit (true) or abort.
    Ending(bool),
    /// A fatal error stopped it.
    Fatal(KafkaError),
}

/// Which transaction request is in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TxnOp {
    FindCoordinator,
    InitProducerId,
    AddPartitions,
    AddOffsets,
    FindGroupCoordinator,
    TxnOffsetCommit,
    EndTxn(bool),
}

/// Offsets the application sends with the transaction, and the consumer's group metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendOffsets {
    /// The consumer group.
    pub group: Arc<str>,
    /// The consumer's generation.
    pub generation: i32,
    /// The consumer's member id.
    pub member_id: Arc<str>,
    /// The consumer's `group.instance.id`, when static.
    pub group_instance_id: Option<Arc<str>>,
    /// Next offset to read, per input partition.
    pub offsets: Vec<(TopicPartition, u64)>,
}

/// The transactional producer's state.
#[derive(Clone, Debug)]
pub(super) struct TxnClient {
    /// Index of the transactional id.
    pub txn: u32,
    pub coordinator: Option<BrokerId>,
    /// The request in flight: correlation, what, and the node it went to.
    pub in_flight: Option<(u64, TxnOp, NodeId)>,
    pub not_before: SimTime,
    pub phase: Phase,
    /// Partitions added to the current transaction.
    pub added: BTreeSet<u32>,
    /// Partitions with batches waiting to be added.
    pub to_add: BTreeSet<u32>,
    /// The partitions of the `AddPartitionsToTxn` in flight.
    pub adding: BTreeSet<u32>,
    /// The records of the current transaction.
    pub records: Vec<RecordId>,
    /// Transactions begun so far.
    pub begun: u64,
    /// Why the current transaction must abort, if it must.
    pub abortable: Option<KafkaError>,
    /// Offsets to send with the current transaction, until the group coordinator took them;
    /// with whether `AddOffsetsToTxn` was answered.
    pub offsets: Option<(SendOffsets, bool)>,
    /// The transaction coordinator's transaction holds the group's offsets partition.
    pub offsets_added: bool,
    /// The coordinator of the offsets' group.
    pub group_coordinator: Option<BrokerId>,
    /// How the last transaction ended (committed or not), until the application asks.
    pub ended: Option<bool>,
}

impl TxnClient {
    /// A transactional producer for id index `txn`.
    pub fn new(txn: u32) -> TxnClient {
        TxnClient {
            txn,
            coordinator: None,
            in_flight: None,
            not_before: SimTime::ZERO,
            phase: Phase::NeedsInit,
            added: BTreeSet::new(),
            to_add: BTreeSet::new(),
            adding: BTreeSet::new(),
            records: Vec::new(),
            begun: 0,
            abortable: None,
            offsets: None,
            offsets_added: false,
            group_coordinator: None,
            ended: None,
        }
    }
}

/// Whether a coordinator error is fatal for the producer (Kafka's `fatalError` cases).
fn is_fatal(error: KafkaError) -> bool {
    matches!(
        error,
        KafkaError::ProducerFenced
            | KafkaError::InvalidProducerEpoch
            | KafkaError::InvalidProducerIdMapping
            | KafkaError::InvalidTxnState
    )
}

impl Producer {
    /// Whether a fatal error stopped the transactional producer.
    pub(super) fn is_fatal(&self) -> bool {
        self.txn
            .as_ref()
            .is_some_and(|t| matches!(t.phase, Phase::Fatal(_)))
    }

    /// Whether the application may hand the workload's next record over now.
    pub(super) fn accepts_records(&self) -> bool {
        self.txn.as_ref().is_none_or(|t| t.phase == Phase::Ready)
    }

    /// A record of the current transaction was handed over; ends the transaction after
    /// `records_per_transaction` records or the workload's last one.
    pub(super) fn on_txn_record(&mut self, ctx: &mut Ctx<'_, Node>, id: RecordId) {
        let last = self.next_record >= self.spec.records;
        let (per_txn, abort_every) = (self.spec.records_per_transaction, self.spec.abort_every);
        let Some(t) = &mut self.txn else {
            return;
        };
        if t.records.is_empty() {
            t.begun += 1;
        }
        t.records.push(id);
        if t.records.len() as u64 >= per_txn.max(1) || last {
            let abort = abort_every > 0 && t.begun % abort_every == 0;
            self.end_transaction(ctx, !abort);
        }
    }

    /// The application commits (or aborts) the current transaction.
    pub(super) fn end_transaction(&mut self, ctx: &mut Ctx<'_, Node>, commit: bool) {
        let Some(t) = &mut self.txn else {
            return;
        };
        if !matches!(t.phase, Phase::Ready) {
            return;
        }
        t.phase = Phase::Ending(commit);
        if !commit {
            self.abort_undrained(ctx);
        }
    }

    /// An abort fails the batches not yet sent, for certain (Kafka's `abortUndrainedBatches`).
    fn abort_undrained(&mut self, ctx: &mut Ctx<'_, Node>) {
        for partition in 0..self.spec.partitions {
            let queue = &mut self.queues[partition as usize];
            let (unsent, kept): (Vec<_>, Vec<_>) =
                std::mem::take(queue).into_iter().partition(|b| !b.sent);
            *queue = kept.into();
            for batch in unsent {
                self.fail(ctx, partition, &batch, true, KafkaError::InvalidTxnState);
            }
        }
    }

    /// Whether `partition`'s batches may be drained: added to the transaction (or queued to be).
    pub(super) fn may_drain_transactional(&mut self, partition: u32) -> bool {
        let Some(t) = &mut self.txn else {
            return true;
        };
        if matches!(t.phase, Phase::Fatal(_) | Phase::NeedsInit) {
            return false;
        }
        if t.added.contains(&partition) {
            return true;
        }
        t.to_add.insert(partition);
        false
    }

    /// A batch failed for good: the transaction must abort; some errors are fatal.
    pub(super) fn on_txn_batch_failed(&mut self, ctx: &mut Ctx<'_, Node>, error: KafkaError) {
        let Some(t) = &mut self.txn else {
            return;
        };
        if matches!(t.phase, Phase::Fatal(_)) {
            return;
        }
        if matches!(
            error,
            KafkaError::InvalidProducerEpoch | KafkaError::ProducerFenced
        ) {
            self.become_fatal(ctx, KafkaError::ProducerFenced);
            return;
        }
        t.abortable.get_or_insert(error);
    }

    /// Stops the producer for good: whatever is queued fails for certain.
    fn become_fatal(&mut self, ctx: &mut Ctx<'_, Node>, error: KafkaError) {
        if let Some(t) = &mut self.txn {
            t.phase = Phase::Fatal(error);
        }
        ctx.observe(Obs::Note(format!(
            "transactional producer stops: fatal {error}"
        )));
        for partition in 0..self.spec.partitions {
            let queue = std::mem::take(&mut self.queues[partition as usize]);
            for batch in queue {
                let definite = !batch.sent;
                self.fail(ctx, partition, &batch, definite, error);
            }
        }
        self.next_record = self.spec.records;
    }

    /// Whether any batch of the producer is queued or in flight.
    pub(super) fn has_incomplete_batches(&self) -> bool {
        self.in_flight.values().any(|f| !f.batches.is_empty())
            || self.queues.iter().any(|q| !q.is_empty())
    }

    /// The transactional sender step, before each drain: find the coordinator, get an id,
    /// add partitions, end the transaction when its batches are complete.
    pub(super) fn txn_step(&mut self, ctx: &mut Ctx<'_, Node>) {
        let now = ctx.now();
        let incomplete = self.has_incomplete_batches();
        let Some(t) = &mut self.txn else {
            return;
        };
        if matches!(t.phase, Phase::Fatal(_)) || t.in_flight.is_some() {
            return;
        }
        // The application calls initTransactions when its workload starts.
        let start = SimTime::from_millis(self.spec.start_ms);
        if now < t.not_before.max(start) {
            let at = t.not_before.max(start);
            self.wake_at(ctx, at);
            return;
        }
        let (txn, coordinator) = (t.txn, t.coordinator);
        let Some(coordinator) = coordinator else {
            let brokers = self.spec.brokers.len() as u64;
            let target = (self.next_correlation + 1) % brokers.max(1);
            let request = |correlation| TxnRequest::FindCoordinator { correlation, txn };
            self.send_txn(ctx, target as BrokerId, TxnOp::FindCoordinator, request);
            return;
        };
        let producer = self
            .idempotence
            .as_ref()
            .and_then(|i| i.id())
            .map(|id| (id.producer_id, id.epoch));
        if matches!(t.phase, Phase::Ending(commit) if !commit || t.abortable.is_some()) {
            // An aborting transaction sends no more offsets.
            t.offsets = None;
        }
        match (t.phase, producer) {
            (Phase::NeedsInit, _) => {
                let timeout_ms = self.spec.config.transaction_timeout_ms;
                let request = |correlation| TxnRequest::InitProducerId {
                    correlation,
                    txn,
                    timeout_ms,
                };
                self.send_txn(ctx, coordinator, TxnOp::InitProducerId, request);
            }
            (Phase::Ready | Phase::Ending(_), Some(producer)) if t.offsets.is_some() => {
                self.send_offsets_step(ctx, coordinator, producer);
            }
            (Phase::Ending(commit), Some(producer)) if !incomplete => {
                let commit = commit && t.abortable.is_none();
                if t.added.is_empty() && !t.offsets_added {
                    // Nothing was added: the transaction ends without the coordinator.
                    self.transaction_ended(ctx, commit, producer);
                    return;
                }
                let request = |correlation| TxnRequest::EndTxn {
                    correlation,
                    txn,
                    producer,
                    commit,
                };
                self.send_txn(ctx, coordinator, TxnOp::EndTxn(commit), request);
            }
            (Phase::Ready | Phase::Ending(_), Some(producer)) if !t.to_add.is_empty() => {
                let topic = self.spec.topic;
                t.adding.clone_from(&t.to_add);
                let partitions = t
                    .to_add
                    .iter()
                    .map(|&partition| TopicPartition { topic, partition })
                    .collect();
                let request = |correlation| TxnRequest::AddPartitionsToTxn {
                    correlation,
                    txn,
                    producer,
                    partitions,
                };
                self.send_txn(ctx, coordinator, TxnOp::AddPartitions, request);
            }
            _ => {}
        }
    }

    /// The next step of `sendOffsetsToTransaction`: `AddOffsetsToTxn`, then the group's
    /// coordinator, then `TxnOffsetCommit`.
    fn send_offsets_step(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        coordinator: BrokerId,
        producer: (i64, i16),
    ) {
        let Some(t) = &self.txn else {
            return;
        };
        let Some((offsets, added)) = t.offsets.clone() else {
            return;
        };
        let txn = t.txn;
        if !added {
            let group = offsets.group.clone();
            let request = |correlation| {
                Msg::Txn(TxnRequest::AddOffsetsToTxn {
                    correlation,
                    txn,
                    producer,
                    group,
                })
            };
            return self.send_txn_msg(ctx, coordinator, TxnOp::AddOffsets, request);
        }
        let Some(group_coordinator) = t.group_coordinator else {
            let brokers = self.spec.brokers.len() as u64;
            let target = (self.next_correlation + 1) % brokers.max(1);
            let group = offsets.group;
            let request = |correlation| {
                Msg::Consumer(Box::new(ConsumerRequest::FindCoordinator {
                    correlation,
                    group,
                }))
            };
            let op = TxnOp::FindGroupCoordinator;
            return self.send_txn_msg(ctx, target as BrokerId, op, request);
        };
        let request = |correlation| {
            Msg::Consumer(Box::new(ConsumerRequest::TxnOffsetCommit {
                correlation,
                group: offsets.group,
                producer,
                generation: offsets.generation,
                member_id: offsets.member_id,
                group_instance_id: offsets.group_instance_id,
                offsets: offsets.offsets,
            }))
        };
        self.send_txn_msg(ctx, group_coordinator, TxnOp::TxnOffsetCommit, request);
    }

    /// Sends a transaction request to `broker`, with its `request.timeout.ms`.
    fn send_txn(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        broker: BrokerId,
        op: TxnOp,
        request: impl FnOnce(u64) -> TxnRequest,
    ) {
        self.send_txn_msg(ctx, broker, op, |correlation| {
            Msg::Txn(request(correlation))
        });
    }

    /// Sends a request of the transaction manager (to a transaction or group coordinator), with
    /// its `request.timeout.ms`.
    fn send_txn_msg(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        broker: BrokerId,
        op: TxnOp,
        request: impl FnOnce(u64) -> Msg,
    ) {
        self.next_correlation += 1;
        let correlation = self.next_correlation;
        let node = self.spec.brokers[broker as usize];
        ctx.send(node, request(correlation));
        if let Some(t) = &mut self.txn {
            t.in_flight = Some((correlation, op, node));
        }
        let timeout = millis(self.spec.config.request_timeout_ms);
        self.timeouts.insert(ctx.now() + timeout, correlation);
        self.arm_timeouts(ctx);
    }

    /// The transaction ended as the coordinator (or, for an empty one, the client) says.
    fn transaction_ended(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        committed: bool,
        producer: (i64, i16),
    ) {
        let Some(t) = &mut self.txn else {
            return;
        };
        let records = std::mem::take(&mut t.records);
        t.added.clear();
        t.to_add.clear();
        t.adding.clear();
        t.abortable = None;
        t.offsets = None;
        t.offsets_added = false;
        t.ended = Some(committed);
        t.phase = Phase::Ready;
        ctx.observe(Obs::TxnEnded {
            committed,
            epoch: producer.1,
            records,
        });
        let bump = self
            .idempotence
            .as_mut()
            .is_some_and(|i| i.take_epoch_bump_request());
        if bump && let Some(t) = &mut self.txn {
            // KIP-360: sequences are unknown; a new epoch from the coordinator resets them.
            t.phase = Phase::NeedsInit;
        }
    }

    /// The request in flight failed without an answer (timeout, lost connection).
    pub(super) fn on_txn_request_lost(&mut self, ctx: &mut Ctx<'_, Node>, correlation: u64) {
        let Some(t) = &mut self.txn else {
            return;
        };
        let Some((_, op, _)) = t.in_flight.filter(|(c, _, _)| *c == correlation) else {
            return;
        };
        t.in_flight = None;
        if matches!(op, TxnOp::FindGroupCoordinator | TxnOp::TxnOffsetCommit) {
            t.group_coordinator = None;
        } else {
            t.coordinator = None;
        }
        t.not_before = ctx.now() + millis(self.spec.config.retry_backoff_ms.max(1));
    }

    /// The transaction request in flight to `peer` is lost with its connection.
    pub(super) fn on_txn_connection_closed(&mut self, ctx: &mut Ctx<'_, Node>, peer: NodeId) {
        let lost = self
            .txn
            .as_ref()
            .and_then(|t| t.in_flight)
            .filter(|(_, _, node)| *node == peer)
            .map(|(c, _, _)| c);
        if let Some(correlation) = lost {
            self.on_txn_request_lost(ctx, correlation);
        }
    }

    /// Handles an answer from a transaction coordinator (or any broker, for `FindCoordinator`).
    pub fn on_txn_response(&mut self, ctx: &mut Ctx<'_, Node>, _from: NodeId, resp: TxnResponse) {
        let correlation = match &resp {
            TxnResponse::FindCoordinator { correlation, .. }
            | TxnResponse::InitProducerId { correlation, .. }
            | TxnResponse::AddPartitionsToTxn { correlation, .. }
            | TxnResponse::AddOffsetsToTxn { correlation, .. }
            | TxnResponse::VerifyPartitionsInTxn { correlation, .. }
            | TxnResponse::EndTxn { correlation, .. }
            | TxnResponse::WriteTxnMarkers { correlation, .. } => *correlation,
        };
        let Some(t) = &mut self.txn else {
            return;
        };
        let Some((_, op, _)) = t.in_flight.filter(|(c, _, _)| *c == correlation) else {
            return;
        };
        // Its timeout stays armed; it no longer matches a request in flight.
        t.in_flight = None;
        let error = match resp {
            TxnResponse::FindCoordinator { result, .. } => result.map(|b| t.coordinator = Some(b)),
            TxnResponse::InitProducerId { result, .. } => result.map(|(producer_id, epoch)| {
                t.phase = Phase::Ready;
                let id = crate::client::idempotence::ProducerIdAndEpoch { producer_id, epoch };
                ctx.observe(Obs::Note(format!(
                    "InitProducerId: producer id {producer_id} epoch {epoch}"
                )));
                if let Some(idem) = &mut self.idempotence {
                    idem.set_id(id);
                }
            }),
            TxnResponse::AddPartitionsToTxn { result, .. } => result.map(|()| {
                // Only what the request carried: partitions queued meanwhile wait their turn.
                let added = std::mem::take(&mut t.adding);
                t.to_add.retain(|p| !added.contains(p));
                t.added.extend(added);
            }),
            TxnResponse::AddOffsetsToTxn { result, .. } => result.map(|()| {
                t.offsets_added = true;
                if let Some((_, added)) = &mut t.offsets {
                    *added = true;
                }
            }),
            TxnResponse::EndTxn { result, .. } => match result {
                Ok((producer_id, epoch)) => {
                    let TxnOp::EndTxn(committed) = op else {
                        return;
                    };
                    // The transaction ran under the epoch before KIP-890's bump.
                    let ran_under = self.idempotence.as_ref().and_then(|i| i.id());
                    let ran_under = ran_under.map_or(epoch, |id| id.epoch);
                    let id = crate::client::idempotence::ProducerIdAndEpoch { producer_id, epoch };
                    if let Some(idem) = &mut self.idempotence {
                        idem.set_id(id);
                    }
                    self.transaction_ended(ctx, committed, (producer_id, ran_under));
                    Ok(())
                }
                Err(error) => Err(error),
            },
            TxnResponse::WriteTxnMarkers { .. } | TxnResponse::VerifyPartitionsInTxn { .. } => {
                Ok(())
            }
        };
        if let Err(error) = error {
            self.on_txn_error(ctx, op, error);
        }
        self.send_ready(ctx);
    }

    /// Handles a group coordinator's answer to the transaction manager (`FindCoordinator` for
    /// the offsets' group, `TxnOffsetCommit`).
    pub fn on_group_coordinator_reply(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        response: ConsumerResponse,
    ) {
        let correlation = response.correlation();
        let Some(t) = &mut self.txn else {
            return;
        };
        let Some((_, op, _)) = t.in_flight.filter(|(c, _, _)| *c == correlation) else {
            return;
        };
        t.in_flight = None;
        let backoff = millis(self.spec.config.retry_backoff_ms.max(1));
        match response {
            ConsumerResponse::FindCoordinator { result, .. } => match result {
                Ok(broker) if (broker as usize) < self.spec.brokers.len() => {
                    t.group_coordinator = Some(broker)
                }
                _ => t.not_before = ctx.now() + backoff,
            },
            ConsumerResponse::TxnOffsetCommit { result, .. } => match result {
                Ok(()) => t.offsets = None,
                Err(error) => {
                    ctx.observe(Obs::Note(format!("{op:?} failed: {error}")));
                    match error {
                        KafkaError::UnknownMemberId
                        | KafkaError::IllegalGeneration
                        | KafkaError::FencedInstanceId => {
                            // CommitFailedException: the transaction can only abort.
                            t.abortable.get_or_insert(error);
                            t.offsets = None;
                        }
                        KafkaError::NotCoordinator
                        | KafkaError::CoordinatorNotAvailable
                        | KafkaError::RequestTimedOut => {
                            t.group_coordinator = None;
                            t.not_before = ctx.now() + backoff;
                        }
                        error if error.is_retriable() => t.not_before = ctx.now() + backoff,
                        error => self.become_fatal(ctx, error),
                    }
                }
            },
            _ => {}
        }
        self.send_ready(ctx);
    }

    /// A coordinator refused a request: retry, find the coordinator again, or stop.
    fn on_txn_error(&mut self, ctx: &mut Ctx<'_, Node>, op: TxnOp, error: KafkaError) {
        ctx.observe(Obs::Note(format!("{op:?} failed: {error}")));
        if is_fatal(error) && op != TxnOp::FindCoordinator {
            self.become_fatal(ctx, error);
            return;
        }
        // Kafka's client retries a concurrent AddPartitionsToTxn sooner: the previous
        // transaction is usually a marker round away from complete.
        let backoff_ms =
            if op == TxnOp::AddPartitions && error == KafkaError::ConcurrentTransactions {
                ADD_PARTITIONS_RETRY_BACKOFF_MS
            } else {
                self.spec.config.retry_backoff_ms.max(1)
            };
        let backoff = millis(backoff_ms);
        let Some(t) = &mut self.txn else {
            return;
        };
        if matches!(
            error,
            KafkaError::NotCoordinator | KafkaError::CoordinatorNotAvailable
        ) {
            t.coordinator = None;
        }
        t.not_before = ctx.now() + backoff;
    }
}

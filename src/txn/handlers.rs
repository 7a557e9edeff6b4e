//! The coordinator's request handlers (`TransactionCoordinator.handleInitProducerId`,
//! `handleAddPartitionsToTransaction`, `handleEndTransaction`) and the abort of timed-out
//! transactions. Each validates against the id's metadata, then starts one transition whose
//! record the broker appends; the answer goes out once it is replicated.

use std::collections::BTreeSet;

use super::{AfterAppend, TxnAction, TxnCoordinator, TxnEntry, TxnMetadata};
use super::{TxnState, records};
use crate::protocol::{KafkaError, TopicPartition, TxnRequest, TxnResponse};
use crate::scenario::TransactionsProtocol;
use crate::sim::{NodeId, SimTime};

impl TxnCoordinator {
    /// Handles a producer's transaction request from `from`.
    pub fn handle(
        &mut self,
        now: SimTime,
        from: NodeId,
        request: TxnRequest,
        out: &mut Vec<TxnAction>,
    ) {
        self.on_time(now, out);
        let txn = match &request {
            TxnRequest::InitProducerId { txn, .. }
            | TxnRequest::AddPartitionsToTxn { txn, .. }
            | TxnRequest::AddOffsetsToTxn { txn, .. }
            | TxnRequest::VerifyPartitionsInTxn { txn, .. }
            | TxnRequest::EndTxn { txn, .. } => *txn,
            TxnRequest::FindCoordinator { .. } | TxnRequest::WriteTxnMarkers { .. } => return,
        };
        if let Err(error) = self.serving(now, txn) {
            let response = request.error_response(error);
            out.push(TxnAction::Reply { to: from, response });
            return;
        }
        let result = match request {
            TxnRequest::InitProducerId {
                correlation,
                timeout_ms,
                ..
            } => self.init_producer_id(now, txn, timeout_ms, (from, correlation), out),
            TxnRequest::AddPartitionsToTxn {
                correlation,
                producer,
                partitions,
                ..
            } => {
                let partitions = partitions.into_iter().collect();
                let ok = TxnResponse::AddPartitionsToTxn {
                    correlation,
                    result: Ok(()),
                };
                self.add_partitions(now, txn, producer, partitions, (from, ok), out)
            }
            TxnRequest::VerifyPartitionsInTxn {
                correlation,
                producer,
                partitions,
                ..
            } => {
                let result = self.verify(txn, producer, &partitions);
                let response = TxnResponse::VerifyPartitionsInTxn {
                    correlation,
                    result,
                };
                out.push(TxnAction::Reply { to: from, response });
                Ok(())
            }
            TxnRequest::AddOffsetsToTxn {
                correlation,
                producer,
                group,
                ..
            } => {
                let ok = TxnResponse::AddOffsetsToTxn {
                    correlation,
                    result: Ok(()),
                };
                match self.offsets_partition(&group) {
                    Some(tp) => {
                        let partitions = BTreeSet::from([tp]);
                        self.add_partitions(now, txn, producer, partitions, (from, ok), out)
                    }
                    None => Err((KafkaError::CoordinatorNotAvailable, ok)),
                }
            }
            TxnRequest::EndTxn {
                correlation,
                producer,
                commit,
                ..
            } => self.end_txn(txn, producer, commit, (from, correlation), out),
            _ => return,
        };
        if let Err((error, response)) = result {
            out.push(TxnAction::Note(format!(
                "txn {}: {} refused: {error}",
                self.spec.ids[txn as usize],
                request_name(&response)
            )));
            out.push(TxnAction::Reply {
                to: from,
                response: super::with_error(response, error),
            });
        }
    }

    /// Starts the transition of `txn` to `target`, answering `reply` once it is replicated.
    fn transition(
        &mut self,
        txn: u32,
        target: TxnMetadata,
        reply: Option<(NodeId, TxnResponse)>,
        out: &mut Vec<TxnAction>,
    ) {
        let entry = self.entries.get_mut(&txn).expect("a known id");
        entry.prepare(target.clone());
        out.push(TxnAction::Append {
            partition: self.partition_of(txn),
            records: records::encode(&target),
            then: AfterAppend { txn, reply },
        });
    }

    /// `InitProducerId`: a new id gets epoch 0, a known one the next epoch; an ongoing
    /// transaction is fenced and aborted first (`CONCURRENT_TRANSACTIONS`: retry).
    fn init_producer_id(
        &mut self,
        now: SimTime,
        txn: u32,
        timeout_ms: u64,
        (to, correlation): (NodeId, u64),
        out: &mut Vec<TxnAction>,
    ) -> Result<(), (KafkaError, TxnResponse)> {
        let refuse = |error| {
            let response = TxnResponse::InitProducerId {
                correlation,
                result: Err(error),
            };
            Err((error, response))
        };
        let Some(entry) = self.entries.get(&txn) else {
            // The broker gives a new id its producer id first (see `adopt_producer_id`).
            return refuse(KafkaError::CoordinatorLoadInProgress);
        };
        if entry.pending.is_some() {
            return refuse(KafkaError::ConcurrentTransactions);
        }
        let current = entry.metadata.clone();
        match current.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                refuse(KafkaError::ConcurrentTransactions)
            }
            TxnState::Ongoing => {
                self.fence(txn, now, out);
                refuse(KafkaError::ConcurrentTransactions)
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let mut target = current.clone();
                target.state = TxnState::Empty;
                target.producer_epoch = current.producer_epoch.saturating_add(1);
                target.timeout_ms = timeout_ms;
                target.partitions.clear();
                target.txn_start_ms = now.as_millis();
                let response = TxnResponse::InitProducerId {
                    correlation,
                    result: Ok((target.producer_id, target.producer_epoch)),
                };
                self.transition(txn, target, Some((to, response)), out);
                Ok(())
            }
            TxnState::Dead => refuse(KafkaError::InvalidTxnState),
        }
    }

    /// Whether `request` is an `InitProducerId` this coordinator serves for a transactional id
    /// it has no producer id for yet: the broker must hand it one (`adopt_producer_id`).
    pub fn needs_producer_id(&self, now: SimTime, request: &TxnRequest) -> bool {
        match request {
            TxnRequest::InitProducerId { txn, .. } => {
                self.serving(now, *txn).is_ok() && !self.entries.contains_key(txn)
            }
            _ => false,
        }
    }

    /// A new transactional id gets `producer_id` from the broker's producer id block, at no
    /// epoch yet, in memory only until its `InitProducerId` is written (Kafka's
    /// `putTransactionStateIfNotExists`).
    pub fn adopt_producer_id(&mut self, now: SimTime, txn: u32, producer_id: i64, timeout_ms: u64) {
        self.entries.entry(txn).or_insert_with(|| TxnEntry {
            metadata: TxnMetadata {
                txn,
                producer_id,
                producer_epoch: -1,
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                txn_start_ms: now.as_millis(),
            },
            pending: None,
        });
    }

    /// Fences the ongoing transaction of `txn`: bumps the epoch (Kafka passes through
    /// PrepareEpochFence in memory) and aborts with markers at the new epoch.
    fn fence(&mut self, txn: u32, now: SimTime, out: &mut Vec<TxnAction>) {
        let entry = &self.entries[&txn];
        let mut target = entry.metadata.clone();
        target.producer_epoch = target.producer_epoch.saturating_add(1);
        target.state = TxnState::PrepareAbort;
        target.txn_start_ms = now.as_millis();
        out.push(TxnAction::Note(format!(
            "txn {}: fencing epoch {} of producer id {}: aborting its transaction at epoch {}",
            self.spec.ids[txn as usize],
            entry.metadata.producer_epoch,
            entry.metadata.producer_id,
            target.producer_epoch
        )));
        self.transition(txn, target, None, out);
    }

    /// The `__consumer_offsets` partition of `group` (Kafka's `partitionFor`).
    fn offsets_partition(&self, group: &str) -> Option<TopicPartition> {
        let (topic, partitions) = self.spec.offsets_topic?;
        let partition = crate::group::coordinator::partition_for(group, partitions);
        Some(TopicPartition { topic, partition })
    }

    /// `AddPartitionsToTxn` (and `AddOffsetsToTxn`, with the group's offsets partition): the
    /// partitions join the ongoing transaction (starting one); `ok` answers success.
    fn add_partitions(
        &mut self,
        now: SimTime,
        txn: u32,
        producer: (i64, i16),
        partitions: BTreeSet<TopicPartition>,
        (to, ok): (NodeId, TxnResponse),
        out: &mut Vec<TxnAction>,
    ) -> Result<(), (KafkaError, TxnResponse)> {
        let current = self
            .check_producer(txn, producer)
            .map_err(|e| (e, ok.clone()))?;
        if self.entries[&txn].pending.is_some() {
            return Err((KafkaError::ConcurrentTransactions, ok));
        }
        match current.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                Err((KafkaError::ConcurrentTransactions, ok))
            }
            TxnState::Dead => Err((KafkaError::InvalidTxnState, ok)),
            TxnState::Ongoing if partitions.is_subset(&current.partitions) => {
                out.push(TxnAction::Reply { to, response: ok });
                Ok(())
            }
            state => {
                let mut target = current.clone();
                if state != TxnState::Ongoing {
                    target.txn_start_ms = now.as_millis();
                }
                target.state = TxnState::Ongoing;
                target.partitions.extend(partitions);
                self.transition(txn, target, Some((to, ok)), out);
                Ok(())
            }
        }
    }

    /// KIP-890's verification for a partition leader: the partitions are in the ongoing
    /// transaction of `producer` (Kafka's `handleVerifyPartitionsInTransaction`). A transaction
    /// completing is `CONCURRENT_TRANSACTIONS` (the leader's client retries); a partition not in
    /// it, or no transaction ongoing, is `INVALID_TXN_STATE`.
    fn verify(
        &self,
        txn: u32,
        producer: (i64, i16),
        partitions: &[TopicPartition],
    ) -> Result<(), KafkaError> {
        let current = self.check_producer(txn, producer)?;
        let completing = self.entries[&txn]
            .pending
            .as_ref()
            .is_some_and(|p| p.target.state != TxnState::Ongoing);
        if completing
            || matches!(
                current.state,
                TxnState::PrepareCommit | TxnState::PrepareAbort
            )
        {
            return Err(KafkaError::ConcurrentTransactions);
        }
        let ongoing = current.state == TxnState::Ongoing;
        if ongoing && partitions.iter().all(|tp| current.partitions.contains(tp)) {
            Ok(())
        } else {
            Err(KafkaError::InvalidTxnState)
        }
    }

    /// The metadata of `txn` if `producer` is its current producer id and epoch.
    fn check_producer(&self, txn: u32, producer: (i64, i16)) -> Result<TxnMetadata, KafkaError> {
        let entry = self
            .entries
            .get(&txn)
            .ok_or(KafkaError::InvalidProducerIdMapping)?;
        let current = &entry.metadata;
        if current.producer_id != producer.0 {
            return Err(KafkaError::InvalidProducerIdMapping);
        }
        if current.producer_epoch != producer.1 {
            return Err(KafkaError::ProducerFenced);
        }
        Ok(current.clone())
    }

    /// `EndTxn`: Ongoing → PrepareCommit/PrepareAbort (KIP-890: with the epoch bumped), then
    /// markers. A retry that finds its own outcome complete succeeds; the other outcome is
    /// `INVALID_TXN_STATE`.
    fn end_txn(
        &mut self,
        txn: u32,
        producer: (i64, i16),
        commit: bool,
        (to, correlation): (NodeId, u64),
        out: &mut Vec<TxnAction>,
    ) -> Result<(), (KafkaError, TxnResponse)> {
        let answer = |result| TxnResponse::EndTxn {
            correlation,
            result,
        };
        let kip890 = self.spec.protocol == TransactionsProtocol::Kip890;
        let (prepare, complete) = if commit {
            (TxnState::PrepareCommit, TxnState::CompleteCommit)
        } else {
            (TxnState::PrepareAbort, TxnState::CompleteAbort)
        };
        let current = match self.check_producer(txn, producer) {
            Ok(current) => current,
            // KIP-890: a retried EndTxn carries the epoch before its bump.
            Err(KafkaError::ProducerFenced)
                if kip890
                    && self.entries[&txn].metadata.producer_epoch == producer.1 + 1
                    && self.entries[&txn].metadata.state == complete =>
            {
                let current = &self.entries[&txn].metadata;
                let response = answer(Ok((current.producer_id, current.producer_epoch)));
                out.push(TxnAction::Reply { to, response });
                return Ok(());
            }
            Err(error) => return Err((error, answer(Ok(producer)))),
        };
        if self.entries[&txn].pending.is_some() {
            return Err((KafkaError::ConcurrentTransactions, answer(Ok(producer))));
        }
        match current.state {
            TxnState::Ongoing => {
                let mut target = current.clone();
                target.state = prepare;
                if kip890 {
                    target.producer_epoch = target.producer_epoch.saturating_add(1);
                }
                let response = answer(Ok((target.producer_id, target.producer_epoch)));
                self.transition(txn, target, Some((to, response)), out);
                Ok(())
            }
            state if state == complete && !kip890 => {
                out.push(TxnAction::Reply {
                    to,
                    response: answer(Ok(producer)),
                });
                Ok(())
            }
            state if state == prepare => {
                Err((KafkaError::ConcurrentTransactions, answer(Ok(producer))))
            }
            TxnState::PrepareEpochFence => {
                Err((KafkaError::ConcurrentTransactions, answer(Ok(producer))))
            }
            _ => Err((KafkaError::InvalidTxnState, answer(Ok(producer)))),
        }
    }

    /// Aborts every ongoing transaction older than its timeout, through the fencing path.
    pub(super) fn abort_timed_out(&mut self, now: SimTime, out: &mut Vec<TxnAction>) {
        let expired: Vec<u32> = self
            .entries
            .values()
            .filter(|e| e.pending.is_none() && e.metadata.state == TxnState::Ongoing)
            .filter(|e| now.as_millis() >= e.metadata.txn_start_ms + e.metadata.timeout_ms)
            .filter(|e| self.serving(now, e.metadata.txn).is_ok())
            .map(|e| e.metadata.txn)
            .collect();
        for txn in expired {
            out.push(TxnAction::Note(format!(
                "txn {}: transaction.timeout.ms passed",
                self.spec.ids[txn as usize]
            )));
            self.fence(txn, now, out);
        }
    }
}

fn request_name(response: &TxnResponse) -> &'static str {
    match response {
        TxnResponse::FindCoordinator { .. } => "FindCoordinator",
        TxnResponse::InitProducerId { .. } => "InitProducerId",
        TxnResponse::AddPartitionsToTxn { .. } => "AddPartitionsToTxn",
        TxnResponse::AddOffsetsToTxn { .. } => "AddOffsetsToTxn",
        TxnResponse::VerifyPartitionsInTxn { .. } => "VerifyPartitionsInTxn",
        TxnResponse::EndTxn { .. } => "EndTxn",
        TxnResponse::WriteTxnMarkers { .. } => "WriteTxnMarkers",
    }
}

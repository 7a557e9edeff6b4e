//! KIP-890's partition verification (part 1, Kafka 3.6+), as a partition leader does it: before a
//! producer's first transactional batch on a partition where it has no transaction open, the
//! leader asks the transactional id's coordinator whether the partition is in the producer's
//! ongoing transaction (`AddPartitionsToTxn` with `VerifyOnly`). The produce waits; a verified
//! batch is appended, a refused one fails with the coordinator's answer: `INVALID_TXN_STATE`
//! (not in an ongoing transaction: a late produce of a finished transaction, which would
//! otherwise open a transaction no marker closes), `INVALID_PRODUCER_EPOCH` (fenced), or
//! `NOT_ENOUGH_REPLICAS` when the coordinator cannot answer now (retriable, as Kafka maps it).
//!
//! Only under `transactions.protocol = "kip-890"`. Left out: Kafka's verification guard (a marker
//! landing between the answer and the append): here every marker of KIP-890 carries a bumped
//! epoch, so such a batch is refused as fenced anyway.

use std::collections::BTreeMap;

use super::server::Broker;
use crate::node::{Msg, Node, Obs};
use crate::protocol::{BrokerId, KafkaError, TopicPartition, TxnRequest};
use crate::record::RecordBatch;
use crate::scenario::TransactionsProtocol;
use crate::sim::{Ctx, NodeId};

/// Batches of one produce waiting for their verification.
#[derive(Clone, Debug, Default)]
pub(super) struct Verifying {
    /// (index in the request, partition, batch).
    pub batches: Vec<(usize, TopicPartition, RecordBatch)>,
}

/// Verification requests in flight: correlation → (produce id, coordinator).
pub(super) type Verifications = BTreeMap<u64, (u64, BrokerId)>;

impl Broker {
    /// Whether `batch` must be verified before this leader appends it to `tp`.
    pub(super) fn needs_verification(&self, tp: TopicPartition, batch: &RecordBatch) -> bool {
        let kip_890 = self
            .spec
            .transactions
            .as_ref()
            .is_some_and(|t| t.coordinator.protocol == TransactionsProtocol::Kip890);
        if !kip_890 || !batch.transactional || batch.control.is_some() {
            return false;
        }
        self.partitions
            .get(&tp)
            .filter(|p| p.is_leader())
            .is_some_and(|p| {
                p.log
                    .producer_state()
                    .entry(batch.producer_id)
                    .is_none_or(|e| e.current_txn_first_offset.is_none())
            })
    }

    /// Asks the coordinator of `txn` to verify the batches produce `id` holds back; answers
    /// `NOT_ENOUGH_REPLICAS` at once when no coordinator is known.
    pub(super) fn start_verification(&mut self, ctx: &mut Ctx<'_, Node>, id: u64, txn: u32) {
        let Some(pending) = self.produces.iter().find(|p| p.id == id) else {
            return;
        };
        let Some((_, _, first)) = pending.verifying.batches.first() else {
            return;
        };
        let producer = (first.producer_id, first.producer_epoch);
        let partitions: Vec<TopicPartition> =
            pending.verifying.batches.iter().map(|b| b.1).collect();
        let coordinator = match self.find_txn_coordinator(txn) {
            Ok(broker) => broker,
            Err(_) => return self.verified(ctx, id, Err(KafkaError::CoordinatorNotAvailable)),
        };
        let correlation = self.next_id();
        let request = TxnRequest::VerifyPartitionsInTxn {
            correlation,
            txn,
            producer,
            partitions,
        };
        self.verifications.insert(correlation, (id, coordinator));
        ctx.send(self.broker_node(coordinator), Msg::Txn(request));
    }

    /// A coordinator answered a verification.
    pub(super) fn on_verification(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        correlation: u64,
        result: Result<(), KafkaError>,
    ) {
        if let Some((id, _)) = self.verifications.remove(&correlation) {
            self.verified(ctx, id, result);
        }
    }

    /// The connection to `peer` closed: verifications asked of it fail (the producer retries).
    pub(super) fn fail_verifications_to(&mut self, ctx: &mut Ctx<'_, Node>, peer: NodeId) {
        let lost: Vec<u64> = self
            .verifications
            .iter()
            .filter(|(_, (_, broker))| self.broker_node(*broker) == peer)
            .map(|(&c, _)| c)
            .collect();
        for correlation in lost {
            self.on_verification(ctx, correlation, Err(KafkaError::NetworkException));
        }
    }

    /// Appends the held batches of produce `id` if verified, else fails them.
    fn verified(&mut self, ctx: &mut Ctx<'_, Node>, id: u64, result: Result<(), KafkaError>) {
        let Some(at) = self.produces.iter().position(|p| p.id == id) else {
            return;
        };
        let held = std::mem::take(&mut self.produces[at].verifying.batches);
        let acks = self.produces[at].acks;
        let error = match result {
            Ok(()) => None,
            Err(KafkaError::InvalidTxnState) => Some(KafkaError::InvalidTxnState),
            Err(KafkaError::ProducerFenced | KafkaError::InvalidProducerEpoch) => {
                Some(KafkaError::InvalidProducerEpoch)
            }
            Err(KafkaError::InvalidProducerIdMapping) => Some(KafkaError::InvalidProducerIdMapping),
            Err(_) => Some(KafkaError::NotEnoughReplicas),
        };
        if let Some(error) = error {
            let producer = held.first().map_or(0, |b| b.2.producer_id);
            ctx.observe(Obs::Note(format!(
                "transaction verification of producer {producer} failed: {error}"
            )));
        }
        let mut touched = Vec::new();
        for (index, tp, batch) in held {
            let outcome = match error {
                Some(error) => Err(error),
                None => self.append_produced(ctx, tp, acks, batch),
            };
            self.settle_appended(id, index, tp, outcome);
            touched.push(tp);
        }
        for tp in touched {
            self.update_hw(ctx, tp);
            self.complete_produces(ctx, tp);
            self.wake_fetches_for(ctx, tp);
        }
        self.answer_completed(ctx);
    }
}

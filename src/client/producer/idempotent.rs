//! The idempotent producer's steps in the sender loop: `InitProducerId` before the first
//! produce (to any broker, retried after `retry.backoff.ms`), and before each drain the
//! resolution of unresolved sequences and the epoch bump that rewrites a partition's in-flight
//! sequences from 0 (Kafka's `Sender.runOnce` calling `maybeResolveSequences` and
//! `bumpIdempotentEpochAndResetIdIfNeeded`).

use super::{Batch, Producer};
use crate::client::idempotence::{BatchSequence, ProducerIdAndEpoch};
use crate::node::{Msg, Node, Obs, millis};
use crate::protocol::{KafkaError, Request};
use crate::sim::Ctx;

impl Producer {
    /// Runs the idempotence steps before a drain; returns whether batches may be drained (the
    /// producer has an id).
    pub(super) fn prepare_idempotent_send(&mut self, ctx: &mut Ctx<'_, Node>) -> bool {
        let Some(idem) = &mut self.idempotence else {
            return true;
        };
        idem.maybe_resolve_sequences();
        let transactional = self.txn.is_some();
        let bump = if transactional {
            None
        } else {
            idem.bump_epoch_if_needed()
        };
        if let Some((id, partitions)) = bump {
            let names: Vec<String> = partitions
                .iter()
                .map(|&p| self.names[p as usize].to_string())
                .collect();
            ctx.observe(Obs::Note(format!(
                "bumped producer epoch to {} (producer id {}); sequences of {} restart at 0",
                id.epoch,
                id.producer_id,
                names.join(", ")
            )));
            for partition in partitions {
                self.rewrite_sequences(partition);
            }
        }
        if self.idempotence.as_ref().is_some_and(|i| i.id().is_some()) {
            return true;
        }
        if !transactional {
            self.maybe_init_producer_id(ctx);
        }
        false
    }

    /// Gives every batch of `partition` that has a sequence (queued or in flight) a new one from 0
    /// under the current epoch, in sequence order.
    fn rewrite_sequences(&mut self, partition: u32) {
        let queued = self.queues[partition as usize].iter_mut();
        let in_flight = self
            .in_flight
            .values_mut()
            .flat_map(|f| f.batches.iter_mut())
            .filter(|(p, _)| *p == partition)
            .map(|(_, b)| b);
        let mut batches: Vec<&mut Batch> = queued
            .chain(in_flight)
            .filter(|b| b.sequence.is_some())
            .collect();
        batches.sort_by_key(|b| b.sequence.map(|s| s.base_sequence));
        let mut sequences: Vec<&mut BatchSequence> = batches
            .into_iter()
            .filter_map(|b| b.sequence.as_mut())
            .collect();
        if let Some(idem) = &mut self.idempotence {
            idem.start_sequences_at_beginning(partition, &mut sequences);
        }
    }

    /// Sends `InitProducerId` to a broker if the producer needs an id and none is asked for.
    pub(super) fn maybe_init_producer_id(&mut self, ctx: &mut Ctx<'_, Node>) {
        let needs_id =
            self.idempotence.as_ref().is_some_and(|i| i.id().is_none()) && self.txn.is_none();
        if !needs_id || self.init_in_flight.is_some() || self.spec.brokers.is_empty() {
            return;
        }
        let now = ctx.now();
        if now < self.init_not_before {
            let at = self.init_not_before;
            self.wake_at(ctx, at);
            return;
        }
        self.next_correlation += 1;
        let correlation = self.next_correlation;
        let brokers = self.spec.brokers.len() as u64;
        let target = self.spec.brokers[(correlation % brokers) as usize];
        ctx.send(
            target,
            Msg::Request(Request::InitProducerId { correlation }),
        );
        self.init_in_flight = Some((correlation, target));
        let timeout = millis(self.spec.config.request_timeout_ms);
        self.timeouts.insert(now + timeout, correlation);
        self.arm_timeouts(ctx);
    }

    /// The answer to `InitProducerId`.
    pub(super) fn on_init_producer_id(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        correlation: u64,
        result: Result<(i64, i16), KafkaError>,
    ) {
        if self.init_in_flight.map(|(c, _)| c) != Some(correlation) {
            return;
        }
        match result {
            Ok((producer_id, epoch)) => {
                self.init_in_flight = None;
                let id = ProducerIdAndEpoch { producer_id, epoch };
                if let Some(idem) = &mut self.idempotence {
                    idem.set_id(id);
                }
                ctx.observe(Obs::Note(format!(
                    "InitProducerId: producer id {producer_id} epoch {epoch}"
                )));
            }
            Err(error) => self.on_init_failed(ctx, error),
        }
    }

    /// `InitProducerId` failed: ask again after `retry.backoff.ms`.
    pub(super) fn on_init_failed(&mut self, ctx: &mut Ctx<'_, Node>, error: KafkaError) {
        self.init_in_flight = None;
        ctx.observe(Obs::Note(format!("InitProducerId failed: {error}")));
        self.init_not_before = ctx.now() + millis(self.spec.config.retry_backoff_ms.max(1));
        let at = self.init_not_before;
        self.wake_at(ctx, at);
    }
}

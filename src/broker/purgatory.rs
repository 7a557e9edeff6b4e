//! The produce purgatory: an acks=all produce request waits here until the high watermark has
//! passed each of its batches (or the ISR proves too small, or its timeout passes, or the broker
//! stops leading a partition), and is answered once every partition has an outcome.

use super::isr;
use super::server::{Broker, Deadline, PendingProduce};
use super::verification::Verifying;
use crate::log::AppendCheck;
use crate::node::{Msg, Node, Obs, drain_disk_ops, millis};
use crate::protocol::{KafkaError, Response, TopicPartition};
use crate::record::RecordBatch;
use crate::scenario::Acks;
use crate::sim::{Ctx, NodeId};

/// One partition of a waiting produce.
#[derive(Clone, Debug)]
pub(super) struct Waiting {
    /// Index of the partition in the request.
    pub index: usize,
    pub tp: TopicPartition,
    pub base_offset: u64,
    /// The batch's next offset: the HW must reach it.
    pub required_offset: u64,
}

impl Broker {
    /// Appends each batch to the partition this broker leads and answers by `acks`; under
    /// KIP-890 a producer's first transactional batch on a partition waits for verification.
    pub(super) fn handle_produce(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        client: NodeId,
        (correlation, acks, timeout_ms, transactional_id): (u64, Acks, u64, Option<u32>),
        batches: Vec<(TopicPartition, RecordBatch)>,
    ) {
        let id = self.next_id();
        self.produces.push(PendingProduce {
            id,
            client,
            correlation,
            acks,
            results: batches
                .iter()
                .map(|(tp, _)| (*tp, Err(KafkaError::RequestTimedOut)))
                .collect(),
            waiting: Vec::new(),
            verifying: Verifying::default(),
            deadline: None,
            orphan: self.serving_drained,
        });
        let mut touched = Vec::new();
        for (index, (tp, batch)) in batches.into_iter().enumerate() {
            if transactional_id.is_some() && self.needs_verification(tp, &batch) {
                let pending = self.produces.last_mut().expect("just pushed");
                pending.verifying.batches.push((index, tp, batch));
                continue;
            }
            let outcome = self.append_produced(ctx, tp, acks, batch);
            self.settle_appended(id, index, tp, outcome);
            touched.push(tp);
        }
        let pending = self.produces.last().expect("just pushed");
        let waits = !pending.waiting.is_empty() || !pending.verifying.batches.is_empty();
        if acks == Acks::None {
            // Nothing is answered; a batch held for verification is dropped (acks=0 never
            // sends transactional batches: transactions need acks=all).
            self.produces.pop();
            for tp in touched {
                self.wake_fetches_for(ctx, tp);
            }
            return;
        }
        if waits {
            let deadline = self.add_deadline(ctx, millis(timeout_ms), Deadline::Produce(id));
            self.produces.last_mut().expect("just pushed").deadline = Some(deadline);
        }
        if let Some(txn) = transactional_id
            && !self
                .produces
                .last()
                .expect("kept")
                .verifying
                .batches
                .is_empty()
        {
            self.start_verification(ctx, id, txn);
        }
        for tp in touched {
            self.update_hw(ctx, tp);
            self.complete_produces(ctx, tp);
            self.wake_fetches_for(ctx, tp);
        }
        self.answer_completed(ctx);
    }

    /// Records the outcome of appending batch `index` of produce `id`: final, or waiting for the
    /// high watermark (acks=all).
    pub(super) fn settle_appended(
        &mut self,
        id: u64,
        index: usize,
        tp: TopicPartition,
        outcome: Result<(u64, u64), KafkaError>,
    ) {
        let Some(pending) = self.produces.iter_mut().find(|p| p.id == id) else {
            return;
        };
        match outcome {
            Ok((base_offset, required_offset)) if pending.acks == Acks::All => {
                pending.waiting.push(Waiting {
                    index,
                    tp,
                    base_offset,
                    required_offset,
                });
            }
            outcome => pending.results[index].1 = outcome.map(|(base, _)| base),
        }
    }

    /// Appends one produced batch as leader; returns (base offset, next offset).
    pub(super) fn append_produced(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        tp: TopicPartition,
        acks: Acks,
        batch: RecordBatch,
    ) -> Result<(u64, u64), KafkaError> {
        let min_isr = self.hw_rule(tp).min_insync_replicas;
        let now = ctx.now();
        let partition = self
            .partitions
            .get_mut(&tp)
            .filter(|p| p.is_leader())
            .ok_or(KafkaError::NotLeaderOrFollower)?;
        if acks == Acks::All {
            isr::check_enough_replicas(partition.isr_size(), min_isr)?;
        }
        match partition.log.check_producer_append(&batch) {
            Ok(AppendCheck::Append) => {}
            Ok(AppendCheck::Duplicate {
                first_offset,
                last_offset,
            }) => {
                ctx.observe(Obs::Note(format!(
                    "{} duplicate: producer {} epoch {} sequence {} is at offset {first_offset}",
                    partition.name, batch.producer_id, batch.producer_epoch, batch.base_sequence
                )));
                return Ok((first_offset, last_offset + 1));
            }
            Err(error) => {
                let last = partition
                    .log
                    .producer_state()
                    .entry(batch.producer_id)
                    .map(|e| (e.producer_epoch, e.last_sequence()));
                ctx.observe(Obs::Note(format!(
                    "{} {error}: producer {} epoch {} sequence {} after {last:?}",
                    partition.name, batch.producer_id, batch.producer_epoch, batch.base_sequence
                )));
                return Err(error);
            }
        }
        let mut ops = std::mem::take(&mut self.disk_ops_scratch);
        let offsets = partition.append_as_leader(batch, now, &mut ops);
        partition.maybe_flush(
            offsets.1 - offsets.0,
            self.spec.config.log_flush_interval_messages,
            &mut ops,
        );
        ctx.observe(partition.leo_obs());
        drain_disk_ops(ctx, &mut ops);
        self.disk_ops_scratch = ops;
        if acks != Acks::All {
            self.update_hw(ctx, tp);
        }
        // The fetches waiting on `tp` are woken once every batch of the request is appended
        // (Kafka completes delayed fetches after the appends), by the caller.
        Ok(offsets)
    }

    /// Settles every waiting batch of `tp` that the HW has passed.
    pub(super) fn complete_produces(&mut self, ctx: &mut Ctx<'_, Node>, tp: TopicPartition) {
        let Some(partition) = self.partitions.get(&tp) else {
            return;
        };
        let (hw, isr_size) = (partition.high_watermark, partition.isr_size());
        let min_isr = self.hw_rule(tp).min_insync_replicas;
        let mut any = false;
        for pending in &mut self.produces {
            pending.waiting.retain(|w| {
                if w.tp != tp {
                    return true;
                }
                match isr::replicas_reached(hw, w.required_offset, isr_size, min_isr) {
                    None => true,
                    Some(result) => {
                        pending.results[w.index].1 = result.map(|()| w.base_offset);
                        any = true;
                        false
                    }
                }
            });
        }
        if any {
            self.answer_completed(ctx);
        }
    }

    /// Fails every batch waiting on `tp`: this broker no longer leads it.
    pub(super) fn fail_produces(&mut self, ctx: &mut Ctx<'_, Node>, tp: TopicPartition) {
        for pending in &mut self.produces {
            pending.waiting.retain(|w| {
                let keep = w.tp != tp;
                if !keep {
                    pending.results[w.index].1 = Err(KafkaError::NotLeaderOrFollower);
                }
                keep
            });
        }
        self.answer_completed(ctx);
    }

    /// A produce outlived its timeout: what still waits is `REQUEST_TIMED_OUT` (indefinite).
    pub(super) fn expire_produce(&mut self, ctx: &mut Ctx<'_, Node>, id: u64) {
        if let Some(pending) = self.produces.iter_mut().find(|p| p.id == id) {
            pending.waiting.clear();
            pending.verifying.batches.clear();
            // Its verification, if one is still out, no longer has anything to settle.
            self.verifications.retain(|_, (produce, _)| *produce != id);
            self.answer_completed(ctx);
        }
    }

    /// Answers every produce whose partitions all have outcomes.
    pub(super) fn answer_completed(&mut self, ctx: &mut Ctx<'_, Node>) {
        let done: Vec<PendingProduce> = self
            .produces
            .extract_if(.., |p| {
                p.waiting.is_empty() && p.verifying.batches.is_empty()
            })
            .collect();
        for pending in done {
            if let Some(deadline) = pending.deadline {
                self.deadlines.remove(deadline);
            }
            if pending.orphan {
                continue;
            }
            let response = Response::Produce {
                correlation: pending.correlation,
                partitions: pending.results,
            };
            ctx.send(pending.client, Msg::Response(response));
        }
    }
}

//! The producer as a pipeline's application drives it, instead of a rate-driven workload: the
//! application hands over each transformed record (`send`), and a transactional one sends its
//! consumer's offsets with the transaction (`sendOffsetsToTransaction`) and commits or aborts
//! it itself; an at-least-once one waits until every send completed (`flush`).

use super::Producer;
use super::transactional::{Phase, SendOffsets};
use crate::node::Node;
use crate::record::RecordId;
use crate::sim::Ctx;

impl Producer {
    /// Numbers this producer's requests from `base` on, so that a node hosting a consumer too
    /// can tell the two clients' answers apart.
    pub fn set_correlation_base(&mut self, base: u64) {
        self.next_correlation = self.next_correlation.max(base);
    }

    /// Whether the application may send: the producer has its id (a transactional one is not
    /// ending a transaction) and no fatal error stopped it.
    pub fn ready_to_send(&self) -> bool {
        let has_id = self.idempotence.as_ref().is_none_or(|i| i.id().is_some());
        has_id && self.accepts_records() && !self.is_fatal()
    }

    /// Whether a fatal error (a fenced epoch) stopped the producer for good.
    pub fn stopped(&self) -> bool {
        self.is_fatal()
    }

    /// Hands one record to the accumulator (in the current transaction, if transactional).
    pub fn send(&mut self, ctx: &mut Ctx<'_, Node>, id: RecordId) {
        self.accumulate(ctx, id, None);
        if let Some(t) = &mut self.txn {
            if t.records.is_empty() {
                t.begun += 1;
            }
            t.records.push(id);
        }
        self.send_ready(ctx);
    }

    /// `sendOffsetsToTransaction`: the consumer's offsets and group metadata go with the
    /// current transaction.
    pub fn send_offsets_to_transaction(&mut self, ctx: &mut Ctx<'_, Node>, offsets: SendOffsets) {
        // KafkaProducer sends nothing for an empty offsets map.
        if let Some(t) = &mut self.txn
            && t.phase == Phase::Ready
            && !offsets.offsets.is_empty()
        {
            t.offsets = Some((offsets, false));
        }
        self.send_ready(ctx);
    }

    /// `commitTransaction` (true) or `abortTransaction`.
    pub fn finish_transaction(&mut self, ctx: &mut Ctx<'_, Node>, commit: bool) {
        self.end_transaction(ctx, commit);
        self.send_ready(ctx);
    }

    /// How the last transaction ended (committed or not), once, after it ended.
    pub fn take_transaction_outcome(&mut self) -> Option<bool> {
        self.txn.as_mut().and_then(|t| t.ended.take())
    }

    /// Whether every record handed over has completed (`flush()` would return).
    pub fn flushed(&self) -> bool {
        !self.has_incomplete_batches()
    }

    /// How many records failed for good since the last call.
    pub fn take_failed_sends(&mut self) -> u64 {
        std::mem::take(&mut self.failed_sends)
    }
}

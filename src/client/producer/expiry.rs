//! In-flight batches that outlive `delivery.timeout.ms` (Kafka's `Sender`
//! `getExpiredInflightBatches`, KIP-91): each fails as indefinite while its request stays on the
//! wire, so the connection is not closed and a later answer for it finds no batch. A
//! transactional producer's transaction becomes abortable; the produce may still land later.

use super::Producer;
use crate::node::{Node, millis};
use crate::protocol::KafkaError;
use crate::sim::Ctx;

impl Producer {
    /// Fails every in-flight batch whose `delivery.timeout.ms` has passed (Kafka's
    /// `getExpiredInflightBatches`, KIP-91): its outcome is unknown, and its request stays on the
    /// wire (a later answer for it is ignored).
    pub(super) fn expire_in_flight(&mut self, ctx: &mut Ctx<'_, Node>) {
        let now = ctx.now();
        let timeout = millis(self.spec.config.delivery_timeout_ms);
        let expired: Vec<(u64, u32)> = self
            .in_flight
            .iter()
            .flat_map(|(&c, f)| f.batches.iter().map(move |(p, b)| (c, *p, b.created)))
            .filter(|&(_, _, created)| now >= created + timeout)
            .map(|(c, p, _)| (c, p))
            .collect();
        for (correlation, partition) in expired {
            let flight = self.in_flight.get_mut(&correlation).expect("listed");
            let i = flight
                .batches
                .iter()
                .position(|(p, _)| *p == partition)
                .expect("listed");
            let (_, batch) = flight.batches.remove(i);
            if let (Some(idem), Some(sequence)) = (&mut self.idempotence, &batch.sequence) {
                idem.on_expired(partition, sequence);
            }
            self.fail(ctx, partition, &batch, false, KafkaError::RequestTimedOut);
            self.on_txn_batch_failed(ctx, KafkaError::RequestTimedOut);
        }
    }
}

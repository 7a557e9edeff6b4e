//! The idempotent producer's bookkeeping (the non-transactional part of Kafka's client
//! `TransactionManager`, 3.x with KIP-360): the producer id and epoch from `InitProducerId`, and
//! per partition the next sequence number, the last acknowledged one, the sequences in flight and
//! whether an expired batch left the broker's view unknown ("unresolved").
//!
//! Kafka's rules, as modelled: a batch gets its sequence the first time it is drained and keeps it
//! through retries; a retried batch is sent only when it is the first in flight of its partition,
//! so retries cannot reorder; a new batch waits while the partition has unresolved sequences or
//! in-flight batches of an older epoch. `OUT_OF_ORDER_SEQUENCE_NUMBER` is always retried: if the
//! failed batch was the next one expected there is a real gap, so the producer bumps its epoch
//! (locally, no request) and restarts the partition's sequences at 0 for every batch still in
//! flight. A batch failed for good (retries or `delivery.timeout.ms` exhausted) also bumps the
//! epoch when it may have left a gap. Sequences are unwrapped `u64` here and wrap at `i32::MAX`
//! on the wire. Left out: epoch exhaustion (a new id after epoch `i16::MAX`).

use std::collections::BTreeSet;

use crate::protocol::KafkaError;

/// A producer id and epoch (Kafka's `ProducerIdAndEpoch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerIdAndEpoch {
    /// The producer id from `InitProducerId`.
    pub producer_id: i64,
    /// The epoch, bumped by the producer when it restarts sequences.
    pub epoch: i16,
}

/// The idempotence header of a batch, set when it is first drained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchSequence {
    /// The id and epoch it is sent with.
    pub id: ProducerIdAndEpoch,
    /// Its base sequence, unwrapped.
    pub base_sequence: u64,
    /// Its records.
    pub record_count: u64,
    /// Whether an epoch bump rewrote it (Kafka's `sequenceHasBeenReset`).
    pub reset: bool,
}

impl BatchSequence {
    /// The base sequence as the wire carries it: wrapping at `i32::MAX` to 0.
    pub fn wire_sequence(&self) -> i32 {
        (self.base_sequence % (i32::MAX as u64 + 1)) as i32
    }

    /// The sequence of its last record, unwrapped.
    pub fn last_sequence(&self) -> u64 {
        self.base_sequence + self.record_count - 1
    }
}

/// One partition's sequences (Kafka's `TopicPartitionEntry`).
#[derive(Clone, Debug, Default)]
struct PartitionBook {
    /// The id and epoch the partition's sequences belong to.
    id: Option<ProducerIdAndEpoch>,
    next_sequence: u64,
    last_acked: Option<u64>,
    /// Base sequences of batches that have one and are not done (sent or waiting to retry).
    in_flight: BTreeSet<u64>,
    /// The next sequence after an expired batch whose fate the broker knows and we do not.
    unresolved: Option<u64>,
}

impl PartitionBook {
    fn is_next_sequence(&self, sequence: u64) -> bool {
        sequence == self.last_acked.map_or(0, |last| last + 1)
    }
}

/// The idempotent producer's state.
#[derive(Clone, Debug)]
pub struct Idempotence {
    /// The current id and epoch, once `InitProducerId` answered.
    id: Option<ProducerIdAndEpoch>,
    books: Vec<PartitionBook>,
    epoch_bump_required: bool,
    partitions_to_rewrite: BTreeSet<u32>,
}

impl Idempotence {
    /// The state of a producer that has no id yet, for `partitions` partitions.
    pub fn new(partitions: u32) -> Idempotence {
        Idempotence {
            id: None,
            books: vec![PartitionBook::default(); partitions as usize],
            epoch_bump_required: false,
            partitions_to_rewrite: BTreeSet::new(),
        }
    }

    /// The current producer id and epoch.
    pub fn id(&self) -> Option<ProducerIdAndEpoch> {
        self.id
    }

    /// Takes the id `InitProducerId` answered.
    pub fn set_id(&mut self, id: ProducerIdAndEpoch) {
        self.id = Some(id);
    }

    /// Whether the first queued batch of `partition` may be drained now (Kafka's
    /// `shouldStopDrainBatchesForPartition`, negated).
    pub fn may_drain(&self, partition: u32, sequence: Option<&BatchSequence>) -> bool {
        let Some(id) = self.id else {
            return false;
        };
        let book = &self.books[partition as usize];
        match sequence {
            None => {
                let stale = book.id.is_some_and(|b| b != id);
                (!stale || book.in_flight.is_empty()) && book.unresolved.is_none()
            }
            // A retry goes only as the first in flight of its partition.
            Some(seq) => book
                .in_flight
                .first()
                .is_none_or(|&f| f == seq.base_sequence),
        }
    }

    /// Gives a drained batch of `record_count` records its sequence (Kafka's drain with
    /// `maybeUpdateProducerIdAndEpoch`, `setProducerState`, `incrementSequenceNumber`).
    pub fn assign(&mut self, partition: u32, record_count: u64) -> BatchSequence {
        let id = self
            .id
            .expect("batches are drained only with a producer id");
        let book = &mut self.books[partition as usize];
        if book.id != Some(id) && book.in_flight.is_empty() {
            *book = PartitionBook {
                id: Some(id),
                ..PartitionBook::default()
            };
        }
        let sequence = BatchSequence {
            id,
            base_sequence: book.next_sequence,
            record_count,
            reset: false,
        };
        book.next_sequence += record_count;
        book.in_flight.insert(sequence.base_sequence);
        sequence
    }

    /// A batch was acknowledged (`handleCompletedBatch`).
    pub fn on_completed(&mut self, partition: u32, sequence: &BatchSequence) {
        let book = &mut self.books[partition as usize];
        if book.id != Some(sequence.id) {
            return;
        }
        let last = sequence.last_sequence();
        book.last_acked = Some(book.last_acked.map_or(last, |l| l.max(last)));
        book.in_flight.remove(&sequence.base_sequence);
    }

    /// Whether a batch that failed with `error` (and still has retries and time) is retried
    /// (Kafka's `TransactionManager.canRetry`); may request an epoch bump.
    pub fn can_retry(
        &mut self,
        partition: u32,
        sequence: &BatchSequence,
        error: KafkaError,
    ) -> bool {
        if error != KafkaError::OutOfOrderSequenceNumber {
            return error.is_retriable();
        }
        let book = &self.books[partition as usize];
        let unresolved = book.unresolved;
        if unresolved.is_none()
            && (sequence.reset || !book.is_next_sequence(sequence.base_sequence))
        {
            // An earlier batch is still missing: retry and see.
            return true;
        }
        if unresolved.is_none_or(|next| next == sequence.base_sequence) {
            self.request_epoch_bump(partition);
        }
        true
    }

    /// A batch failed for good (`handleFailedBatch`); with `adjust` (it had retries left) a
    /// possible gap is closed by an epoch bump.
    pub fn on_failed(
        &mut self,
        partition: u32,
        sequence: &BatchSequence,
        error: KafkaError,
        adjust: bool,
    ) {
        let book = &mut self.books[partition as usize];
        if book.id == Some(sequence.id) {
            book.in_flight.remove(&sequence.base_sequence);
        }
        if error == KafkaError::OutOfOrderSequenceNumber || adjust {
            self.request_epoch_bump(partition);
        }
    }

    /// A batch sent at least once expired in the accumulator: its sequence is unresolved.
    pub fn on_expired(&mut self, partition: u32, sequence: &BatchSequence) {
        let book = &mut self.books[partition as usize];
        if book.id != Some(sequence.id) {
            return;
        }
        book.in_flight.remove(&sequence.base_sequence);
        let next = sequence.last_sequence() + 1;
        book.unresolved = Some(book.unresolved.map_or(next, |u| u.max(next)));
    }

    fn request_epoch_bump(&mut self, partition: u32) {
        self.epoch_bump_required = true;
        self.partitions_to_rewrite.insert(partition);
    }

    /// Resolves partitions whose in-flight batches are all done: acknowledged up to the next
    /// sequence means no gap; otherwise the epoch must be bumped (`maybeResolveSequences`).
    pub fn maybe_resolve_sequences(&mut self) {
        for partition in 0..self.books.len() {
            let book = &mut self.books[partition];
            if book.unresolved.is_none() || !book.in_flight.is_empty() {
                continue;
            }
            book.unresolved = None;
            if !book.is_next_sequence(book.next_sequence) {
                self.request_epoch_bump(partition as u32);
            }
        }
    }

    /// Whether a bump was requested, clearing the request: a transactional producer gets its
    /// new epoch from the coordinator instead (KIP-360).
    pub fn take_epoch_bump_request(&mut self) -> bool {
        self.partitions_to_rewrite.clear();
        std::mem::take(&mut self.epoch_bump_required)
    }

    /// Bumps the epoch if a bump was requested (`bumpIdempotentEpochAndResetIdIfNeeded`);
    /// returns the new id and the partitions whose in-flight sequences must be rewritten.
    pub fn bump_epoch_if_needed(&mut self) -> Option<(ProducerIdAndEpoch, Vec<u32>)> {
        let id = self.id.filter(|_| self.epoch_bump_required)?;
        self.epoch_bump_required = false;
        let bumped = ProducerIdAndEpoch {
            producer_id: id.producer_id,
            epoch: id.epoch.saturating_add(1),
        };
        self.id = Some(bumped);
        let partitions = std::mem::take(&mut self.partitions_to_rewrite);
        Some((bumped, partitions.into_iter().collect()))
    }

    /// Restarts a partition's sequences at 0 under the current id: `batches` (every batch of the
    /// partition that has a sequence, in sequence order) get new ones
    /// (`startSequencesAtBeginning`).
    pub fn start_sequences_at_beginning(
        &mut self,
        partition: u32,
        batches: &mut [&mut BatchSequence],
    ) {
        let id = self.id.expect("a bump needs an id");
        let mut next = 0;
        let mut in_flight = BTreeSet::new();
        for sequence in batches.iter_mut() {
            sequence.id = id;
            sequence.base_sequence = next;
            sequence.reset = true;
            in_flight.insert(next);
            next += sequence.record_count;
        }
        self.books[partition as usize] = PartitionBook {
            id: Some(id),
            next_sequence: next,
            last_acked: None,
            in_flight,
            unresolved: None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> Idempotence {
        let mut idem = Idempotence::new(2);
        idem.set_id(ProducerIdAndEpoch {
            producer_id: 3,
            epoch: 0,
        });
        idem
    }

    #[test]
    fn sequences_follow_record_counts_and_wrap_on_the_wire() {
        let mut idem = started();
        let a = idem.assign(0, 3);
        let b = idem.assign(0, 2);
        assert_eq!((a.base_sequence, b.base_sequence), (0, 3));
        assert_eq!(idem.assign(1, 1).base_sequence, 0, "per partition");
        let wrapped = BatchSequence {
            base_sequence: i32::MAX as u64 + 2,
            ..a
        };
        assert_eq!(wrapped.wire_sequence(), 1);
    }

    #[test]
    fn a_retry_waits_until_it_is_the_first_in_flight() {
        let mut idem = started();
        let a = idem.assign(0, 1);
        let b = idem.assign(0, 1);
        assert!(!idem.may_drain(0, Some(&b)));
        assert!(idem.may_drain(0, Some(&a)));
        idem.on_completed(0, &a);
        assert!(idem.may_drain(0, Some(&b)));
        assert!(idem.may_drain(0, None));
    }

    #[test]
    fn out_of_order_for_the_next_batch_bumps_the_epoch_and_restarts_sequences() {
        let mut idem = started();
        let mut a = idem.assign(0, 2);
        let mut b = idem.assign(0, 2);
        // b is not the next expected: retried without a bump.
        assert!(idem.can_retry(0, &b, KafkaError::OutOfOrderSequenceNumber));
        assert!(idem.bump_epoch_if_needed().is_none());
        // a is: a real gap.
        assert!(idem.can_retry(0, &a, KafkaError::OutOfOrderSequenceNumber));
        let (id, partitions) = idem.bump_epoch_if_needed().expect("bumped");
        assert_eq!((id.epoch, partitions), (1, vec![0]));
        idem.start_sequences_at_beginning(0, &mut [&mut a, &mut b]);
        assert_eq!((a.base_sequence, b.base_sequence, a.id.epoch), (0, 2, 1));
        assert!(a.reset);
        assert_eq!(idem.assign(0, 1).base_sequence, 4);
    }

    #[test]
    fn an_expired_batch_holds_new_batches_until_resolved() {
        let mut idem = started();
        let a = idem.assign(0, 1);
        idem.on_expired(0, &a);
        assert!(!idem.may_drain(0, None));
        idem.maybe_resolve_sequences();
        let (id, partitions) = idem.bump_epoch_if_needed().expect("a gap: bump");
        assert_eq!((id.epoch, partitions), (1, vec![0]));
        assert!(idem.may_drain(0, None));
        assert_eq!(
            idem.assign(0, 1).base_sequence,
            0,
            "a new epoch starts at 0"
        );
    }

    #[test]
    fn new_batches_wait_for_in_flight_batches_of_an_older_epoch() {
        let mut idem = started();
        let a = idem.assign(1, 1);
        let b = idem.assign(0, 1);
        idem.on_failed(0, &b, KafkaError::InvalidProducerEpoch, true);
        idem.bump_epoch_if_needed().expect("bumped");
        idem.start_sequences_at_beginning(0, &mut []);
        assert!(
            !idem.may_drain(1, None),
            "partition 1 still has epoch 0 in flight"
        );
        idem.on_completed(1, &a);
        assert!(idem.may_drain(1, None));
        assert_eq!(idem.assign(1, 1).id.epoch, 1);
    }
}

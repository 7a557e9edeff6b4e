//! A consume-transform-produce pipeline instance (node `<name>-<i>`): a group consumer of the
//! input topic and a producer to the output topic in one application, the loop Kafka's
//! exactly-once examples and Kafka Streams run:
//!
//! 1. `poll()` the input (a read_committed consumer when exactly-once);
//! 2. process each record for a drawn `processing_ms` and send one output record per input
//!    record (no key: the producer's null-key partitioner spreads them);
//! 3. exactly-once: `sendOffsetsToTransaction(offsets after the records processed,
//!    groupMetadata())`, then
//!    `commitTransaction()`; an aborted transaction (the coordinator refused, a send failed, a
//!    zombie's offsets were fenced) seeks back to the committed offsets when `seek_on_abort`,
//!    else the consumer goes on from its position — KAFKA-17582's lost input (T4);
//!    at-least-once: wait until every output send completed (`flush()`), then `commitSync()`;
//!    a failed send seeks back to the committed offsets instead of committing past it.
//!
//! The transactional id is the instance's name (KIP-447: one id per instance; zombies are fenced
//! through the group generation their offsets carry). A fenced producer stops the application.
//! Each boot of the node is a new application: output records of one boot are numbered from 0
//! under a producer index of their own (see [`PipelineSpec::producer_index`]), so a record id
//! names one send of one boot. Every handover from input to output is observed
//! ([`crate::node::Obs::Transformed`]) for the exactly-once checkers.
//!
//! Fault model: as the consumer's and producer's. The two clients share the node's connections
//! to a broker (Kafka's would have one each). Left out: punctuation, state stores, several
//! input topics, and output keys.

use std::sync::Arc;

use rand::RngExt;

use super::consumer::{Consumer, ConsumerSpec, Polled};
use super::producer::{Producer, ProducerSpec, SendOffsets};
use crate::node::{Msg, Node, Obs, Timer};
use crate::protocol::{Response, TopicPartition};
use crate::record::RecordId;
use crate::sim::{Ctx, NodeId, SimDuration};

/// Correlation ids from here on are the producer's; below, the consumer's.
const PRODUCER_CORRELATION_BASE: u64 = 1 << 40;
/// How many boots of one instance get a producer index of their own; later boots share the last
/// one, numbering their records from `boot << 20`.
pub const PRODUCER_SLOTS: u32 = 16;

/// One pipeline instance's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineSpec {
    /// The node name.
    pub name: Arc<str>,
    /// The consumer of the input topic (its records handed to the application).
    pub consumer: ConsumerSpec,
    /// The producer to the output topic (its `index` is the first boot's producer index).
    pub producer: ProducerSpec,
    /// Transactions commit the output and the input offsets atomically.
    pub exactly_once: bool,
    /// Seek back to the committed offsets after an aborted transaction.
    pub seek_on_abort: bool,
    /// Processing time per record, drawn uniformly in ms.
    pub processing_ms: (u64, u64),
}

impl PipelineSpec {
    /// The producer index and first record number of the boot after `restarts` restarts.
    pub fn producer_index(&self, restarts: u32) -> (u16, u32) {
        let slot = restarts.min(PRODUCER_SLOTS - 1);
        let first = (restarts - slot) << 20;
        (self.producer.index + slot as u16, first)
    }
}

/// A pipeline's own timer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PipelineTimer {
    /// The records of poll `seq` are processed.
    Processed(u64),
}

/// Where the application's loop is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    /// In `poll()`.
    Polling,
    /// Processing a poll's records.
    Processing { seq: u64, poll: Poll },
    /// Processed; waiting until the producer may send (its id, the previous transaction).
    Sending(Poll),
    /// In `commitTransaction()` / `abortTransaction()`.
    Ending,
    /// In `flush()` before `commitSync()`.
    Flushing,
    /// Stopped for good.
    Stopped,
}

/// One poll as the application holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Poll {
    /// The records, per partition.
    records: Vec<Polled>,
    /// The offset after them, per partition: what the application commits.
    ends: Vec<(TopicPartition, u64)>,
    /// `groupMetadata()` read after the poll: generation, member id, `group.instance.id`.
    metadata: (i32, Arc<str>, Option<Arc<str>>),
}

/// A pipeline instance.
pub struct Pipeline {
    spec: PipelineSpec,
    consumer: Consumer,
    producer: Producer,
    stage: Stage,
    poll_seq: u64,
    /// The producer index and next record number of this boot's outputs.
    output: Option<(u16, u32)>,
}

impl Pipeline {
    /// A pipeline instance not yet started.
    pub fn new(spec: &PipelineSpec) -> Pipeline {
        let mut producer = Producer::new(&spec.producer);
        producer.set_correlation_base(PRODUCER_CORRELATION_BASE);
        Pipeline {
            consumer: Consumer::new(&spec.consumer),
            producer,
            spec: spec.clone(),
            stage: Stage::Polling,
            poll_seq: 0,
            output: None,
        }
    }

    /// Starts both clients (the producer's `initTransactions` first).
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.output = Some(
            self.spec
                .producer_index(ctx.incarnation().saturating_sub(1)),
        );
        self.producer.on_start(ctx);
        self.consumer.on_start(ctx);
    }

    /// Handles a timer of either client or of the application.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        let mark = ctx.effect_count();
        match timer {
            Timer::Consumer(t) => self.consumer.on_timer(ctx, t),
            Timer::Producer(t) => self.producer.on_timer(ctx, t),
            Timer::Pipeline(PipelineTimer::Processed(seq)) => self.processed(seq),
            _ => {}
        }
        self.forward_closes(ctx, mark);
        self.step(ctx);
    }

    /// The two clients share the node's connections: one the producer closed (a timed-out
    /// request) fails what the consumer had in flight on it too, as a closed connection does,
    /// instead of leaving the consumer waiting for answers that are dropped.
    fn forward_closes(&mut self, ctx: &mut Ctx<'_, Node>, mark: usize) {
        for peer in ctx.disconnects_since(mark) {
            if let Some(broker) = self.spec.consumer.brokers.iter().position(|&b| b == peer) {
                ctx.observe(Obs::Note(format!(
                    "the producer closed the connection to broker-{broker}: the consumer's \
                     requests on it fail"
                )));
            }
            self.consumer.on_connection_closed(ctx, peer);
        }
    }

    /// Hands an answer to the client whose request it answers.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        let mark = ctx.effect_count();
        match msg {
            Msg::Response(response)
                if response_correlation(&response) >= PRODUCER_CORRELATION_BASE =>
            {
                self.producer.on_response(ctx, from, response)
            }
            Msg::Response(response) => self.consumer.on_response(ctx, response),
            Msg::ConsumerReply(response) if response.correlation() >= PRODUCER_CORRELATION_BASE => {
                self.producer.on_group_coordinator_reply(ctx, response)
            }
            Msg::ConsumerReply(response) => self.consumer.on_consumer_response(ctx, response),
            Msg::TxnReply(response) => self.producer.on_txn_response(ctx, from, response),
            msg => ctx.observe(Obs::Note(format!("dropped unexpected message {msg:?}"))),
        }
        self.forward_closes(ctx, mark);
        self.step(ctx);
    }

    /// A broker connection closed: both clients lose what they had in flight on it.
    pub fn on_connection_closed(&mut self, ctx: &mut Ctx<'_, Node>, peer: NodeId) {
        self.producer.on_connection_closed(ctx, peer);
        self.consumer.on_connection_closed(ctx, peer);
        self.step(ctx);
    }

    /// Moves the application's loop along as far as it can go now.
    fn step(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.stage != Stage::Stopped && self.producer.stopped() {
            self.stage = Stage::Stopped;
            self.consumer.stop(ctx, "its producer was fenced");
        }
        // Each pass either waits or moves to a stage that waits for an event; a poll handed
        // over by `resume` starts the next pass.
        for _ in 0..4 {
            match std::mem::replace(&mut self.stage, Stage::Stopped) {
                Stage::Polling => match self.consumer.take_polled() {
                    Some((records, ends)) => {
                        let metadata = self.consumer.group_metadata();
                        let poll = Poll {
                            records,
                            ends,
                            metadata,
                        };
                        self.process(ctx, poll)
                    }
                    None => self.stage = Stage::Polling,
                },
                Stage::Sending(poll) if self.producer.ready_to_send() => {
                    self.send_outputs(ctx, poll)
                }
                Stage::Ending => match self.producer.take_transaction_outcome() {
                    Some(committed) => self.transaction_ended(ctx, committed),
                    None => self.stage = Stage::Ending,
                },
                Stage::Flushing if self.producer.flushed() => self.flushed(ctx),
                stage => {
                    self.stage = stage;
                    return;
                }
            }
        }
    }

    /// Starts processing a poll's records, one after another.
    fn process(&mut self, ctx: &mut Ctx<'_, Node>, poll: Poll) {
        let (lo, hi) = self.spec.processing_ms;
        let count: usize = poll.records.iter().map(|p| p.ids.len()).sum();
        let mut total_us = 0u64;
        if hi > 0 {
            for _ in 0..count {
                total_us += ctx.rng().random_range(lo * 1_000..=hi * 1_000);
            }
        }
        self.poll_seq += 1;
        let seq = self.poll_seq;
        self.stage = Stage::Processing { seq, poll };
        ctx.set_timer(
            SimDuration::from_micros(total_us),
            Timer::Pipeline(PipelineTimer::Processed(seq)),
        );
    }

    /// A poll's records are processed: their outputs go out once the producer may send.
    fn processed(&mut self, seq: u64) {
        let Stage::Processing { seq: current, .. } = &self.stage else {
            return;
        };
        if *current != seq {
            return;
        }
        let Stage::Processing { poll, .. } = std::mem::replace(&mut self.stage, Stage::Polling)
        else {
            unreachable!("matched above");
        };
        self.stage = Stage::Sending(poll);
    }

    /// Sends one output record per input record, then commits the transaction with the offsets
    /// after the records processed (and the group metadata read after their poll), or flushes
    /// before committing the positions.
    fn send_outputs(&mut self, ctx: &mut Ctx<'_, Node>, poll: Poll) {
        let Some((producer, mut next)) = self.output else {
            return;
        };
        for polled in &poll.records {
            let first_output = RecordId { producer, n: next };
            ctx.observe(Obs::Transformed {
                partition: self.consumer.partition_name(polled.tp),
                offsets: polled.offsets.clone(),
                inputs: polled.ids.clone(),
                first_output,
            });
            for _ in &polled.ids {
                self.producer.send(ctx, RecordId { producer, n: next });
                next += 1;
            }
        }
        self.output = Some((producer, next));
        if !self.spec.exactly_once {
            self.stage = Stage::Flushing;
            return;
        }
        let (generation, member_id, group_instance_id) = poll.metadata;
        let offsets = SendOffsets {
            group: self.consumer.group_name().clone(),
            generation,
            member_id,
            group_instance_id,
            offsets: poll.ends,
        };
        self.producer.send_offsets_to_transaction(ctx, offsets);
        self.producer.finish_transaction(ctx, true);
        self.stage = Stage::Ending;
    }

    /// The transaction ended: poll again, from the committed offsets after an abort if the
    /// application seeks on abort.
    fn transaction_ended(&mut self, ctx: &mut Ctx<'_, Node>, committed: bool) {
        if !committed && self.spec.seek_on_abort {
            self.consumer.seek_to_committed(ctx);
        }
        self.stage = Stage::Polling;
        self.consumer.resume(ctx);
    }

    /// Every output send completed: commit the positions, unless a send failed.
    fn flushed(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.stage = Stage::Polling;
        if self.producer.take_failed_sends() > 0 {
            self.consumer.seek_to_committed(ctx);
            self.consumer.resume(ctx);
        } else {
            self.consumer.commit_sync(ctx);
        }
    }
}

fn response_correlation(response: &Response) -> u64 {
    match response {
        Response::Metadata { correlation, .. }
        | Response::Fetch { correlation, .. }
        | Response::OffsetsForLeaderEpoch { correlation, .. }
        | Response::Produce { correlation, .. }
        | Response::InitProducerId { correlation, .. } => *correlation,
        _ => 0,
    }
}

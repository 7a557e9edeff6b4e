//! The history the checkers read: every record a producer sent with its outcome, every
//! leadership a replica took, gathered from the run's observations; and the final state of each
//! partition's replicas after the settle phase.

use std::sync::Arc;

use super::chunked::Chunked;
use super::consumption::Names;
use crate::node::Obs;
use crate::protocol::KafkaError;
use crate::record::RecordId;
use crate::sim::{NodeId, SimTime};

/// What became of one sent record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No outcome yet.
    Pending,
    /// Acknowledged at an offset.
    Acked {
        /// The offset.
        offset: u64,
        /// When.
        at: SimTime,
        /// The broker that answered.
        broker: u32,
    },
    /// Failed: `definite` if certainly not written.
    Failed {
        /// Whether certainly not written.
        definite: bool,
        /// Why.
        error: KafkaError,
    },
}

/// One sent record, as the checkers read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendOp<'a> {
    /// The partition it went to.
    pub partition: &'a str,
    /// That partition's index in [`History::sent_partitions`].
    pub partition_id: u32,
    /// When it was sent.
    pub sent_at: SimTime,
    /// Its outcome.
    pub outcome: Outcome,
}

/// One record number of a producer as the history keeps it, in 32 bytes (a run sends millions):
/// the partition as an index into [`Sends::partitions`], and the outcome in `at` and `offset`.
#[derive(Clone, Copy, Debug)]
struct Sent {
    sent_at: SimTime,
    /// When it was acknowledged, or [`PENDING`] or [`FAILED`].
    at: SimTime,
    /// The acknowledged offset, or for a failure its index in [`Sends::failures`].
    offset: u64,
    /// The partition's index, or [`UNSENT`] for a number never sent.
    partition: u32,
    /// The broker that acknowledged it.
    broker: u32,
}

const UNSENT: u32 = u32::MAX;
const PENDING: SimTime = SimTime::MAX;
const FAILED: SimTime = SimTime::from_micros(u64::MAX - 1);
const NEVER_SENT: Sent = Sent {
    sent_at: SimTime::ZERO,
    at: PENDING,
    offset: 0,
    partition: UNSENT,
    broker: 0,
};

/// Every sent record, by producer index and then record number (a producer's records are
/// numbered from 0, so a list indexes them; numbers never sent, which a producer restarted after
/// a crash skips, are marked so).
#[derive(Clone, Debug, Default)]
struct Sends {
    by_producer: Vec<Chunked<Sent>>,
    /// The partitions sent to, which [`Sent::partition`] indexes.
    partitions: Names,
    /// Failed sends' (definite, error), which a failed [`Sent::offset`] indexes.
    failures: Vec<(bool, KafkaError)>,
}

impl Sends {
    fn get(&self, id: RecordId) -> Option<&Sent> {
        let sent = self.by_producer.get(usize::from(id.producer))?;
        sent.get(id.n as usize).filter(|s| s.partition != UNSENT)
    }

    fn view(&self, sent: &Sent) -> SendOp<'_> {
        let outcome = match sent.at {
            PENDING => Outcome::Pending,
            FAILED => {
                let (definite, error) = self.failures[sent.offset as usize];
                Outcome::Failed { definite, error }
            }
            at => Outcome::Acked {
                offset: sent.offset,
                at,
                broker: sent.broker,
            },
        };
        SendOp {
            partition: &self.partitions.as_slice()[sent.partition as usize],
            partition_id: sent.partition,
            sent_at: sent.sent_at,
            outcome,
        }
    }

    /// Keeps the first send of record `id`; a record is sent once, and the first send is the
    /// one the checkers follow.
    fn sent(&mut self, id: RecordId, partition: &Arc<str>, at: SimTime) {
        let partition = self.partitions.intern(partition).index();
        let producer = usize::from(id.producer);
        if self.by_producer.len() <= producer {
            self.by_producer.resize_with(producer + 1, Chunked::new);
        }
        let sends = &mut self.by_producer[producer];
        let n = id.n as usize;
        sends.grow_to(n + 1, NEVER_SENT);
        let slot = sends.get_mut(n).expect("grown to hold it");
        if slot.partition == UNSENT {
            *slot = Sent {
                sent_at: at,
                partition,
                ..NEVER_SENT
            };
        }
    }

    fn set(&mut self, id: RecordId, outcome: Outcome) {
        let Some(sent) = self
            .by_producer
            .get_mut(usize::from(id.producer))
            .and_then(|s| s.get_mut(id.n as usize))
            .filter(|s| s.partition != UNSENT)
        else {
            return;
        };
        match outcome {
            Outcome::Pending => sent.at = PENDING,
            Outcome::Acked { offset, at, broker } => {
                (sent.at, sent.offset, sent.broker) = (at, offset, broker);
            }
            Outcome::Failed { definite, error } => {
                sent.at = FAILED;
                sent.offset = self.failures.len() as u64;
                self.failures.push((definite, error));
            }
        }
    }
}

/// Client operations and leadership changes, in order.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Producer names by producer index.
    pub producers: Vec<String>,
    /// Node names by node id.
    pub nodes: Vec<String>,
    /// Every sent record with its outcome.
    sends: Sends,
    /// Leaderships taken: (time, broker node, partition, epoch).
    pub leaderships: Vec<(SimTime, NodeId, Arc<str>, u32)>,
    /// ISR changes: (time, leader node, partition, ISR).
    pub isrs: Vec<(SimTime, NodeId, Arc<str>, Vec<u32>)>,
    /// Log truncations, in order.
    pub truncations: Vec<Truncation>,
    /// When each producer (by index) crashed: sends still pending then died with it.
    pub producer_crashes: Vec<Vec<SimTime>>,
    /// What the tail reader read during the run: (time, partition, offset, record).
    pub tail_reads: super::tail_reads::TailReads,
    /// What consumer group members polled and processed.
    pub consumption: super::consumption::Consumption,
    /// Transactions as their producers saw them end, in order.
    pub transactions: Vec<TxnOutcome>,
    /// The input record each pipeline output record was made from, by the output's producer
    /// index and then record number.
    pub origins: Vec<Vec<Option<Origin>>>,
    /// The input partitions [`Origin::partition`] indexes.
    pub origin_partitions: Vec<Arc<str>>,
}

/// The input record a pipeline output record was made from, where the pipeline read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    /// The input partition, an index into [`History::origin_partitions`].
    pub partition: u32,
    /// Its offset there.
    pub offset: u64,
    /// The record.
    pub input: RecordId,
}

/// A transaction its producer saw end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnOutcome {
    /// When `EndTxn` was answered.
    pub at: SimTime,
    /// Whether it committed (else aborted).
    pub committed: bool,
    /// The producer epoch it ran under.
    pub epoch: i16,
    /// Its records.
    pub records: Vec<RecordId>,
}

/// A replica cut its log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// When.
    pub at: SimTime,
    /// Which broker node.
    pub node: NodeId,
    /// Which partition.
    pub partition: Arc<str>,
    /// LEO before.
    pub from: u64,
    /// LEO after.
    pub to: u64,
    /// The rule that decided the point.
    pub rule: &'static str,
}

impl History {
    /// An empty history of a run with these producers and nodes.
    pub fn new(producers: Vec<String>, nodes: Vec<String>) -> History {
        History {
            producers,
            nodes,
            ..History::default()
        }
    }

    /// Builds the history from a run's observations.
    pub fn from_observations(
        observations: &[(SimTime, NodeId, Obs)],
        producers: Vec<String>,
        nodes: Vec<String>,
    ) -> History {
        let mut history = History::new(producers, nodes);
        for (at, node, obs) in observations {
            history.observe(*at, *node, obs);
        }
        history
    }

    /// Takes in one observation made by `node` at `at`, as the run makes it: a send, its
    /// outcome, a leadership, an ISR change, a truncation or a consumer's poll. The history keeps
    /// what the checkers need of it, so the observations themselves need not be kept.
    pub fn observe(&mut self, at: SimTime, node: NodeId, obs: &Obs) {
        match obs {
            Obs::Send { id, partition } => self.sends.sent(*id, partition, at),
            Obs::Ack {
                id,
                count,
                offset,
                broker,
                ..
            } => {
                for i in 0..*count {
                    let record = RecordId { n: id.n + i, ..*id };
                    let offset = offset + u64::from(i);
                    let broker = *broker;
                    self.sends
                        .set(record, Outcome::Acked { offset, at, broker });
                }
            }
            Obs::SendFailed {
                id,
                definite,
                error,
                ..
            } => {
                let (definite, error) = (*definite, *error);
                self.sends.set(*id, Outcome::Failed { definite, error });
            }
            Obs::Role {
                partition,
                epoch,
                leads: true,
                ..
            } => self.leaderships.push((at, node, partition.clone(), *epoch)),
            Obs::Isr { partition, isr, .. } => {
                self.isrs.push((at, node, partition.clone(), isr.clone()))
            }
            Obs::Truncate {
                partition,
                from,
                to,
                rule,
            } => {
                let partition = partition.clone();
                let (from, to, rule) = (*from, *to, *rule);
                self.truncations.push(Truncation {
                    at,
                    node,
                    partition,
                    from,
                    to,
                    rule,
                });
            }
            Obs::Consumer(consumer) => self.consumption.observe(at, node, consumer),
            Obs::TxnEnded {
                committed,
                epoch,
                records,
            } => self.transactions.push(TxnOutcome {
                at,
                committed: *committed,
                epoch: *epoch,
                records: records.clone(),
            }),
            Obs::Transformed {
                partition,
                offsets,
                inputs,
                first_output,
            } => {
                let partition = match self.origin_partitions.iter().position(|p| p == partition) {
                    Some(index) => index,
                    None => {
                        self.origin_partitions.push(partition.clone());
                        self.origin_partitions.len() - 1
                    }
                } as u32;
                let producer = usize::from(first_output.producer);
                if self.origins.len() <= producer {
                    self.origins.resize_with(producer + 1, Vec::new);
                }
                let origins = &mut self.origins[producer];
                let last = first_output.n as usize + inputs.len();
                if origins.len() < last {
                    origins.resize(last, None);
                }
                for (k, (input, offset)) in inputs.iter().zip(offsets).enumerate() {
                    origins[first_output.n as usize + k] = Some(Origin {
                        partition,
                        offset: *offset,
                        input: *input,
                    });
                }
            }
            _ => {}
        }
    }

    /// The input record pipeline output `id` was made from, if it is a pipeline's output.
    pub fn origin(&self, id: RecordId) -> Option<Origin> {
        self.origins
            .get(usize::from(id.producer))
            .and_then(|o| o.get(id.n as usize))
            .copied()
            .flatten()
    }

    /// Whether the producer of `id` crashed after `sent_at`, taking the send's outcome with it.
    pub fn died_after(&self, id: RecordId, sent_at: SimTime) -> bool {
        self.producer_crashes
            .get(id.producer as usize)
            .is_some_and(|crashes| crashes.iter().any(|&at| at >= sent_at))
    }

    /// Every sent record with its id, by producer and then record number.
    pub fn sends(&self) -> impl Iterator<Item = (RecordId, SendOp<'_>)> + '_ {
        let sends = &self.sends;
        sends
            .by_producer
            .iter()
            .enumerate()
            .flat_map(move |(producer, sent)| {
                sent.iter().enumerate().filter_map(move |(n, sent)| {
                    let id = RecordId {
                        producer: producer as u16,
                        n: n as u32,
                    };
                    (sent.partition != UNSENT).then(|| (id, sends.view(sent)))
                })
            })
    }

    /// Record `id`'s send, if it was sent.
    pub fn send(&self, id: RecordId) -> Option<SendOp<'_>> {
        self.sends.get(id).map(|sent| self.sends.view(sent))
    }

    /// The partitions records were sent to, which [`SendOp::partition_id`] indexes.
    pub fn sent_partitions(&self) -> &[Arc<str>] {
        self.sends.partitions.as_slice()
    }

    /// How many records were sent.
    pub fn send_count(&self) -> usize {
        let sent = self.sends.by_producer.iter().flat_map(Chunked::iter);
        sent.filter(|s| s.partition != UNSENT).count()
    }

    /// Heap bytes of the send history (its lists at their capacity, the names left out).
    pub fn sends_heap_bytes(&self) -> usize {
        let sent: usize = self.sends.by_producer.iter().map(Chunked::heap_bytes).sum();
        sent + self.sends.failures.capacity() * size_of::<(bool, KafkaError)>()
    }

    /// What became of a record's send, as a clause (`, acknowledged at offset 1 at 1011 ms by
    /// broker-0`).
    pub fn outcome_clause(&self, id: RecordId) -> String {
        match self.send(id).map(|op| op.outcome) {
            Some(Outcome::Acked { offset, at, broker }) => format!(
                ", acknowledged at offset {offset} at {} ms by broker-{broker}",
                at.as_millis()
            ),
            Some(Outcome::Failed { definite, error }) => {
                let how = if definite { "failed" } else { "indefinite" };
                format!(", whose send was {how} ({error})")
            }
            Some(Outcome::Pending) => ", never answered".into(),
            None => String::new(),
        }
    }

    /// The record's name: `<producer>-<n>`.
    pub fn record_name(&self, id: RecordId) -> String {
        let producer = self
            .producers
            .get(id.producer as usize)
            .map_or("?", String::as_str);
        format!("{producer}-{}", id.n)
    }

    /// A node's name.
    pub fn node_name(&self, node: NodeId) -> &str {
        &self.nodes[node.index()]
    }
}

/// One replica's final state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaView {
    /// The broker id.
    pub broker: u32,
    /// Its high watermark.
    pub high_watermark: u64,
    /// Its records by offset (control batches excluded).
    pub records: Vec<(u64, RecordId)>,
    /// Its log end offset.
    pub log_end_offset: u64,
    /// Its log start offset (retention deleted everything below).
    pub log_start_offset: u64,
}

/// One partition after settling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalPartition {
    /// `orders-0`.
    pub name: Arc<str>,
    /// The leader's broker id, if the partition has one.
    pub leader: Option<u32>,
    /// Every replica that exists.
    pub replicas: Vec<ReplicaView>,
    /// What the final reader read, by offset, if it read the partition to its high watermark.
    pub read: Option<Vec<(u64, RecordId)>>,
    /// What the final reader's `read_committed` pass handed over, by offset, if the run has
    /// transactions and it read the partition to its last stable offset.
    pub read_committed: Option<Vec<(u64, RecordId)>>,
    /// The last stable offset and high watermark that `read_committed` pass ended at.
    pub stable: Option<(u64, u64)>,
}

impl FinalPartition {
    /// The leader's log start offset: retention removed what was below it.
    pub fn log_start_offset(&self) -> u64 {
        self.leader
            .and_then(|l| self.replicas.iter().find(|r| r.broker == l))
            .map_or(0, |r| r.log_start_offset)
    }

    /// The leader's replica, if the partition has a leader.
    pub fn leader_replica(&self) -> Option<&ReplicaView> {
        self.leader
            .and_then(|l| self.replicas.iter().find(|r| r.broker == l))
    }

    /// Whether the leader's log holds `id` at `offset` (committed or not).
    pub fn leader_holds(&self, offset: u64, id: RecordId) -> bool {
        self.leader_replica().is_some_and(|r| {
            r.records
                .binary_search_by_key(&offset, |(o, _)| *o)
                .is_ok_and(|k| r.records[k].1 == id)
        })
    }

    /// What the fresh `read_uncommitted` final reader saw (nothing if it could not read).
    pub fn committed(&self) -> &[(u64, RecordId)] {
        self.read.as_deref().unwrap_or(&[])
    }
}

//! The producer client: a workload that hands records to an accumulator at `rate_per_sec`, the
//! partitioner (explicit partition, murmur2 of the key, sticky or round-robin without one),
//! batches closed by `batch.size` or `linger.ms`, a sender that keeps at most
//! `max.in.flight.requests.per.connection` produce requests per broker, retries with
//! `retry.backoff.ms` within `delivery.timeout.ms`, `request.timeout.ms`, and metadata refresh on
//! `NOT_LEADER_OR_FOLLOWER`. Every record's outcome is observed: acknowledged with its offset,
//! failed for certain (never written), or indefinite (it may or may not have been written).
//!
//! Batches carry the producer id/epoch/sequence header fields with Kafka's "none" values:
//! idempotence and transactions are not modelled yet.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::partitioner::{NullKeyPartitioner, partition_for_key};
use crate::node::{Msg, Node, Obs, Timer, millis};
use crate::protocol::{BrokerId, KafkaError, PartitionState, Request, Response, TopicPartition};
use crate::record::{
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record, RecordBatch, RecordId,
};
use crate::scenario::{Acks, Partitioner, ProducerConfig};
use crate::sim::{Ctx, NodeId, SimDuration, SimTime};

/// A producer's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct ProducerSpec {
    /// Index of the producer (record ids carry it).
    pub index: u16,
    /// Brokers' nodes, by broker id (the bootstrap list).
    pub brokers: Vec<NodeId>,
    /// The topic's index.
    pub topic: u32,
    /// The topic's name.
    pub topic_name: String,
    /// The topic's partition count.
    pub partitions: u32,
    /// How many records to send.
    pub records: u64,
    /// Records per second.
    pub rate_per_sec: u64,
    /// Number of distinct keys (0: no keys).
    pub keys: u64,
    /// An explicit partition for every record.
    pub partition: Option<u32>,
    /// The null-key partitioner.
    pub partitioner: Partitioner,
    /// Simulated record size.
    pub record_bytes: u32,
    /// When the workload starts.
    pub start_ms: u64,
    /// The Kafka producer configuration.
    pub config: ProducerConfig,
}

/// A producer's timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProducerTimer {
    /// Time to hand the next record to the accumulator.
    NextRecord,
    /// A partition's open batch lingered long enough.
    Linger(u32),
    /// Try sending again (after a backoff, or when metadata is needed).
    Send,
    /// A produce request outlived `request.timeout.ms`.
    RequestTimeout(u64),
}

/// A batch being built or waiting to be sent.
#[derive(Clone, Debug)]
struct Batch {
    partition: u32,
    records: Vec<Record>,
    bytes: u64,
    created: SimTime,
    /// Whether it has been sent at least once (a failure after that is indefinite).
    sent: bool,
    /// Not before this time (retry backoff).
    not_before: SimTime,
    attempts: u32,
}

/// A produce request in flight.
#[derive(Clone, Debug)]
struct InFlight {
    broker: BrokerId,
    batch: Batch,
}

/// The producer.
pub struct Producer {
    spec: ProducerSpec,
    names: Vec<Arc<str>>,
    next_record: u64,
    null_key: NullKeyPartitioner,
    open: BTreeMap<u32, Batch>,
    ready: VecDeque<Batch>,
    in_flight: BTreeMap<u64, InFlight>,
    leaders: BTreeMap<u32, BrokerId>,
    /// When metadata was last requested (a refresh waits `retry.backoff.ms` after it).
    metadata_requested_at: Option<SimTime>,
    /// Whether that request is unanswered.
    metadata_in_flight: bool,
    /// The one pending wake-up timer, if any: every retry and refresh shares it.
    wakeup: Option<SimTime>,
    next_correlation: u64,
}

impl Producer {
    /// A producer that has sent nothing.
    pub fn new(spec: &ProducerSpec) -> Producer {
        let names = (0..spec.partitions)
            .map(|p| Arc::from(format!("{}-{p}", spec.topic_name)))
            .collect();
        let null_key = match spec.partitioner {
            Partitioner::Sticky => NullKeyPartitioner::Sticky { current: None },
            Partitioner::RoundRobin => NullKeyPartitioner::RoundRobin { next: 0 },
        };
        Producer {
            spec: spec.clone(),
            names,
            next_record: 0,
            null_key,
            open: BTreeMap::new(),
            ready: VecDeque::new(),
            in_flight: BTreeMap::new(),
            leaders: BTreeMap::new(),
            metadata_requested_at: None,
            metadata_in_flight: false,
            wakeup: None,
            next_correlation: 0,
        }
    }

    /// Starts the workload and asks for metadata.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.request_metadata(ctx);
        if self.spec.records > 0 {
            let start = SimTime::from_millis(self.spec.start_ms).saturating_since(ctx.now());
            ctx.set_timer(start, Timer::Producer(ProducerTimer::NextRecord));
        }
    }

    fn interval(&self) -> SimDuration {
        SimDuration::from_micros(1_000_000 / self.spec.rate_per_sec.max(1))
    }

    /// Handles a timer.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: ProducerTimer) {
        match timer {
            ProducerTimer::NextRecord => {
                self.produce_one(ctx);
                if self.next_record < self.spec.records {
                    ctx.set_timer(self.interval(), Timer::Producer(ProducerTimer::NextRecord));
                }
            }
            ProducerTimer::Linger(partition) => {
                if let Some(batch) = self.open.get(&partition)
                    && ctx.now().saturating_since(batch.created)
                        >= millis(self.spec.config.linger_ms)
                {
                    self.seal(ctx, partition);
                }
            }
            ProducerTimer::Send => {
                if self.wakeup == Some(ctx.now()) {
                    self.wakeup = None;
                }
            }
            ProducerTimer::RequestTimeout(correlation) => {
                if let Some(flight) = self.in_flight.remove(&correlation) {
                    self.on_failure(ctx, flight.batch, KafkaError::RequestTimedOut);
                }
            }
        }
        self.send_ready(ctx);
    }

    fn produce_one(&mut self, ctx: &mut Ctx<'_, Node>) {
        let n = self.next_record;
        self.next_record += 1;
        let key = (self.spec.keys > 0).then(|| (n % self.spec.keys) as u32);
        let partition = match (self.spec.partition, key) {
            (Some(p), _) => p,
            (None, Some(k)) => {
                partition_for_key(format!("key-{k}").as_bytes(), self.spec.partitions)
            }
            (None, None) => self.null_key.partition(self.spec.partitions, ctx.rng()),
        };
        let id = RecordId {
            producer: self.spec.index,
            n: n as u32,
        };
        let record = Record {
            id,
            key,
            size_bytes: self.spec.record_bytes,
        };
        ctx.observe(Obs::Send {
            id,
            partition: self.names[partition as usize].clone(),
        });
        let now = ctx.now();
        let batch = self.open.entry(partition).or_insert_with(|| Batch {
            partition,
            records: Vec::new(),
            bytes: 61,
            created: now,
            sent: false,
            not_before: now,
            attempts: 0,
        });
        batch.records.push(record);
        batch.bytes += u64::from(self.spec.record_bytes);
        if batch.records.len() == 1 && self.spec.config.linger_ms > 0 {
            ctx.set_timer(
                millis(self.spec.config.linger_ms),
                Timer::Producer(ProducerTimer::Linger(partition)),
            );
        }
        if batch.bytes >= u64::from(self.spec.config.batch_size) || self.spec.config.linger_ms == 0
        {
            self.seal(ctx, partition);
        }
    }

    fn seal(&mut self, ctx: &mut Ctx<'_, Node>, partition: u32) {
        if let Some(batch) = self.open.remove(&partition) {
            self.ready.push_back(batch);
            if key_less(&self.spec) {
                self.null_key
                    .on_batch_complete(self.spec.partitions, ctx.rng());
            }
        }
    }

    /// Sends every ready batch whose leader is known, within the in-flight limit per broker.
    fn send_ready(&mut self, ctx: &mut Ctx<'_, Node>) {
        let now = ctx.now();
        let mut waiting = VecDeque::new();
        let mut need_metadata = false;
        while let Some(batch) = self.ready.pop_front() {
            if self.expire(ctx, &batch) {
                continue;
            }
            let Some(&leader) = self.leaders.get(&batch.partition) else {
                need_metadata = true;
                waiting.push_back(batch);
                continue;
            };
            let busy = self
                .in_flight
                .values()
                .filter(|f| f.broker == leader)
                .count();
            // Keep per-partition order: nothing overtakes a batch that must wait.
            let blocked = waiting
                .iter()
                .any(|b: &Batch| b.partition == batch.partition);
            if batch.not_before > now
                || blocked
                || busy >= self.spec.config.max_in_flight_requests_per_connection as usize
            {
                waiting.push_back(batch);
                continue;
            }
            self.send_batch(ctx, leader, batch);
        }
        self.ready = waiting;
        if need_metadata {
            self.request_metadata(ctx);
        }
        if let Some(next) = self
            .ready
            .iter()
            .map(|b| b.not_before)
            .filter(|&t| t > now)
            .min()
        {
            self.wake_at(ctx, next);
        }
    }

    /// Makes sure the producer wakes up by `at` (one shared timer, never a pile of them).
    fn wake_at(&mut self, ctx: &mut Ctx<'_, Node>, at: SimTime) {
        let now = ctx.now();
        if self.wakeup.is_some_and(|w| w > now && w <= at) {
            return;
        }
        self.wakeup = Some(at);
        ctx.set_timer(
            at.saturating_since(now),
            Timer::Producer(ProducerTimer::Send),
        );
    }

    fn send_batch(&mut self, ctx: &mut Ctx<'_, Node>, leader: BrokerId, mut batch: Batch) {
        self.next_correlation += 1;
        let correlation = self.next_correlation;
        batch.sent = true;
        batch.attempts += 1;
        let config = &self.spec.config;
        let request = Request::Produce {
            correlation,
            tp: TopicPartition {
                topic: self.spec.topic,
                partition: batch.partition,
            },
            acks: config.acks,
            timeout_ms: config.request_timeout_ms,
            batch: RecordBatch {
                base_offset: 0,
                partition_leader_epoch: 0,
                producer_id: NO_PRODUCER_ID,
                producer_epoch: NO_PRODUCER_EPOCH,
                base_sequence: NO_SEQUENCE,
                transactional: false,
                control: None,
                max_timestamp_ms: batch.created.as_millis(),
                records: batch.records.clone(),
            },
        };
        ctx.send(self.spec.brokers[leader as usize], Msg::Request(request));
        if config.acks == Acks::None {
            // acks=0: nothing comes back; the records' fate is unknown.
            for record in &batch.records {
                let partition = self.names[batch.partition as usize].clone();
                let error = KafkaError::NetworkException;
                ctx.observe(Obs::SendFailed {
                    id: record.id,
                    partition,
                    definite: false,
                    error,
                });
            }
            return;
        }
        let timeout = millis(config.request_timeout_ms);
        ctx.set_timer(
            timeout,
            Timer::Producer(ProducerTimer::RequestTimeout(correlation)),
        );
        self.in_flight.insert(
            correlation,
            InFlight {
                broker: leader,
                batch,
            },
        );
    }

    /// Fails a batch whose `delivery.timeout.ms` has passed; returns whether it did.
    fn expire(&mut self, ctx: &mut Ctx<'_, Node>, batch: &Batch) -> bool {
        let deadline = batch.created + millis(self.spec.config.delivery_timeout_ms);
        if ctx.now() < deadline {
            return false;
        }
        self.fail(ctx, batch, !batch.sent, KafkaError::RequestTimedOut);
        true
    }

    fn fail(&self, ctx: &mut Ctx<'_, Node>, batch: &Batch, definite: bool, error: KafkaError) {
        let partition = self.names[batch.partition as usize].clone();
        for record in &batch.records {
            ctx.observe(Obs::SendFailed {
                id: record.id,
                partition: partition.clone(),
                definite,
                error,
            });
        }
    }

    /// Handles a response.
    pub fn on_response(&mut self, ctx: &mut Ctx<'_, Node>, _from: NodeId, response: Response) {
        match response {
            Response::Metadata { partitions, .. } => self.on_metadata(partitions),
            Response::Produce {
                correlation,
                result,
                ..
            } => {
                let Some(flight) = self.in_flight.remove(&correlation) else {
                    return;
                };
                match result {
                    Ok(base) => {
                        let partition = self.names[flight.batch.partition as usize].clone();
                        for (i, record) in flight.batch.records.iter().enumerate() {
                            let offset = base + i as u64;
                            ctx.observe(Obs::Ack {
                                id: record.id,
                                partition: partition.clone(),
                                offset,
                            });
                        }
                    }
                    Err(error) => self.on_failure(ctx, flight.batch, error),
                }
            }
            Response::Fetch { .. } | Response::OffsetsForLeaderEpoch { .. } => {}
        }
        self.send_ready(ctx);
    }

    fn on_metadata(&mut self, partitions: Vec<PartitionState>) {
        self.metadata_in_flight = false;
        for state in partitions
            .into_iter()
            .filter(|s| s.tp.topic == self.spec.topic)
        {
            match state.leader {
                Some(leader) => self.leaders.insert(state.tp.partition, leader),
                None => self.leaders.remove(&state.tp.partition),
            };
        }
    }

    /// A send failed: retry it if allowed, else record its outcome.
    fn on_failure(&mut self, ctx: &mut Ctx<'_, Node>, mut batch: Batch, error: KafkaError) {
        if error == KafkaError::NotLeaderOrFollower || error == KafkaError::NetworkException {
            self.leaders.remove(&batch.partition);
        }
        let retries_left = batch.attempts <= self.spec.config.retries;
        if error.is_retriable() && retries_left {
            batch.not_before = ctx.now() + millis(self.spec.config.retry_backoff_ms);
            // A retry goes back in record order, ahead of newer batches: several batches failing
            // together (a closed connection) keep their order.
            let first = batch.records[0].id;
            let at = self
                .ready
                .iter()
                .position(|b| b.records[0].id > first)
                .unwrap_or(self.ready.len());
            self.ready.insert(at, batch);
            return;
        }
        // Only NOT_ENOUGH_REPLICAS is certain: the leader refused before appending.
        let definite = error == KafkaError::NotEnoughReplicas;
        self.fail(ctx, &batch, definite, error);
    }

    /// Asks a broker for metadata, at most once per `retry.backoff.ms` (and while an answer is
    /// awaited, only once its `request.timeout.ms` passed).
    fn request_metadata(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.spec.brokers.is_empty() {
            return;
        }
        let now = ctx.now();
        let config = &self.spec.config;
        let wait = if self.metadata_in_flight {
            config.request_timeout_ms
        } else {
            config.retry_backoff_ms
        };
        if let Some(at) = self.metadata_requested_at
            && now < at + millis(wait.max(1))
        {
            let retry_at = at + millis(wait.max(1));
            self.wake_at(ctx, retry_at);
            return;
        }
        self.metadata_requested_at = Some(now);
        self.metadata_in_flight = true;
        self.next_correlation += 1;
        let target =
            self.spec.brokers[(self.next_correlation % self.spec.brokers.len() as u64) as usize];
        ctx.send(
            target,
            Msg::Request(Request::Metadata {
                correlation: self.next_correlation,
            }),
        );
    }

    /// A broker connection closed: its requests failed with a network error.
    pub fn on_connection_closed(&mut self, ctx: &mut Ctx<'_, Node>, peer: NodeId) {
        self.metadata_in_flight = false;
        let lost: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| self.spec.brokers[f.broker as usize] == peer)
            .map(|(&c, _)| c)
            .collect();
        for correlation in lost {
            let flight = self.in_flight.remove(&correlation).expect("listed");
            self.on_failure(ctx, flight.batch, KafkaError::NetworkException);
        }
        self.send_ready(ctx);
    }
}

fn key_less(spec: &ProducerSpec) -> bool {
    spec.keys == 0 && spec.partition.is_none()
}

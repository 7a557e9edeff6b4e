//! The producer client: a workload that hands records to an accumulator at `rate_per_sec`, the
//! partitioner (explicit partition, murmur2 of the key, sticky or round-robin without one),
//! batches closed by `batch.size` or `linger.ms`, a sender that keeps at most
//! `max.in.flight.requests.per.connection` produce requests per broker, retries with
//! `retry.backoff.ms` within `delivery.timeout.ms`, `request.timeout.ms`, and metadata refresh on
//! `NOT_LEADER_OR_FOLLOWER`. Every record's outcome is observed: acknowledged with its offset,
//! failed for certain (never written), or indefinite (it may or may not have been written).
//!
//! An idempotent producer (`enable.idempotence`, see [`super::idempotence`]) first asks a broker
//! for a producer id, then stamps every batch with it, its epoch and a per-partition sequence;
//! otherwise batches carry Kafka's "none" values. A transactional producer (`transactional.id`,
//! see [`transactional`]) gets its id from its transaction coordinator and sends its records in
//! transactions; its batches are marked transactional.

mod expiry;
mod idempotent;
mod pipeline;
mod transactional;

pub use transactional::SendOffsets;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::idempotence::{BatchSequence, Idempotence};
use super::partitioner::{NullKeyPartitioner, partition_for_key};
use crate::node::{Msg, Node, Obs, Timer, millis};
use crate::protocol::{
    BrokerId, KafkaError, PartitionState, Request, Response, SOCKET_CONNECTION_SETUP_TIMEOUT_MS,
    TopicPartition,
};
use crate::record::{
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record, RecordBatch, RecordId,
};
use crate::scenario::{Acks, Partitioner, ProducerConfig};
use crate::sim::{Ctx, DeadlineId, Deadlines, NodeId, SimDuration, SimTime};

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
    /// How many records to send: the scenario's `records`, cut to those due before the safety
    /// phase ends (see [`records_due`]).
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
    /// The index of its `transactional.id` among the run's, when transactional.
    pub transactional_id: Option<u32>,
    /// Records per transaction.
    pub records_per_transaction: u64,
    /// Abort every n-th transaction (0: never).
    pub abort_every: u64,
    /// The Kafka producer configuration.
    pub config: ProducerConfig,
}

/// The time between two records of a workload of `rate_per_sec`.
fn record_interval(rate_per_sec: u64) -> SimDuration {
    SimDuration::from_micros(1_000_000 / rate_per_sec.max(1))
}

/// How many of a workload's `records`, made one every `1 / rate_per_sec` from `start_ms`, are
/// due before `end_ms`. The workload belongs to the safety phase: past it, the run heals and
/// settles, and a producer still making records would leave writes in flight when the final
/// reader reads, which the liveness checker would take for writes that never completed.
pub fn records_due(records: u64, rate_per_sec: u64, start_ms: u64, end_ms: u64) -> u64 {
    let span = end_ms.saturating_sub(start_ms).saturating_mul(1_000);
    match record_interval(rate_per_sec).as_micros() {
        // Over a million a second the clock's microsecond makes them all at once.
        0 if span > 0 => records,
        interval => records.min(span.div_ceil(interval.max(1))),
    }
}

/// A producer's timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProducerTimer {
    /// Time to hand the next record to the accumulator.
    NextRecord,
    /// Wake up to send: a batch lingered long enough, a retry backoff or a metadata refresh
    /// passed.
    Send,
    /// The earliest `request.timeout.ms` of the requests in flight is due.
    RequestTimeouts,
    /// The oldest batch's `delivery.timeout.ms` may be due.
    DeliveryTimeouts,
}

/// A batch being built or waiting to be sent.
#[derive(Clone, Debug)]
struct Batch {
    records: Vec<Record>,
    bytes: u64,
    created: SimTime,
    /// Closed to new records (full, lingered, or sent once).
    closed: bool,
    /// Whether it has been sent at least once (a failure after that is indefinite).
    sent: bool,
    /// Whether an attempt failed in a way that may have written it (a timeout, a lost
    /// connection, a leader that appended before losing leadership).
    maybe_written: bool,
    /// Not before this time (retry backoff).
    not_before: SimTime,
    attempts: u32,
    /// Idempotence: the producer id, epoch and sequence, from the first drain on.
    sequence: Option<BatchSequence>,
}

/// A produce request in flight.
#[derive(Clone, Debug)]
struct InFlight {
    broker: BrokerId,
    batches: Vec<(u32, Batch)>,
    deadline: DeadlineId,
}

/// The producer.
pub struct Producer {
    spec: ProducerSpec,
    names: Vec<Arc<str>>,
    next_record: u64,
    null_key: NullKeyPartitioner,
    /// The partition of each key `key-<i>`, computed once.
    key_partitions: Vec<u32>,
    /// The accumulator: batches per partition, oldest first; the last may still be open.
    queues: Vec<VecDeque<Batch>>,
    in_flight: BTreeMap<u64, InFlight>,
    /// `request.timeout.ms` of each request in flight, behind one timer.
    timeouts: Deadlines<u64>,
    /// In-flight requests per broker (`max.in.flight.requests.per.connection`).
    in_flight_per_broker: Vec<usize>,
    /// A reused buffer of which brokers a send finds ready (in flight under the limit).
    ready_scratch: Vec<bool>,
    /// The leader of each partition, as the last metadata said.
    leaders: Vec<Option<BrokerId>>,
    /// When metadata was last requested (a refresh waits `retry.backoff.ms` after it).
    metadata_requested_at: Option<SimTime>,
    /// Whether that request is unanswered.
    metadata_in_flight: bool,
    /// The one pending wake-up timer, if any: lingering, retries and refreshes share it.
    wakeup: Option<SimTime>,
    /// When the `DeliveryTimeouts` timer fires, if one is set: the oldest batch's expiry when
    /// it was set. One timer serves every batch, re-armed for the next oldest when it fires.
    expiry_wakeup: Option<SimTime>,
    next_correlation: u64,
    /// The idempotent producer's ids and sequences (none when idempotence is off).
    idempotence: Option<Idempotence>,
    /// The `InitProducerId` request in flight: its correlation id and broker node.
    init_in_flight: Option<(u64, NodeId)>,
    /// No `InitProducerId` before this time (`retry.backoff.ms` after a failed one).
    init_not_before: SimTime,
    /// The transactional producer's state (none without a `transactional.id`).
    txn: Option<transactional::TxnClient>,
    /// Records whose send failed for good (a pipeline that is not exactly-once must not commit
    /// its input past them).
    failed_sends: u64,
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
            key_partitions: (0..spec.keys)
                .map(|k| partition_for_key(format!("key-{k}").as_bytes(), spec.partitions))
                .collect(),
            queues: vec![VecDeque::new(); spec.partitions as usize],
            in_flight: BTreeMap::new(),
            timeouts: Deadlines::default(),
            in_flight_per_broker: vec![0; spec.brokers.len()],
            ready_scratch: Vec::new(),
            leaders: vec![None; spec.partitions as usize],
            metadata_requested_at: None,
            metadata_in_flight: false,
            wakeup: None,
            expiry_wakeup: None,
            next_correlation: 0,
            idempotence: spec
                .config
                .idempotence_enabled()
                .then(|| Idempotence::new(spec.partitions)),
            init_in_flight: None,
            init_not_before: SimTime::ZERO,
            txn: spec.transactional_id.map(transactional::TxnClient::new),
            failed_sends: 0,
        }
    }

    /// Starts the workload and asks for metadata. The workload is a source that makes a record
    /// every `1 / rate_per_sec`: a producer restarted after a crash resumes with the record the
    /// source makes next; what it made meanwhile, and what was in the accumulator, is gone.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.request_metadata(ctx);
        self.maybe_init_producer_id(ctx);
        self.txn_step(ctx);
        let start = SimTime::from_millis(self.spec.start_ms);
        let interval = self.interval().as_micros().max(1);
        // Records are due at `start + k * interval`; a restart resumes after the last one due.
        self.next_record = if ctx.now() > start {
            let elapsed = ctx.now().saturating_since(start).as_micros();
            (elapsed / interval + 1).min(self.spec.records)
        } else {
            0
        };
        if self.next_record < self.spec.records {
            let next = start + SimDuration::from_micros(self.next_record * interval);
            let after = next.saturating_since(ctx.now());
            ctx.set_timer(after, Timer::Producer(ProducerTimer::NextRecord));
        }
    }

    fn interval(&self) -> SimDuration {
        record_interval(self.spec.rate_per_sec)
    }

    /// Handles a timer.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: ProducerTimer) {
        match timer {
            ProducerTimer::NextRecord => {
                let ready = self.produce_one(ctx);
                if self.next_record < self.spec.records {
                    ctx.set_timer(self.interval(), Timer::Producer(ProducerTimer::NextRecord));
                }
                // A record sends nothing by itself until its batch is full or has lingered (a
                // wake-up is set for that): no need to look at every partition per record.
                if !ready {
                    return;
                }
            }
            ProducerTimer::Send => {
                if self.wakeup == Some(ctx.now()) {
                    self.wakeup = None;
                }
            }
            ProducerTimer::DeliveryTimeouts => {
                if self.expiry_wakeup == Some(ctx.now()) {
                    self.expiry_wakeup = None;
                    // `send_ready` fails what expired; then wait for the next oldest batch.
                    self.send_ready(ctx);
                    self.arm_delivery_timeouts(ctx);
                }
                return;
            }
            ProducerTimer::RequestTimeouts => {
                for correlation in self.timeouts.expired(ctx.now()) {
                    if let Some((_, _, node)) = self
                        .txn
                        .as_ref()
                        .and_then(|t| t.in_flight)
                        .filter(|(c, _, _)| *c == correlation)
                    {
                        // A timed-out request closes its connection (Kafka's NetworkClient),
                        // failing everything else in flight on it.
                        ctx.disconnect(node);
                        self.on_txn_request_lost(ctx, correlation);
                        self.fail_connection(ctx, node);
                    }
                    if let Some((_, node)) = self.init_in_flight.filter(|(c, _)| *c == correlation)
                    {
                        ctx.disconnect(node);
                        self.on_init_failed(ctx, KafkaError::RequestTimedOut);
                        self.fail_connection(ctx, node);
                    }
                    if let Some(flight) = self.take_in_flight(correlation) {
                        // Kafka's NetworkClient closes a connection whose request timed out:
                        // the broker drops what it still holds for it, and everything else in
                        // flight on it fails too.
                        let node = self.spec.brokers[flight.broker as usize];
                        ctx.disconnect(node);
                        for (partition, batch) in flight.batches {
                            self.on_failure(ctx, partition, batch, KafkaError::RequestTimedOut);
                        }
                        self.fail_connection(ctx, node);
                    }
                }
                self.arm_timeouts(ctx);
            }
        }
        self.send_ready(ctx);
    }

    /// Hands the next record to the accumulator; returns whether a batch may be sent now.
    fn produce_one(&mut self, ctx: &mut Ctx<'_, Node>) -> bool {
        if !self.accepts_records() {
            // A transaction is ending (or the producer has no id yet): the application waits.
            return false;
        }
        let n = self.next_record;
        self.next_record += 1;
        let key = (self.spec.keys > 0).then(|| (n % self.spec.keys) as u32);
        let id = RecordId {
            producer: self.spec.index,
            n: n as u32,
        };
        let ready = self.accumulate(ctx, id, key);
        if self.txn.is_some() {
            self.on_txn_record(ctx, id);
            return true;
        }
        ready
    }

    /// Partitions a record and appends it to its partition's open batch (or a new one); returns
    /// whether a batch may be sent now.
    fn accumulate(&mut self, ctx: &mut Ctx<'_, Node>, id: RecordId, key: Option<u32>) -> bool {
        let partition = match (self.spec.partition, key) {
            (Some(p), _) => p,
            (None, Some(k)) => self.key_partitions[k as usize],
            (None, None) => self.null_key.partition(self.spec.partitions, ctx.rng()),
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
        let queue = &mut self.queues[partition as usize];
        let new_batch = queue.back().is_none_or(|b| b.closed);
        if new_batch {
            queue.push_back(Batch {
                records: Vec::new(),
                bytes: 61,
                created: now,
                closed: false,
                sent: false,
                maybe_written: false,
                not_before: now,
                attempts: 0,
                sequence: None,
            });
        }
        let batch = queue.back_mut().expect("just ensured");
        batch.records.push(record);
        batch.bytes += u64::from(self.spec.record_bytes);
        let full = batch.bytes >= u64::from(self.spec.config.batch_size);
        if full {
            batch.closed = true;
            if key_less(&self.spec) {
                self.null_key
                    .on_batch_complete(self.spec.partitions, ctx.rng());
            }
        }
        let linger = millis(self.spec.config.linger_ms);
        if new_batch && !full && linger > SimDuration::ZERO {
            self.wake_at(ctx, now + linger);
        }
        full || linger == SimDuration::ZERO
    }

    /// Whether a partition's first batch may be sent now: closed, or open past `linger.ms`.
    fn sendable(&self, batch: &Batch, now: SimTime) -> bool {
        let lingered = now.saturating_since(batch.created) >= millis(self.spec.config.linger_ms);
        (batch.closed || lingered) && batch.not_before <= now
    }

    /// Drains batches into one request per ready broker, within the in-flight limit per
    /// connection, as Kafka's `RecordAccumulator` does: a broker is ready when the first batch
    /// of any partition it leads may be sent (full, lingered `linger.ms`, or retried after its
    /// backoff), and then the first batch of every partition it leads goes, lingered or not.
    /// Fails batches past `delivery.timeout.ms` first.
    fn send_ready(&mut self, ctx: &mut Ctx<'_, Node>) {
        let now = ctx.now();
        self.expire_batches(ctx);
        self.txn_step(ctx);
        if self.idempotence.is_some() && !self.prepare_idempotent_send(ctx) {
            return;
        }
        let mut per_broker: BTreeMap<BrokerId, Vec<(u32, Batch)>> = BTreeMap::new();
        let mut need_metadata = false;
        let mut next_wakeup: Option<SimTime> = None;
        let limit = self.spec.config.max_in_flight_requests_per_connection as usize;
        let mut ready = std::mem::take(&mut self.ready_scratch);
        ready.clear();
        ready.resize(self.in_flight_per_broker.len(), false);
        for partition in 0..self.spec.partitions {
            let Some(first) = self.queues[partition as usize].front() else {
                continue;
            };
            if !self.sendable(first, now) {
                let at = first
                    .not_before
                    .max(first.created + millis(self.spec.config.linger_ms));
                next_wakeup = Some(next_wakeup.map_or(at, |w| w.min(at)));
                continue;
            }
            match self.leaders[partition as usize] {
                Some(leader) if self.in_flight_per_broker[leader as usize] < limit => {
                    ready[leader as usize] = true;
                }
                Some(_) => {}
                None => need_metadata = true,
            }
        }
        for partition in 0..self.spec.partitions {
            let Some(first) = self.queues[partition as usize].front() else {
                continue;
            };
            let Some(leader) = self.leaders[partition as usize] else {
                continue;
            };
            if !ready[leader as usize] || first.not_before > now {
                continue;
            }
            if let Some(idem) = &self.idempotence
                && !idem.may_drain(partition, first.sequence.as_ref())
            {
                continue;
            }
            if !self.may_drain_transactional(partition) {
                continue;
            }
            let mut batch = self.queues[partition as usize]
                .pop_front()
                .expect("front exists");
            batch.closed = true;
            if batch.sequence.is_none()
                && let Some(idem) = &mut self.idempotence
            {
                batch.sequence = Some(idem.assign(partition, batch.records.len() as u64));
            }
            per_broker
                .entry(leader)
                .or_default()
                .push((partition, batch));
        }
        self.ready_scratch = ready;
        for (broker, batches) in per_broker {
            self.send_request(ctx, broker, batches);
        }
        if need_metadata {
            self.request_metadata(ctx);
        }
        if self.txn.as_ref().is_some_and(|t| !t.to_add.is_empty()) {
            self.txn_step(ctx);
        }
        if let Some(at) = next_wakeup {
            self.wake_at(ctx, at);
        }
    }

    /// Fails every queued batch whose `delivery.timeout.ms` has passed.
    fn expire_batches(&mut self, ctx: &mut Ctx<'_, Node>) {
        let now = ctx.now();
        let timeout = millis(self.spec.config.delivery_timeout_ms);
        for partition in 0..self.spec.partitions as usize {
            while let Some(first) = self.queues[partition].front()
                && now >= first.created + timeout
            {
                let batch = self.queues[partition].pop_front().expect("front exists");
                let definite = !batch.sent;
                if let (Some(idem), Some(sequence)) = (&mut self.idempotence, &batch.sequence) {
                    idem.on_expired(partition as u32, sequence);
                }
                self.fail(
                    ctx,
                    partition as u32,
                    &batch,
                    definite,
                    KafkaError::RequestTimedOut,
                );
                self.on_txn_batch_failed(ctx, KafkaError::RequestTimedOut);
            }
        }
        self.expire_in_flight(ctx);
    }

    fn send_request(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        broker: BrokerId,
        mut batches: Vec<(u32, Batch)>,
    ) {
        self.next_correlation += 1;
        let correlation = self.next_correlation;
        let config = &self.spec.config;
        let mut partitions = Vec::with_capacity(batches.len());
        for (partition, batch) in &mut batches {
            batch.sent = true;
            batch.attempts += 1;
            let tp = TopicPartition {
                topic: self.spec.topic,
                partition: *partition,
            };
            partitions.push((tp, record_batch(batch, self.txn.is_some())));
        }
        let request = Request::Produce {
            correlation,
            acks: config.acks,
            timeout_ms: config.request_timeout_ms,
            transactional_id: self.txn.as_ref().map(|t| t.txn),
            partitions,
        };
        ctx.send(self.spec.brokers[broker as usize], Msg::Request(request));
        if config.acks == Acks::None {
            // acks=0: nothing comes back; the records' fate is unknown.
            for (partition, batch) in &batches {
                self.fail(ctx, *partition, batch, false, KafkaError::NetworkException);
            }
            return;
        }
        let config = &self.spec.config;
        let deadline = self
            .timeouts
            .insert(ctx.now() + millis(config.request_timeout_ms), correlation);
        self.arm_timeouts(ctx);
        self.in_flight_per_broker[broker as usize] += 1;
        self.in_flight.insert(
            correlation,
            InFlight {
                broker,
                batches,
                deadline,
            },
        );
        self.arm_delivery_timeouts(ctx);
    }

    /// Sets the `DeliveryTimeouts` timer for the oldest batch in flight or queued, unless one
    /// is set (batches made later expire later; the timer re-arms when it fires).
    fn arm_delivery_timeouts(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.expiry_wakeup.is_some() {
            return;
        }
        let in_flight = self.in_flight.values().flat_map(|f| &f.batches);
        let queued = self.queues.iter().flatten();
        let oldest = in_flight
            .map(|(_, b)| b.created)
            .chain(queued.map(|b| b.created))
            .min();
        if let Some(created) = oldest {
            let at = (created + millis(self.spec.config.delivery_timeout_ms)).max(ctx.now());
            self.expiry_wakeup = Some(at);
            ctx.set_timer(
                at.saturating_since(ctx.now()),
                Timer::Producer(ProducerTimer::DeliveryTimeouts),
            );
        }
    }

    fn arm_timeouts(&mut self, ctx: &mut Ctx<'_, Node>) {
        if let Some(delay) = self.timeouts.timer_needed(ctx.now()) {
            ctx.set_timer(delay, Timer::Producer(ProducerTimer::RequestTimeouts));
        }
    }

    fn take_in_flight(&mut self, correlation: u64) -> Option<InFlight> {
        let flight = self.in_flight.remove(&correlation)?;
        self.timeouts.remove(flight.deadline);
        self.in_flight_per_broker[flight.broker as usize] -= 1;
        Some(flight)
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

    fn fail(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        partition: u32,
        batch: &Batch,
        definite: bool,
        error: KafkaError,
    ) {
        self.failed_sends += batch.records.len() as u64;
        let partition = self.names[partition as usize].clone();
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
            Response::InitProducerId {
                correlation,
                result,
            } => self.on_init_producer_id(ctx, correlation, result),
            Response::Produce {
                correlation,
                partitions,
            } => {
                let Some(broker) = self.in_flight.get(&correlation).map(|f| f.broker) else {
                    return;
                };
                if self
                    .in_flight
                    .range(..correlation)
                    .any(|(_, f)| f.broker == broker)
                {
                    // Kafka's NetworkClient: responses come back in request order on a
                    // connection; one overtaking an older request means something was lost, and
                    // the client closes the connection, failing everything in flight on it.
                    let node = self.spec.brokers[broker as usize];
                    ctx.observe(Obs::Note(format!(
                        "response {correlation} from broker-{broker} overtook an older request: \
                         closing the connection"
                    )));
                    ctx.disconnect(node);
                    self.fail_connection(ctx, node);
                    self.send_ready(ctx);
                    return;
                }
                let flight = self.take_in_flight(correlation).expect("looked up");
                for (partition, batch) in flight.batches {
                    // Expired batches left the request; the others answer by partition.
                    let Some(&(_, result)) =
                        partitions.iter().find(|(tp, _)| tp.partition == partition)
                    else {
                        continue;
                    };
                    match result {
                        Ok(base) => {
                            if let (Some(idem), Some(seq)) =
                                (&mut self.idempotence, &batch.sequence)
                            {
                                idem.on_completed(partition, seq);
                            }
                            self.acknowledge(ctx, flight.broker, partition, &batch, base)
                        }
                        Err(error) => self.on_failure(ctx, partition, batch, error),
                    }
                }
            }
            Response::Fetch { .. }
            | Response::OffsetsForLeaderEpoch { .. }
            | Response::ControllerAck { .. } => {}
        }
        self.send_ready(ctx);
    }

    /// Observes a batch's acknowledgement: runs of consecutive record ids, one line each.
    fn acknowledge(
        &self,
        ctx: &mut Ctx<'_, Node>,
        broker: BrokerId,
        partition: u32,
        batch: &Batch,
        base: u64,
    ) {
        let name = &self.names[partition as usize];
        let mut start = 0;
        for i in 1..=batch.records.len() {
            let run_ends =
                i == batch.records.len() || batch.records[i].id.n != batch.records[i - 1].id.n + 1;
            if run_ends {
                let id = batch.records[start].id;
                let (count, offset) = ((i - start) as u32, base + start as u64);
                ctx.observe(Obs::Ack {
                    id,
                    count,
                    partition: name.clone(),
                    offset,
                    broker,
                });
                start = i;
            }
        }
    }

    fn on_metadata(&mut self, partitions: Vec<PartitionState>) {
        self.metadata_in_flight = false;
        let known = |s: &PartitionState| {
            s.tp.topic == self.spec.topic && s.tp.partition < self.spec.partitions
        };
        for state in partitions.into_iter().filter(known) {
            let leader = state
                .leader
                .filter(|&l| (l as usize) < self.spec.brokers.len());
            self.leaders[state.tp.partition as usize] = leader;
        }
    }

    /// A send failed: retry it if allowed, else record its outcome.
    fn on_failure(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        partition: u32,
        mut batch: Batch,
        error: KafkaError,
    ) {
        // Kafka's client refreshes metadata after these (a timed-out request also closes its
        // connection).
        if matches!(
            error,
            KafkaError::NotLeaderOrFollower
                | KafkaError::NetworkException
                | KafkaError::RequestTimedOut
        ) {
            self.leaders[partition as usize] = None;
        }
        // These errors refuse the batch before the append.
        let refused = matches!(
            error,
            KafkaError::NotEnoughReplicas
                | KafkaError::OutOfOrderSequenceNumber
                | KafkaError::InvalidProducerEpoch
                | KafkaError::InvalidTxnState
                | KafkaError::InvalidProducerIdMapping
        );
        batch.maybe_written |= !refused;
        // A producer stopped by a fatal error retries nothing: its sends fail.
        let retries_left = batch.attempts <= self.spec.config.retries && !self.is_fatal();
        let retriable = match (&mut self.idempotence, &batch.sequence) {
            (Some(idem), Some(sequence)) => {
                retries_left && idem.can_retry(partition, sequence, error)
            }
            _ => retries_left && error.is_retriable(),
        };
        if let (Some(sequence), true) = (
            &batch.sequence,
            refused && error != KafkaError::NotEnoughReplicas,
        ) {
            ctx.observe(Obs::Note(format!(
                "{} {error} for epoch {} sequence {}: {}",
                self.names[partition as usize],
                sequence.id.epoch,
                sequence.wire_sequence(),
                if retriable {
                    "retrying"
                } else {
                    "failing the batch"
                }
            )));
        }
        if retriable {
            batch.not_before = ctx.now() + millis(self.spec.config.retry_backoff_ms);
            // Back in record order, ahead of newer batches: several batches failing together
            // (a closed connection) keep their order.
            let queue = &mut self.queues[partition as usize];
            let first = batch.records[0].id;
            let at = queue
                .iter()
                .position(|b| b.records[0].id > first)
                .unwrap_or(queue.len());
            queue.insert(at, batch);
            return;
        }
        if let (Some(idem), Some(sequence)) = (&mut self.idempotence, &batch.sequence) {
            idem.on_failed(partition, sequence, error, retries_left);
        }
        // Only a refusal before the append is certain, if no earlier attempt may have written it.
        let definite = refused && !batch.maybe_written;
        self.fail(ctx, partition, &batch, definite, error);
        self.on_txn_batch_failed(ctx, error);
    }

    /// Asks a broker for metadata, at most once per `retry.backoff.ms` (and while an answer is
    /// awaited, only once its `request.timeout.ms` passed).
    fn request_metadata(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.spec.brokers.is_empty() {
            return;
        }
        let now = ctx.now();
        let config = &self.spec.config;
        // An unanswered metadata request is given up after the connection setup timeout, as a
        // broker that does not answer a connection attempt would be.
        let wait = if self.metadata_in_flight {
            config
                .request_timeout_ms
                .min(SOCKET_CONNECTION_SETUP_TIMEOUT_MS)
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
        self.wake_at(ctx, now + millis(config.retry_backoff_ms.max(1)));
    }

    /// A broker connection closed: its requests failed with a network error.
    pub fn on_connection_closed(&mut self, ctx: &mut Ctx<'_, Node>, peer: NodeId) {
        self.on_txn_connection_closed(ctx, peer);
        self.fail_connection(ctx, peer);
        self.send_ready(ctx);
    }

    /// Fails what was in flight on the connection to `peer` with a network error.
    fn fail_connection(&mut self, ctx: &mut Ctx<'_, Node>, peer: NodeId) {
        self.metadata_in_flight = false;
        if self.init_in_flight.is_some_and(|(_, node)| node == peer) {
            self.on_init_failed(ctx, KafkaError::NetworkException);
        }
        // Partitions led by that broker need fresh metadata, even with nothing in flight (acks=0).
        for leader in &mut self.leaders {
            if leader.is_some_and(|l| self.spec.brokers[l as usize] == peer) {
                *leader = None;
            }
        }
        let lost: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| self.spec.brokers[f.broker as usize] == peer)
            .map(|(&c, _)| c)
            .collect();
        for correlation in lost {
            let flight = self.take_in_flight(correlation).expect("listed");
            for (partition, batch) in flight.batches.into_iter().rev() {
                self.on_failure(ctx, partition, batch, KafkaError::NetworkException);
            }
        }
    }
}

/// The wire batch of a producer batch, marked transactional for a transactional producer.
fn record_batch(batch: &Batch, transactional: bool) -> RecordBatch {
    let (producer_id, producer_epoch, base_sequence) = batch
        .sequence
        .map_or((NO_PRODUCER_ID, NO_PRODUCER_EPOCH, NO_SEQUENCE), |s| {
            (s.id.producer_id, s.id.epoch, s.wire_sequence())
        });
    RecordBatch {
        base_offset: 0,
        partition_leader_epoch: 0,
        producer_id,
        producer_epoch,
        base_sequence,
        transactional,
        control: None,
        max_timestamp_ms: batch.created.as_millis(),
        records: batch.records.as_slice().into(),
    }
}

fn key_less(spec: &ProducerSpec) -> bool {
    spec.keys == 0 && spec.partition.is_none()
}

#[cfg(test)]
mod tests {
    use super::records_due;

    #[test]
    fn records_due_before_the_end_exclude_one_due_at_it() {
        // One every 5 ms from 0: 0, 5, 10, 15 and 20 are due before 25; 25 is not.
        assert_eq!(records_due(100, 200, 0, 25), 5);
        assert_eq!(records_due(100, 200, 0, 26), 6);
        assert_eq!(records_due(100, 200, 10, 26), 4);
        // Never more than the workload has.
        assert_eq!(records_due(3, 200, 0, 10_000), 3);
        assert_eq!(records_due(0, 200, 0, 10_000), 0);
        // Faster than one a microsecond: every record is due at the start.
        assert_eq!(records_due(5_000_000, 2_000_000, 0, 1), 5_000_000);
        assert_eq!(records_due(5, 2_000_000, 10, 10), 0);
    }
}

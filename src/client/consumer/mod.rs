//! The consumer: one group member of a `[[consumer]]` entry (node `<name>-<i>`), Kafka's
//! `KafkaConsumer` with its `ConsumerCoordinator` and `Fetcher`, and the application around it
//! that polls, processes each record for a drawn `processing_ms` and commits by its policy:
//!
//! - `auto` (`enable.auto.commit`): every `auto.commit.interval.ms` a poll commits the positions
//!   the previous poll returned (asynchronously), and a rebalance commits before revoking;
//! - `after-processing`: `commitSync` after processing a poll's records (at-least-once);
//! - `before-processing`: `commitSync` of the poll's end before processing (at-most-once).
//!
//! The member finds its coordinator, joins (the leader runs the assignor on everyone's
//! subscription), syncs, heartbeats every `heartbeat.interval.ms`, rejoins when told (eager
//! protocols revoke everything first; `cooperative-sticky` revokes only what moves, then rejoins,
//! and keeps returning records of the partitions it owns while it rejoins — KIP-429; a commit
//! outside a stable generation fails at once with `REBALANCE_IN_PROGRESS`, as Kafka's client's)
//! and leaves when the application has not polled within `max.poll.interval.ms`. Positions start
//! at the committed offsets or by `auto.offset.reset`; fetches long-poll partition leaders, carry
//! the leader epoch, and a position is validated after a leader change or when it comes from a
//! committed offset with a leader epoch (KIP-320, `validate`).
//!
//! Fault model: a killed consumer restarts as a new member (or as the same static member) and
//! resumes from committed offsets; a paused one is a zombie until it hears otherwise. An
//! exception `poll()` throws (`LogTruncationException`, `NoOffsetForPartitionException`) ends
//! the application, which exits without closing the consumer. Left out: consumer interceptors,
//! pattern subscriptions, incremental fetch sessions and rack awareness. A poll's records count
//! as processed when the whole poll is processed. A pipeline's consumer hands its polls to the
//! pipeline's application instead (see `handoff`); `read_committed` members fetch up to the last
//! stable offset, drop aborted records, and ask for committed offsets with `require_stable`
//! (KIP-447).

mod app;
mod fetch;
mod handoff;
mod membership;
mod obs;
mod validate;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

pub use handoff::Polled;
pub use obs::ConsumerObs;

use crate::node::{Msg, Node, Obs, Timer, millis};
use crate::protocol::consumer::{CommittedOffset, NO_GENERATION};
use crate::protocol::{BrokerId, ConsumerResponse, KafkaError, Response, TopicPartition};
use crate::record::RecordId;
use crate::scenario::{CommitPolicy, ConsumerConfig};
use crate::sim::{Ctx, NodeId, SimTime};

/// How often the consumer's housekeeping runs: heartbeats, request timeouts, retries.
const TICK_MS: u64 = 100;
/// `retry.backoff.ms`: the wait before asking again after an error.
const RETRY_BACKOFF_MS: u64 = 100;
/// `metadata.max.age.ms` is 5 minutes in Kafka; a consumer also refreshes on every error.
const METADATA_MAX_AGE_MS: u64 = 300_000;

/// One consumer instance's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerSpec {
    /// The node name, also `client.id` (and `group.instance.id` when static).
    pub name: Arc<str>,
    /// The group.
    pub group: Arc<str>,
    /// Subscribed topics, by topic index.
    pub topics: Vec<u32>,
    /// Every topic's name, by topic index.
    pub topic_names: Vec<String>,
    /// Every topic's partition count, by topic index.
    pub partitions: Vec<u32>,
    /// Brokers' nodes, by broker id.
    pub brokers: Vec<NodeId>,
    /// When offsets are committed.
    pub commit: CommitPolicy,
    /// Processing time per record, drawn uniformly in ms.
    pub processing_ms: (u64, u64),
    /// Whether the member is static (`group.instance.id` = its name).
    pub static_membership: bool,
    /// When the instance starts.
    pub start_ms: u64,
    /// `[consumer.config]`.
    pub config: ConsumerConfig,
    /// Whether the client validates its positions after leader changes (KIP-320, Kafka ≥ 2.1:
    /// the `kip-279` replication protocol's era).
    pub validate_positions: bool,
    /// A pipeline's consumer: each poll's records go to the pipeline's application (see
    /// [`Consumer::take_polled`]), which processes, produces and commits them itself.
    pub hand_off: bool,
}

/// A consumer's timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerTimer {
    /// The start time came.
    Start,
    /// Housekeeping.
    Tick,
    /// The poll numbered so finished processing.
    Processed(u64),
}

/// What the application is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
enum App {
    /// Not started.
    Idle,
    /// Inside `poll()`, waiting for records or the group.
    Polling,
    /// Processing the records of poll `seq`.
    Processing { seq: u64, records: Vec<Polled> },
    /// Inside `commitSync()`; then process the records, or poll again.
    Committing { then_process: Option<Vec<Polled>> },
    /// A pipeline's application has the poll's records (and has not polled again yet).
    HandedOff,
    /// Stopped for good: a fenced static member, or `poll()` threw an exception the
    /// application does not handle (`LogTruncationException`, `NoOffsetForPartitionException`)
    /// and it exited without closing the consumer.
    Failed,
}

/// One request in flight.
#[derive(Clone, Debug)]
struct InFlight {
    broker: BrokerId,
    deadline: SimTime,
    kind: Kind,
}

/// What a request in flight was for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Metadata,
    FindCoordinator,
    Join,
    Sync,
    Heartbeat,
    Leave,
    /// A commit: synchronous (the application waits) or not, and its offsets.
    Commit {
        sync: bool,
        offsets: Vec<(TopicPartition, CommittedOffset)>,
        generation: i32,
    },
    OffsetFetch(Vec<TopicPartition>),
    ListOffsets(Vec<TopicPartition>),
    Fetch(Vec<(TopicPartition, u64)>),
    /// `OffsetsForLeaderEpoch` validating the position of a partition after a leader change.
    Validate(TopicPartition, u64),
}

/// The fetch state of one assigned partition.
#[derive(Clone, Debug, Default)]
struct Assigned {
    /// The next offset to return to the application; `None` until known.
    position: Option<u64>,
    /// Records fetched and not yet returned: (offset, record, leader epoch of its batch).
    buffer: VecDeque<(u64, RecordId, u32)>,
    /// The leader epoch of the record before the position (KIP-320's offset epoch); unknown
    /// after a seek.
    position_epoch: Option<u32>,
    /// The partition leader epoch the position was last known valid under.
    validated_epoch: Option<u32>,
    /// Metadata showed a newer leader epoch: validate the position before fetching (KIP-320).
    validating: bool,
    /// A fetch, `OffsetFetch` or `ListOffsets` for it is in flight.
    busy: bool,
    /// `auto.offset.reset = none` found no offset: never fetched.
    failed: bool,
}

/// Where the member is in the group protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MemberState {
    Unjoined,
    Joining,
    Syncing,
    Stable,
}

/// A consumer instance.
pub struct Consumer {
    spec: ConsumerSpec,
    app: App,
    next_correlation: u64,
    in_flight: BTreeMap<u64, InFlight>,
    leaders: BTreeMap<TopicPartition, BrokerId>,
    /// The partition leaders' epochs from metadata.
    leader_epochs: BTreeMap<TopicPartition, u32>,
    metadata_at: Option<SimTime>,
    coordinator: Option<BrokerId>,
    /// When to ask for the coordinator again at the earliest.
    coordinator_retry_at: SimTime,
    state: MemberState,
    /// A fatal group error (Kafka's client throws it to the application): the consumer stops.
    fatal: Option<KafkaError>,
    member_id: Arc<str>,
    generation: i32,
    /// The generation whose assignment gave the member the partitions it owns: a cooperative
    /// member polling while it rejoins still owns them by that generation, not the forming one.
    owned_generation: i32,
    rejoin_needed: bool,
    /// The assignor of the generation.
    protocol: Option<crate::group::assignor::Strategy>,
    /// Partitions owned, with their fetch state.
    assigned: BTreeMap<TopicPartition, Assigned>,
    /// Partitions owned before an eager revocation (the sticky assignor's user data).
    previous: Vec<TopicPartition>,
    heartbeat_at: SimTime,
    /// When `poll()` last returned (the start of `max.poll.interval.ms`).
    last_poll: SimTime,
    next_auto_commit: SimTime,
    poll_seq: u64,
    /// Where the next poll starts among the partitions (fairness).
    rotation: usize,
    names: BTreeMap<TopicPartition, Arc<str>>,
    /// A `commitSync` failed retriably and is sent again once the coordinator is known.
    retry_commit: bool,
    /// An exception the fetcher hit, thrown by the application's next `poll()`.
    poll_exception: Option<String>,
    /// No `OffsetFetch` before this time (`retry.backoff.ms` after a failed one).
    offset_fetch_not_before: SimTime,
    /// A poll's records waiting for a pipeline's application, with the offsets after them.
    polled: Option<handoff::HandedOff>,
}

impl Consumer {
    /// A consumer not yet started.
    pub fn new(spec: &ConsumerSpec) -> Consumer {
        let mut names = BTreeMap::new();
        for &t in &spec.topics {
            for p in 0..spec.partitions[t as usize] {
                let tp = TopicPartition {
                    topic: t,
                    partition: p,
                };
                let name = format!("{}-{p}", spec.topic_names[t as usize]);
                names.insert(tp, Arc::from(name));
            }
        }
        Consumer {
            spec: spec.clone(),
            app: App::Idle,
            next_correlation: 0,
            in_flight: BTreeMap::new(),
            leaders: BTreeMap::new(),
            leader_epochs: BTreeMap::new(),
            metadata_at: None,
            coordinator: None,
            coordinator_retry_at: SimTime::ZERO,
            state: MemberState::Unjoined,
            fatal: None,
            member_id: Arc::from(""),
            generation: NO_GENERATION,
            owned_generation: NO_GENERATION,
            rejoin_needed: true,
            protocol: None,
            assigned: BTreeMap::new(),
            previous: Vec::new(),
            heartbeat_at: SimTime::ZERO,
            last_poll: SimTime::ZERO,
            next_auto_commit: SimTime::ZERO,
            poll_seq: 0,
            rotation: 0,
            names,
            retry_commit: false,
            poll_exception: None,
            offset_fetch_not_before: SimTime::ZERO,
            polled: None,
        }
    }

    /// Waits for the start time.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        let after = SimTime::from_millis(self.spec.start_ms).saturating_since(ctx.now());
        ctx.set_timer(after, Timer::Consumer(ConsumerTimer::Start));
    }

    /// Handles a timer.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: ConsumerTimer) {
        match timer {
            ConsumerTimer::Start => {
                self.app = App::Polling;
                self.last_poll = ctx.now();
                self.next_auto_commit =
                    ctx.now() + millis(self.spec.config.auto_commit_interval_ms);
                ctx.set_timer(millis(TICK_MS), Timer::Consumer(ConsumerTimer::Tick));
            }
            // An application that exited runs nothing more: no heartbeats, no requests.
            ConsumerTimer::Tick if self.app == App::Failed => {}
            ConsumerTimer::Tick => {
                self.housekeeping(ctx);
                ctx.set_timer(millis(TICK_MS), Timer::Consumer(ConsumerTimer::Tick));
            }
            ConsumerTimer::Processed(seq) => self.processed(ctx, seq),
        }
        self.drive(ctx);
    }

    /// Request timeouts, metadata age, heartbeats and the poll timeout.
    fn housekeeping(&mut self, ctx: &mut Ctx<'_, Node>) {
        let now = ctx.now();
        let expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(c, _)| *c)
            .collect();
        for correlation in expired {
            if let Some(request) = self.in_flight.remove(&correlation) {
                self.failed_request(ctx, request, KafkaError::RequestTimedOut);
            }
        }
        if self
            .metadata_at
            .is_none_or(|at| now.saturating_since(at) >= millis(METADATA_MAX_AGE_MS))
        {
            self.request_metadata(ctx);
        }
        self.maybe_heartbeat(ctx);
        self.check_poll_timeout(ctx);
    }

    /// Handles a response.
    pub fn on_response(&mut self, ctx: &mut Ctx<'_, Node>, response: Response) {
        let correlation = match &response {
            Response::Metadata { correlation, .. }
            | Response::Fetch { correlation, .. }
            | Response::OffsetsForLeaderEpoch { correlation, .. } => *correlation,
            _ => return self.drive(ctx),
        };
        let Some(request) = self.in_flight.remove(&correlation) else {
            return self.drive(ctx);
        };
        match response {
            Response::Metadata { partitions, .. } => self.on_metadata(partitions),
            Response::Fetch { partitions, .. } => self.on_fetched(ctx, request, partitions),
            Response::OffsetsForLeaderEpoch { result, .. } => {
                self.on_validated(ctx, request.kind, result)
            }
            _ => {}
        }
        self.drive(ctx);
    }

    /// Handles the answer to a consumer request.
    pub fn on_consumer_response(&mut self, ctx: &mut Ctx<'_, Node>, response: ConsumerResponse) {
        let Some(request) = self.in_flight.remove(&response.correlation()) else {
            return;
        };
        match response {
            ConsumerResponse::FindCoordinator { result, .. } => match result {
                Ok(broker) if (broker as usize) < self.spec.brokers.len() => {
                    self.coordinator = Some(broker)
                }
                _ => self.coordinator_retry_at = ctx.now() + millis(RETRY_BACKOFF_MS),
            },
            ConsumerResponse::JoinGroup {
                result, member_id, ..
            } => self.on_joined(ctx, result, member_id),
            ConsumerResponse::SyncGroup { result, .. } => self.on_synced(ctx, result),
            ConsumerResponse::Heartbeat { error, .. } => self.on_heartbeat(ctx, error),
            ConsumerResponse::LeaveGroup { .. } => {}
            ConsumerResponse::OffsetCommit { result, .. } => {
                self.on_committed(ctx, request.kind, result)
            }
            ConsumerResponse::OffsetFetch { result, .. } => {
                self.on_offsets_fetched(ctx, request, result)
            }
            // The transaction manager's (a pipeline's producer), never the consumer's.
            ConsumerResponse::TxnOffsetCommit { .. } => {}
            ConsumerResponse::ListOffsets { partitions, .. } => {
                self.on_list_offsets(ctx, partitions)
            }
        }
        self.drive(ctx);
    }

    /// A broker connection closed: what was in flight to it is lost.
    pub fn on_connection_closed(&mut self, ctx: &mut Ctx<'_, Node>, peer: NodeId) {
        if self.app == App::Failed {
            return;
        }
        let Some(broker) = self.spec.brokers.iter().position(|&n| n == peer) else {
            return;
        };
        let lost: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.broker as usize == broker)
            .map(|(c, _)| *c)
            .collect();
        for correlation in lost {
            if let Some(request) = self.in_flight.remove(&correlation) {
                self.failed_request(ctx, request, KafkaError::NetworkException);
            }
        }
        if self.coordinator == Some(broker as BrokerId) {
            self.coordinator_unknown(ctx);
        }
        self.drive(ctx);
    }

    /// A request ended without an answer.
    fn failed_request(&mut self, ctx: &mut Ctx<'_, Node>, request: InFlight, error: KafkaError) {
        match request.kind {
            Kind::Metadata => {}
            Kind::Fetch(parts) => {
                for (tp, _) in parts {
                    if let Some(a) = self.assigned.get_mut(&tp) {
                        a.busy = false;
                    }
                }
                self.request_metadata(ctx);
            }
            Kind::Validate(tp, _) => {
                if let Some(a) = self.assigned.get_mut(&tp) {
                    a.busy = false;
                }
                self.request_metadata(ctx);
            }
            Kind::OffsetFetch(parts) | Kind::ListOffsets(parts) => {
                for tp in parts {
                    if let Some(a) = self.assigned.get_mut(&tp) {
                        a.busy = false;
                    }
                }
                self.request_metadata(ctx);
            }
            Kind::FindCoordinator => {}
            Kind::Join | Kind::Sync => {
                self.state = MemberState::Unjoined;
                self.rejoin_needed = true;
                self.coordinator_unknown(ctx);
            }
            Kind::Heartbeat | Kind::Leave => self.coordinator_unknown(ctx),
            kind @ Kind::Commit { .. } => {
                self.coordinator_unknown(ctx);
                self.on_committed(ctx, kind, Err(error));
            }
        }
    }

    fn correlation(&mut self) -> u64 {
        self.next_correlation += 1;
        self.next_correlation
    }

    /// Sends a Kafka request to `broker`, tracked until answered or timed out.
    fn send(&mut self, ctx: &mut Ctx<'_, Node>, broker: BrokerId, msg: Msg, kind: Kind) {
        let correlation = match &msg {
            Msg::Request(r) => request_correlation(r),
            Msg::Consumer(r) => r.correlation(),
            _ => return,
        };
        let deadline = ctx.now() + millis(self.spec.config.request_timeout_ms);
        self.in_flight.insert(
            correlation,
            InFlight {
                broker,
                deadline,
                kind,
            },
        );
        ctx.send(self.spec.brokers[broker as usize], msg);
    }

    /// Whether a request of this kind is in flight.
    fn in_flight_kind(&self, pred: impl Fn(&Kind) -> bool) -> bool {
        self.in_flight.values().any(|f| pred(&f.kind))
    }

    /// Moves the application along as far as it can go now.
    fn drive(&mut self, ctx: &mut Ctx<'_, Node>) {
        if matches!(self.app, App::Idle | App::Failed) {
            return;
        }
        self.ensure_coordinator(ctx);
        self.send_fetches(ctx);
        if self.retry_commit
            && matches!(self.app, App::Committing { .. })
            && self.coordinator.is_some()
            && !self.in_flight_kind(|k| matches!(k, Kind::Commit { sync: true, .. }))
        {
            self.retry_commit = false;
            self.commit(ctx, true);
        }
        if self.app != App::Polling {
            return;
        }
        if let Some(exception) = self.poll_exception.take() {
            return self.exit_application(ctx, &exception);
        }
        self.last_poll = ctx.now();
        if self.coordinator.is_none() || self.fatal.is_some() {
            return;
        }
        if self.rejoin_needed && self.state == MemberState::Stable
            || self.state == MemberState::Unjoined
        {
            if self.commit_before_rebalance(ctx) {
                return;
            }
            self.join(ctx);
        }
        match self.state {
            MemberState::Stable => {
                self.init_positions(ctx);
                self.maybe_auto_commit(ctx);
            }
            // KIP-429: a cooperative member keeps consuming the partitions it still owns while
            // it rejoins; an eager one revoked them all before joining.
            MemberState::Joining | MemberState::Syncing if self.cooperative() => {}
            MemberState::Joining | MemberState::Syncing | MemberState::Unjoined => return,
        }
        self.send_fetches(ctx);
        let records = self.take_records(ctx);
        if records.is_empty() {
            return;
        }
        self.poll_seq += 1;
        if self.spec.hand_off {
            // The offsets after the poll's records: its positions now (a read_committed poll
            // may pass over markers and aborted records past its last record).
            let ends = records
                .iter()
                .filter_map(|p| Some((p.tp, self.assigned.get(&p.tp)?.position?)))
                .collect();
            self.app = App::HandedOff;
            self.polled = Some((records, ends));
            return;
        }
        match self.spec.commit {
            CommitPolicy::BeforeProcessing => {
                self.app = App::Committing {
                    then_process: Some(records),
                };
                self.commit(ctx, true);
            }
            CommitPolicy::AfterProcessing | CommitPolicy::Auto => self.process(ctx, records),
        }
    }

    /// `poll()` threw `exception` and the application, with no handler for it, exits without
    /// closing the consumer: it stops polling, committing and heartbeating and sends no
    /// LeaveGroup, so the coordinator removes the member once its session times out, as after a
    /// crash.
    fn exit_application(&mut self, ctx: &mut Ctx<'_, Node>, exception: &str) {
        ctx.observe(Obs::Note(format!(
            "group {}: poll() threw {exception}: the application exits without closing the \
             consumer (no more polls, commits or heartbeats)",
            self.spec.group
        )));
        self.app = App::Failed;
        self.in_flight.clear();
        self.retry_commit = false;
    }

    /// The group's name, for inspection.
    pub fn group(&self) -> &str {
        &self.spec.group
    }
}

fn request_correlation(request: &crate::protocol::Request) -> u64 {
    match request {
        crate::protocol::Request::Metadata { correlation }
        | crate::protocol::Request::Fetch { correlation, .. }
        | crate::protocol::Request::OffsetsForLeaderEpoch { correlation, .. } => *correlation,
        _ => 0,
    }
}

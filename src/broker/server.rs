//! The broker process: registration and controller election through the metadata service,
//! `LeaderAndIsr`/`UpdateMetadata` from the controller, `Produce` with acks and the produce
//! purgatory, replica `Fetch` long-polls, `OffsetsForLeaderEpoch`, the follower fetch loop with
//! the configured truncation protocol, the ISR shrink check and the HW checkpoint.
//!
//! Durable: the partition logs and the HW checkpoint on disk. Volatile: everything else,
//! rebuilt on restart from the disk and from the controller's next `LeaderAndIsr`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::controller::Controller;
use super::partition::{FollowerPhase, Partition, Role};
use super::spec::BrokerSpec;
use crate::log::{PartitionLog, decode_offset_checkpoint, encode_offset_checkpoint};
use crate::node::{Msg, Node, Obs, Timer, millis, push_disk_ops};
use crate::protocol::{BrokerId, KafkaError, PartitionState, Request, TopicPartition};
use crate::sim::{Ctx, DeadlineId, Deadlines, DiskOp, NodeId, SimDuration, SimTime};
use crate::zk::{ZkClient, ZkToClient};

/// A broker's timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerTimer {
    /// Keep the metadata-service session alive.
    ZkPing,
    /// Two thirds of the session timeout since the metadata service last answered may be up.
    ZkReadTimeout,
    /// Write the HW checkpoint (`replica.high.watermark.checkpoint.interval.ms`).
    HwCheckpoint,
    /// The ISR shrink check (every `replica.lag.time.max.ms / 2`).
    IsrShrink,
    /// The earliest of the broker's deadlines (produce timeouts, long polls, follower
    /// requests) is due.
    Deadlines,
    /// Fetch again after `replica.fetch.backoff.ms`.
    FetchRetry(TopicPartition),
    /// The retention check (`log.retention.check.interval.ms`).
    RetentionCheck,
    /// Resend controller requests that were not acknowledged.
    ControllerResend,
    /// The group coordinator has something due (sessions, rebalances, loads).
    GroupCoordinator,
    /// The transaction coordinator has something due (timeouts, loads, marker retries).
    TxnCoordinator,
}

/// The file holding every partition's checkpointed high watermark.
pub const HW_CHECKPOINT: &str = "replication-offset-checkpoint";

/// Why the broker asked the metadata service something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkTag {
    /// Creating a persistent path that may already exist.
    EnsurePath,
    /// Registering `/brokers/ids/<id>`.
    Register,
    /// Watching a registration left by this broker's previous session, to register once it
    /// expires (as a restarted Kafka broker retries until the old ephemeral is gone).
    WatchOldRegistration,
    /// Trying to become controller.
    ElectController,
    /// Watching `/controller`.
    WatchController,
    /// A controller request.
    Controller(super::controller::Tag),
    /// Re-reading a partition's state after a refused or lost ISR update.
    IsrReread {
        /// The partition.
        tp: TopicPartition,
        /// The leader epoch of the write.
        epoch: u32,
    },
    /// A step of a producer id block claim.
    ProducerIdBlock(super::producer_ids::ProducerIdTag),
    /// A leader's conditional ISR update.
    IsrWrite {
        /// The partition.
        tp: TopicPartition,
        /// The leader epoch it was proposed in.
        epoch: u32,
        /// The proposed ISR.
        isr: Vec<BrokerId>,
    },
}

/// What a broker deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Deadline {
    /// An acks=all produce's `timeout_ms`.
    Produce(u64),
    /// A long-polling fetch's `max_wait_ms`.
    FetchWake(u64),
    /// A follower epoch query's socket timeout.
    Follower(TopicPartition, u64),
    /// The socket timeout of the fetch to a leader broker, by its correlation id.
    Fetcher(BrokerId, u64),
}

/// The fetch in flight from this broker to one leader broker (its replica fetcher's).
#[derive(Clone, Debug)]
pub(super) struct ReplicaFetch {
    pub correlation: u64,
    pub deadline: DeadlineId,
    /// The partitions it asked for, with the offsets and epochs it asked in, by partition.
    pub sent: Vec<crate::protocol::FetchPartition>,
}

/// A produce request waiting for the HW (the produce purgatory).
#[derive(Clone, Debug)]
pub(super) struct PendingProduce {
    pub id: u64,
    pub client: NodeId,
    pub correlation: u64,
    /// The request's acks.
    pub acks: crate::scenario::Acks,
    /// The outcome per partition, in request order (settled ones are final).
    pub results: Vec<(TopicPartition, Result<u64, KafkaError>)>,
    /// Partitions still waiting for the HW.
    pub waiting: Vec<super::purgatory::Waiting>,
    /// Batches waiting for their transaction's verification (KIP-890).
    pub verifying: super::verification::Verifying,
    /// Its timeout.
    pub deadline: Option<DeadlineId>,
    /// It came on a connection its client had already closed: it holds no connection and its
    /// answer goes nowhere.
    pub orphan: bool,
}

/// A fetch waiting for data (the fetch purgatory's long poll).
#[derive(Clone, Debug)]
pub(super) struct PendingFetch {
    pub id: u64,
    pub deadline: DeadlineId,
    pub from: NodeId,
    pub request: Request,
}

/// A broker.
pub struct Broker {
    pub(super) id: BrokerId,
    pub(super) spec: BrokerSpec,
    pub(super) zk: ZkClient<ZkTag>,
    /// Whether `/brokers/ids/<id>` is registered in the current session.
    pub(super) registered: bool,
    /// Volatile: replicas this broker holds, by partition (and which a handler changed).
    pub(super) partitions: super::replicas::Replicas,
    /// Volatile: the highest controller epoch seen (fences zombie controllers).
    pub(super) controller_epoch: u32,
    /// Volatile: the controller, as last heard.
    pub(super) controller_id: Option<BrokerId>,
    /// Volatile: set while this broker is the controller.
    pub(super) controller: Option<Box<Controller>>,
    /// Volatile: partition states from `UpdateMetadata`.
    pub(super) metadata: BTreeMap<TopicPartition, PartitionState>,
    /// Volatile: live brokers from `UpdateMetadata`.
    pub(super) live_brokers: Vec<BrokerId>,
    pub(super) produces: Vec<PendingProduce>,
    /// Volatile: set while serving a request whose connection its client closed before it
    /// arrived.
    pub(super) serving_drained: bool,
    /// Volatile: KIP-890 verifications asked of transaction coordinators.
    pub(super) verifications: super::verification::Verifications,
    pub(super) fetches: Vec<PendingFetch>,
    /// Volatile: a reused buffer of a follower fetch's partitions and offsets.
    pub(super) fetch_offsets_scratch: Vec<(TopicPartition, u64)>,
    /// Volatile: a reused buffer of which partitions of a fetch are caught up (with the HW a
    /// follower takes from them).
    pub(super) caught_up_scratch: Vec<Option<u64>>,
    /// Volatile: a reused buffer of the waiting fetches an append or a HW move may complete.
    pub(super) waking_scratch: Vec<u64>,
    /// Volatile: a reused buffer of one append's disk operations (emptied into the effects by
    /// [`crate::node::drain_disk_ops`]).
    pub(super) disk_ops_scratch: Vec<DiskOp>,
    /// Volatile: requests waiting behind the one in service, per connection.
    pub(super) queued: super::connections::Queued,
    pub(super) next_id: u64,
    /// Volatile: every timeout, behind one armed timer.
    pub(super) deadlines: Deadlines<Deadline>,
    /// Volatile: the timeout of each partition's epoch query in flight.
    pub(super) follower_deadlines: BTreeMap<TopicPartition, DeadlineId>,
    /// Volatile: the fetch in flight to each leader broker, at most one.
    pub(super) replica_fetchers: BTreeMap<BrokerId, ReplicaFetch>,
    /// Volatile: the peers that have answered on the connection to them since it last closed;
    /// a request to any other is also a connection attempt.
    pub(super) answered_by: BTreeSet<NodeId>,
    /// Volatile: while controller, the request queue to each broker.
    pub(super) channels: BTreeMap<BrokerId, super::channel::Channel>,
    /// Whether the resend timer is armed.
    pub(super) resend_armed: bool,
    /// Whether the metadata-service connection was lost since the watches were last re-read.
    pub(super) zk_resync: bool,
    /// Volatile: when the metadata service last answered (or the connection was started over).
    pub(super) zk_heard_at: SimTime,
    /// Volatile: whether a `ZkReadTimeout` timer is armed.
    pub(super) zk_read_check: bool,
    /// Volatile: producer ids for `InitProducerId`.
    pub(super) producer_ids: super::producer_ids::ProducerIdManager,
    /// Volatile: the group coordinator, when the run has consumer groups.
    pub(super) groups: Option<crate::group::coordinator::GroupCoordinator>,
    /// Volatile: when the coordinator's timer is armed for.
    pub(super) group_timer_at: Option<SimTime>,
    /// Volatile: the transaction coordinator and markers in flight.
    pub(super) txn: super::transactions::TxnHost,
}

impl Broker {
    /// A broker about to start; `on_start` recovers its logs from the disk.
    pub fn boot(_node: NodeId, spec: &BrokerSpec, _disk: &crate::disk::Disk) -> Broker {
        Broker {
            id: spec.id,
            spec: spec.clone(),
            zk: ZkClient::new(spec.zk, spec.config.zookeeper_session_timeout_ms),
            registered: false,
            partitions: Default::default(),
            controller_epoch: 0,
            controller_id: None,
            controller: None,
            metadata: BTreeMap::new(),
            live_brokers: Vec::new(),
            produces: Vec::new(),
            serving_drained: false,
            verifications: Default::default(),
            fetches: Vec::new(),
            fetch_offsets_scratch: Vec::new(),
            caught_up_scratch: Vec::new(),
            waking_scratch: Vec::new(),
            disk_ops_scratch: Vec::new(),
            next_id: 0,
            deadlines: Deadlines::default(),
            follower_deadlines: BTreeMap::new(),
            replica_fetchers: BTreeMap::new(),
            answered_by: BTreeSet::new(),
            channels: BTreeMap::new(),
            resend_armed: false,
            zk_resync: false,
            zk_heard_at: SimTime::ZERO,
            zk_read_check: false,
            queued: Default::default(),
            producer_ids: Default::default(),
            groups: None,
            group_timer_at: None,
            txn: Default::default(),
        }
    }

    /// Recovers logs and the HW checkpoint, connects to the metadata service, starts timers.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.recover(ctx);
        self.zk_heard_at = ctx.now();
        let connect = self.zk.connect();
        ctx.send(self.spec.zk, Msg::Zk(connect));
        let config = &self.spec.config;
        ctx.set_timer(
            millis(config.zookeeper_session_timeout_ms / 3),
            Timer::Broker(BrokerTimer::ZkPing),
        );
        let checkpoint = config.replica_high_watermark_checkpoint_interval_ms;
        ctx.set_timer(millis(checkpoint), Timer::Broker(BrokerTimer::HwCheckpoint));
        let shrink = (config.replica_lag_time_max_ms / 2).max(1);
        ctx.set_timer(millis(shrink), Timer::Broker(BrokerTimer::IsrShrink));
        let retention = millis(config.log_retention_check_interval_ms.max(1));
        ctx.set_timer(retention, Timer::Broker(BrokerTimer::RetentionCheck));
    }

    /// Rebuilds every replica whose directory is on disk; HWs come from the checkpoint.
    fn recover(&mut self, ctx: &mut Ctx<'_, Node>) {
        let checkpoint = ctx
            .disk()
            .read(HW_CHECKPOINT)
            .and_then(|bytes| decode_offset_checkpoint(bytes).ok())
            .unwrap_or_default();
        let mut ops = Vec::new();
        for (t, topic) in self.spec.topics.iter().enumerate() {
            for (p, replicas) in topic.assignment.iter().enumerate() {
                if !replicas.contains(&self.id) {
                    continue;
                }
                let name = format!("{}-{p}", topic.name);
                if ctx.disk().list(&format!("{name}/")).next().is_none() {
                    continue;
                }
                let now_ms = ctx.now().as_millis();
                let (log, _report) =
                    PartitionLog::recover(&name, topic.log, ctx.disk(), now_ms, &mut ops);
                let hw = checkpoint
                    .iter()
                    .find(|(ct, cp, _)| *ct == topic.name && *cp == p as u32)
                    .map_or(0, |(_, _, hw)| *hw)
                    .min(log.log_end_offset());
                let tp = TopicPartition {
                    topic: t as u32,
                    partition: p as u32,
                };
                let partition = self.new_partition(tp, name, replicas.clone(), log, hw);
                ctx.observe(partition.leo_obs());
                ctx.observe(Obs::Hw {
                    partition: partition.name.clone(),
                    hw,
                });
                self.partitions.insert(tp, partition);
            }
        }
        push_disk_ops(ctx, ops);
    }

    fn new_partition(
        &self,
        tp: TopicPartition,
        name: String,
        replicas: Vec<BrokerId>,
        log: PartitionLog,
        hw: u64,
    ) -> Partition {
        Partition {
            tp,
            name: Arc::from(name),
            replicas,
            log,
            high_watermark: hw,
            leader_epoch: 0,
            role: Role::None,
            unflushed_messages: 0,
            known_isr: Vec::new(),
        }
    }

    /// The replica of `tp`, created with an empty log if this broker has none yet.
    pub(super) fn partition_or_create(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        state: &PartitionState,
    ) -> &mut Partition {
        let tp = state.tp;
        if !self.partitions.contains_key(&tp) {
            let topic = &self.spec.topics[tp.topic as usize];
            let name = format!("{}-{}", topic.name, tp.partition);
            let mut ops = Vec::new();
            let log = PartitionLog::create(&name, topic.log, ctx.now().as_millis(), &mut ops);
            push_disk_ops(ctx, ops);
            let partition = self.new_partition(tp, name, state.replicas.clone(), log, 0);
            self.partitions.insert(tp, partition);
        }
        self.partitions.get_mut(&tp).expect("just inserted")
    }

    /// Adds a deadline `after` from now and makes sure a timer will fire for it.
    pub(super) fn add_deadline(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        after: SimDuration,
        what: Deadline,
    ) -> DeadlineId {
        let id = self.deadlines.insert(ctx.now() + after, what);
        self.arm_deadlines(ctx);
        id
    }

    fn arm_deadlines(&mut self, ctx: &mut Ctx<'_, Node>) {
        if let Some(delay) = self.deadlines.timer_needed(ctx.now()) {
            ctx.set_timer(delay, Timer::Broker(BrokerTimer::Deadlines));
        }
    }

    /// The node a broker runs on.
    pub(super) fn broker_node(&self, id: BrokerId) -> NodeId {
        self.spec.broker_nodes[id as usize]
    }

    /// The broker running on `node`, if it is a broker.
    pub(super) fn broker_id_of(&self, node: NodeId) -> Option<BrokerId> {
        let index = self.spec.broker_nodes.iter().position(|&n| n == node)?;
        BrokerId::try_from(index).ok()
    }

    /// A fresh id for a purgatory entry or a request.
    pub(super) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Handles any message.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        if let Msg::ZkReply(_) = &msg {
            self.zk_heard_at = ctx.now();
        }
        match msg {
            Msg::ZkReply(ZkToClient::Response(resp)) => {
                let was_connected = self.zk.is_connected();
                let answer = self.zk.on_response(resp);
                if !was_connected && self.zk.is_connected() {
                    self.on_zk_session(ctx);
                }
                if let Some((tag, result)) = answer {
                    self.on_zk_result(ctx, tag, result);
                }
                let lost = self.zk.take_lost();
                self.on_zk_lost(ctx, lost);
                if self.zk_resync && self.zk.is_connected() {
                    self.zk_resync = false;
                    self.resync_watches(ctx);
                }
                self.after_zk_response(ctx);
            }
            Msg::ZkReply(ZkToClient::Watch(event)) => self.on_watch(ctx, event),
            Msg::Request(request) => self.accept_request(ctx, from, request),
            Msg::Response(response) => {
                self.answered_by.insert(from);
                self.on_response(ctx, from, response);
            }
            Msg::Zk(_) => ctx.observe(Obs::Note("a broker got a metadata-service request".into())),
            Msg::Consumer(request) => self.on_consumer_request(ctx, from, *request),
            Msg::ConsumerReply(_) => {}
            Msg::Txn(request) => self.on_txn_request(ctx, from, request),
            Msg::TxnReply(response) => self.on_txn_response(ctx, response),
        }
    }

    /// Handles a timer.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: BrokerTimer) {
        match timer {
            BrokerTimer::ZkReadTimeout => {
                self.zk_read_check = false;
                self.check_zk_read_timeout(ctx);
            }
            BrokerTimer::ZkPing => {
                if !self.zk_read_check {
                    self.check_zk_read_timeout(ctx);
                }
                if self.zk.ping_due(ctx.now()) {
                    let ping = self.zk.ping(ctx.now());
                    ctx.send(self.spec.zk, Msg::Zk(ping));
                }
                if !self.zk_read_check {
                    // Arm the check for what is in flight now, the ping included.
                    self.check_zk_read_timeout(ctx);
                }
                let every = millis(self.spec.config.zookeeper_session_timeout_ms / 3);
                ctx.set_timer(every, Timer::Broker(BrokerTimer::ZkPing));
            }
            BrokerTimer::HwCheckpoint => {
                self.write_hw_checkpoint(ctx);
                let every = millis(
                    self.spec
                        .config
                        .replica_high_watermark_checkpoint_interval_ms,
                );
                ctx.set_timer(every, Timer::Broker(BrokerTimer::HwCheckpoint));
            }
            BrokerTimer::IsrShrink => {
                self.maybe_shrink_isr(ctx);
                let every = millis((self.spec.config.replica_lag_time_max_ms / 2).max(1));
                ctx.set_timer(every, Timer::Broker(BrokerTimer::IsrShrink));
            }
            BrokerTimer::Deadlines => {
                for due in self.deadlines.expired(ctx.now()) {
                    match due {
                        Deadline::Produce(id) => self.expire_produce(ctx, id),
                        Deadline::FetchWake(id) => self.wake_fetch(ctx, id),
                        Deadline::Follower(tp, correlation) => {
                            self.follower_deadlines.remove(&tp);
                            self.follower_timed_out(ctx, tp, correlation);
                        }
                        Deadline::Fetcher(leader, correlation) => {
                            self.replica_fetch_timed_out(ctx, leader, correlation);
                        }
                    }
                }
                self.arm_deadlines(ctx);
            }
            BrokerTimer::FetchRetry(tp) => self.send_follower_request(ctx, tp),
            BrokerTimer::ControllerResend => self.resend_controller_requests(ctx),
            BrokerTimer::GroupCoordinator => self.on_group_timer(ctx),
            BrokerTimer::TxnCoordinator => self.on_txn_timer(ctx),
            BrokerTimer::RetentionCheck => {
                self.apply_retention(ctx);
                let every = millis(self.spec.config.log_retention_check_interval_ms.max(1));
                ctx.set_timer(every, Timer::Broker(BrokerTimer::RetentionCheck));
            }
        }
    }

    /// Deletes whole segments past retention (below the HW) and moves log start offsets.
    fn apply_retention(&mut self, ctx: &mut Ctx<'_, Node>) {
        let now_ms = ctx.now().as_millis();
        let mut ops = Vec::new();
        for partition in self.partitions.values_mut() {
            let deleted = partition
                .log
                .apply_retention(now_ms, partition.high_watermark, &mut ops);
            if !deleted.is_empty() {
                let start = partition.log.log_start_offset();
                let note = format!(
                    "{} retention deleted {} segment(s), log start {start}",
                    partition.name,
                    deleted.len()
                );
                ctx.observe(Obs::Note(note));
            }
        }
        push_disk_ops(ctx, ops);
    }

    fn write_hw_checkpoint(&mut self, ctx: &mut Ctx<'_, Node>) {
        let entries: Vec<(String, u32, u64)> = self
            .partitions
            .values()
            .map(|p| {
                (
                    self.spec.topics[p.tp.topic as usize].name.clone(),
                    p.tp.partition,
                    p.high_watermark,
                )
            })
            .collect();
        let bytes = encode_offset_checkpoint(&entries);
        ctx.disk_op(DiskOp::WriteAtomic {
            file: HW_CHECKPOINT.into(),
            bytes,
            token: 0,
        });
    }

    /// Handles a closed connection: to the metadata service, a leader, or a client.
    pub fn on_connection_closed(&mut self, ctx: &mut Ctx<'_, Node>, peer: NodeId) {
        if peer == self.spec.zk {
            // Watch events may be lost with the connection: re-read once it answers again.
            self.zk_resync = true;
            let lost = self.zk.on_connection_closed();
            self.on_zk_lost(ctx, lost);
            if !self.zk.is_connected() && !self.zk.is_connecting() {
                let connect = self.zk.connect();
                ctx.send(self.spec.zk, Msg::Zk(connect));
            }
            return;
        }
        self.answered_by.remove(&peer);
        self.drop_connection(peer);
        self.on_txn_connection_closed(ctx, peer);
        self.fail_verifications_to(ctx, peer);
        if let Some(leader) = self.broker_id_of(peer)
            && let Some(fetch) = self.replica_fetchers.remove(&leader)
        {
            self.deadlines.remove(fetch.deadline);
        }
        let tps: Vec<TopicPartition> = self
            .partitions
            .values_mut()
            .filter_map(|p| match &mut p.role {
                Role::Follower(f) if self_node(&self.spec, f.leader) == peer => {
                    f.in_flight = None;
                    Some(p.tp)
                }
                _ => None,
            })
            .collect();
        for tp in tps {
            self.back_off(ctx, tp);
        }
    }

    /// Checks the invariants of the replicas changed since the last check.
    pub fn check_invariants(&mut self) -> Result<(), String> {
        self.partitions.check_changed()
    }

    /// Checks every replica's invariants.
    pub fn check_all_invariants(&self) -> Result<(), String> {
        self.partitions.check_all()
    }

    /// Replicas this broker holds, for inspection by the run and the checkers.
    pub fn partitions(&self) -> &super::replicas::Replicas {
        &self.partitions
    }

    /// The partitions of this broker's fetch in flight to the leader broker `leader`, if one is.
    pub fn replica_fetch_in_flight(&self, leader: BrokerId) -> Option<Vec<TopicPartition>> {
        let fetch = self.replica_fetchers.get(&leader)?;
        Some(fetch.sent.iter().map(|p| p.tp).collect())
    }

    /// Whether this broker is the controller.
    pub fn is_controller(&self) -> bool {
        self.controller.is_some()
    }

    /// The follower loop's first step after becoming follower, per the replication protocol.
    pub(super) fn follower_phase(&self) -> FollowerPhase {
        match self.spec.protocol {
            crate::scenario::ReplicationProtocol::HwTruncation => FollowerPhase::Fetching,
            _ => FollowerPhase::Truncating,
        }
    }
}

fn self_node(spec: &BrokerSpec, id: BrokerId) -> NodeId {
    spec.broker_nodes[id as usize]
}

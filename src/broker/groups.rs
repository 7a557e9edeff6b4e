//! The broker's side of consumer groups: `FindCoordinator` and `ListOffsets` answered from the
//! broker's own state, every other group request handed to its [`GroupCoordinator`], whose
//! appends go to the `__consumer_offsets` partitions this broker leads and complete when their
//! high watermark passes them (acks=all). Leading an offsets partition loads its groups; losing
//! it unloads them.
//!
//! Volatile: the coordinator; it is rebuilt from the offsets partitions' logs.

use std::sync::Arc;

use super::isr;
use super::server::{Broker, BrokerTimer};
use crate::group::coordinator::{Action, GroupCoordinator};
use crate::node::{Msg, Node, Timer, push_disk_ops};
use crate::protocol::consumer::OffsetSpec;
use crate::protocol::{ConsumerRequest, ConsumerResponse, KafkaError, TopicPartition};
use crate::record::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record, RecordBatch};
use crate::sim::{Ctx, NodeId};

impl Broker {
    /// The coordinator of this broker, created on first use when the run has groups.
    fn coordinator(&mut self) -> Option<&mut GroupCoordinator> {
        let spec = self.spec.groups.as_ref()?;
        Some(
            self.groups
                .get_or_insert_with(|| GroupCoordinator::new(spec.coordinator.clone())),
        )
    }

    /// The offsets partition number of `tp`, if it is one.
    fn offsets_partition(&self, tp: TopicPartition) -> Option<u32> {
        let groups = self.spec.groups.as_ref()?;
        (tp.topic == groups.offsets_topic).then_some(tp.partition)
    }

    /// Handles a consumer's request.
    pub(super) fn on_consumer_request(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        from: NodeId,
        request: ConsumerRequest,
    ) {
        match request {
            ConsumerRequest::FindCoordinator { correlation, group } => {
                let result = self.find_coordinator(&group);
                let response = ConsumerResponse::FindCoordinator {
                    correlation,
                    result,
                };
                ctx.send(from, Msg::ConsumerReply(response));
            }
            ConsumerRequest::ListOffsets {
                correlation,
                partitions,
            } => {
                let partitions = partitions
                    .into_iter()
                    .map(|(tp, spec)| (tp, self.list_offset(tp, spec)))
                    .collect();
                let response = ConsumerResponse::ListOffsets {
                    correlation,
                    partitions,
                };
                ctx.send(from, Msg::ConsumerReply(response));
            }
            request => {
                let now = ctx.now();
                let mut out = Vec::new();
                match self.coordinator() {
                    Some(c) => c.handle(now, from, request, &mut out),
                    None => {
                        let response = request.error_response(KafkaError::NotCoordinator);
                        ctx.send(from, Msg::ConsumerReply(response));
                    }
                }
                self.apply_group_actions(ctx, out);
            }
        }
    }

    fn find_coordinator(&self, group: &str) -> Result<u32, KafkaError> {
        let spec = self
            .spec
            .groups
            .as_ref()
            .ok_or(KafkaError::CoordinatorNotAvailable)?;
        let tp = TopicPartition {
            topic: spec.offsets_topic,
            partition: crate::group::coordinator::partition_for(
                group,
                spec.coordinator.offsets_partitions,
            ),
        };
        self.metadata
            .get(&tp)
            .and_then(|s| s.leader)
            .filter(|l| self.live_brokers.is_empty() || self.live_brokers.contains(l))
            .ok_or(KafkaError::CoordinatorNotAvailable)
    }

    fn list_offset(&self, tp: TopicPartition, spec: OffsetSpec) -> Result<u64, KafkaError> {
        let partition = self
            .partitions
            .get(&tp)
            .filter(|p| p.is_leader())
            .ok_or(KafkaError::NotLeaderOrFollower)?;
        Ok(match spec {
            OffsetSpec::Earliest => partition.log.log_start_offset(),
            OffsetSpec::Latest => partition.high_watermark,
        })
    }

    /// Does what the coordinator asked, including the appends and what their failures ask.
    fn apply_group_actions(&mut self, ctx: &mut Ctx<'_, Node>, mut actions: Vec<Action>) {
        let mut i = 0;
        while i < actions.len() {
            match std::mem::replace(&mut actions[i], Action::Note(String::new())) {
                Action::Reply { to, response } => ctx.send(to, Msg::ConsumerReply(response)),
                Action::Note(text) if text.is_empty() => {}
                Action::Note(text) => ctx.observe(crate::node::Obs::Note(text)),
                Action::Append {
                    partition,
                    records,
                    then,
                } => actions.extend(self.append_for_group(ctx, partition, None, records, then)),
                Action::AppendTransactional {
                    partition,
                    producer,
                    records,
                    then,
                } => {
                    let producer = Some(producer);
                    actions.extend(self.append_for_group(ctx, partition, producer, records, then))
                }
            }
            i += 1;
        }
        self.arm_group_timer(ctx);
    }

    /// Appends the coordinator's records (as `producer`'s transactional batch, if given) and
    /// tells it the append started, or failed and what that asks.
    fn append_for_group(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        partition: u32,
        producer: Option<(i64, i16)>,
        records: Vec<Record>,
        then: crate::group::coordinator::AfterAppend,
    ) -> Vec<Action> {
        let now = ctx.now();
        let mut more = Vec::new();
        match self.append_group_records(ctx, partition, producer, records) {
            Ok((tp, required)) => {
                if let Some(c) = self.coordinator() {
                    c.append_started(now, partition, required, then);
                }
                self.update_hw(ctx, tp);
            }
            Err(error) => {
                if let Some(c) = self.coordinator() {
                    c.append_failed(now, then, error, &mut more);
                }
            }
        }
        more
    }

    /// Appends the coordinator's records to offsets partition `partition` as its leader.
    fn append_group_records(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        partition: u32,
        producer: Option<(i64, i16)>,
        records: Vec<Record>,
    ) -> Result<(TopicPartition, u64), KafkaError> {
        let topic = self
            .spec
            .groups
            .as_ref()
            .ok_or(KafkaError::NotLeaderOrFollower)?
            .offsets_topic;
        let tp = TopicPartition { topic, partition };
        self.append_internal(ctx, tp, producer, records)
    }

    /// Appends a coordinator's records to internal partition `tp` as its leader, refused below
    /// `min.insync.replicas`; returns the offset the HW must reach. The batch has no producer
    /// id, or is `producer`'s transactional batch (offsets sent with a transaction; Kafka
    /// writes them without a sequence number).
    pub(super) fn append_internal(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        tp: TopicPartition,
        producer: Option<(i64, i16)>,
        records: Vec<Record>,
    ) -> Result<(TopicPartition, u64), KafkaError> {
        let min_isr = self.hw_rule(tp).min_insync_replicas;
        let now = ctx.now();
        let leader = self
            .partitions
            .get_mut(&tp)
            .filter(|p| p.is_leader())
            .ok_or(KafkaError::NotLeaderOrFollower)?;
        isr::check_enough_replicas(leader.isr_size(), min_isr)?;
        if let Some((producer_id, producer_epoch)) = producer {
            // A fenced producer's offsets are refused like its produce would be.
            leader.log.check_marker(producer_id, producer_epoch)?;
        }
        let batch = RecordBatch {
            base_offset: 0,
            partition_leader_epoch: 0,
            producer_id: producer.map_or(NO_PRODUCER_ID, |p| p.0),
            producer_epoch: producer.map_or(NO_PRODUCER_EPOCH, |p| p.1),
            base_sequence: NO_SEQUENCE,
            transactional: producer.is_some(),
            control: None,
            max_timestamp_ms: now.as_millis(),
            records: records.into(),
        };
        let count = batch.records.len() as u64;
        let mut ops = Vec::new();
        let (_, required) = leader.append_as_leader(batch, now, &mut ops);
        leader.maybe_flush(
            count,
            self.spec.config.log_flush_interval_messages,
            &mut ops,
        );
        ctx.observe(leader.leo_obs());
        push_disk_ops(ctx, ops);
        self.wake_fetches_for(ctx, tp);
        Ok((tp, required))
    }

    /// After `LeaderAndIsr`: load the offsets partitions this broker now leads, unload the ones
    /// it no longer leads.
    pub(super) fn sync_group_coordinator(&mut self, ctx: &mut Ctx<'_, Node>) {
        let Some(topic) = self.spec.groups.as_ref().map(|g| g.offsets_topic) else {
            return;
        };
        let now = ctx.now();
        let mut out = Vec::new();
        let leading: Vec<(u32, bool)> = self
            .partitions
            .iter()
            .filter(|(tp, _)| tp.topic == topic)
            .map(|(tp, p)| (tp.partition, p.is_leader()))
            .collect();
        for (partition, leads) in leading {
            let owned = self.coordinator().is_some_and(|c| c.owns(partition));
            if leads && !owned {
                let tp = TopicPartition { topic, partition };
                let log = &self.partitions[&tp].log;
                let batches: Vec<Arc<RecordBatch>> =
                    log.batches_from(log.log_start_offset()).cloned().collect();
                if let Some(c) = self.coordinator() {
                    c.load_batches(now, partition, batches.iter().map(|b| &**b), &mut out);
                }
            } else if !leads
                && owned
                && let Some(c) = self.coordinator()
            {
                c.unload(now, partition, &mut out);
            }
        }
        self.apply_group_actions(ctx, out);
    }

    /// The HW of `tp` moved: appends to an offsets partition may complete.
    pub(super) fn on_group_high_watermark(&mut self, ctx: &mut Ctx<'_, Node>, tp: TopicPartition) {
        let Some(partition) = self.offsets_partition(tp) else {
            return;
        };
        let hw = self.partitions.get(&tp).map_or(0, |p| p.high_watermark);
        let now = ctx.now();
        let mut out = Vec::new();
        if let Some(c) = self.groups.as_mut() {
            c.on_high_watermark(now, partition, hw, &mut out);
        }
        self.apply_group_actions(ctx, out);
    }

    /// The coordinator's timer: sessions, rebalances, loads, append timeouts.
    pub(super) fn on_group_timer(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.group_timer_at = None;
        let now = ctx.now();
        let mut out = Vec::new();
        if let Some(c) = self.groups.as_mut() {
            c.on_time(now, &mut out);
        }
        self.apply_group_actions(ctx, out);
    }

    fn arm_group_timer(&mut self, ctx: &mut Ctx<'_, Node>) {
        let due = self.groups.as_ref().and_then(|c| c.next_deadline());
        let timer = BrokerTimer::GroupCoordinator;
        arm_coordinator_timer(ctx, &mut self.group_timer_at, due, timer);
    }

    /// Every record of internal partition `tp` from its log start (a coordinator loads them).
    pub(super) fn internal_records(&self, tp: TopicPartition) -> Vec<Record> {
        let log = &self.partitions[&tp].log;
        log.batches_from(log.log_start_offset())
            .flat_map(|b| b.records.iter().copied())
            .collect()
    }

    /// A transaction marker on `tp` is replicated: if `tp` is an offsets partition, the
    /// producer's pending offsets there are committed or dropped.
    pub(super) fn on_offsets_marker(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        tp: TopicPartition,
        producer_id: i64,
        result: crate::record::ControlType,
    ) {
        let Some(partition) = self.offsets_partition(tp) else {
            return;
        };
        let mut out = Vec::new();
        if let Some(c) = self.groups.as_mut() {
            c.on_txn_completed(partition, producer_id, result, &mut out);
        }
        self.apply_group_actions(ctx, out);
    }

    /// The group coordinator, for inspection.
    pub fn group_coordinator(&self) -> Option<&GroupCoordinator> {
        self.groups.as_ref()
    }
}

/// Arms a coordinator's one timer for `due` unless it is armed for that time or earlier (a
/// coordinator timer that fires early just finds nothing due and arms again).
pub(super) fn arm_coordinator_timer(
    ctx: &mut Ctx<'_, Node>,
    armed: &mut Option<crate::sim::SimTime>,
    due: Option<crate::sim::SimTime>,
    timer: BrokerTimer,
) {
    let Some(at) = due else {
        return;
    };
    let now = ctx.now();
    if armed.is_some_and(|armed| armed <= at && armed >= now) {
        return;
    }
    *armed = Some(at.max(now));
    let delay = at
        .saturating_since(now)
        .max(crate::sim::SimDuration::from_micros(1));
    ctx.set_timer(delay, Timer::Broker(timer));
}

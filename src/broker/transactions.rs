//! The broker's side of transactions: `FindCoordinator` for a transactional id answered from the
//! broker's metadata; the other producer requests handed to its [`TxnCoordinator`], whose appends
//! go to the `__transaction_state` partitions it leads and complete when their high watermark
//! passes them, and whose markers go out as `WriteTxnMarkers` to partition leaders; and, as a
//! partition leader, `WriteTxnMarkers` itself: each COMMIT/ABORT control batch is checked against
//! the producer's epoch and the last coordinator epoch seen, appended, and answered once
//! replicated (acks=all), like Kafka's marker append.
//!
//! Volatile: the coordinator (rebuilt from the log), the markers in flight, the coordinator epoch
//! of the last marker per producer and partition (Kafka keeps it in the producer state).

use std::collections::BTreeMap;

use super::isr;
use super::server::{Broker, BrokerTimer};
use crate::node::{Msg, Node, Obs, push_disk_ops};
use crate::protocol::{BrokerId, KafkaError, TopicPartition, TxnRequest, TxnResponse};
use crate::record::{ControlType, NO_SEQUENCE, Record, RecordBatch};
use crate::sim::{Ctx, NodeId, SimTime};
use crate::txn::{TxnAction, TxnCoordinator};

/// A marker append waiting for the high watermark.
#[derive(Clone, Debug)]
struct MarkerWait {
    from: NodeId,
    correlation: u64,
    /// The producer whose transaction the markers end, and how.
    producer_id: i64,
    result: ControlType,
    results: Vec<(TopicPartition, Result<(), KafkaError>)>,
    /// (index in `results`, partition, offset the HW must reach).
    waiting: Vec<(usize, TopicPartition, u64)>,
}

/// What a broker holds for transactions besides its logs.
#[derive(Debug, Default)]
pub(super) struct TxnHost {
    /// The coordinator, created on first use when the run has transactions.
    coordinator: Option<TxnCoordinator>,
    /// When the coordinator's timer is armed for.
    timer_at: Option<SimTime>,
    /// Marker requests this coordinator sent: correlation → (txn, broker, partitions).
    requests: BTreeMap<u64, (u32, BrokerId, Vec<TopicPartition>)>,
    /// Marker appends waiting for replication, as leader.
    waits: Vec<MarkerWait>,
    /// The coordinator epoch of the last marker per (partition, producer id), as leader.
    coordinator_epochs: BTreeMap<(TopicPartition, i64), u32>,
}

impl Broker {
    /// The transaction coordinator of this broker, created on first use.
    fn txn_coordinator(&mut self) -> Option<&mut TxnCoordinator> {
        let spec = self.spec.transactions.as_ref()?;
        Some(
            self.txn
                .coordinator
                .get_or_insert_with(|| TxnCoordinator::new(spec.coordinator.clone())),
        )
    }

    /// The transaction coordinator, for inspection.
    pub fn transaction_coordinator(&self) -> Option<&TxnCoordinator> {
        self.txn.coordinator.as_ref()
    }

    /// Handles a transaction request.
    pub(super) fn on_txn_request(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        from: NodeId,
        request: TxnRequest,
    ) {
        match request {
            TxnRequest::FindCoordinator { correlation, txn } => {
                let result = self.find_txn_coordinator(txn);
                let response = TxnResponse::FindCoordinator {
                    correlation,
                    result,
                };
                ctx.send(from, Msg::TxnReply(response));
            }
            TxnRequest::WriteTxnMarkers {
                correlation,
                producer,
                result,
                coordinator_epoch,
                partitions,
            } => {
                let marker = (producer, result, coordinator_epoch);
                self.write_txn_markers(ctx, from, correlation, marker, partitions);
            }
            request => {
                let now = ctx.now();
                if self
                    .txn_coordinator()
                    .is_some_and(|c| c.needs_producer_id(now, &request))
                {
                    return self.init_transactional_id(ctx, from, request);
                }
                let mut out = Vec::new();
                match self.txn_coordinator() {
                    Some(c) => c.handle(now, from, request, &mut out),
                    None => {
                        let response = request.error_response(KafkaError::NotCoordinator);
                        ctx.send(from, Msg::TxnReply(response));
                    }
                }
                self.apply_txn_actions(ctx, out);
            }
        }
    }

    /// Hands `request`, a transactional id's first `InitProducerId`, to the coordinator with
    /// the producer id the id gets.
    pub(super) fn init_txn_with_producer_id(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        from: NodeId,
        request: TxnRequest,
        producer_id: i64,
    ) {
        let now = ctx.now();
        let mut out = Vec::new();
        if let Some(c) = self.txn_coordinator() {
            // The coordinator may have moved, or the id got one, while the request waited.
            if c.needs_producer_id(now, &request)
                && let TxnRequest::InitProducerId {
                    txn, timeout_ms, ..
                } = request
            {
                c.adopt_producer_id(now, txn, producer_id, timeout_ms);
            }
            c.handle(now, from, request, &mut out);
        }
        self.apply_txn_actions(ctx, out);
    }

    pub(super) fn find_txn_coordinator(&self, txn: u32) -> Result<BrokerId, KafkaError> {
        let spec = self
            .spec
            .transactions
            .as_ref()
            .ok_or(KafkaError::CoordinatorNotAvailable)?;
        let id = spec
            .coordinator
            .ids
            .get(txn as usize)
            .ok_or(KafkaError::CoordinatorNotAvailable)?;
        let tp = TopicPartition {
            topic: spec.state_topic,
            partition: crate::txn::partition_for(id, spec.coordinator.partitions),
        };
        self.metadata
            .get(&tp)
            .and_then(|s| s.leader)
            .filter(|l| self.live_brokers.is_empty() || self.live_brokers.contains(l))
            .ok_or(KafkaError::CoordinatorNotAvailable)
    }

    /// Handles an answer to this coordinator's `WriteTxnMarkers`.
    pub(super) fn on_txn_response(&mut self, ctx: &mut Ctx<'_, Node>, response: TxnResponse) {
        if let TxnResponse::VerifyPartitionsInTxn {
            correlation,
            result,
        } = response
        {
            return self.on_verification(ctx, correlation, result);
        }
        let TxnResponse::WriteTxnMarkers {
            correlation,
            partitions,
        } = response
        else {
            return;
        };
        let Some((txn, _, _)) = self.txn.requests.remove(&correlation) else {
            return;
        };
        let now = ctx.now();
        let mut out = Vec::new();
        if let Some(c) = self.txn.coordinator.as_mut() {
            for (tp, result) in partitions {
                match result {
                    Ok(()) => c.marker_written(txn, tp, &mut out),
                    Err(error) => c.marker_failed(now, txn, tp, error, &mut out),
                }
            }
        }
        self.apply_txn_actions(ctx, out);
    }

    /// A connection closed: marker requests to that broker failed; marker appends it waits for
    /// have no one to answer.
    pub(super) fn on_txn_connection_closed(&mut self, ctx: &mut Ctx<'_, Node>, peer: NodeId) {
        self.txn.waits.retain(|w| w.from != peer);
        let lost: Vec<u64> = self
            .txn
            .requests
            .iter()
            .filter(|(_, (_, broker, _))| self.broker_node(*broker) == peer)
            .map(|(&c, _)| c)
            .collect();
        let now = ctx.now();
        let mut out = Vec::new();
        for correlation in lost {
            let (txn, _, partitions) = self.txn.requests.remove(&correlation).expect("listed");
            if let Some(c) = self.txn.coordinator.as_mut() {
                for tp in partitions {
                    c.marker_failed(now, txn, tp, KafkaError::NetworkException, &mut out);
                }
            }
        }
        self.apply_txn_actions(ctx, out);
    }

    /// Does what the coordinator asked: answers, appends, marker requests.
    fn apply_txn_actions(&mut self, ctx: &mut Ctx<'_, Node>, mut actions: Vec<TxnAction>) {
        let now = ctx.now();
        let mut i = 0;
        while i < actions.len() {
            match std::mem::replace(&mut actions[i], TxnAction::Note(String::new())) {
                TxnAction::Reply { to, response } => ctx.send(to, Msg::TxnReply(response)),
                TxnAction::Note(text) if text.is_empty() => {}
                TxnAction::Note(text) => ctx.observe(Obs::Note(text)),
                TxnAction::Append {
                    partition,
                    records,
                    then,
                } => {
                    let mut more = Vec::new();
                    match self.append_txn_records(ctx, partition, records) {
                        Ok((tp, required)) => {
                            if let Some(c) = self.txn.coordinator.as_mut() {
                                c.append_started(now, partition, required, then);
                            }
                            self.update_hw(ctx, tp);
                        }
                        Err(error) => {
                            if let Some(c) = self.txn.coordinator.as_mut() {
                                c.append_failed(then, error, &mut more);
                            }
                        }
                    }
                    actions.extend(more);
                }
                TxnAction::WriteMarkers {
                    txn,
                    producer,
                    result,
                    coordinator_epoch,
                    partitions,
                } => {
                    let marker = (producer, result, coordinator_epoch);
                    let more = self.send_markers(ctx, txn, marker, partitions);
                    actions.extend(more);
                }
            }
            i += 1;
        }
        self.arm_txn_timer(ctx);
    }

    fn append_txn_records(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        partition: u32,
        records: Vec<Record>,
    ) -> Result<(TopicPartition, u64), KafkaError> {
        let topic = self
            .spec
            .transactions
            .as_ref()
            .ok_or(KafkaError::NotLeaderOrFollower)?
            .state_topic;
        self.append_internal(ctx, TopicPartition { topic, partition }, None, records)
    }

    /// Sends one `WriteTxnMarkers` per leader; partitions without a known leader fail (retried).
    fn send_markers(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        txn: u32,
        (producer, result, coordinator_epoch): ((i64, i16), ControlType, u32),
        partitions: Vec<TopicPartition>,
    ) -> Vec<TxnAction> {
        let now = ctx.now();
        let mut out = Vec::new();
        let mut by_leader: BTreeMap<BrokerId, Vec<TopicPartition>> = BTreeMap::new();
        for tp in partitions {
            match self.metadata.get(&tp).and_then(|s| s.leader) {
                Some(leader) => by_leader.entry(leader).or_default().push(tp),
                None => {
                    if let Some(c) = self.txn.coordinator.as_mut() {
                        c.marker_failed(now, txn, tp, KafkaError::NotLeaderOrFollower, &mut out);
                    }
                }
            }
        }
        for (leader, partitions) in by_leader {
            let correlation = self.next_id();
            let request = TxnRequest::WriteTxnMarkers {
                correlation,
                producer,
                result,
                coordinator_epoch,
                partitions: partitions.clone(),
            };
            self.txn
                .requests
                .insert(correlation, (txn, leader, partitions));
            ctx.send(self.broker_node(leader), Msg::Txn(request));
        }
        out
    }

    /// As partition leader: appends a marker to each partition, answering once replicated.
    fn write_txn_markers(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        from: NodeId,
        correlation: u64,
        marker: ((i64, i16), ControlType, u32),
        partitions: Vec<TopicPartition>,
    ) {
        let mut wait = MarkerWait {
            from,
            correlation,
            producer_id: (marker.0).0,
            result: marker.1,
            results: Vec::new(),
            waiting: Vec::new(),
        };
        for (index, tp) in partitions.into_iter().enumerate() {
            match self.append_marker(ctx, tp, marker) {
                Ok(required) => {
                    wait.results.push((tp, Err(KafkaError::RequestTimedOut)));
                    wait.waiting.push((index, tp, required));
                }
                Err(error) => wait.results.push((tp, Err(error))),
            }
        }
        let tps: Vec<TopicPartition> = wait.waiting.iter().map(|w| w.1).collect();
        self.txn.waits.push(wait);
        for tp in tps {
            self.update_hw(ctx, tp);
        }
        self.complete_marker_waits(ctx, None);
    }

    /// Appends one marker as leader; returns the offset the HW must reach.
    fn append_marker(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        tp: TopicPartition,
        ((producer_id, producer_epoch), result, coordinator_epoch): ((i64, i16), ControlType, u32),
    ) -> Result<u64, KafkaError> {
        let min_isr = self.hw_rule(tp).min_insync_replicas;
        let now = ctx.now();
        let last_epoch = self.txn.coordinator_epochs.get(&(tp, producer_id)).copied();
        let partition = self
            .partitions
            .get_mut(&tp)
            .filter(|p| p.is_leader())
            .ok_or(KafkaError::NotLeaderOrFollower)?;
        isr::check_enough_replicas(partition.isr_size(), min_isr)?;
        if last_epoch.is_some_and(|last| coordinator_epoch < last) {
            return Err(KafkaError::TransactionCoordinatorFenced);
        }
        partition.log.check_marker(producer_id, producer_epoch)?;
        let batch = RecordBatch {
            base_offset: 0,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch,
            base_sequence: NO_SEQUENCE,
            transactional: true,
            control: Some(result),
            max_timestamp_ms: now.as_millis(),
            records: Vec::new().into(),
        };
        let mut ops = Vec::new();
        let (offset, required) = partition.append_as_leader(batch, now, &mut ops);
        // A control batch is one record to `log.flush.interval.messages`.
        partition.maybe_flush(1, self.spec.config.log_flush_interval_messages, &mut ops);
        ctx.observe(partition.leo_obs());
        ctx.observe(Obs::Note(format!(
            "{} {result} marker at {offset} for producer {producer_id} epoch {producer_epoch} \
             (coordinator epoch {coordinator_epoch})",
            partition.name
        )));
        push_disk_ops(ctx, ops);
        self.txn
            .coordinator_epochs
            .insert((tp, producer_id), coordinator_epoch);
        self.wake_fetches_for(ctx, tp);
        Ok(required)
    }

    /// Answers the marker appends the HW of `tp` (or every partition, with `None`) completed.
    fn complete_marker_waits(&mut self, ctx: &mut Ctx<'_, Node>, tp: Option<TopicPartition>) {
        let mut done = Vec::new();
        for (i, wait) in self.txn.waits.iter_mut().enumerate() {
            wait.waiting.retain(|&(index, wtp, required)| {
                if tp.is_some_and(|t| t != wtp) {
                    return true;
                }
                let Some(partition) = self.partitions.get(&wtp) else {
                    wait.results[index].1 = Err(KafkaError::NotLeaderOrFollower);
                    return false;
                };
                let min_isr = self.spec.topics[wtp.topic as usize].log.min_insync_replicas;
                let (hw, isr) = (partition.high_watermark, partition.isr_size());
                match isr::replicas_reached(hw, required, isr, min_isr) {
                    None if partition.is_leader() => true,
                    None => {
                        wait.results[index].1 = Err(KafkaError::NotLeaderOrFollower);
                        false
                    }
                    Some(result) => {
                        wait.results[index].1 = result;
                        false
                    }
                }
            });
            if wait.waiting.is_empty() {
                done.push(i);
            }
        }
        for i in done.into_iter().rev() {
            let wait = self.txn.waits.remove(i);
            // Kafka's `onTransactionCompleted`: offsets sent with the transaction apply (or
            // drop) once its marker on their offsets partition is replicated.
            for (tp, result) in &wait.results {
                if result.is_ok() {
                    self.on_offsets_marker(ctx, *tp, wait.producer_id, wait.result);
                }
            }
            let response = TxnResponse::WriteTxnMarkers {
                correlation: wait.correlation,
                partitions: wait.results,
            };
            ctx.send(wait.from, Msg::TxnReply(response));
        }
    }

    /// After `LeaderAndIsr`: load the `__transaction_state` partitions this broker now leads,
    /// unload the ones it no longer leads; markers waiting on lost partitions fail.
    pub(super) fn sync_txn_coordinator(&mut self, ctx: &mut Ctx<'_, Node>) {
        if !self.txn.waits.is_empty() {
            self.complete_marker_waits(ctx, None);
        }
        let Some(topic) = self.spec.transactions.as_ref().map(|t| t.state_topic) else {
            return;
        };
        let now = ctx.now();
        let mut out = Vec::new();
        let leading: Vec<(u32, bool, u32)> = self
            .partitions
            .iter()
            .filter(|(tp, _)| tp.topic == topic)
            .map(|(tp, p)| (tp.partition, p.is_leader(), p.leader_epoch))
            .collect();
        for (partition, leads, epoch) in leading {
            let owned = self.txn_coordinator().is_some_and(|c| c.owns(partition));
            if leads && !owned {
                let records = self.internal_records(TopicPartition { topic, partition });
                if let Some(c) = self.txn_coordinator() {
                    c.load(now, partition, epoch, records.iter(), &mut out);
                }
            } else if !leads
                && owned
                && let Some(c) = self.txn_coordinator()
            {
                c.unload(partition, &mut out);
            }
        }
        self.apply_txn_actions(ctx, out);
    }

    /// The HW of `tp` moved: marker appends and coordinator appends may complete.
    pub(super) fn on_txn_high_watermark(&mut self, ctx: &mut Ctx<'_, Node>, tp: TopicPartition) {
        if !self.txn.waits.is_empty() {
            self.complete_marker_waits(ctx, Some(tp));
        }
        let Some(spec) = self.spec.transactions.as_ref() else {
            return;
        };
        if tp.topic != spec.state_topic {
            return;
        }
        let hw = self.partitions.get(&tp).map_or(0, |p| p.high_watermark);
        let now = ctx.now();
        let mut out = Vec::new();
        if let Some(c) = self.txn.coordinator.as_mut() {
            c.on_high_watermark(now, tp.partition, hw, &mut out);
        }
        self.apply_txn_actions(ctx, out);
    }

    /// The coordinator's timer: append timeouts, loads, transaction timeouts, marker retries.
    pub(super) fn on_txn_timer(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.txn.timer_at = None;
        let now = ctx.now();
        let mut out = Vec::new();
        if let Some(c) = self.txn.coordinator.as_mut() {
            c.on_time(now, &mut out);
        }
        self.apply_txn_actions(ctx, out);
    }

    fn arm_txn_timer(&mut self, ctx: &mut Ctx<'_, Node>) {
        let due = self
            .txn
            .coordinator
            .as_ref()
            .and_then(|c| c.next_deadline(ctx.now()));
        let timer = BrokerTimer::TxnCoordinator;
        super::groups::arm_coordinator_timer(ctx, &mut self.txn.timer_at, due, timer);
    }
}

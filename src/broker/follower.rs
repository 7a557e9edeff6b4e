//! The follower side of replication. A follower first finds where its log diverges from the
//! leader's — by its own HW (`hw-truncation`, done on becoming follower), or by asking
//! `OffsetsForLeaderEpoch` (KIP-101 once; KIP-279 iterating while the leader answers an epoch
//! the follower does not have) — then fetches from its LEO, appends what comes back and takes
//! `min(leader HW, own LEO)` as its HW.

use super::partition::{FollowerPhase, Role};
use super::server::{Broker, BrokerTimer, Deadline};
use crate::node::{Msg, Node, Obs, Timer, millis, push_disk_ops};
use crate::protocol::UNDEFINED_EPOCH_OFFSET;
use crate::protocol::{
    FetchPartition, FetchedPartition, KafkaError, Request, Response, TopicPartition,
};
use crate::scenario::ReplicationProtocol;
use crate::sim::{Ctx, NodeId};

/// Kafka's `replica.socket.timeout.ms`: how long a follower waits for any answer.
const REPLICA_SOCKET_TIMEOUT_MS: u64 = 30_000;

impl Broker {
    /// Sends the follower's next request for `tp`: an epoch query or a fetch.
    pub(super) fn send_follower_request(&mut self, ctx: &mut Ctx<'_, Node>, tp: TopicPartition) {
        let correlation = self.next_id();
        let me = self.id;
        let config = &self.spec.config;
        let (wait, min_bytes) = (
            config.replica_fetch_wait_max_ms,
            config.replica_fetch_min_bytes,
        );
        let Some(partition) = self.partitions.get_mut(&tp) else {
            return;
        };
        let epoch = partition.leader_epoch;
        let leo = partition.log_end_offset();
        let latest = partition.log.epoch_cache().latest_epoch();
        let Role::Follower(follower) = &mut partition.role else {
            return;
        };
        if follower.in_flight.is_some() {
            return;
        }
        follower.in_flight = Some(correlation);
        let leader = follower.leader;
        let request = match (follower.phase, latest) {
            (FollowerPhase::Truncating, Some(asked)) => Request::OffsetsForLeaderEpoch {
                correlation,
                replica: Some(me),
                tp,
                current_leader_epoch: epoch,
                leader_epoch: asked,
            },
            _ => {
                follower.phase = FollowerPhase::Fetching;
                Request::Fetch {
                    correlation,
                    replica: Some(me),
                    max_wait_ms: wait,
                    min_bytes,
                    read_committed: false,
                    partitions: vec![FetchPartition {
                        tp,
                        fetch_offset: leo,
                        current_leader_epoch: Some(epoch),
                    }],
                }
            }
        };
        ctx.send(self.broker_node(leader), Msg::Request(request));
        let timeout = millis(REPLICA_SOCKET_TIMEOUT_MS.max(wait + 1));
        let deadline = self.add_deadline(ctx, timeout, Deadline::Follower(tp, correlation));
        if let Some(old) = self.follower_deadlines.insert(tp, deadline) {
            self.deadlines.remove(old);
        }
    }

    /// A follower request went unanswered: give it up and try again.
    pub(super) fn follower_timed_out(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        tp: TopicPartition,
        correlation: u64,
    ) {
        if self.take_in_flight(tp, correlation) {
            self.send_follower_request(ctx, tp);
        }
    }

    /// Handles a response to one of this broker's requests.
    pub(super) fn on_response(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        from: NodeId,
        response: Response,
    ) {
        match response {
            Response::Fetch {
                correlation,
                partitions,
            } => {
                for fetched in partitions {
                    self.on_fetched(ctx, correlation, fetched);
                }
            }
            Response::OffsetsForLeaderEpoch {
                correlation,
                tp,
                result,
            } => {
                self.on_epoch_end_offset(ctx, correlation, tp, result);
            }
            Response::ControllerAck { correlation } => {
                let broker = self
                    .spec
                    .broker_nodes
                    .iter()
                    .position(|&n| n == from)
                    .map(|b| b as crate::protocol::BrokerId);
                if let Some(broker) = broker {
                    self.on_controller_ack(ctx, broker, correlation);
                }
            }
            Response::Produce { .. }
            | Response::Metadata { .. }
            | Response::InitProducerId { .. } => {}
        }
    }

    /// Whether `correlation` answers the request in flight for `tp`; clears it if so.
    fn take_in_flight(&mut self, tp: TopicPartition, correlation: u64) -> bool {
        match self.partitions.get_mut(&tp).map(|p| &mut p.role) {
            Some(Role::Follower(f)) if f.in_flight == Some(correlation) => {
                f.in_flight = None;
                if let Some(deadline) = self.follower_deadlines.remove(&tp) {
                    self.deadlines.remove(deadline);
                }
                true
            }
            _ => false,
        }
    }

    fn on_fetched(&mut self, ctx: &mut Ctx<'_, Node>, correlation: u64, fetched: FetchedPartition) {
        let tp = fetched.tp;
        if !self.take_in_flight(tp, correlation) {
            return;
        }
        if let Some(error) = fetched.error {
            return self.on_fetch_error(ctx, tp, error, &fetched);
        }
        let now_ms = ctx.now().as_millis();
        let flush_interval_messages = self.spec.config.log_flush_interval_messages;
        let partition = self
            .partitions
            .get_mut(&tp)
            .expect("in flight implies present");
        let mut ops = Vec::new();
        let mut batches = fetched.batches;
        let leo = partition.log_end_offset();
        batches.retain(|b| b.next_offset() > leo);
        match batches.first().map(|b| b.base_offset) {
            // The leader's batch straddles this LEO: the logs differ inside one epoch (a leader
            // came back without data it had, in the same epoch). Kafka's follower would stop on
            // UnexpectedAppendOffsetException; here it cuts back to the batch and takes it.
            Some(base) if base < leo => {
                // Truncation stops at a batch start of this log, which may lie below `base`:
                // fetch again from wherever it ended.
                if let Some(obs) =
                    partition.truncate_to(base, "unexpected-offset", ctx.now(), &mut ops)
                {
                    ctx.observe(obs);
                    ctx.observe(partition.leo_obs());
                }
                push_disk_ops(ctx, ops);
                return self.send_follower_request(ctx, tp);
            }
            // A gap: nothing can be appended; ask again after the backoff.
            Some(base) if base > leo => {
                push_disk_ops(ctx, ops);
                let backoff = millis(self.spec.config.replica_fetch_backoff_ms);
                ctx.set_timer(backoff, Timer::Broker(BrokerTimer::FetchRetry(tp)));
                return;
            }
            _ => {}
        }
        let appended = !batches.is_empty();
        if appended {
            let appended = batches.iter().map(|b| b.offset_count()).sum();
            partition.log.append_as_follower(batches, now_ms, &mut ops);
            partition.maybe_flush(appended, flush_interval_messages, &mut ops);
            ctx.observe(partition.leo_obs());
        }
        push_disk_ops(ctx, ops);
        let hw = fetched.high_watermark.min(partition.log_end_offset());
        if let Some(obs) = partition.set_high_watermark(hw) {
            ctx.observe(obs);
        }
        self.send_follower_request(ctx, tp);
    }

    fn on_fetch_error(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        tp: TopicPartition,
        error: KafkaError,
        fetched: &FetchedPartition,
    ) {
        let partition = self
            .partitions
            .get_mut(&tp)
            .expect("in flight implies present");
        if error == KafkaError::OffsetOutOfRange
            && partition.log_end_offset() > fetched.log_end_offset
        {
            // The leader's log is shorter (an unclean election): cut back to its end.
            let mut ops = Vec::new();
            if let Some(obs) =
                partition.truncate_to(fetched.log_end_offset, "out-of-range", ctx.now(), &mut ops)
            {
                ctx.observe(obs);
                ctx.observe(partition.leo_obs());
            }
            push_disk_ops(ctx, ops);
            return self.send_follower_request(ctx, tp);
        }
        if error == KafkaError::OffsetOutOfRange
            && partition.log_end_offset() < fetched.log_start_offset
        {
            // Retention on the leader passed this replica's end: start over at the leader's log
            // start, as Kafka's `truncateFullyAndStartAt` does.
            let (from, to) = (partition.log_end_offset(), fetched.log_start_offset);
            let mut ops = Vec::new();
            partition
                .log
                .truncate_fully_and_start_at(to, ctx.now().as_millis(), &mut ops);
            partition.high_watermark = to;
            let name = partition.name.clone();
            ctx.observe(Obs::Note(format!(
                "{name} below the leader's log start {to}: starts over there"
            )));
            ctx.observe(Obs::Truncate {
                partition: name,
                from,
                to,
                rule: "log-start",
            });
            ctx.observe(partition.leo_obs());
            push_disk_ops(ctx, ops);
            return self.send_follower_request(ctx, tp);
        }
        let backoff = millis(self.spec.config.replica_fetch_backoff_ms);
        ctx.set_timer(backoff, Timer::Broker(BrokerTimer::FetchRetry(tp)));
    }

    /// Truncates by the leader's answer (KIP-101 once; KIP-279 until the epochs agree).
    fn on_epoch_end_offset(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        correlation: u64,
        tp: TopicPartition,
        result: Result<(u32, u64), KafkaError>,
    ) {
        if !self.take_in_flight(tp, correlation) {
            return;
        }
        let Ok((leader_epoch, leader_end)) = result else {
            let backoff = millis(self.spec.config.replica_fetch_backoff_ms);
            ctx.set_timer(backoff, Timer::Broker(BrokerTimer::FetchRetry(tp)));
            return;
        };
        let protocol = self.spec.protocol;
        let partition = self
            .partitions
            .get_mut(&tp)
            .expect("in flight implies present");
        let leo = partition.log_end_offset();
        let (target, done, rule) = match protocol {
            // Kafka 0.11: an undefined answer falls back to truncating to the HW.
            ReplicationProtocol::Kip101 if leader_end == UNDEFINED_EPOCH_OFFSET => (
                partition.high_watermark.min(leo),
                true,
                "kip-101 undefined: hw",
            ),
            ReplicationProtocol::Kip101 => (leader_end.min(leo), true, "kip-101"),
            _ => match partition.log.end_offset_for_epoch(leader_epoch) {
                Some((mine, my_end)) if mine == leader_epoch => {
                    (leader_end.min(my_end).min(leo), true, "kip-279")
                }
                // The follower lacks the leader's epoch: cut to the end of its largest smaller
                // epoch and ask again with its new latest epoch.
                Some((_, my_end)) => (my_end.min(leo), false, "kip-279"),
                None => (leader_end.min(leo), true, "kip-279"),
            },
        };
        let mut ops = Vec::new();
        if let Some(obs) = partition.truncate_to(target, rule, ctx.now(), &mut ops) {
            ctx.observe(obs);
            ctx.observe(partition.leo_obs());
        }
        push_disk_ops(ctx, ops);
        if done && let Role::Follower(f) = &mut partition.role {
            f.phase = FollowerPhase::Fetching;
        }
        let end = if leader_end == UNDEFINED_EPOCH_OFFSET {
            "undefined".to_owned()
        } else {
            leader_end.to_string()
        };
        ctx.observe(Obs::Note(format!(
            "{} OffsetsForLeaderEpoch -> epoch {leader_epoch} end {end}",
            partition.name
        )));
        self.send_follower_request(ctx, tp);
    }
}

//! The follower side of replication. A follower first finds where its log diverges from the
//! leader's — by its own HW (`hw-truncation`, done on becoming follower), or by asking
//! `OffsetsForLeaderEpoch` (KIP-101 once; KIP-279 iterating while the leader answers an epoch
//! the follower does not have) — then fetches from its LEO, appends what comes back and takes
//! `min(leader HW, own LEO)` as its HW.
//!
//! Fetches go as Kafka's `ReplicaFetcherThread` sends them: one fetch at a time to each source
//! (leader) broker, carrying every partition this broker follows from it that is ready, so one
//! append to several partitions of a leader is fetched in one round trip. A partition that
//! becomes ready while that fetch is out (a new follower, the end of a backoff) waits for its
//! answer. Epoch queries stay one per partition; `replica.fetch.response.max.bytes` is not
//! modelled (each partition is capped by `replica.fetch.max.bytes` alone).

use super::partition::{FollowerPhase, Role};
use super::server::{Broker, BrokerTimer, Deadline, ReplicaFetch};
use crate::node::{Msg, Node, Obs, Timer, drain_disk_ops, millis, push_disk_ops};
use crate::protocol::{
    BrokerId, FetchPartition, FetchedPartition, KafkaError, Request, Response, TopicPartition,
};
use crate::protocol::{SOCKET_CONNECTION_SETUP_TIMEOUT_MS, UNDEFINED_EPOCH_OFFSET};
use crate::scenario::ReplicationProtocol;
use crate::sim::{Ctx, NodeId};

/// Kafka's `replica.socket.timeout.ms`: how long a follower waits for any answer.
const REPLICA_SOCKET_TIMEOUT_MS: u64 = 30_000;

impl Broker {
    /// Moves the follower of `tp` on: an epoch query if it must still find where its log
    /// diverges, else a place in the next fetch to its leader.
    pub(super) fn send_follower_request(&mut self, ctx: &mut Ctx<'_, Node>, tp: TopicPartition) {
        let correlation = self.next_id();
        let me = self.id;
        let Some(partition) = self.partitions.get_mut(&tp) else {
            return;
        };
        let epoch = partition.leader_epoch;
        let latest = partition.log.epoch_cache().latest_epoch();
        let Role::Follower(follower) = &mut partition.role else {
            return;
        };
        if follower.in_flight.is_some() {
            return;
        }
        let leader = follower.leader;
        let (FollowerPhase::Truncating, Some(asked)) = (follower.phase, latest) else {
            follower.phase = FollowerPhase::Fetching;
            return self.send_replica_fetch(ctx, leader);
        };
        follower.in_flight = Some(correlation);
        let request = Request::OffsetsForLeaderEpoch {
            correlation,
            replica: Some(me),
            tp,
            current_leader_epoch: epoch,
            leader_epoch: asked,
        };
        ctx.send(self.broker_node(leader), Msg::Request(request));
        let timeout = self.follower_timeout(leader, 0);
        let deadline = self.add_deadline(ctx, timeout, Deadline::Follower(tp, correlation));
        if let Some(old) = self.follower_deadlines.insert(tp, deadline) {
            self.deadlines.remove(old);
        }
    }

    /// Sends one fetch to `leader` for every partition this broker follows from it that is
    /// ready (fetching, nothing in flight, not backing off), as Kafka's `ReplicaFetcherThread`
    /// does: one fetch per source broker at a time, the partitions inside.
    pub(super) fn send_replica_fetch(&mut self, ctx: &mut Ctx<'_, Node>, leader: BrokerId) {
        if self.replica_fetchers.contains_key(&leader) {
            return;
        }
        let wanted = self.partitions.ready_to_fetch_from(leader, ctx.now());
        if wanted.is_empty() {
            return;
        }
        let correlation = self.next_id();
        let sent = wanted.clone();
        let config = &self.spec.config;
        let wait = config.replica_fetch_wait_max_ms;
        let request = Request::Fetch {
            correlation,
            replica: Some(self.id),
            max_wait_ms: wait,
            min_bytes: config.replica_fetch_min_bytes,
            read_committed: false,
            partitions: wanted,
        };
        ctx.send(self.broker_node(leader), Msg::Request(request));
        let timeout = self.follower_timeout(leader, wait);
        let deadline = self.add_deadline(ctx, timeout, Deadline::Fetcher(leader, correlation));
        let fetch = ReplicaFetch {
            correlation,
            deadline,
            sent,
        };
        self.replica_fetchers.insert(leader, fetch);
    }

    /// How long a follower request to `leader` that may wait `wait_ms` there goes unanswered
    /// before it is given up: `replica.socket.timeout.ms` on a connection the leader has answered
    /// on; on a new one (a first request, or the first since the connection closed), the
    /// connection setup timeout plus the wait, as Kafka's client gives up a connection attempt
    /// nobody answers (the leader's host cut off, say) after `socket.connection.setup.timeout.ms`
    /// and the fetcher backs off and tries again.
    fn follower_timeout(&self, leader: BrokerId, wait_ms: u64) -> crate::sim::SimDuration {
        let answered = REPLICA_SOCKET_TIMEOUT_MS.max(wait_ms + 1);
        if self.answered_by.contains(&self.broker_node(leader)) {
            millis(answered)
        } else {
            millis(answered.min(SOCKET_CONNECTION_SETUP_TIMEOUT_MS + wait_ms))
        }
    }

    /// Ends the fetch in flight to `leader` if `correlation` names it (answered or timed out);
    /// returns what it asked for.
    fn end_replica_fetch(
        &mut self,
        leader: BrokerId,
        correlation: u64,
    ) -> Option<Vec<FetchPartition>> {
        if self
            .replica_fetchers
            .get(&leader)
            .is_none_or(|f| f.correlation != correlation)
        {
            return None;
        }
        let fetch = self.replica_fetchers.remove(&leader)?;
        self.deadlines.remove(fetch.deadline);
        Some(fetch.sent)
    }

    /// Drops the fetch in flight to every leader this broker no longer follows any partition
    /// from, as Kafka shuts down idle fetcher threads after a `LeaderAndIsr`: its answer is
    /// ignored, and a later follower of that leader starts a fetch at once instead of waiting
    /// for it.
    pub(super) fn shut_down_idle_fetchers(&mut self) {
        let idle: Vec<BrokerId> = self
            .replica_fetchers
            .keys()
            .copied()
            .filter(|&leader| {
                !self
                    .partitions
                    .values()
                    .any(|p| matches!(&p.role, Role::Follower(f) if f.leader == leader))
            })
            .collect();
        for leader in idle {
            if let Some(fetch) = self.replica_fetchers.remove(&leader) {
                self.deadlines.remove(fetch.deadline);
            }
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

    /// A fetch to `leader` went unanswered: give it up and fetch again.
    pub(super) fn replica_fetch_timed_out(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        leader: BrokerId,
        correlation: u64,
    ) {
        if self.end_replica_fetch(leader, correlation).is_some() {
            self.send_replica_fetch(ctx, leader);
        }
    }

    /// Waits `replica.fetch.backoff.ms` before fetching `tp` again (after an error), leaving it
    /// out of the fetches to its leader meanwhile; `FetchRetry` then sends its next request.
    /// Partitions backing off together (a lost connection, one response's errors) end their
    /// backoff at the same instant and so go back into one fetch.
    pub(super) fn back_off(&mut self, ctx: &mut Ctx<'_, Node>, tp: TopicPartition) {
        let backoff = millis(self.spec.config.replica_fetch_backoff_ms);
        if let Some(Role::Follower(f)) = self.partitions.get_mut(&tp).map(|p| &mut p.role) {
            f.backoff_until = ctx.now() + backoff;
        }
        ctx.set_timer(backoff, Timer::Broker(BrokerTimer::FetchRetry(tp)));
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
                let Some(leader) = self.broker_id_of(from) else {
                    return;
                };
                let Some(sent) = self.end_replica_fetch(leader, correlation) else {
                    return;
                };
                for fetched in partitions {
                    let Ok(i) = sent.binary_search_by_key(&fetched.tp, |s| s.tp) else {
                        continue;
                    };
                    if self.still_fetching(leader, &sent[i]) {
                        self.on_fetched(ctx, fetched);
                    }
                }
                self.send_replica_fetch(ctx, leader);
            }
            Response::OffsetsForLeaderEpoch {
                correlation,
                tp,
                result,
            } => {
                self.on_epoch_end_offset(ctx, correlation, tp, result);
            }
            Response::ControllerAck { correlation } => {
                if let Some(broker) = self.broker_id_of(from) {
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

    /// Whether a partition's answer still applies, as Kafka's fetcher decides: the replica
    /// still follows `leader` in the epoch it asked in, is fetching, and its LEO is still the
    /// offset it asked from (it was not truncated or re-added meanwhile).
    fn still_fetching(&self, leader: BrokerId, sent: &FetchPartition) -> bool {
        self.partitions.get(&sent.tp).is_some_and(|p| {
            matches!(&p.role, Role::Follower(f)
                if f.leader == leader && f.phase == FollowerPhase::Fetching)
                && Some(p.leader_epoch) == sent.current_leader_epoch
                && p.log_end_offset() == sent.fetch_offset
        })
    }

    /// Takes one partition of a fetch response: appends its batches and follows the leader's
    /// HW, truncates, or backs off. The next fetch, for every ready partition, follows the
    /// whole response.
    fn on_fetched(&mut self, ctx: &mut Ctx<'_, Node>, fetched: FetchedPartition) {
        let tp = fetched.tp;
        let unchanged = |p: &super::partition::Partition| {
            let leo = p.log_end_offset();
            fetched.batches.iter().all(|b| b.next_offset() <= leo)
                && fetched.high_watermark.min(leo) == p.high_watermark
        };
        // Nothing new (the usual answer for most partitions of a fetch): no change to note.
        if fetched.error.is_none() && self.partitions.get(&tp).is_some_and(unchanged) {
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
            .expect("still fetching implies present");
        let mut ops = std::mem::take(&mut self.disk_ops_scratch);
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
                drain_disk_ops(ctx, &mut ops);
                self.disk_ops_scratch = ops;
                return;
            }
            // A gap: nothing can be appended; ask again after the backoff.
            Some(base) if base > leo => {
                drain_disk_ops(ctx, &mut ops);
                self.disk_ops_scratch = ops;
                return self.back_off(ctx, tp);
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
        drain_disk_ops(ctx, &mut ops);
        self.disk_ops_scratch = ops;
        let hw = fetched.high_watermark.min(partition.log_end_offset());
        if let Some(obs) = partition.set_high_watermark(hw) {
            ctx.observe(obs);
        }
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
            .expect("still fetching implies present");
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
            return;
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
            return;
        }
        self.back_off(ctx, tp);
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
            return self.back_off(ctx, tp);
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

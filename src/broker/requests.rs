//! The broker's request handlers: the controller's `LeaderAndIsr` and `UpdateMetadata`, the
//! client's `Produce` and `Metadata`, replica `Fetch` (with its long poll) and
//! `OffsetsForLeaderEpoch`; the produce purgatory; ISR shrink and expansion through conditional
//! writes to the metadata service.

use super::isr::HwRule;
use super::partition::Role;
use super::server::{Broker, Deadline, PendingFetch, ZkTag};
use super::zkpaths::{self, LeaderIsrJson};
use crate::node::{Msg, Node, Obs, millis, push_disk_ops};
use crate::protocol::UNDEFINED_EPOCH_OFFSET;
use crate::protocol::{
    BrokerId, FetchedPartition, KafkaError, PartitionState, Request, Response, TopicPartition,
};
use crate::scenario::ReplicationProtocol;
use crate::sim::{Ctx, NodeId};
use crate::zk::{ZkError, ZkOp, ZkReply};

/// Most bytes one replica fetch returns per partition (`replica.fetch.max.bytes`).
const REPLICA_FETCH_MAX_BYTES: u64 = 1_048_576;

impl Broker {
    /// Handles a request from `from`.
    pub(super) fn on_request(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, request: Request) {
        match request {
            Request::LeaderAndIsr {
                correlation,
                controller_id,
                controller_epoch,
                partitions,
            } => {
                self.ack_controller(ctx, from, correlation);
                if self.accept_controller(controller_id, controller_epoch) {
                    for state in partitions {
                        self.apply_leader_and_isr(ctx, state);
                    }
                    self.shut_down_idle_fetchers();
                    self.sync_group_coordinator(ctx);
                    self.sync_txn_coordinator(ctx);
                }
            }
            Request::UpdateMetadata {
                correlation,
                controller_id,
                controller_epoch,
                live_brokers,
                partitions,
            } => {
                self.ack_controller(ctx, from, correlation);
                if self.accept_controller(controller_id, controller_epoch) {
                    self.live_brokers = live_brokers;
                    for state in partitions {
                        self.metadata.insert(state.tp, state);
                    }
                }
            }
            Request::Produce {
                correlation,
                acks,
                timeout_ms,
                transactional_id,
                partitions,
            } => {
                let request = (correlation, acks, timeout_ms, transactional_id);
                self.handle_produce(ctx, from, request, partitions);
            }
            fetch @ Request::Fetch { .. } => self.handle_fetch(ctx, from, fetch, true),
            Request::OffsetsForLeaderEpoch {
                correlation,
                tp,
                current_leader_epoch,
                leader_epoch,
                ..
            } => {
                let result = self.epoch_end_offset(tp, current_leader_epoch, leader_epoch);
                let response = Response::OffsetsForLeaderEpoch {
                    correlation,
                    tp,
                    result,
                };
                ctx.send(from, Msg::Response(response));
            }
            Request::Metadata { correlation } => {
                let partitions = self.metadata.values().cloned().collect();
                ctx.send(
                    from,
                    Msg::Response(Response::Metadata {
                        correlation,
                        partitions,
                    }),
                );
            }
            Request::InitProducerId { correlation } => {
                self.handle_init_producer_id(ctx, from, correlation);
            }
            Request::IsrChangeNotification { tp } => {
                if let Some(controller) = &mut self.controller {
                    let mut out = Default::default();
                    controller.on_isr_change(tp, &mut out);
                    self.apply_controller_out(ctx, out);
                }
            }
        }
    }

    /// Acknowledges a controller request (not needed when the controller is this broker).
    fn ack_controller(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, correlation: u64) {
        if from != self.broker_node(self.id) {
            ctx.send(from, Msg::Response(Response::ControllerAck { correlation }));
        }
    }

    /// Fences requests from a controller older than the newest one seen.
    fn accept_controller(&mut self, controller_id: BrokerId, controller_epoch: u32) -> bool {
        if controller_epoch < self.controller_epoch {
            return false;
        }
        self.controller_epoch = controller_epoch;
        self.controller_id = Some(controller_id);
        true
    }

    /// Becomes leader or follower of one partition, if the state is newer than what it has.
    fn apply_leader_and_isr(&mut self, ctx: &mut Ctx<'_, Node>, state: PartitionState) {
        if !state.replicas.contains(&self.id) {
            return;
        }
        self.metadata.insert(state.tp, state.clone());
        let me = self.id;
        let phase = self.follower_phase();
        let now = ctx.now();
        let partition = self.partition_or_create(ctx, &state);
        let fresh = matches!(partition.role, Role::None);
        if state.leader_epoch == partition.leader_epoch
            && !fresh
            && state.leader == Some(me)
            && let Role::Leader(leader) = &mut partition.role
            && leader.isr.pending.is_none()
            && state.zk_version > leader.zk_version
        {
            // Same epoch, newer znode version: the leader's own ISR write landed though its
            // answer was lost. Take the state so later conditional writes use its version.
            leader.zk_version = state.zk_version;
            leader.isr.settle_from(state.isr.clone());
            partition.known_isr.clone_from(&state.isr);
            return;
        }
        if state.leader_epoch < partition.leader_epoch
            || (state.leader_epoch == partition.leader_epoch && !fresh)
        {
            return;
        }
        let mut ops = Vec::new();
        let known_isr = std::mem::replace(&mut partition.known_isr, state.isr.clone());
        let obs = match state.leader {
            Some(leader) if leader == me => {
                let role = partition.become_leader(&state, now, &mut ops);
                let sorted = |isr: &[BrokerId]| {
                    let mut isr = isr.to_vec();
                    isr.sort_unstable();
                    isr
                };
                if !known_isr.is_empty() && sorted(&known_isr) != sorted(&state.isr) {
                    // The controller changed the ISR with the leader (a broker died, or an
                    // election): the new leader's ISR is a change like its own writes.
                    ctx.observe(role);
                    Obs::Isr {
                        partition: partition.name.clone(),
                        isr: state.isr.clone(),
                        expanded: state.isr.len() > known_isr.len(),
                    }
                } else {
                    role
                }
            }
            Some(_) => {
                let role = partition.become_follower(&state, phase);
                ctx.observe(role);
                if phase == super::partition::FollowerPhase::Fetching {
                    // Classic protocol: truncate to the replica's own HW before fetching.
                    let hw = partition.high_watermark;
                    if let Some(obs) = partition.truncate_to(hw, "hw", now, &mut ops) {
                        ctx.observe(obs);
                        ctx.observe(partition.leo_obs());
                    }
                }
                push_disk_ops(ctx, ops);
                self.fail_produces(ctx, state.tp);
                self.send_follower_request(ctx, state.tp);
                return;
            }
            None => partition.become_idle(&state),
        };
        ctx.observe(obs);
        push_disk_ops(ctx, ops);
        if state.leader != Some(me) {
            self.fail_produces(ctx, state.tp);
        } else {
            self.update_hw(ctx, state.tp);
        }
    }

    /// The HW rule of a partition's topic.
    pub(super) fn hw_rule(&self, tp: TopicPartition) -> HwRule {
        let topic = &self.spec.topics[tp.topic as usize];
        HwRule {
            min_insync_replicas: topic.log.min_insync_replicas,
            waits_for_min_isr: self.spec.hw_waits_for_min_isr,
            lag_max: millis(self.spec.config.replica_lag_time_max_ms),
        }
    }

    /// Recomputes a leader's HW; on a move, completes produces and long-polling fetches.
    pub(super) fn update_hw(&mut self, ctx: &mut Ctx<'_, Node>, tp: TopicPartition) {
        let rule = self.hw_rule(tp);
        let now = ctx.now();
        // A HW at the LEO cannot move (most partitions of a fetch, most of the time).
        if self
            .partitions
            .get(&tp)
            .is_none_or(|p| p.high_watermark == p.log_end_offset())
        {
            return;
        }
        let live = &self.live_brokers;
        let Some(partition) = self.partitions.get_mut(&tp) else {
            return;
        };
        let eligible = |id: BrokerId| live.is_empty() || live.contains(&id);
        if let Some(obs) = partition.maybe_increment_hw(eligible, now, rule) {
            ctx.observe(obs);
            self.complete_produces(ctx, tp);
            self.wake_fetches(ctx, tp, true);
            self.on_group_high_watermark(ctx, tp);
            self.on_txn_high_watermark(ctx, tp);
        }
    }

    /// Serves a fetch; with `may_wait` and nothing to return, it long-polls.
    fn handle_fetch(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        from: NodeId,
        request: Request,
        may_wait: bool,
    ) {
        let Request::Fetch {
            correlation,
            replica,
            max_wait_ms,
            min_bytes,
            read_committed,
            partitions: wanted,
        } = &request
        else {
            unreachable!("handle_fetch takes fetches");
        };
        let (correlation, replica, read_committed) = (*correlation, *replica, *read_committed);
        let now = ctx.now();
        // Most fetches find nothing new in any partition and wait: see that without building
        // the answers (a read of a caught-up partition returns nothing and no error).
        let mut caught_up = std::mem::take(&mut self.caught_up_scratch);
        caught_up.extend(
            wanted
                .iter()
                .map(|want| self.caught_up_read(want, replica, read_committed)),
        );
        let all_caught_up = *min_bytes <= 1 && caught_up.iter().all(Option::is_some);
        let answers = (!all_caught_up)
            .then(|| self.fetch_answers(wanted, &caught_up, replica, read_committed));
        // Kafka's delayed fetch: answer once `fetch.min.bytes` are there, on an error, or when
        // `max_wait_ms` runs out.
        let enough = answers.as_ref().is_some_and(|answers| {
            let bytes: u64 = answers
                .iter()
                .flat_map(|a| &a.batches)
                .map(|b| b.size_bytes())
                .sum();
            answers.iter().any(|a| a.error.is_some()) || bytes >= u64::from((*min_bytes).max(1))
        });
        // Kafka updates the follower's state after the read (the response carries the old HW),
        // once per fetch: not again when a long poll completes.
        let follower = replica.filter(|_| may_wait);
        let mut fetched = std::mem::take(&mut self.fetch_offsets_scratch);
        if follower.is_some() {
            fetched.extend(wanted.iter().map(|want| (want.tp, want.fetch_offset)));
        }
        if may_wait && !enough && *max_wait_ms > 0 {
            let id = self.next_id();
            let deadline = self.add_deadline(ctx, millis(*max_wait_ms), Deadline::FetchWake(id));
            self.fetches.push(PendingFetch {
                id,
                deadline,
                from,
                request,
            });
        } else {
            let partitions = answers
                .unwrap_or_else(|| self.fetch_answers(wanted, &caught_up, replica, read_committed));
            let response = Response::Fetch {
                correlation,
                partitions,
            };
            ctx.send(from, Msg::Response(response));
        }
        if let Some(follower) = follower {
            for &(tp, fetch_offset) in &fetched {
                self.record_follower_fetch(ctx, tp, follower, fetch_offset, now);
            }
        }
        fetched.clear();
        self.fetch_offsets_scratch = fetched;
        caught_up.clear();
        self.caught_up_scratch = caught_up;
    }

    /// The answers to a fetch, by partition in request order; `caught_up` says which reads
    /// return nothing and no error (see [`Broker::caught_up_read`]). A follower is told only
    /// what changes something for it: a caught-up partition whose HW it already has is left
    /// out, as its fetcher would pass over it (no data, no error, the HW it has), as an
    /// incremental fetch session (KIP-227) leaves out partitions with no new data and an
    /// unchanged HW.
    fn fetch_answers(
        &self,
        wanted: &[crate::protocol::FetchPartition],
        caught_up: &[Option<u64>],
        replica: Option<BrokerId>,
        read_committed: bool,
    ) -> Vec<FetchedPartition> {
        let mut answers = Vec::with_capacity(wanted.len());
        for (want, &caught_up) in wanted.iter().zip(caught_up) {
            let unchanged = replica.is_some()
                && caught_up.is_some()
                && want.follower_high_watermark == caught_up;
            if !unchanged {
                answers.push(self.read_partition(want, replica, read_committed));
            }
        }
        answers
    }

    /// Whether reading `want` would return no batches and no error (this broker leads the
    /// partition in the epoch asked for, and the fetch offset is at the read's upper bound, as
    /// [`Broker::read_partition`] would find without building the answer): if so, the HW a
    /// follower takes from the answer (the leader's, cut to its fetch offset).
    fn caught_up_read(
        &self,
        want: &crate::protocol::FetchPartition,
        replica: Option<BrokerId>,
        read_committed: bool,
    ) -> Option<u64> {
        let partition = self.partitions.get(&want.tp).filter(|p| p.is_leader())?;
        if want
            .current_leader_epoch
            .is_some_and(|e| e != partition.leader_epoch)
        {
            return None;
        }
        let log_end_offset = partition.log_end_offset();
        let upper = read_upper_bound(partition, replica, read_committed);
        let caught_up = want.fetch_offset >= partition.log.log_start_offset()
            && want.fetch_offset <= log_end_offset
            && want.fetch_offset >= upper.min(log_end_offset);
        caught_up.then(|| partition.high_watermark.min(want.fetch_offset))
    }

    /// Reads one partition for a fetch (followers up to the LEO, consumers up to the HW, or
    /// `read_committed` consumers up to the LSO with the aborted transactions of the range).
    fn read_partition(
        &self,
        want: &crate::protocol::FetchPartition,
        replica: Option<BrokerId>,
        read_committed: bool,
    ) -> FetchedPartition {
        let (tp, fetch_offset) = (want.tp, want.fetch_offset);
        let mut answer = FetchedPartition {
            tp,
            error: None,
            high_watermark: 0,
            log_start_offset: 0,
            log_end_offset: 0,
            last_stable_offset: 0,
            aborted_transactions: Vec::new(),
            batches: Vec::new(),
        };
        let Some(partition) = self.partitions.get(&tp).filter(|p| p.is_leader()) else {
            answer.error = Some(KafkaError::NotLeaderOrFollower);
            return answer;
        };
        answer.high_watermark = partition.high_watermark;
        answer.log_start_offset = partition.log.log_start_offset();
        answer.log_end_offset = partition.log_end_offset();
        answer.last_stable_offset = partition.log.last_stable_offset(partition.high_watermark);
        match want.current_leader_epoch {
            Some(e) if e < partition.leader_epoch => {
                answer.error = Some(KafkaError::FencedLeaderEpoch)
            }
            Some(e) if e > partition.leader_epoch => {
                answer.error = Some(KafkaError::UnknownLeaderEpoch)
            }
            _ => {
                let upper = read_upper_bound(partition, replica, read_committed);
                match partition
                    .log
                    .read(fetch_offset, REPLICA_FETCH_MAX_BYTES, upper)
                {
                    Ok(batches) => answer.batches = batches,
                    Err(_) => answer.error = Some(KafkaError::OffsetOutOfRange),
                }
                if read_committed && let Some(last) = answer.batches.last() {
                    answer.aborted_transactions = partition
                        .log
                        .aborted_transactions(fetch_offset, last.next_offset());
                }
            }
        }
        answer
    }

    /// Updates a follower's state on the leader; may expand the ISR and move the HW.
    fn record_follower_fetch(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        tp: TopicPartition,
        follower: BrokerId,
        fetch_offset: u64,
        now: crate::sim::SimTime,
    ) {
        let live = &self.live_brokers;
        let eligible = live.is_empty() || live.contains(&follower);
        let Some(partition) = self.partitions.get_mut(&tp) else {
            return;
        };
        let expanded = partition
            .on_follower_fetch(follower, fetch_offset, now)
            .filter(|_| eligible);
        let hw_at_leo = partition.high_watermark == partition.log_end_offset();
        match expanded {
            Some(isr) => self.propose_isr(ctx, tp, isr),
            // `update_hw` would find nothing to move; spare it the lookup.
            None if hw_at_leo => return,
            None => {}
        }
        self.update_hw(ctx, tp);
    }

    /// Answers a waiting fetch with whatever there is (its long poll ran out, or it has data).
    pub(super) fn wake_fetch(&mut self, ctx: &mut Ctx<'_, Node>, id: u64) {
        if let Some(i) = self.fetches.iter().position(|f| f.id == id) {
            let pending = self.fetches.remove(i);
            self.deadlines.remove(pending.deadline);
            self.handle_fetch(ctx, pending.from, pending.request, false);
        }
    }

    /// New data on `tp`: complete the fetches waiting on it that now have something to return.
    pub(super) fn wake_fetches_for(&mut self, ctx: &mut Ctx<'_, Node>, tp: TopicPartition) {
        self.wake_fetches(ctx, tp, false);
    }

    /// Completes the fetches waiting on `tp` that now have something to return, as Kafka's
    /// `DelayedFetch.tryComplete` does (an append below a consumer's bound, or one that does not
    /// move the HW a consumer reads to, leaves it waiting); with `consumers_only`, only consumer
    /// fetches (they read below the HW, so a higher HW is new data for them; a follower's long
    /// poll is not answered for a new HW alone, as in Kafka).
    fn wake_fetches(&mut self, ctx: &mut Ctx<'_, Node>, tp: TopicPartition, consumers_only: bool) {
        // A fetch asking for more than a byte waits out its `max_wait_ms` instead: counting the
        // bytes on every append would cost a read per append.
        let wakes = |f: &PendingFetch| {
            matches!(&f.request, Request::Fetch { partitions, min_bytes, replica, .. }
            if *min_bytes <= 1
                && (replica.is_none() || !consumers_only)
                && partitions.iter().any(|p| p.tp == tp))
        };
        let mut waiting = std::mem::take(&mut self.waking_scratch);
        waiting.extend(self.fetches.iter().filter(|f| wakes(f)).map(|f| f.id));
        for &id in &waiting {
            self.try_complete_fetch(ctx, id);
        }
        waiting.clear();
        self.waking_scratch = waiting;
    }

    /// Answers the waiting fetch `id` if any of its partitions has something to return (data
    /// or an error); otherwise it keeps waiting.
    fn try_complete_fetch(&mut self, ctx: &mut Ctx<'_, Node>, id: u64) {
        let Some(pending) = self.fetches.iter().find(|f| f.id == id) else {
            return;
        };
        let Request::Fetch {
            replica,
            read_committed,
            partitions,
            ..
        } = &pending.request
        else {
            unreachable!("pending fetches are fetches");
        };
        let nothing_yet = partitions.iter().all(|want| {
            self.caught_up_read(want, *replica, *read_committed)
                .is_some()
        });
        if !nothing_yet {
            self.wake_fetch(ctx, id);
        }
    }

    /// The leader's answer to `OffsetsForLeaderEpoch`, by the configured protocol.
    fn epoch_end_offset(
        &self,
        tp: TopicPartition,
        current_leader_epoch: u32,
        leader_epoch: u32,
    ) -> Result<(u32, u64), KafkaError> {
        let partition = self
            .partitions
            .get(&tp)
            .filter(|p| p.is_leader())
            .ok_or(KafkaError::NotLeaderOrFollower)?;
        if current_leader_epoch > partition.leader_epoch {
            return Err(KafkaError::UnknownLeaderEpoch);
        }
        let leo = partition.log_end_offset();
        match self.spec.protocol {
            ReplicationProtocol::Kip101 => {
                // Kafka 0.11's `endOffsetFor`: an epoch older than the cache's first is
                // undefined (the follower then falls back to its HW).
                let first = partition
                    .log
                    .epoch_cache()
                    .entries()
                    .first()
                    .map(|e| e.epoch);
                if first.is_some_and(|first| leader_epoch < first) {
                    return Ok((leader_epoch, UNDEFINED_EPOCH_OFFSET));
                }
                let offset = partition
                    .log
                    .start_offset_of_first_epoch_after(leader_epoch)
                    .unwrap_or(leo);
                Ok((leader_epoch, offset.min(leo)))
            }
            _ => Ok(partition
                .log
                .end_offset_for_epoch(leader_epoch)
                .unwrap_or((leader_epoch, leo))),
        }
    }

    /// The ISR shrink check: propose removing every out-of-sync follower.
    pub(super) fn maybe_shrink_isr(&mut self, ctx: &mut Ctx<'_, Node>) {
        let now = ctx.now();
        let lag = millis(self.spec.config.replica_lag_time_max_ms);
        let mut proposals = Vec::new();
        for partition in self.partitions.values() {
            let Role::Leader(leader) = &partition.role else {
                continue;
            };
            let leo = partition.log_end_offset();
            if let Some(out) =
                leader
                    .isr
                    .shrink_candidates(self.id, leo, &leader.followers, now, lag)
            {
                let isr = leader
                    .isr
                    .committed
                    .iter()
                    .copied()
                    .filter(|id| !out.contains(id))
                    .collect();
                proposals.push((partition.tp, isr));
            }
        }
        for (tp, isr) in proposals {
            self.propose_isr(ctx, tp, isr);
        }
    }

    /// Writes a new ISR to the partition's state znode, conditional on its version.
    fn propose_isr(&mut self, ctx: &mut Ctx<'_, Node>, tp: TopicPartition, mut isr: Vec<BrokerId>) {
        isr.sort_unstable();
        let Some(partition) = self.partitions.get_mut(&tp) else {
            return;
        };
        let epoch = partition.leader_epoch;
        let Role::Leader(leader) = &mut partition.role else {
            return;
        };
        leader.isr.propose(isr.clone());
        let version = leader.zk_version;
        let topic = &self.spec.topics[tp.topic as usize].name;
        let path = zkpaths::state_path(topic, tp.partition);
        let data = LeaderIsrJson::encode(self.controller_epoch, Some(self.id), epoch, &isr);
        let op = ZkOp::SetData {
            path,
            data,
            version: Some(version),
        };
        self.zk_op(ctx, op, ZkTag::IsrWrite { tp, epoch, isr });
        // Not connected: the request never left, so the change is not in flight.
        if !self.zk.is_connected()
            && let Some(Role::Leader(leader)) = self.partitions.get_mut(&tp).map(|p| &mut p.role)
        {
            leader.isr.settle(None);
        }
    }

    /// The metadata service answered a conditional ISR write.
    pub(super) fn on_isr_written(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        tp: TopicPartition,
        epoch: u32,
        isr: Vec<BrokerId>,
        result: Result<ZkReply, ZkError>,
    ) {
        let Some(partition) = self.partitions.get_mut(&tp) else {
            return;
        };
        if partition.leader_epoch != epoch {
            return;
        }
        let name = partition.name.clone();
        let Role::Leader(leader) = &mut partition.role else {
            return;
        };
        if leader.isr.pending.as_ref().map(|p| &p.proposed) != Some(&isr) {
            return;
        }
        match result {
            Ok(ZkReply::Stat(stat)) => {
                let expanded = isr.len() > leader.isr.committed.len();
                leader.isr.settle(Some(isr.clone()));
                leader.zk_version = stat.version;
                partition.known_isr.clone_from(&isr);
                ctx.observe(Obs::Isr {
                    partition: name,
                    isr,
                    expanded,
                });
                if let Some(controller) = self.controller_id {
                    let note = Request::IsrChangeNotification { tp };
                    if controller == self.id {
                        self.on_request(ctx, self.broker_node(controller), note);
                    } else {
                        ctx.send(self.broker_node(controller), Msg::Request(note));
                    }
                }
                self.update_hw(ctx, tp);
            }
            other => {
                leader.isr.settle(None);
                let why = other
                    .err()
                    .map_or("unexpected reply".to_owned(), |e| e.to_string());
                ctx.observe(Obs::Note(format!(
                    "{name} ISR update to {isr:?} refused: {why}"
                )));
                // The write may have landed (its answer lost) or the znode moved on: read it, as
                // Kafka's leader does, and adopt it if it still names this leader and epoch.
                let topic = &self.spec.topics[tp.topic as usize].name;
                let op = ZkOp::GetData {
                    path: zkpaths::state_path(topic, tp.partition),
                    watch: false,
                };
                self.zk_op(ctx, op, ZkTag::IsrReread { tp, epoch });
            }
        }
    }

    /// The partition state re-read after a refused or lost ISR write: adopt its ISR and version
    /// if it is still this leader's epoch (otherwise a newer leader exists and the controller
    /// will say so).
    pub(super) fn on_isr_reread(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        tp: TopicPartition,
        epoch: u32,
        result: Result<ZkReply, ZkError>,
    ) {
        let Ok(ZkReply::Data { data, stat }) = result else {
            return;
        };
        let Some(json) = LeaderIsrJson::decode(&data) else {
            return;
        };
        let me = self.id;
        let Some(partition) = self.partitions.get_mut(&tp) else {
            return;
        };
        if partition.leader_epoch != epoch
            || json.leader_epoch != epoch
            || json.leader() != Some(me)
        {
            return;
        }
        let name = partition.name.clone();
        let Role::Leader(leader) = &mut partition.role else {
            return;
        };
        if leader.isr.pending.is_some() {
            return;
        }
        leader.zk_version = stat.version;
        let mut isr = json.isr.clone();
        isr.sort_unstable();
        if isr != leader.isr.committed {
            let expanded = isr.len() > leader.isr.committed.len();
            leader.isr.settle_from(isr.clone());
            partition.known_isr.clone_from(&isr);
            ctx.observe(Obs::Isr {
                partition: name,
                isr,
                expanded,
            });
            self.update_hw(ctx, tp);
        }
    }
}

/// Where a fetch of `partition` may read up to: followers to the LEO, consumers to the HW, or
/// `read_committed` consumers to the LSO.
fn read_upper_bound(
    partition: &super::partition::Partition,
    replica: Option<BrokerId>,
    read_committed: bool,
) -> u64 {
    match (replica, read_committed) {
        (Some(_), _) => partition.log_end_offset(),
        (None, false) => partition.high_watermark,
        (None, true) => partition.log.last_stable_offset(partition.high_watermark),
    }
}

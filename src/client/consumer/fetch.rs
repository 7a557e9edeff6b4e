//! The consumer's fetcher: metadata, starting positions (committed offsets through
//! `OffsetFetch`, else `auto.offset.reset` through `ListOffsets`), and long-polling fetches to
//! partition leaders, one request per leader for every assigned partition with nothing buffered.

use super::{Consumer, ConsumerObs, Kind};
use crate::client::committed::AbortedFilter;
use crate::node::{Msg, Node, Obs, millis};
use crate::protocol::consumer::{CommittedOffset, OffsetSpec};
use crate::protocol::{
    BrokerId, ConsumerRequest, FetchPartition, FetchedPartition, KafkaError, PartitionState,
    Request, TopicPartition,
};
use crate::scenario::AutoOffsetReset;
use crate::sim::Ctx;

impl Consumer {
    /// Asks a broker for metadata, unless a request is in flight.
    pub(super) fn request_metadata(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.in_flight_kind(|k| *k == Kind::Metadata) {
            return;
        }
        let correlation = self.correlation();
        let broker = (correlation % self.spec.brokers.len() as u64) as BrokerId;
        self.metadata_at = Some(ctx.now());
        self.send(
            ctx,
            broker,
            Msg::Request(Request::Metadata { correlation }),
            Kind::Metadata,
        );
    }

    pub(super) fn on_metadata(&mut self, partitions: Vec<PartitionState>) {
        for state in partitions {
            self.leader_epochs.insert(state.tp, state.leader_epoch);
            if self.spec.validate_positions
                && let Some(a) = self.assigned.get_mut(&state.tp)
            {
                a.validating |= a.position_epoch.is_some()
                    && a.validated_epoch
                        .is_some_and(|valid| state.leader_epoch > valid);
            }
            match state.leader {
                Some(l) if (l as usize) < self.spec.brokers.len() => {
                    self.leaders.insert(state.tp, l);
                }
                _ => {
                    self.leaders.remove(&state.tp);
                }
            }
        }
    }

    /// Fetches every assigned partition that has a position, a leader, nothing buffered and
    /// nothing in flight: one request per leader.
    pub(super) fn send_fetches(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.state != super::MemberState::Stable && self.assigned.is_empty() {
            return;
        }
        let mut by_leader: std::collections::BTreeMap<BrokerId, Vec<(TopicPartition, u64)>> =
            Default::default();
        let mut leaderless = false;
        let mut validations = Vec::new();
        for (tp, a) in &self.assigned {
            let Some(position) = a.position else {
                continue;
            };
            if a.busy || a.failed || !a.buffer.is_empty() {
                continue;
            }
            match self.leaders.get(tp) {
                // KIP-320: a position awaiting validation is not fetched until validated.
                Some(_) if a.validating => validations.push(*tp),
                Some(&leader) => by_leader.entry(leader).or_default().push((*tp, position)),
                None => leaderless = true,
            }
        }
        if leaderless {
            self.request_metadata(ctx);
        }
        self.send_validations(ctx, validations);
        for (leader, parts) in by_leader {
            for (tp, _) in &parts {
                let epoch = self.leader_epochs.get(tp).copied();
                if let Some(a) = self.assigned.get_mut(tp) {
                    a.busy = true;
                    // A position first fetched under this leader is valid under it.
                    a.validated_epoch = a.validated_epoch.or(epoch);
                }
            }
            let correlation = self.correlation();
            let request = Request::Fetch {
                correlation,
                replica: None,
                max_wait_ms: self.spec.config.fetch_max_wait_ms,
                min_bytes: self.spec.config.fetch_min_bytes,
                read_committed: self.spec.config.isolation_level
                    == crate::scenario::IsolationLevel::ReadCommitted,
                partitions: parts
                    .iter()
                    .map(|&(tp, fetch_offset)| FetchPartition {
                        tp,
                        fetch_offset,
                        current_leader_epoch: self.current_leader_epoch(tp),
                        follower_high_watermark: None,
                    })
                    .collect(),
            };
            self.send(ctx, leader, Msg::Request(request), Kind::Fetch(parts));
        }
    }

    /// Buffers what a fetch returned for partitions still assigned at the same position.
    pub(super) fn on_fetched(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        request: super::InFlight,
        partitions: Vec<FetchedPartition>,
    ) {
        let Kind::Fetch(asked) = request.kind else {
            return;
        };
        for (tp, _) in &asked {
            if let Some(a) = self.assigned.get_mut(tp) {
                a.busy = false;
            }
        }
        let mut refresh = false;
        for fetched in partitions {
            let Some(&(_, fetch_offset)) = asked.iter().find(|(tp, _)| *tp == fetched.tp) else {
                continue;
            };
            let Some(a) = self.assigned.get_mut(&fetched.tp) else {
                continue;
            };
            if a.position != Some(fetch_offset) || !a.buffer.is_empty() {
                continue;
            }
            match fetched.error {
                None => {
                    // read_uncommitted answers list no aborted transactions: only control
                    // batches are dropped.
                    let mut filter = AbortedFilter::new(fetched.aborted_transactions);
                    let mut next = fetch_offset;
                    for batch in &fetched.batches {
                        next = next.max(batch.next_offset());
                        if !filter.keep(batch) {
                            continue;
                        }
                        let epoch = batch.partition_leader_epoch;
                        for (i, record) in batch.records.iter().enumerate() {
                            let offset = batch.base_offset + i as u64;
                            if offset >= fetch_offset {
                                a.buffer.push_back((offset, record.id, epoch));
                            }
                        }
                    }
                    if a.buffer.is_empty() {
                        // Only markers or aborted data: the position moves past them.
                        a.position = Some(next);
                    }
                }
                Some(KafkaError::OffsetOutOfRange) => {
                    let tp = fetched.tp;
                    self.reset_position(ctx, tp, "out of range");
                }
                Some(_) => refresh = true,
            }
        }
        if refresh {
            self.request_metadata(ctx);
        }
    }

    /// Asks the coordinator for committed offsets of partitions without a position.
    pub(super) fn init_positions(&mut self, ctx: &mut Ctx<'_, Node>) {
        let Some(coordinator) = self.coordinator else {
            return;
        };
        if ctx.now() < self.offset_fetch_not_before {
            return;
        }
        let missing: Vec<TopicPartition> = self
            .assigned
            .iter()
            .filter(|(_, a)| a.position.is_none() && !a.busy && !a.failed)
            .map(|(tp, _)| *tp)
            .collect();
        if missing.is_empty() {
            return;
        }
        for tp in &missing {
            self.assigned.get_mut(tp).expect("listed").busy = true;
        }
        let correlation = self.correlation();
        let request = ConsumerRequest::OffsetFetch {
            correlation,
            group: self.spec.group.clone(),
            partitions: missing.clone(),
            // KIP-447: a read_committed consumer waits out offsets pending in a transaction.
            require_stable: self.spec.config.isolation_level
                == crate::scenario::IsolationLevel::ReadCommitted,
        };
        self.send(
            ctx,
            coordinator,
            Msg::Consumer(Box::new(request)),
            Kind::OffsetFetch(missing),
        );
    }

    /// Committed offsets arrived: positions start there, or by `auto.offset.reset`.
    pub(super) fn on_offsets_fetched(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        request: super::InFlight,
        result: Result<Vec<(TopicPartition, Option<CommittedOffset>)>, KafkaError>,
    ) {
        let Kind::OffsetFetch(asked) = request.kind else {
            return;
        };
        for tp in &asked {
            if let Some(a) = self.assigned.get_mut(tp) {
                a.busy = false;
            }
        }
        let offsets = match result {
            Ok(offsets) => offsets,
            Err(error) => {
                if matches!(
                    error,
                    KafkaError::NotCoordinator | KafkaError::CoordinatorNotAvailable
                ) {
                    self.coordinator_unknown(ctx);
                }
                // Asked again after `retry.backoff.ms` (UNSTABLE_OFFSET_COMMIT: a transaction's
                // marker is on its way).
                self.offset_fetch_not_before = ctx.now() + millis(super::RETRY_BACKOFF_MS);
                return;
            }
        };
        for (tp, committed) in offsets {
            let Some(a) = self.assigned.get_mut(&tp) else {
                continue;
            };
            if a.position.is_some() {
                continue;
            }
            match committed {
                Some(CommittedOffset {
                    offset,
                    leader_epoch,
                }) => {
                    // KIP-320 (`seekUnvalidated`): a committed offset with its leader epoch awaits
                    // validation against the leader before it is fetched.
                    let leader_epoch = leader_epoch.filter(|_| self.spec.validate_positions);
                    a.position = Some(offset);
                    a.position_epoch = leader_epoch;
                    a.validated_epoch = None;
                    a.validating = leader_epoch.is_some();
                    ctx.observe(Obs::Consumer(ConsumerObs::Seek {
                        partition: self.names[&tp].clone(),
                        offset,
                        why: "committed",
                    }));
                }
                None => self.reset_position(ctx, tp, "no committed offset"),
            }
        }
    }

    /// Applies `auto.offset.reset` to `tp`: ask its leader for the log start or end.
    pub(super) fn reset_position(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        tp: TopicPartition,
        why: &str,
    ) {
        let spec = match self.spec.config.auto_offset_reset {
            AutoOffsetReset::Earliest => OffsetSpec::Earliest,
            AutoOffsetReset::Latest => OffsetSpec::Latest,
            AutoOffsetReset::None => {
                if let Some(a) = self.assigned.get_mut(&tp) {
                    a.failed = true;
                    a.position = None;
                }
                let name = &self.names[&tp];
                ctx.observe(Obs::Note(format!(
                    "{name}: {why} and auto.offset.reset=none"
                )));
                self.poll_exception = Some(format!("NoOffsetForPartitionException ({name})"));
                return;
            }
        };
        let Some(&leader) = self.leaders.get(&tp) else {
            if let Some(a) = self.assigned.get_mut(&tp) {
                a.position = None;
            }
            self.request_metadata(ctx);
            return;
        };
        let Some(a) = self.assigned.get_mut(&tp) else {
            return;
        };
        a.position = None;
        a.busy = true;
        a.buffer.clear();
        let correlation = self.correlation();
        let request = ConsumerRequest::ListOffsets {
            correlation,
            partitions: vec![(tp, spec)],
        };
        self.send(
            ctx,
            leader,
            Msg::Consumer(Box::new(request)),
            Kind::ListOffsets(vec![tp]),
        );
    }

    /// Log offsets arrived: positions reset there.
    pub(super) fn on_list_offsets(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        partitions: Vec<(TopicPartition, Result<u64, KafkaError>)>,
    ) {
        let why = match self.spec.config.auto_offset_reset {
            AutoOffsetReset::Earliest => "reset-earliest",
            _ => "reset-latest",
        };
        for (tp, result) in partitions {
            let Some(a) = self.assigned.get_mut(&tp) else {
                continue;
            };
            a.busy = false;
            match result {
                Ok(offset) if a.position.is_none() => {
                    a.position = Some(offset);
                    a.position_epoch = None;
                    a.validated_epoch = None;
                    a.validating = false;
                    ctx.observe(Obs::Consumer(ConsumerObs::Seek {
                        partition: self.names[&tp].clone(),
                        offset,
                        why,
                    }));
                }
                Ok(_) => {}
                // No position: the next poll asks for the committed offset again.
                Err(_) => self.request_metadata(ctx),
            }
        }
    }
}

//! KIP-320 on the consumer (Kafka ≥ 2.1's position validation in `SubscriptionState`): fetches
//! carry the partition leader epoch the consumer knows (`current_leader_epoch`), so a stale
//! leader answers `FENCED_LEADER_EPOCH` and a lagging one `UNKNOWN_LEADER_EPOCH` (both refresh
//! metadata). When metadata shows a newer leader epoch than the one a position was valid under,
//! or the position comes from a committed offset carrying a leader epoch (`seekUnvalidated`:
//! commits carry the epoch of the last consumed record, Kafka's `OffsetAndMetadata.leaderEpoch`),
//! the consumer asks the leader with `OffsetsForLeaderEpoch(that epoch)` where it ends, before
//! fetching. An end below the position means the log was
//! truncated under it (an unclean election): with `auto.offset.reset` earliest or latest the
//! position moves back to the divergence point (Kafka's "Truncation detected … resetting offset
//! to the first offset known to diverge"); with `none` the application gets
//! `LogTruncationException` from its next `poll()` and, without a handler, exits.
//!
//! Left out: the leader epoch `ListOffsets` returns (a position from `auto.offset.reset` is
//! validated only once records were consumed from it) and validation under the older replication
//! protocols (their clients predate KIP-320 and commit no epochs).

use super::{Consumer, ConsumerObs, Kind};
use crate::node::{Msg, Node, Obs};
use crate::protocol::{BrokerId, KafkaError, Request, TopicPartition, UNDEFINED_EPOCH_OFFSET};
use crate::scenario::AutoOffsetReset;
use crate::sim::Ctx;

impl Consumer {
    /// The leader epoch a fetch of `tp` carries, if the client sends one.
    pub(super) fn current_leader_epoch(&self, tp: TopicPartition) -> Option<u32> {
        if !self.spec.validate_positions {
            return None;
        }
        self.leader_epochs.get(&tp).copied()
    }

    /// Sends `OffsetsForLeaderEpoch` for the positions of `partitions`, which await validation.
    pub(super) fn send_validations(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        partitions: Vec<TopicPartition>,
    ) {
        let due: Vec<(TopicPartition, u64, u32, u32, BrokerId)> = partitions
            .into_iter()
            .filter_map(|tp| {
                let a = self.assigned.get(&tp)?;
                Some((
                    tp,
                    a.position?,
                    a.position_epoch?,
                    *self.leader_epochs.get(&tp)?,
                    *self.leaders.get(&tp)?,
                ))
            })
            .collect();
        for (tp, position, epoch, current, leader) in due {
            if let Some(a) = self.assigned.get_mut(&tp) {
                a.busy = true;
                a.buffer.clear();
            }
            let correlation = self.correlation();
            let request = Request::OffsetsForLeaderEpoch {
                correlation,
                replica: None,
                tp,
                current_leader_epoch: current,
                leader_epoch: epoch,
            };
            let kind = Kind::Validate(tp, position);
            self.send(ctx, leader, Msg::Request(request), kind);
        }
    }

    /// The leader's answer: the position stands, or the log was truncated under it.
    pub(super) fn on_validated(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        kind: Kind,
        result: Result<(u32, u64), KafkaError>,
    ) {
        let Kind::Validate(tp, asked) = kind else {
            return;
        };
        let current = self.leader_epochs.get(&tp).copied();
        let reset = self.spec.config.auto_offset_reset;
        let Some(a) = self.assigned.get_mut(&tp) else {
            return;
        };
        a.busy = false;
        if a.position != Some(asked) {
            return;
        }
        let (epoch, end_offset) = match result {
            Ok(answer) => answer,
            Err(_) => return self.request_metadata(ctx),
        };
        a.validating = false;
        if end_offset == UNDEFINED_EPOCH_OFFSET {
            return self.reset_position(ctx, tp, "log truncation (undefined epoch)");
        }
        if end_offset >= asked {
            a.validated_epoch = current;
            return;
        }
        let name = self.names[&tp].clone();
        if reset == AutoOffsetReset::None {
            a.failed = true;
            a.position = None;
            ctx.observe(Obs::Note(format!(
                "{name}: log truncation detected: position {asked} is past the end {end_offset} \
                 of leader epoch {epoch}, and auto.offset.reset=none"
            )));
            self.poll_exception = Some(format!("LogTruncationException ({name})"));
            return;
        }
        a.position = Some(end_offset);
        a.position_epoch = Some(epoch);
        a.validated_epoch = current;
        ctx.observe(Obs::Note(format!(
            "{name}: log truncation detected: position {asked} is past the end {end_offset} of \
             leader epoch {epoch}; seeking to the divergence point"
        )));
        ctx.observe(Obs::Consumer(ConsumerObs::Seek {
            partition: name,
            offset: end_offset,
            why: "truncation",
        }));
    }
}

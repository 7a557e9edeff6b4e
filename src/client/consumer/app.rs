//! The consumer's application: `poll()` takes up to `max.poll.records` buffered records,
//! partition by partition from a rotating start, and processing takes a drawn `processing_ms`
//! per record; an after-processing consumer then commits.

use rand::RngExt;

use super::{App, Consumer, ConsumerObs, ConsumerTimer, Polled};
use crate::node::{Node, Obs, Timer};
use crate::protocol::TopicPartition;
use crate::record::RecordId;
use crate::scenario::CommitPolicy;
use crate::sim::{Ctx, SimDuration};

impl Consumer {
    /// Starts processing a poll's records: each takes a drawn time, one after another.
    pub(super) fn process(&mut self, ctx: &mut Ctx<'_, Node>, records: Vec<Polled>) {
        let (lo, hi) = self.spec.processing_ms;
        let count: usize = records.iter().map(|p| p.ids.len()).sum();
        let mut total_us = 0u64;
        if hi > 0 {
            for _ in 0..count {
                total_us += ctx.rng().random_range(lo * 1_000..=hi * 1_000);
            }
        }
        let seq = self.poll_seq;
        self.app = App::Processing { seq, records };
        ctx.set_timer(
            SimDuration::from_micros(total_us),
            Timer::Consumer(ConsumerTimer::Processed(seq)),
        );
    }

    /// A poll's records are processed.
    pub(super) fn processed(&mut self, ctx: &mut Ctx<'_, Node>, seq: u64) {
        let App::Processing { seq: current, .. } = &self.app else {
            return;
        };
        if *current != seq {
            return;
        }
        let App::Processing { records, .. } = std::mem::replace(&mut self.app, App::Polling) else {
            unreachable!("matched above");
        };
        for polled in records {
            ctx.observe(Obs::Consumer(ConsumerObs::Processed {
                group: self.spec.group.clone(),
                partition: self.names[&polled.tp].clone(),
                offset: polled.first_offset(),
                ids: polled.ids,
            }));
        }
        if self.spec.commit == CommitPolicy::AfterProcessing {
            self.app = App::Committing { then_process: None };
            self.commit(ctx, true);
        }
    }

    /// The application's `poll()` finds records: up to `max.poll.records`, partition by
    /// partition from a rotating start; positions move past them.
    pub(super) fn take_records(&mut self, ctx: &mut Ctx<'_, Node>) -> Vec<Polled> {
        let max = self.spec.config.max_poll_records.max(1) as usize;
        let tps: Vec<TopicPartition> = self.assigned.keys().copied().collect();
        if tps.is_empty() {
            return Vec::new();
        }
        let mut taken = Vec::new();
        let mut left = max;
        let start = self.rotation % tps.len();
        for k in 0..tps.len() {
            let tp = tps[(start + k) % tps.len()];
            let a = self.assigned.get_mut(&tp).expect("listed");
            if left == 0 || a.buffer.is_empty() {
                continue;
            }
            let n = left.min(a.buffer.len());
            let drained: Vec<(u64, RecordId, u32)> = a.buffer.drain(..n).collect();
            left -= n;
            let first = drained[0].0;
            let drained_end = drained[n - 1].0 + 1;
            a.position = Some(drained_end);
            a.position_epoch = Some(drained[n - 1].2);
            let offsets: Vec<u64> = drained.iter().map(|(offset, _, _)| *offset).collect();
            let ids: Vec<RecordId> = drained.into_iter().map(|(_, id, _)| id).collect();
            ctx.observe(Obs::Consumer(ConsumerObs::Poll {
                group: self.spec.group.clone(),
                member_id: self.member_id.clone(),
                generation: self.owned_generation,
                partition: self.names[&tp].clone(),
                offset: first,
                ids: ids.clone(),
                read_committed: self.spec.config.isolation_level
                    == crate::scenario::IsolationLevel::ReadCommitted,
                end: drained_end,
            }));
            taken.push(Polled { tp, offsets, ids });
        }
        self.rotation = self.rotation.wrapping_add(1);
        taken
    }
}

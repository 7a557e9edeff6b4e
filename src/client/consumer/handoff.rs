//! The consumer as a pipeline's application uses it: a poll's records are handed over instead
//! of processed here; the application then sends the positions with its transaction (reading
//! the consumer's group metadata, as `sendOffsetsToTransaction(offsets, groupMetadata())`
//! does), or commits them with `commitSync`, and polls again; after an aborted transaction it may
//! seek back to the committed offsets.

use std::sync::Arc;

use super::{App, Consumer};
use crate::node::{Node, Obs};
use crate::protocol::TopicPartition;
use crate::record::RecordId;
use crate::sim::Ctx;

/// One partition's records of a poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Polled {
    /// The partition.
    pub tp: TopicPartition,
    /// The records' offsets (not always consecutive: a read_committed poll passes over markers
    /// and aborted records).
    pub offsets: Vec<u64>,
    /// The records, one per offset.
    pub ids: Vec<RecordId>,
}

impl Polled {
    /// The first record's offset.
    pub fn first_offset(&self) -> u64 {
        self.offsets.first().copied().unwrap_or(0)
    }
}

/// A poll handed over: its records, and per partition the offset after them.
pub type HandedOff = (Vec<Polled>, Vec<(TopicPartition, u64)>);

impl Consumer {
    /// The records of the last poll and, per partition, the offset after them (what the
    /// application commits), once, if the application has not taken them yet.
    pub fn take_polled(&mut self) -> Option<HandedOff> {
        self.polled.take()
    }

    /// `groupMetadata()`: the generation, member id and `group.instance.id`.
    pub fn group_metadata(&self) -> (i32, Arc<str>, Option<Arc<str>>) {
        let instance = self.spec.static_membership.then(|| self.spec.name.clone());
        (self.generation, self.member_id.clone(), instance)
    }

    /// The name of partition `tp` (`topic-partition`).
    pub fn partition_name(&self, tp: TopicPartition) -> Arc<str> {
        self.names[&tp].clone()
    }

    /// The group.
    pub fn group_name(&self) -> &Arc<str> {
        &self.spec.group
    }

    /// The application calls `poll()` again.
    pub fn resume(&mut self, ctx: &mut Ctx<'_, Node>) {
        if matches!(self.app, App::HandedOff) {
            self.app = App::Polling;
        }
        self.drive(ctx);
    }

    /// `commitSync()` of the positions, then `poll()` again.
    pub fn commit_sync(&mut self, ctx: &mut Ctx<'_, Node>) {
        if !matches!(self.app, App::HandedOff) {
            return;
        }
        self.app = App::Committing { then_process: None };
        self.commit(ctx, true);
        self.drive(ctx);
    }

    /// Seeks every assigned partition back to its committed offset (fetched again) and drops
    /// what was fetched past it, as an application does after an aborted transaction.
    pub fn seek_to_committed(&mut self, ctx: &mut Ctx<'_, Node>) {
        for a in self.assigned.values_mut() {
            a.position = None;
            a.position_epoch = None;
            a.validated_epoch = None;
            a.validating = false;
            a.buffer.clear();
        }
        ctx.observe(Obs::Note(format!(
            "group {}: seek to the committed offsets of {} partition(s)",
            self.spec.group,
            self.assigned.len()
        )));
    }

    /// The application stops for good (it exits on an error it cannot handle): no more polls,
    /// commits or heartbeats; the coordinator removes the member when its session expires.
    pub fn stop(&mut self, ctx: &mut Ctx<'_, Node>, why: &str) {
        self.app = App::Failed;
        self.polled = None;
        ctx.observe(Obs::Note(format!(
            "{}: the application stops: {why}",
            self.spec.name
        )));
    }
}

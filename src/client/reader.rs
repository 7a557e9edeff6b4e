//! The final reader: a fresh consumer (no group, `read_uncommitted`, `auto.offset.reset =
//! earliest`) that, once the run has settled, reads every partition from its log start up to the
//! high watermark through ordinary `Metadata` and `Fetch` requests to the partition leaders. What
//! it reads is what a new consumer would see; the checkers compare it with what producers were
//! told. A partition it cannot read (no leader, no answer) stays unread, which the liveness
//! checker reports.

use std::sync::Arc;

use crate::node::{Msg, Node, Obs, Timer, millis};
use crate::protocol::{
    BrokerId, FetchPartition, FetchedPartition, KafkaError, PartitionState, Request, Response,
    TopicPartition,
};
use crate::sim::{Ctx, NodeId, SimTime};

/// How often the reader retries while a partition has no leader or gave an error.
const RETRY_MS: u64 = 200;

/// The reader's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaderSpec {
    /// Brokers' nodes, by broker id.
    pub brokers: Vec<NodeId>,
    /// Topic names and partition counts, by topic index.
    pub topics: Vec<(String, u32)>,
    /// When to start reading.
    pub start_ms: u64,
}

/// The reader's one timer: time to (re)try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaderTick;

/// Reading progress of one partition.
#[derive(Clone, Debug)]
struct Cursor {
    tp: TopicPartition,
    name: Arc<str>,
    /// Next offset to read; `None` until the first answer tells the log start.
    position: Option<u64>,
    done: bool,
    /// Correlation of the fetch in flight.
    in_flight: Option<u64>,
}

/// The final reader.
pub struct Reader {
    spec: ReaderSpec,
    cursors: Vec<Cursor>,
    leaders: Vec<Option<BrokerId>>,
    next_correlation: u64,
}

impl Reader {
    /// A reader that has read nothing.
    pub fn new(spec: &ReaderSpec) -> Reader {
        let mut cursors = Vec::new();
        for (t, (name, partitions)) in spec.topics.iter().enumerate() {
            for p in 0..*partitions {
                let tp = TopicPartition {
                    topic: t as u32,
                    partition: p,
                };
                let name = Arc::from(format!("{name}-{p}"));
                cursors.push(Cursor {
                    tp,
                    name,
                    position: None,
                    done: false,
                    in_flight: None,
                });
            }
        }
        let leaders = vec![None; cursors.len()];
        Reader {
            spec: spec.clone(),
            cursors,
            leaders,
            next_correlation: 0,
        }
    }

    /// Waits for the start time.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        let start = SimTime::from_millis(self.spec.start_ms).saturating_since(ctx.now());
        ctx.set_timer(start, Timer::Reader(ReaderTick));
    }

    /// The partitions read to their high watermark.
    pub fn finished(&self) -> Vec<Arc<str>> {
        self.cursors
            .iter()
            .filter(|c| c.done)
            .map(|c| c.name.clone())
            .collect()
    }

    /// Whether every partition has been read to its high watermark.
    pub fn done(&self) -> bool {
        self.cursors.iter().all(|c| c.done)
    }

    /// Asks for metadata, then fetches every partition that has a leader and nothing in flight.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, _tick: ReaderTick) {
        if self.done() {
            return;
        }
        self.next_correlation += 1;
        let target = self.spec.brokers[(self.next_correlation as usize) % self.spec.brokers.len()];
        ctx.send(
            target,
            Msg::Request(Request::Metadata {
                correlation: self.next_correlation,
            }),
        );
        for i in 0..self.cursors.len() {
            self.fetch(ctx, i);
        }
        ctx.set_timer(millis(RETRY_MS), Timer::Reader(ReaderTick));
    }

    fn fetch(&mut self, ctx: &mut Ctx<'_, Node>, i: usize) {
        let cursor = &self.cursors[i];
        let Some(leader) = self.leaders[i] else {
            return;
        };
        if cursor.done || cursor.in_flight.is_some() {
            return;
        }
        self.next_correlation += 1;
        let correlation = self.next_correlation;
        let want = FetchPartition {
            tp: cursor.tp,
            fetch_offset: cursor.position.unwrap_or(0),
            current_leader_epoch: None,
        };
        let request = Request::Fetch {
            correlation,
            replica: None,
            max_wait_ms: 0,
            min_bytes: 1,
            partitions: vec![want],
        };
        self.cursors[i].in_flight = Some(correlation);
        ctx.send(self.spec.brokers[leader as usize], Msg::Request(request));
    }

    /// Handles metadata and fetched data.
    pub fn on_response(&mut self, ctx: &mut Ctx<'_, Node>, response: Response) {
        match response {
            Response::Metadata { partitions, .. } => self.on_metadata(ctx, partitions),
            Response::Fetch {
                correlation,
                partitions,
            } => {
                for fetched in partitions {
                    self.on_fetched(ctx, correlation, fetched);
                }
            }
            _ => {}
        }
    }

    fn on_metadata(&mut self, ctx: &mut Ctx<'_, Node>, partitions: Vec<PartitionState>) {
        for state in partitions {
            if let Some(i) = self.cursors.iter().position(|c| c.tp == state.tp) {
                self.leaders[i] = state
                    .leader
                    .filter(|&l| (l as usize) < self.spec.brokers.len());
                self.fetch(ctx, i);
            }
        }
    }

    fn on_fetched(&mut self, ctx: &mut Ctx<'_, Node>, correlation: u64, fetched: FetchedPartition) {
        let Some(i) = self
            .cursors
            .iter()
            .position(|c| c.tp == fetched.tp && c.in_flight == Some(correlation))
        else {
            return;
        };
        self.cursors[i].in_flight = None;
        let cursor = &mut self.cursors[i];
        match fetched.error {
            // auto.offset.reset = earliest: start over at the log start.
            Some(KafkaError::OffsetOutOfRange) => cursor.position = Some(fetched.log_start_offset),
            Some(_) => {
                self.leaders[i] = None;
                return;
            }
            None => {
                let mut position = cursor.position.unwrap_or(0).max(fetched.log_start_offset);
                for batch in fetched.batches.iter().filter(|b| b.control.is_none()) {
                    // Skip what lies below the position (a batch may start before it).
                    let skip = position.saturating_sub(batch.base_offset) as usize;
                    let ids: Vec<_> = batch.records.iter().skip(skip).map(|r| r.id).collect();
                    if !ids.is_empty() {
                        let offset = batch.base_offset + skip as u64;
                        ctx.observe(Obs::Read {
                            partition: cursor.name.clone(),
                            offset,
                            ids,
                        });
                    }
                    position = position.max(batch.next_offset());
                }
                cursor.position = Some(position);
                if position >= fetched.high_watermark {
                    cursor.done = true;
                    let note = format!("{} read to HW {}", cursor.name, fetched.high_watermark);
                    ctx.observe(Obs::Note(note));
                    return;
                }
            }
        }
        self.fetch(ctx, i);
    }

    /// A broker connection closed: fetches to it are lost; retry on the next tick.
    pub fn on_connection_closed(&mut self, peer: NodeId) {
        for (i, cursor) in self.cursors.iter_mut().enumerate() {
            if self.leaders[i].is_some_and(|l| self.spec.brokers[l as usize] == peer) {
                cursor.in_flight = None;
                self.leaders[i] = None;
            }
        }
    }
}

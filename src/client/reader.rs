//! Readers: consumers without a group (`read_uncommitted`, `auto.offset.reset = earliest`) that
//! read partitions through ordinary `Metadata` and `Fetch` requests to the partition leaders.
//!
//! - The **final reader** starts once the run has settled and reads every partition from its
//!   log start up to the high watermark: what a new consumer would see, which the checkers
//!   compare with what producers were told. A partition it cannot read (no leader, no answer)
//!   stays unread, which the liveness checker reports.
//! - The **tail reader** follows every partition from the start of the run, long-polling like a
//!   consumer; what it read and then vanished from the final log is a `committed-read-lost`.
//! - When the run has transactions the final reader also reads every partition
//!   `read_committed`, up to the last stable offset, dropping aborted transactions as a Kafka
//!   consumer does ([`super::committed`]); the checkers compare that view with the producers'
//!   transactions, and an LSO left below the HW is a stuck transaction.

use std::sync::Arc;

use crate::node::{Msg, Node, Obs, Timer, millis};
use crate::protocol::{
    BrokerId, FetchPartition, FetchedPartition, KafkaError, PartitionState, Request, Response,
    TopicPartition,
};
use crate::record::RecordId;
use crate::sim::{Ctx, NodeId, SimTime};

/// How often the reader retries while a partition has no leader or gave an error.
const RETRY_MS: u64 = 200;
/// How often the tail reader refreshes its metadata.
const TAIL_METADATA_MS: u64 = 1_000;
/// The tail reader's long poll (`fetch.max.wait.ms`); with its large `fetch.min.bytes` it takes
/// what arrived every half second rather than every batch.
const TAIL_WAIT_MS: u64 = 500;
/// The tail reader's `fetch.min.bytes`.
const TAIL_MIN_BYTES: u32 = 1 << 20;

/// Observes a run of records read at consecutive offsets.
fn flush(ctx: &mut Ctx<'_, Node>, partition: &Arc<str>, run: Option<(u64, Vec<RecordId>)>) {
    if let Some((offset, ids)) = run.filter(|(_, ids)| !ids.is_empty()) {
        ctx.observe(Obs::Read {
            partition: partition.clone(),
            offset,
            ids,
        });
    }
}

/// The reader's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaderSpec {
    /// Brokers' nodes, by broker id.
    pub brokers: Vec<NodeId>,
    /// Topic names and partition counts, by topic index.
    pub topics: Vec<(String, u32)>,
    /// When to start reading.
    pub start_ms: u64,
    /// Follow the partitions for the whole run (the tail reader) rather than read them once.
    pub tail: bool,
    /// Also read every partition `read_committed` (the final reader of a run with transactions).
    pub read_committed: bool,
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
    /// Whether this cursor reads `read_committed`.
    committed: bool,
    /// For `read_committed`: the last stable offset and HW of the answer that finished it.
    ends: Option<(u64, u64)>,
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
        let passes: &[bool] = if spec.read_committed {
            &[false, true]
        } else {
            &[false]
        };
        for &committed in passes {
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
                        committed,
                        ends: None,
                    });
                }
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
            .filter(|c| c.done && !c.committed)
            .map(|c| c.name.clone())
            .collect()
    }

    /// The partitions read `read_committed` to their last stable offset, with that LSO and the
    /// HW of the same answer.
    pub fn finished_committed(&self) -> Vec<(Arc<str>, u64, u64)> {
        self.cursors
            .iter()
            .filter_map(|c| c.ends.map(|(lso, hw)| (c.name.clone(), lso, hw)))
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
        let every = if self.spec.tail {
            TAIL_METADATA_MS
        } else {
            RETRY_MS
        };
        ctx.set_timer(millis(every), Timer::Reader(ReaderTick));
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
            follower_high_watermark: None,
        };
        let (max_wait_ms, min_bytes) = if self.spec.tail {
            (TAIL_WAIT_MS, TAIL_MIN_BYTES)
        } else {
            (0, 1)
        };
        let request = Request::Fetch {
            correlation,
            replica: None,
            max_wait_ms,
            min_bytes,
            read_committed: cursor.committed,
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
            for i in 0..self.cursors.len() {
                if self.cursors[i].tp == state.tp {
                    self.leaders[i] = state
                        .leader
                        .filter(|&l| (l as usize) < self.spec.brokers.len());
                    self.fetch(ctx, i);
                }
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
        if cursor.committed {
            if read_committed(ctx, cursor, fetched) {
                self.leaders[i] = None;
                return;
            }
            if !cursor.done {
                self.fetch(ctx, i);
            }
            return;
        }
        match fetched.error {
            // auto.offset.reset = earliest: start over at the log start.
            Some(KafkaError::OffsetOutOfRange) => cursor.position = Some(fetched.log_start_offset),
            Some(_) => {
                self.leaders[i] = None;
                return;
            }
            None => {
                let mut position = cursor.position.unwrap_or(0).max(fetched.log_start_offset);
                // One observation per response: the batches of a log are contiguous, so the records
                // read sit at consecutive offsets from the first (control batches take an offset
                // but hold no record, and end a run).
                let mut run: Option<(u64, Vec<RecordId>)> = None;
                for batch in &fetched.batches {
                    // Skip what lies below the position (a batch may start before it).
                    let skip = position.saturating_sub(batch.base_offset) as usize;
                    if batch.control.is_some() {
                        flush(ctx, &cursor.name, run.take());
                    } else {
                        let first = batch.base_offset + skip as u64;
                        let ids = run.get_or_insert_with(|| (first, Vec::new()));
                        ids.1.extend(batch.records.iter().skip(skip).map(|r| r.id));
                    }
                    position = position.max(batch.next_offset());
                }
                flush(ctx, &cursor.name, run);
                cursor.position = Some(position);
                if !self.spec.tail && position >= fetched.high_watermark {
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

/// Takes a `read_committed` answer: observes the records the application gets and moves the
/// cursor; done once it reaches the last stable offset. Returns whether the leader must be
/// looked up again (an error other than an out-of-range offset).
fn read_committed(ctx: &mut Ctx<'_, Node>, cursor: &mut Cursor, fetched: FetchedPartition) -> bool {
    match fetched.error {
        Some(KafkaError::OffsetOutOfRange) => {
            cursor.position = Some(fetched.log_start_offset);
            return false;
        }
        Some(_) => return true,
        None => {}
    }
    let mut position = cursor.position.unwrap_or(0).max(fetched.log_start_offset);
    let mut filter = super::committed::AbortedFilter::new(fetched.aborted_transactions);
    let mut records = Vec::new();
    for batch in &fetched.batches {
        if filter.keep(batch) {
            let skip = position.saturating_sub(batch.base_offset) as usize;
            let offsets = batch.base_offset + skip as u64..;
            records.extend(offsets.zip(batch.records.iter().skip(skip).map(|r| r.id)));
        }
        position = position.max(batch.next_offset());
    }
    if !records.is_empty() {
        ctx.observe(Obs::ReadCommitted {
            partition: cursor.name.clone(),
            records,
        });
    }
    cursor.position = Some(position);
    if position >= fetched.last_stable_offset {
        cursor.done = true;
        cursor.ends = Some((fetched.last_stable_offset, fetched.high_watermark));
        let note = format!(
            "{} read_committed to LSO {} (HW {})",
            cursor.name, fetched.last_stable_offset, fetched.high_watermark
        );
        ctx.observe(Obs::Note(note));
    }
    false
}

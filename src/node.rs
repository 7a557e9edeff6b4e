//! The closed set of simulated processes and what they exchange: the metadata service, brokers
//! and clients as one enum dispatched with `match`, and the messages, timers and observations of
//! all of them. This is the `Process` the simulator runs for a Kafka cluster.

use std::fmt;
use std::sync::Arc;

use crate::broker::{Broker, BrokerSpec, BrokerTimer};
use crate::client::consumer::{Consumer, ConsumerObs, ConsumerSpec, ConsumerTimer};
use crate::client::pipeline::{Pipeline, PipelineSpec, PipelineTimer};
use crate::client::producer::{Producer, ProducerSpec, ProducerTimer};
use crate::client::reader::{Reader, ReaderSpec, ReaderTick};
use crate::disk::Disk;
use crate::protocol::{
    ConsumerRequest, ConsumerResponse, KafkaError, Request, Response, TxnRequest, TxnResponse,
};
use crate::record::RecordId;
use crate::sim::{Ctx, DiskOp, NodeId, Process, SimDuration};
use crate::zk::{ZkOutput, ZkRequest, ZkServer, ZkTimer, ZkToClient};

/// A message between nodes.
#[derive(Clone, Debug)]
pub enum Msg {
    /// A request to the metadata service.
    Zk(ZkRequest),
    /// A response or watch event from the metadata service.
    ZkReply(ZkToClient),
    /// A Kafka request.
    Request(Request),
    /// A Kafka response.
    Response(Response),
    /// A request only consumers send (group membership, offsets, `ListOffsets`); boxed, as
    /// `JoinGroup` is the largest message and rare, and every message pays for the largest.
    Consumer(Box<ConsumerRequest>),
    /// The answer to a consumer's request.
    ConsumerReply(ConsumerResponse),
    /// A transaction request (a producer to its coordinator, a coordinator to a leader).
    Txn(TxnRequest),
    /// The answer to a transaction request.
    TxnReply(TxnResponse),
}

/// A timer of any process kind.
#[derive(Clone, Debug)]
pub enum Timer {
    /// The metadata service's.
    Zk(ZkTimer),
    /// A broker's.
    Broker(BrokerTimer),
    /// A producer's.
    Producer(ProducerTimer),
    /// The final reader's.
    Reader(ReaderTick),
    /// A consumer's.
    Consumer(ConsumerTimer),
    /// A pipeline application's (its clients use their own kinds).
    Pipeline(PipelineTimer),
}

/// One observation: a line of the short log and, for checkers and charts, a typed event.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Obs {
    /// A replica's log end offset changed.
    Leo {
        /// Partition name (`orders-0`).
        partition: Arc<str>,
        /// New LEO.
        leo: u64,
    },
    /// A replica's high watermark changed.
    Hw {
        /// Partition name.
        partition: Arc<str>,
        /// New HW.
        hw: u64,
    },
    /// The leader committed a new ISR.
    Isr {
        /// Partition name.
        partition: Arc<str>,
        /// The ISR.
        isr: Vec<u32>,
        /// Whether it grew (an expansion) rather than shrank.
        expanded: bool,
    },
    /// The replica became leader or follower in an epoch.
    Role {
        /// Partition name.
        partition: Arc<str>,
        /// The leader (this broker if it leads).
        leader: Option<u32>,
        /// The leader epoch.
        epoch: u32,
        /// Whether this replica leads.
        leads: bool,
    },
    /// A replica cut its log.
    Truncate {
        /// Partition name.
        partition: Arc<str>,
        /// LEO before.
        from: u64,
        /// LEO after.
        to: u64,
        /// The rule that decided the point (`hw`, `kip-101`, `kip-279`, `out-of-range`).
        rule: &'static str,
    },
    /// A producer handed a record to its accumulator.
    Send {
        /// The record.
        id: RecordId,
        /// The partition it goes to.
        partition: Arc<str>,
    },
    /// A batch of a producer's consecutive records was acknowledged from an offset on.
    Ack {
        /// The batch's first record.
        id: RecordId,
        /// How many records (consecutive ids, consecutive offsets).
        count: u32,
        /// The partition.
        partition: Arc<str>,
        /// The first record's offset.
        offset: u64,
        /// The broker that answered.
        broker: u32,
    },
    /// A send failed for good: `definite` if it was certainly not written.
    SendFailed {
        /// The record.
        id: RecordId,
        /// The partition.
        partition: Arc<str>,
        /// Whether it is certain the record was not written.
        definite: bool,
        /// Why.
        error: KafkaError,
    },
    /// The final reader read a batch's records, at consecutive offsets.
    Read {
        /// The partition.
        partition: Arc<str>,
        /// The first record's offset.
        offset: u64,
        /// The records, in offset order.
        ids: Vec<RecordId>,
    },
    /// The final reader's `read_committed` pass handed these records to the application (in
    /// offset order; aborted batches between them were dropped).
    ReadCommitted {
        /// The partition.
        partition: Arc<str>,
        /// The records with their offsets.
        records: Vec<(u64, RecordId)>,
    },
    /// A transactional producer's transaction ended as far as it knows: committed (`EndTxn`
    /// succeeded) or aborted; its records by partition.
    TxnEnded {
        /// Whether it committed.
        committed: bool,
        /// The producer epoch it ran under.
        epoch: i16,
        /// Its records.
        records: Vec<RecordId>,
    },
    /// A consumer group member's poll, processing, assignment, position or commit.
    Consumer(ConsumerObs),
    /// A pipeline turned input records into output records numbered on from `first_output`,
    /// one each, in order.
    Transformed {
        /// The input partition.
        partition: Arc<str>,
        /// The input records' offsets there.
        offsets: Vec<u64>,
        /// The input records.
        inputs: Vec<RecordId>,
        /// The first output record.
        first_output: RecordId,
    },
    /// Anything else worth a line (metadata service events, elections, client operations).
    Note(String),
}

impl Obs {
    /// Appends the observation's short-log text to `out`. The frequent kinds (LEO and HW moves,
    /// sends, acks, polls) are written here without the formatting machinery, and `Display`
    /// uses this text for them; the rest come from `Display`.
    pub fn write_to(&self, out: &mut String) {
        use crate::trace::push_u64;
        match self {
            Obs::Leo { partition, leo } => {
                out.push_str(partition);
                out.push_str(" LEO ");
                push_u64(out, *leo);
            }
            Obs::Hw { partition, hw } => {
                out.push_str(partition);
                out.push_str(" HW ");
                push_u64(out, *hw);
            }
            Obs::Send { id, partition } => {
                out.push_str("send #");
                push_u64(out, id.n.into());
                out.push_str(" -> ");
                out.push_str(partition);
            }
            Obs::Ack {
                id,
                count,
                partition,
                offset,
                broker,
            } => {
                out.push_str("ack #");
                push_u64(out, id.n.into());
                if *count != 1 {
                    out.push_str("..#");
                    push_u64(out, u64::from(id.n) + u64::from(*count) - 1);
                }
                out.push(' ');
                out.push_str(partition);
                out.push('@');
                push_u64(out, *offset);
                out.push_str(" by broker-");
                push_u64(out, (*broker).into());
            }
            Obs::Consumer(obs) => obs.write_to(out),
            _ => {
                use fmt::Write as _;
                write!(out, "{self}").expect("writing to a String cannot fail");
            }
        }
    }
}

impl fmt::Display for Obs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Obs::Leo { .. } | Obs::Hw { .. } | Obs::Send { .. } | Obs::Ack { .. } => {
                let mut text = String::new();
                self.write_to(&mut text);
                f.write_str(&text)
            }
            Obs::Isr {
                partition,
                isr,
                expanded,
            } => {
                let change = if *expanded { "expand" } else { "shrink" };
                write!(f, "{partition} ISR {isr:?} ({change})")
            }
            Obs::Role {
                partition,
                leader,
                epoch,
                leads,
            } => {
                let role = if *leads { "leader" } else { "follower" };
                match leader {
                    Some(l) => write!(f, "{partition} {role} epoch {epoch} (leader {l})"),
                    None => write!(f, "{partition} {role} epoch {epoch} (no leader)"),
                }
            }
            Obs::Truncate {
                partition,
                from,
                to,
                rule,
            } => {
                write!(f, "{partition} truncate {from} -> {to} ({rule})")
            }
            Obs::SendFailed {
                id,
                partition,
                definite,
                error,
            } => {
                let kind = if *definite { "failed" } else { "indefinite" };
                write!(f, "{kind} #{} {partition} {error}", id.n)
            }
            Obs::Read {
                partition,
                offset,
                ids,
            } => write!(f, "read {partition}@{offset} +{}", ids.len()),
            Obs::ReadCommitted { partition, records } => {
                let from = records.first().map_or(0, |(o, _)| *o);
                write!(f, "read_committed {partition}@{from} +{}", records.len())
            }
            Obs::TxnEnded {
                committed,
                epoch,
                records,
            } => {
                let how = if *committed { "committed" } else { "aborted" };
                let first = records.first().map_or(0, |r| r.n);
                let last = records.last().map_or(0, |r| r.n);
                let span = match records.len() {
                    0 => "no records".to_string(),
                    1 => format!("#{first}"),
                    _ => format!("#{first}..#{last}"),
                };
                write!(f, "txn {how} (epoch {epoch}): {span}")
            }
            Obs::Consumer(obs) => obs.fmt(f),
            Obs::Transformed {
                inputs,
                first_output,
                ..
            } => {
                let last = first_output.n as usize + inputs.len().saturating_sub(1);
                write!(f, "transform {} record(s)", inputs.len())?;
                if let (Some(first), Some(end)) = (inputs.first(), inputs.last()) {
                    write!(
                        f,
                        " of producer {} #{}..#{}",
                        first.producer, first.n, end.n
                    )?;
                }
                write!(
                    f,
                    " -> producer {} #{}..#{last}",
                    first_output.producer, first_output.n
                )
            }
            Obs::Note(text) => f.write_str(text),
        }
    }
}

/// What a node is configured as.
#[derive(Clone, Debug)]
pub enum NodeSpec {
    /// The metadata service.
    Zk,
    /// A broker.
    Broker(Box<BrokerSpec>),
    /// A producer.
    Producer(Box<ProducerSpec>),
    /// The final reader.
    Reader(Box<ReaderSpec>),
    /// A consumer group member.
    Consumer(Box<ConsumerSpec>),
    /// A pipeline instance.
    Pipeline(Box<PipelineSpec>),
}

/// A running process.
pub enum Node {
    /// The metadata service.
    Zk(Box<ZkServer>),
    /// A broker.
    Broker(Box<Broker>),
    /// A producer.
    Producer(Box<Producer>),
    /// The final reader.
    Reader(Box<Reader>),
    /// A consumer group member.
    Consumer(Box<Consumer>),
    /// A pipeline instance.
    Pipeline(Box<Pipeline>),
}

impl Process for Node {
    type Msg = Msg;
    type Timer = Timer;
    type Observation = Obs;
    type Spec = NodeSpec;

    fn boot(node: NodeId, spec: &NodeSpec, disk: &Disk) -> Self {
        match spec {
            NodeSpec::Zk => Node::Zk(Box::new(ZkServer::boot(disk))),
            NodeSpec::Broker(spec) => Node::Broker(Box::new(Broker::boot(node, spec, disk))),
            NodeSpec::Producer(spec) => Node::Producer(Box::new(Producer::new(spec))),
            NodeSpec::Reader(spec) => Node::Reader(Box::new(Reader::new(spec))),
            NodeSpec::Consumer(spec) => Node::Consumer(Box::new(Consumer::new(spec))),
            NodeSpec::Pipeline(spec) => Node::Pipeline(Box::new(Pipeline::new(spec))),
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self {
            Node::Zk(zk) => with_zk(ctx, |now, out| zk.on_start(now, out)),
            Node::Broker(broker) => broker.on_start(ctx),
            Node::Producer(producer) => producer.on_start(ctx),
            Node::Reader(reader) => reader.on_start(ctx),
            Node::Consumer(consumer) => consumer.on_start(ctx),
            Node::Pipeline(pipeline) => pipeline.on_start(ctx),
        }
    }

    fn on_drained_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match self {
            Node::Broker(broker) => {
                broker.on_drained_message(ctx, from, msg);
                broker.pump_requests(ctx);
            }
            // A client's answers come on connections brokers never close gracefully.
            node => node.on_message(ctx, from, msg),
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (Node::Zk(zk), Msg::Zk(req)) => {
                with_zk(ctx, |now, out| zk.on_request(now, from, req, out))
            }
            (Node::Broker(broker), msg) => {
                broker.on_message(ctx, from, msg);
                broker.pump_requests(ctx);
            }
            (Node::Producer(producer), Msg::Response(resp)) => {
                producer.on_response(ctx, from, resp)
            }
            (Node::Producer(producer), Msg::TxnReply(resp)) => {
                producer.on_txn_response(ctx, from, resp)
            }
            (Node::Reader(reader), Msg::Response(resp)) => reader.on_response(ctx, resp),
            (Node::Consumer(consumer), Msg::Response(resp)) => consumer.on_response(ctx, resp),
            (Node::Consumer(consumer), Msg::ConsumerReply(resp)) => {
                consumer.on_consumer_response(ctx, resp)
            }
            (Node::Pipeline(pipeline), msg) => pipeline.on_message(ctx, from, msg),
            (_, msg) => ctx.observe(Obs::Note(format!("dropped unexpected message {msg:?}"))),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match (self, timer) {
            (Node::Zk(zk), Timer::Zk(t)) => with_zk(ctx, |now, out| zk.on_timer(now, t, out)),
            (Node::Broker(broker), Timer::Broker(t)) => {
                broker.on_timer(ctx, t);
                broker.pump_requests(ctx);
            }
            (Node::Producer(producer), Timer::Producer(t)) => producer.on_timer(ctx, t),
            (Node::Reader(reader), Timer::Reader(t)) => reader.on_timer(ctx, t),
            (Node::Consumer(consumer), Timer::Consumer(t)) => consumer.on_timer(ctx, t),
            (Node::Pipeline(pipeline), timer) => pipeline.on_timer(ctx, timer),
            (_, timer) => unreachable!("a timer reached the wrong kind of process: {timer:?}"),
        }
    }

    fn on_connection_closed(&mut self, ctx: &mut Ctx<'_, Self>, peer: NodeId) {
        match self {
            Node::Zk(zk) => with_zk(ctx, |now, out| zk.on_connection_closed(now, peer, out)),
            Node::Broker(broker) => {
                broker.on_connection_closed(ctx, peer);
                broker.pump_requests(ctx);
            }
            Node::Producer(producer) => producer.on_connection_closed(ctx, peer),
            Node::Reader(reader) => reader.on_connection_closed(peer),
            Node::Consumer(consumer) => consumer.on_connection_closed(ctx, peer),
            Node::Pipeline(pipeline) => pipeline.on_connection_closed(ctx, peer),
        }
    }

    fn on_sync_done(&mut self, ctx: &mut Ctx<'_, Self>, token: u64) {
        match self {
            Node::Zk(zk) => with_zk(ctx, |now, out| zk.on_sync_done(now, token, out)),
            Node::Broker(_)
            | Node::Producer(_)
            | Node::Reader(_)
            | Node::Consumer(_)
            | Node::Pipeline(_) => {}
        }
    }

    /// The checkers read client operations, leaderships, ISR changes, truncations and reads; LEO
    /// and HW moves and notes live in the trace only (the bulk of a busy run's observations).
    fn write_observation(observation: &Obs, out: &mut String) {
        observation.write_to(out);
    }

    fn retain(observation: &Obs) -> bool {
        !matches!(observation, Obs::Leo { .. } | Obs::Hw { .. } | Obs::Note(_))
    }

    fn check_invariants(&mut self) -> Result<(), String> {
        match self {
            Node::Zk(zk) => zk.check_invariants(),
            Node::Broker(broker) => broker.check_invariants(),
            Node::Producer(_) | Node::Reader(_) | Node::Consumer(_) | Node::Pipeline(_) => Ok(()),
        }
    }

    fn check_all_invariants(&self) -> Result<(), String> {
        match self {
            Node::Zk(zk) => zk.check_all_invariants(),
            Node::Broker(broker) => broker.check_all_invariants(),
            Node::Producer(_) | Node::Reader(_) | Node::Consumer(_) | Node::Pipeline(_) => Ok(()),
        }
    }
}

/// Runs a metadata-service handler and turns its output into effects.
fn with_zk(ctx: &mut Ctx<'_, Node>, handler: impl FnOnce(crate::sim::SimTime, &mut ZkOutput)) {
    let mut out = ZkOutput::default();
    handler(ctx.now(), &mut out);
    for (to, msg) in out.sends {
        ctx.send(to, Msg::ZkReply(msg));
    }
    for (after, timer) in out.timers {
        ctx.set_timer(after, Timer::Zk(timer));
    }
    for op in out.disk {
        ctx.disk_op(op);
    }
    for note in out.notes {
        ctx.observe(Obs::Note(note));
    }
}

/// Pushes a batch of disk operations into a handler's effects.
pub fn push_disk_ops(ctx: &mut Ctx<'_, Node>, mut ops: Vec<DiskOp>) {
    drain_disk_ops(ctx, &mut ops);
}

/// Hands every op of `ops` to the disk, in order, leaving `ops` empty and allocated.
pub fn drain_disk_ops(ctx: &mut Ctx<'_, Node>, ops: &mut Vec<DiskOp>) {
    for op in ops.drain(..) {
        ctx.disk_op(op);
    }
}

/// Milliseconds as a simulated duration.
pub fn millis(ms: u64) -> SimDuration {
    SimDuration::from_millis(ms)
}

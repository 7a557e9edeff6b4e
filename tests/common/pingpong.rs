//! Test-only processes for exercising the engine before real brokers exist: every node pings a
//! random peer on a timer and answers pings with pongs. Each ping is also appended to the node's
//! disk (synced every `sync_every` pings) and the count of pings sent is rebuilt from the disk on
//! boot, so crashes, power-offs and restarts have something to lose.

use std::fmt;

use kafkasim::disk::Disk;
use kafkasim::sim::{Ctx, DiskOp, NodeId, Process, SimDuration, SimTime};
use rand::RngExt;

/// The file where a node logs its pings, 8 bytes each.
pub const PING_LOG: &str = "pings.log";

/// Ping-pong messages; each carries its send time and a per-link sequence number.
#[derive(Clone, Debug)]
pub enum Msg {
    /// A request.
    Ping { seq: u64, sent_at: SimTime },
    /// The answer to a ping.
    Pong { seq: u64, sent_at: SimTime },
}

/// The one timer: time to ping again.
#[derive(Clone, Debug)]
pub struct Tick;

/// What a ping-pong node saw, one line each in the trace.
#[derive(Hash)]
pub enum Seen {
    Ping { to: NodeId, seq: u64 },
    Pong { from: NodeId, seq: u64 },
    Closed { peer: NodeId },
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seen::Ping { to, seq } => write!(f, "ping {to} #{seq}"),
            Seen::Pong { from, seq } => write!(f, "pong {from} #{seq}"),
            Seen::Closed { peer } => write!(f, "closed {peer}"),
        }
    }
}

/// Configuration of one node.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Nodes it pings.
    pub peers: Vec<NodeId>,
    /// Time between pings.
    pub interval: SimDuration,
    /// Whether to record observations (the benchmark turns them off).
    pub observe: bool,
    /// Whether to keep every arrival in `arrivals` (the benchmark turns it off).
    pub record: bool,
    /// Whether to append each ping to the ping log.
    pub persist: bool,
    /// Sync the ping log every this many pings (0: never).
    pub sync_every: u64,
}

/// One arrival, as the receiver saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    pub from: NodeId,
    pub seq: u64,
    pub sent_at: SimTime,
    pub at: SimTime,
}

/// A ping-pong node.
pub struct PingPong {
    spec: Spec,
    /// Durable: pings sent, rebuilt from the ping log.
    pub pings_sent: u64,
    /// Volatile: next sequence number per destination.
    next_seq: Vec<u64>,
    /// Volatile: every message received, in order.
    pub arrivals: Vec<Arrival>,
    /// Volatile: pongs received.
    pub pongs: u64,
}

impl Process for PingPong {
    type Msg = Msg;
    type Timer = Tick;
    type Observation = Seen;
    type Spec = Spec;

    fn boot(_node: NodeId, spec: &Spec, disk: &Disk) -> Self {
        let pings_sent = (disk.written_len(PING_LOG) / 8) as u64;
        PingPong {
            spec: spec.clone(),
            pings_sent,
            next_seq: Vec::new(),
            arrivals: Vec::new(),
            pongs: 0,
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.spec.peers.is_empty() {
            let first = ctx.rng().random_range(0..=self.spec.interval.as_micros());
            ctx.set_timer(SimDuration::from_micros(first), Tick);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        let (seq, sent_at) = match msg {
            Msg::Ping { seq, sent_at } | Msg::Pong { seq, sent_at } => (seq, sent_at),
        };
        if self.spec.record {
            self.arrivals.push(Arrival {
                from,
                seq,
                sent_at,
                at: ctx.now(),
            });
        }
        match msg {
            Msg::Ping { .. } => {
                let seq = self.next_seq(from);
                ctx.send(
                    from,
                    Msg::Pong {
                        seq,
                        sent_at: ctx.now(),
                    },
                );
            }
            Msg::Pong { .. } => {
                self.pongs += 1;
                if self.spec.observe {
                    ctx.observe(Seen::Pong { from, seq });
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _tick: Tick) {
        let to = self.spec.peers[ctx.rng().random_range(0..self.spec.peers.len())];
        let seq = self.next_seq(to);
        ctx.send(
            to,
            Msg::Ping {
                seq,
                sent_at: ctx.now(),
            },
        );
        self.pings_sent += 1;
        if self.spec.persist {
            let bytes = self.pings_sent.to_le_bytes().to_vec();
            ctx.disk_op(DiskOp::Append {
                file: PING_LOG.into(),
                bytes,
            });
        }
        if self.spec.persist
            && self.spec.sync_every > 0
            && self.pings_sent.is_multiple_of(self.spec.sync_every)
        {
            ctx.disk_op(DiskOp::Sync {
                file: PING_LOG.into(),
                token: self.pings_sent,
            });
        }
        if self.spec.observe {
            ctx.observe(Seen::Ping { to, seq });
        }
        ctx.set_timer(self.spec.interval, Tick);
    }

    fn on_connection_closed(&mut self, ctx: &mut Ctx<'_, Self>, peer: NodeId) {
        if self.spec.observe {
            ctx.observe(Seen::Closed { peer });
        }
    }

    fn check_all_invariants(&self) -> Result<(), String> {
        if self.spec.record && self.pongs > self.arrivals.len() as u64 {
            return Err(format!(
                "{} pongs but {} arrivals",
                self.pongs,
                self.arrivals.len()
            ));
        }
        Ok(())
    }
}

impl PingPong {
    fn next_seq(&mut self, to: NodeId) -> u64 {
        if self.next_seq.len() <= to.index() {
            self.next_seq.resize(to.index() + 1, 0);
        }
        let seq = self.next_seq[to.index()];
        self.next_seq[to.index()] += 1;
        seq
    }
}

/// Specs for `n` nodes that all ping each other.
pub fn full_mesh(n: usize, interval: SimDuration, observe: bool) -> Vec<Spec> {
    (0..n)
        .map(|i| Spec {
            peers: (0..n).filter(|&j| j != i).map(NodeId::from_index).collect(),
            interval,
            observe,
            record: true,
            persist: true,
            sync_every: 4,
        })
        .collect()
}

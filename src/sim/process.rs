//! The sans-I/O process interface. A process (broker, metadata service, client) is a plain
//! struct whose handlers read `now`, change its own state and push effects — send, set or cancel
//! a timer, write or sync a file, record an observation — into its [`Ctx`]. Only the simulator
//! applies effects, so a process can be unit-tested by feeding it messages and reading the
//! effects back.
//!
//! A handler sees the disk as it was before the handler ran: writes it pushes land when the
//! simulator applies them, at the same simulated instant.

use std::fmt;
use std::sync::Arc;

use super::ids::{NodeId, TimerId};
use super::rng::SimRng;
use super::time::{SimDuration, SimTime};
use crate::disk::Disk;

/// A simulated process: the closed set of process kinds is an enum implementing this trait.
pub trait Process: Sized {
    /// Messages exchanged between processes (Kafka's requests and responses).
    type Msg;
    /// Timer payloads.
    type Timer;
    /// Process-specific observations, one short-log line each; their fields (`Hash`) feed the
    /// trace hash.
    type Observation: fmt::Display + std::hash::Hash;
    /// What the process needs to (re)build itself besides its disk: its configuration.
    type Spec;

    /// Builds the process from its configuration and its disk, as a (re)start does.
    fn boot(node: NodeId, spec: &Self::Spec, disk: &Disk) -> Self;

    /// Runs once after every boot.
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>);

    /// Handles a message from `from`.
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Self::Msg);

    /// Handles a message `from` sent on a connection it closed since (TCP delivers what was
    /// sent before the FIN); answers on that connection go nowhere. By default, as any message.
    fn on_drained_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Self::Msg) {
        self.on_message(ctx, from, msg)
    }

    /// Handles a timer that fired.
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Self::Timer);

    /// Learns that the connection to `peer` closed; whatever was in flight on it is lost.
    fn on_connection_closed(&mut self, _ctx: &mut Ctx<'_, Self>, _peer: NodeId) {}

    /// Learns that the sync or atomic write issued with `token` is durable.
    fn on_sync_done(&mut self, _ctx: &mut Ctx<'_, Self>, _token: u64) {}

    /// Appends an observation's short-log text to `out`: its `Display`, unless the process
    /// writes it faster (only runs that keep the short log write it).
    fn write_observation(observation: &Self::Observation, out: &mut String) {
        use std::fmt::Write as _;
        write!(out, "{observation}").expect("writing to a String cannot fail");
    }

    /// Whether a kept run keeps this observation beyond the trace (for checkers); the rest only
    /// feed the trace hash and the short log.
    fn retain(_observation: &Self::Observation) -> bool {
        true
    }

    /// Checks the local invariants of what changed since the last check (a process may track
    /// what its handlers touched); the simulator calls it after every handler.
    fn check_invariants(&mut self) -> Result<(), String> {
        self.check_all_invariants()
    }

    /// Checks all of the process's local invariants, whatever changed: debug builds after every
    /// handler, and every run at its end.
    fn check_all_invariants(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A file operation requested by a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskOp {
    /// Append bytes to the page cache.
    Append {
        /// File name.
        file: Arc<str>,
        /// Bytes to append.
        bytes: Vec<u8>,
    },
    /// Cut a file to a length.
    Truncate {
        /// File name.
        file: Arc<str>,
        /// New length.
        len: usize,
    },
    /// Remove a file.
    Delete {
        /// File name.
        file: Arc<str>,
    },
    /// fsync what is written now; `on_sync_done(token)` follows after the sync latency.
    Sync {
        /// File name.
        file: Arc<str>,
        /// Echoed back in `on_sync_done`.
        token: u64,
    },
    /// Replace a file whole, durably (write temp, fsync, rename); `on_sync_done(token)` follows.
    WriteAtomic {
        /// File name.
        file: Arc<str>,
        /// The new content.
        bytes: Vec<u8>,
        /// Echoed back in `on_sync_done`.
        token: u64,
    },
}

/// Something a handler asks the simulator to do.
pub enum Effect<P: Process> {
    /// Send a message.
    Send {
        /// Destination node.
        to: NodeId,
        /// The message.
        msg: P::Msg,
    },
    /// Fire `timer` after `after`.
    SetTimer {
        /// The timer's id, for cancelling.
        id: TimerId,
        /// Delay from now.
        after: SimDuration,
        /// Payload handed back to `on_timer`.
        timer: P::Timer,
    },
    /// Forget a timer set earlier.
    CancelTimer(TimerId),
    /// A file operation on the node's own disk.
    Disk(DiskOp),
    /// Record an observation in the trace.
    Observe(P::Observation),
    /// Close the connection to a peer (the peer is told; what this node sent still arrives).
    Disconnect(NodeId),
}

/// What a handler may read and the buffer it pushes effects into.
pub struct Ctx<'a, P: Process> {
    pub(crate) now: SimTime,
    pub(crate) node: NodeId,
    pub(crate) incarnation: u32,
    pub(crate) rng: &'a mut SimRng,
    pub(crate) disk: &'a Disk,
    pub(crate) effects: &'a mut Vec<Effect<P>>,
    pub(crate) next_timer: &'a mut u64,
}

impl<'a, P: Process> Ctx<'a, P> {
    /// A context for driving a process by hand, as unit tests of a process do.
    pub fn new(
        now: SimTime,
        node: NodeId,
        rng: &'a mut SimRng,
        disk: &'a Disk,
        effects: &'a mut Vec<Effect<P>>,
        next_timer: &'a mut u64,
    ) -> Self {
        Ctx {
            now,
            node,
            incarnation: 1,
            rng,
            disk,
            effects,
            next_timer,
        }
    }

    /// The current simulated time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// The node this process runs on.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Which boot of its node this process is: 1 for the first, 2 after one restart, …
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// This process's own seeded RNG.
    pub fn rng(&mut self) -> &mut SimRng {
        self.rng
    }

    /// The node's disk, as it was when the handler began.
    pub fn disk(&self) -> &Disk {
        self.disk
    }

    /// Sends `msg` to `to` over the network.
    pub fn send(&mut self, to: NodeId, msg: P::Msg) {
        self.effects.push(Effect::Send { to, msg });
    }

    /// Closes the connection to `peer`, as a client does when a request times out: what it
    /// already sent still arrives (and may be served), answers on it are dropped, and the peer
    /// hears the close. The next send opens a new one.
    pub fn disconnect(&mut self, peer: NodeId) {
        self.effects.push(Effect::Disconnect(peer));
    }

    /// How many effects the handler has pushed so far (a mark for
    /// [`Ctx::disconnects_since`]).
    pub fn effect_count(&self) -> usize {
        self.effects.len()
    }

    /// The peers whose connections the handler closed since `mark`: a process hosting two
    /// clients over the node's connections tells the other one.
    pub fn disconnects_since(&self, mark: usize) -> Vec<NodeId> {
        self.effects[mark.min(self.effects.len())..]
            .iter()
            .filter_map(|e| match e {
                Effect::Disconnect(peer) => Some(*peer),
                _ => None,
            })
            .collect()
    }

    /// Fires `timer` after `after`; the id cancels it.
    pub fn set_timer(&mut self, after: SimDuration, timer: P::Timer) -> TimerId {
        let id = TimerId(*self.next_timer);
        *self.next_timer += 1;
        self.effects.push(Effect::SetTimer { id, after, timer });
        id
    }

    /// Cancels a timer; cancelling one that already fired is harmless.
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.effects.push(Effect::CancelTimer(id));
    }

    /// Requests a file operation on the node's disk.
    pub fn disk_op(&mut self, op: DiskOp) {
        self.effects.push(Effect::Disk(op));
    }

    /// Records an observation.
    pub fn observe(&mut self, observation: P::Observation) {
        self.effects.push(Effect::Observe(observation));
    }
}

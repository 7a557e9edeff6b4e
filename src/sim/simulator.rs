//! The simulator loop. It owns every process, the network, the disks, the RNG forks and the
//! trace; it pops the earliest event, hands it to the process it is for, checks that process's
//! invariants, and applies the effects the handler pushed. Faults are events too.
//!
//! Node lifecycle: `Up` handles events; `Paused` keeps them, in order, until resumed; `Down`
//! (killed or powered off) drops them. Each boot starts a new incarnation, so timers and sync
//! callbacks of an earlier incarnation never reach the new process.

use std::collections::BTreeSet;

use super::ids::{NodeId, TimerId};
use super::process::{Ctx, DiskOp, Effect, Process};
use super::queue::EventQueue;
use super::rng::{RootRng, SimRng, Stream};
use super::time::{SimDuration, SimTime};
use crate::disk::{Disk, DiskModel, SyncTicket};
use crate::faults::FaultAction;
use crate::net::{Network, NetworkModel, Retry, SendOutcome};
use crate::trace::Trace;

/// Everything needed to start a run.
pub struct World<P: Process> {
    /// The run's seed; every random draw derives from it.
    pub seed: u64,
    /// Node names, indexed by node id.
    pub names: Vec<String>,
    /// Each node's process configuration, indexed by node id.
    pub specs: Vec<P::Spec>,
    /// The network's latency and loss.
    pub network: NetworkModel,
    /// Every disk's sync latency and power-off behaviour.
    pub disk: DiskModel,
    /// Whether to keep the short log's text (the hash is always kept).
    pub keep_log: bool,
    /// Whether to keep process observations (those `Process::retain` picks), typed, for checkers.
    pub keep_observations: bool,
}

/// Whether a node's process is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    /// Running and handling events.
    Up,
    /// Stopped; its events wait until it resumes.
    Paused,
    /// Crashed; its events are dropped until it restarts.
    Down,
}

/// Why a run stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimError {
    /// A process broke one of its own invariants.
    Invariant {
        /// When.
        at: SimTime,
        /// Which node.
        node: String,
        /// What the process said.
        message: String,
    },
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::Invariant { at, node, message } => {
                write!(f, "invariant violated on {node} at {at} ms: {message}")
            }
        }
    }
}

impl std::error::Error for SimError {}

/// Something a process handles.
pub(super) enum Input<P: Process> {
    Message { from: NodeId, msg: P::Msg },
    DrainedMessage { from: NodeId, msg: P::Msg },
    Timer { id: TimerId, timer: P::Timer },
    SyncDone { token: u64 },
    ConnectionClosed { peer: NodeId },
}

/// A queued event.
pub(super) enum Event<P: Process> {
    /// A message arriving over the network, if its connection is still the one it left on.
    Deliver {
        from: NodeId,
        to: NodeId,
        generation: u32,
        msg: P::Msg,
    },
    /// An input for one incarnation of a process.
    Input {
        node: NodeId,
        incarnation: u32,
        input: Input<P>,
    },
    /// A message waiting for a connection over a link that was down, at a SYN retry.
    Connect(Box<Connect<P>>),
    /// A sync finishing on a node's disk. Rare events are boxed to keep every event small.
    SyncDone(Box<SyncDone>),
    /// An atomic write (write, fsync, rename) finishing.
    WriteDone(Box<WriteDone>),
    /// A fault to apply.
    Fault(Box<FaultAction>),
    /// The end of a slow-link or slow-disk fault, logged so the trace shows the span.
    FaultEnds(Box<FaultAction>),
}

/// A message waiting for its connection to be made (see [`crate::net`]).
pub(super) struct Connect<P: Process> {
    from: NodeId,
    to: NodeId,
    since: SimTime,
    generation: u32,
    msg: P::Msg,
}

/// A sync finishing: the kernel makes the ticket durable, then the process hears of it.
pub(super) struct SyncDone {
    node: NodeId,
    incarnation: u32,
    ticket: SyncTicket,
    token: u64,
}

/// An atomic replace finishing; it lands only if the process and the power both held.
pub(super) struct WriteDone {
    node: NodeId,
    incarnation: u32,
    power: u64,
    file: std::sync::Arc<str>,
    bytes: Vec<u8>,
    token: u64,
}

/// One node's slot: its process (if running), status, disk and RNG.
pub(super) struct Node<P: Process> {
    pub(super) process: Option<P>,
    pub(super) spec: P::Spec,
    pub(super) status: NodeStatus,
    pub(super) incarnation: u32,
    pub(super) disk: Disk,
    pub(super) rng: SimRng,
    /// Events that arrived while paused, in arrival order.
    pub(super) stash: Vec<Event<P>>,
    /// Whether the machine is without power (a down node that was only killed still refuses
    /// connections; one without power is silent).
    pub(super) powered_off: bool,
    /// Peers whose connections a power-off cut without telling them; they hear of it (a reset)
    /// when the machine is back.
    pub(super) unaware_peers: Vec<NodeId>,
}

/// The deterministic simulator of one run.
pub struct Simulator<P: Process> {
    pub(super) now: SimTime,
    pub(super) queue: EventQueue<Event<P>>,
    pub(super) nodes: Vec<Node<P>>,
    pub(super) names: Vec<String>,
    pub(super) network: Network,
    pub(super) net_rng: SimRng,
    pub(super) disk_rng: SimRng,
    pub(super) trace: Trace,
    /// Reused effect buffer, so handlers never allocate one.
    pub(super) effects: Vec<Effect<P>>,
    pub(super) next_timer: u64,
    /// Cancelled timers not yet popped; removed when they are.
    pub(super) cancelled: BTreeSet<TimerId>,
    pub(super) events: u64,
    pub(super) faults: Vec<(SimTime, FaultAction)>,
    pub(super) failure: Option<SimError>,
    /// Process observations in order, when kept.
    pub(super) observations: Option<Vec<(SimTime, NodeId, P::Observation)>>,
    /// Decides condition-triggered faults from observations as they are made.
    pub(super) trigger: Option<Box<Trigger<P>>>,
    /// Faults a trigger fired during the current event, with their delays.
    pub(super) triggered: Vec<(SimDuration, FaultAction)>,
    /// Observations kept besides those `Process::retain` picks (a report run's LEO and HW moves).
    pub(super) retain_also: Option<fn(&P::Observation) -> bool>,
    /// Folds the observations `Process::retain` picks into whatever the caller keeps (the
    /// checkers' history) as they are made, so they need not be kept whole.
    pub(super) observer: Option<Box<Observer<P>>>,
}

/// A consumer of observations as they are made: called with the time, the node and every
/// observation `Process::retain` picks, in order.
pub type Observer<P> = dyn FnMut(SimTime, NodeId, &<P as Process>::Observation);

/// A watcher of observations that fires faults: called with every observation as it is made, it
/// pushes `(delay, fault)` pairs; they apply once the event that made the observation has been
/// handled in full (delay zero: before any other event), so a condition's fault lands exactly
/// when the condition first holds.
pub type Trigger<P> =
    dyn FnMut(NodeId, &<P as Process>::Observation, &mut Vec<(SimDuration, FaultAction)>);

impl<P: Process> Simulator<P> {
    /// Builds the world and boots every node at time zero, in node id order.
    pub fn new(world: World<P>) -> Simulator<P> {
        assert_eq!(
            world.names.len(),
            world.specs.len(),
            "one spec per node name"
        );
        let root = RootRng::new(world.seed);
        let nodes = world
            .specs
            .into_iter()
            .enumerate()
            .map(|(i, spec)| Node {
                process: None,
                spec,
                status: NodeStatus::Down,
                incarnation: 0,
                disk: Disk::new(world.disk),
                rng: root.fork(Stream::Node(NodeId::from_index(i).get())),
                stash: Vec::new(),
                powered_off: false,
                unaware_peers: Vec::new(),
            })
            .collect::<Vec<_>>();
        let mut sim = Simulator {
            now: SimTime::ZERO,
            queue: EventQueue::new(),
            network: Network::new(nodes.len(), world.network),
            nodes,
            names: world.names,
            net_rng: root.fork(Stream::Network),
            disk_rng: root.fork(Stream::Disk),
            trace: Trace::new(world.keep_log),
            effects: Vec::new(),
            next_timer: 0,
            cancelled: BTreeSet::new(),
            events: 0,
            faults: Vec::new(),
            failure: None,
            observations: world.keep_observations.then(Vec::new),
            trigger: None,
            triggered: Vec::new(),
            retain_also: None,
            observer: None,
        };
        for i in 0..sim.nodes.len() {
            sim.boot(NodeId::from_index(i));
        }
        sim
    }

    /// The current simulated time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// How many events have been handled.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The trace so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Node names, indexed by node id.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The id of the node with this name.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(NodeId::from_index)
    }

    /// The running process of a node, if it is not down.
    pub fn process(&self, node: NodeId) -> Option<&P> {
        self.nodes[node.index()].process.as_ref()
    }

    /// A node's status.
    pub fn status(&self, node: NodeId) -> NodeStatus {
        self.nodes[node.index()].status
    }

    /// A node's disk.
    pub fn disk(&self, node: NodeId) -> &Disk {
        &self.nodes[node.index()].disk
    }

    /// The network.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// Every fault applied so far, with its time.
    pub fn faults(&self) -> &[(SimTime, FaultAction)] {
        &self.faults
    }

    /// Every process observation so far, if the world keeps them.
    pub fn observations(&self) -> &[(SimTime, NodeId, P::Observation)] {
        self.observations.as_deref().unwrap_or(&[])
    }

    /// From now on also keeps the observations `extra` picks, besides those `Process::retain`
    /// does, so a report can chart LEO and HW moves. The trace and its hash are the same either
    /// way.
    pub fn retain_also(&mut self, extra: fn(&P::Observation) -> bool) {
        self.observations.get_or_insert_with(Vec::new);
        self.retain_also = Some(extra);
    }

    /// Installs the observer that sees every observation `Process::retain` picks from now on.
    pub fn set_observer(&mut self, observer: Box<Observer<P>>) {
        self.observer = Some(observer);
    }

    /// Removes the observer (dropping it, and whatever it holds).
    pub fn clear_observer(&mut self) {
        self.observer = None;
    }

    /// Takes the kept observations out of the simulator, leaving none.
    pub fn take_observations(&mut self) -> Vec<(SimTime, NodeId, P::Observation)> {
        self.observations
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Checks every invariant of every running process, whatever changed (a run's last word).
    pub fn check_all_invariants(&self) -> Result<(), SimError> {
        for (i, slot) in self.nodes.iter().enumerate() {
            if let Some(Err(message)) = slot.process.as_ref().map(Process::check_all_invariants) {
                return Err(SimError::Invariant {
                    at: self.now,
                    node: self.names[i].clone(),
                    message,
                });
            }
        }
        Ok(())
    }

    /// How many events are pending.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Handles every event up to and including `deadline`, then sets the clock to it.
    pub fn run_until(&mut self, deadline: SimTime) -> Result<(), SimError> {
        self.run_until_condition(deadline, |_| false).map(|_| ())
    }

    /// Handles events up to `deadline` until `done` holds after an event; returns whether it did.
    pub fn run_until_condition(
        &mut self,
        deadline: SimTime,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<bool, SimError> {
        while self.queue.peek_time().is_some_and(|t| t <= deadline) {
            self.step();
            if let Some(failure) = &self.failure {
                return Err(failure.clone());
            }
            if done(self) {
                return Ok(true);
            }
        }
        self.now = self.now.max(deadline);
        Ok(false)
    }

    /// Handles the earliest event; returns false when nothing is pending.
    pub fn step(&mut self) -> bool {
        let Some((at, event)) = self.queue.pop() else {
            return false;
        };
        assert!(at >= self.now, "event queue went back in time");
        self.now = at;
        self.events += 1;
        self.handle(event);
        if !self.triggered.is_empty() {
            self.fire_triggered();
        }
        true
    }

    fn handle(&mut self, event: Event<P>) {
        match event {
            Event::Deliver {
                from,
                to,
                generation,
                msg,
            } => {
                let Some(drained) = self.network.arrival(from, to, generation) else {
                    return;
                };
                let slot = &self.nodes[to.index()];
                if slot.status == NodeStatus::Down && !slot.powered_off {
                    // The machine is up but nothing listens: its OS refuses the connection.
                    self.network.close(from, to);
                    self.notify_closed(from, to);
                    return;
                }
                let incarnation = slot.incarnation;
                let input = if drained {
                    Input::DrainedMessage { from, msg }
                } else {
                    Input::Message { from, msg }
                };
                self.dispatch(to, incarnation, input);
            }
            Event::Input {
                node,
                incarnation,
                input,
            } => self.dispatch(node, incarnation, input),
            Event::Connect(connect) => {
                let (from, to) = (connect.from, connect.to);
                let retry = self.network.retry_connect(
                    self.now,
                    from,
                    to,
                    connect.since,
                    connect.generation,
                );
                match retry {
                    Retry::Connected => self.send(from, to, connect.msg),
                    Retry::Again(at) => self.queue.push(at, Event::Connect(connect)),
                    Retry::GaveUp => {}
                }
            }
            Event::SyncDone(done) => {
                let SyncDone {
                    node,
                    incarnation,
                    ticket,
                    token,
                } = *done;
                // The kernel finishes the sync even if the process died meanwhile.
                self.nodes[node.index()].disk.complete_sync(&ticket);
                self.dispatch(node, incarnation, Input::SyncDone { token });
            }
            Event::WriteDone(done) => {
                let WriteDone {
                    node,
                    incarnation,
                    power,
                    file,
                    bytes,
                    token,
                } = *done;
                let slot = &mut self.nodes[node.index()];
                // The rename happens only if the process lived to make it and power held.
                if slot.incarnation == incarnation && slot.disk.power_epoch() == power {
                    slot.disk.replace_durably(&file, bytes);
                    self.dispatch(node, incarnation, Input::SyncDone { token });
                }
            }
            Event::Fault(fault) => self.apply_one(*fault),
            Event::FaultEnds(fault) => {
                let text = format!("end {}", fault.describe(&self.names));
                self.trace.record(self.now, "fault", &text);
            }
        }
    }

    /// Hands an input to a node's process, keeps it while paused, or drops it.
    #[inline(always)]
    fn dispatch(&mut self, node: NodeId, incarnation: u32, input: Input<P>) {
        let slot = &mut self.nodes[node.index()];
        if slot.incarnation != incarnation {
            return;
        }
        match slot.status {
            NodeStatus::Down => return,
            NodeStatus::Paused => {
                slot.stash.push(Event::Input {
                    node,
                    incarnation,
                    input,
                });
                return;
            }
            NodeStatus::Up => {}
        }
        if let Input::Timer { id, .. } = &input
            && !self.cancelled.is_empty()
            && self.cancelled.remove(id)
        {
            return;
        }
        self.run_handler(node, |process, ctx| match input {
            Input::Message { from, msg } => process.on_message(ctx, from, msg),
            Input::DrainedMessage { from, msg } => process.on_drained_message(ctx, from, msg),
            Input::Timer { timer, .. } => process.on_timer(ctx, timer),
            Input::SyncDone { token } => process.on_sync_done(ctx, token),
            Input::ConnectionClosed { peer } => process.on_connection_closed(ctx, peer),
        });
    }

    /// Runs one handler of an up node's process, then checks it and applies its effects.
    pub(super) fn run_handler(
        &mut self,
        node: NodeId,
        handler: impl FnOnce(&mut P, &mut Ctx<'_, P>),
    ) {
        debug_assert!(self.effects.is_empty(), "handlers do not nest");
        let slot = &mut self.nodes[node.index()];
        let mut ctx = Ctx {
            now: self.now,
            node,
            incarnation: slot.incarnation,
            rng: &mut slot.rng,
            disk: &slot.disk,
            effects: &mut self.effects,
            next_timer: &mut self.next_timer,
        };
        handler(
            slot.process.as_mut().expect("an up node has a process"),
            &mut ctx,
        );
        self.after_handler(node);
    }

    /// Checks the process's invariants, then applies its effects in the order pushed.
    /// What changed is checked in every build; debug builds also check everything, so a change
    /// the process failed to note is caught there.
    #[inline]
    fn after_handler(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node.index()];
        let checked = slot.process.as_mut().map(|process| {
            let changed = process.check_invariants();
            if cfg!(debug_assertions) {
                changed.and_then(|()| process.check_all_invariants())
            } else {
                changed
            }
        });
        if let Some(Err(message)) = checked {
            let node = self.names[node.index()].clone();
            self.failure.get_or_insert(SimError::Invariant {
                at: self.now,
                node,
                message,
            });
        }
        // Applying an effect never runs a handler, so the buffer is taken from its back, in the
        // order pushed, and left empty and allocated for the next handler.
        self.effects.reverse();
        while let Some(effect) = self.effects.pop() {
            self.apply_effect(node, effect);
        }
    }

    fn apply_effect(&mut self, node: NodeId, effect: Effect<P>) {
        let incarnation = self.nodes[node.index()].incarnation;
        match effect {
            Effect::Send { to, msg } => self.send(node, to, msg),
            Effect::SetTimer { id, after, timer } => {
                let input = Input::Timer { id, timer };
                self.queue.push(
                    self.now + after,
                    Event::Input {
                        node,
                        incarnation,
                        input,
                    },
                );
            }
            Effect::CancelTimer(id) => {
                self.cancelled.insert(id);
            }
            Effect::Disk(op) => self.apply_disk_op(node, incarnation, op),
            Effect::Disconnect(peer) => {
                if self.network.close_gracefully(node, peer) {
                    self.notify_closed(peer, node);
                }
            }
            Effect::Observe(observation) => {
                self.trace.record_observation(
                    self.now,
                    node.get(),
                    &self.names[node.index()],
                    &observation,
                    |line| P::write_observation(&observation, line),
                );
                if let Some(trigger) = &mut self.trigger {
                    trigger(node, &observation, &mut self.triggered);
                }
                let retained = P::retain(&observation);
                if retained && let Some(observer) = &mut self.observer {
                    observer(self.now, node, &observation);
                }
                if let Some(kept) = &mut self.observations
                    && (retained || self.retain_also.is_some_and(|f| f(&observation)))
                {
                    kept.push((self.now, node, observation));
                }
            }
        }
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: P::Msg) {
        if from == to {
            let incarnation = self.nodes[to.index()].incarnation;
            let input = Input::Message { from, msg };
            self.queue.push(
                self.now,
                Event::Input {
                    node: to,
                    incarnation,
                    input,
                },
            );
            return;
        }
        match self.network.send(self.now, from, to, &mut self.net_rng) {
            SendOutcome::Deliver { at, generation } => {
                self.queue.push(
                    at,
                    Event::Deliver {
                        from,
                        to,
                        generation,
                        msg,
                    },
                );
            }
            SendOutcome::Connecting {
                retry_at,
                since,
                generation,
            } => {
                let connect = Connect {
                    from,
                    to,
                    since,
                    generation,
                    msg,
                };
                self.queue.push(retry_at, Event::Connect(Box::new(connect)));
            }
            SendOutcome::Reset => {
                self.notify_closed(from, to);
                self.notify_closed(to, from);
            }
        }
    }

    fn apply_disk_op(&mut self, node: NodeId, incarnation: u32, op: DiskOp) {
        let disk = &mut self.nodes[node.index()].disk;
        match op {
            DiskOp::Append { file, bytes } => disk.append(&file, &bytes),
            DiskOp::Truncate { file, len } => disk.truncate(&file, len),
            DiskOp::Delete { file } => disk.delete(&file),
            DiskOp::Sync { file, token } => {
                let ticket = disk.begin_sync(&file);
                let at = self.now + disk.sync_delay(self.now, &mut self.disk_rng);
                let done = SyncDone {
                    node,
                    incarnation,
                    ticket,
                    token,
                };
                self.queue.push(at, Event::SyncDone(Box::new(done)));
            }
            DiskOp::WriteAtomic { file, bytes, token } => {
                let power = disk.power_epoch();
                let at = self.now + disk.sync_delay(self.now, &mut self.disk_rng);
                let done = WriteDone {
                    node,
                    incarnation,
                    power,
                    file,
                    bytes,
                    token,
                };
                self.queue.push(at, Event::WriteDone(Box::new(done)));
            }
        }
    }

    /// Boots a node from its disk and runs its `on_start`.
    pub(super) fn boot(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node.index()];
        assert_eq!(
            slot.status,
            NodeStatus::Down,
            "boot of a node that is not down"
        );
        slot.incarnation += 1;
        let mut unaware = std::mem::take(&mut slot.unaware_peers);
        if std::mem::replace(&mut slot.powered_off, false) {
            // Back from a power-off: whatever peers sent meanwhile opened connections this host
            // no longer knows; its TCP stack resets them, and the old ones too.
            unaware.extend(self.network.close_all(node));
        }
        let slot = &mut self.nodes[node.index()];
        slot.process = Some(P::boot(node, &slot.spec, &slot.disk));
        slot.status = NodeStatus::Up;
        self.trace
            .record(self.now, &self.names[node.index()], &"start");
        unaware.sort_unstable();
        unaware.dedup();
        for peer in unaware {
            self.notify_closed(peer, node);
        }
        self.run_handler(node, |process, ctx| process.on_start(ctx));
    }
}

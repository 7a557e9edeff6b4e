//! Applying faults to the running world: crashes (kill, power-off), restarts, pauses, network
//! partitions, cuts and heals, slow links and disks, each recorded in the trace and the fault
//! list.

use super::ids::NodeId;
use super::process::Process;
use super::simulator::{Event, Input, Simulator, Trigger};
use super::time::{SimDuration, SimTime};
use crate::faults::FaultAction;
use crate::sim::NodeStatus;

impl<P: Process> Simulator<P> {
    /// Stops random message loss from now on (the heal phase: the settle phase is fault-free).
    pub fn stop_message_loss(&mut self) {
        self.network.stop_loss();
    }

    /// Test-only: draws one value from the network's random stream, shifting every later
    /// latency — a stand-in for a nondeterminism bug, so tests can see it caught.
    #[doc(hidden)]
    pub fn perturb_network(&mut self) {
        let _: u64 = rand::RngExt::random(&mut self.net_rng);
    }

    /// Installs the watcher that fires condition-triggered faults (see [`Trigger`]).
    pub fn set_trigger(&mut self, trigger: Box<Trigger<P>>) {
        self.trigger = Some(trigger);
    }

    /// Removes the condition-trigger watcher: no fault fires on a condition from now on.
    pub fn clear_trigger(&mut self) {
        self.trigger = None;
    }

    /// Schedules a fault at `at` (not before now).
    pub fn schedule_fault(&mut self, at: SimTime, fault: FaultAction) {
        assert!(
            at >= self.now,
            "fault scheduled in the past: {at} < {}",
            self.now
        );
        self.check_targets(&fault);
        self.queue.push(at, Event::Fault(Box::new(fault)));
    }

    /// Applies (or schedules, if delayed) the faults triggers fired during the last event; faults
    /// they apply may fire more, which apply in turn.
    pub(super) fn fire_triggered(&mut self) {
        while !self.triggered.is_empty() {
            for (delay, fault) in std::mem::take(&mut self.triggered) {
                if delay == SimDuration::ZERO {
                    self.apply_one(fault);
                } else {
                    self.schedule_fault(self.now + delay, fault);
                }
            }
        }
    }
    pub(super) fn check_targets(&self, fault: &FaultAction) {
        let n = self.nodes.len();
        let valid = fault.nodes().iter().all(|node| node.index() < n);
        assert!(valid, "fault names a node outside the world: {fault:?}");
    }

    /// Applies a fault now and records it in the trace and the fault list; then any fault a
    /// trigger fired in response.
    pub fn apply_fault(&mut self, fault: FaultAction) {
        self.apply_one(fault);
        self.fire_triggered();
    }

    pub(super) fn apply_one(&mut self, fault: FaultAction) {
        self.check_targets(&fault);
        let text = fault.describe(&self.names).to_string();
        self.trace.record(self.now, "fault", &text);
        match &fault {
            FaultAction::Kill(node) => self.crash(*node, None),
            FaultAction::PowerOff { node, torn } => self.crash(*node, Some(*torn)),
            FaultAction::Restart(node) => {
                if self.nodes[node.index()].status == NodeStatus::Down {
                    self.boot(*node);
                }
            }
            FaultAction::Pause(node) => {
                let slot = &mut self.nodes[node.index()];
                if slot.status == NodeStatus::Up {
                    slot.status = NodeStatus::Paused;
                }
            }
            FaultAction::Resume(node) => self.resume(*node),
            FaultAction::Partition(groups) => self.partition(groups),
            FaultAction::Isolate(node) => {
                for peer in (0..self.nodes.len()).map(NodeId::from_index) {
                    self.cut(*node, peer);
                    self.cut(peer, *node);
                }
            }
            FaultAction::Cut { from, to } => self.cut(*from, *to),
            FaultAction::Heal => self.network.heal(),
            FaultAction::SlowLink {
                from,
                to,
                extra,
                for_,
            } => {
                self.network.slow_link(*from, *to, *extra, self.now + *for_);
                self.queue
                    .push(self.now + *for_, Event::FaultEnds(Box::new(fault.clone())));
            }
            FaultAction::SlowDisk { node, extra, for_ } => {
                self.nodes[node.index()]
                    .disk
                    .slow_down(*extra, self.now + *for_);
                self.queue
                    .push(self.now + *for_, Event::FaultEnds(Box::new(fault.clone())));
            }
        }
        self.faults.push((self.now, fault));
    }

    /// Kills a node. With `power_off = Some(torn)` its disk also loses unsynced bytes (keeping a
    /// torn tail if `torn`) and peers are not told: a machine without power sends no FIN.
    fn crash(&mut self, node: NodeId, power_off: Option<bool>) {
        let slot = &mut self.nodes[node.index()];
        if slot.status != NodeStatus::Down {
            slot.status = NodeStatus::Down;
            slot.process = None;
            slot.stash.clear();
        }
        if let Some(torn) = power_off {
            slot.disk.power_off(torn, &mut self.disk_rng);
            slot.powered_off = true;
        }
        let peers = self.network.close_all(node);
        if power_off.is_none() {
            for peer in peers {
                self.notify_closed(peer, node);
            }
        } else {
            self.nodes[node.index()].unaware_peers.extend(peers);
        }
    }

    fn resume(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node.index()];
        if slot.status != NodeStatus::Paused {
            return;
        }
        slot.status = NodeStatus::Up;
        for event in std::mem::take(&mut slot.stash) {
            self.queue.push(self.now, event);
        }
    }

    fn partition(&mut self, groups: &[Vec<NodeId>]) {
        for (i, group) in groups.iter().enumerate() {
            for other in &groups[i + 1..] {
                for &a in group {
                    for &b in other {
                        self.cut(a, b);
                        self.cut(b, a);
                    }
                }
            }
        }
    }

    /// Cuts `from → to`; if that closed their connection, both ends are told.
    fn cut(&mut self, from: NodeId, to: NodeId) {
        if self.network.cut(from, to) {
            self.notify_closed(from, to);
            self.notify_closed(to, from);
        }
    }

    pub(super) fn notify_closed(&mut self, node: NodeId, peer: NodeId) {
        let incarnation = self.nodes[node.index()].incarnation;
        let input = Input::ConnectionClosed { peer };
        self.queue.push(
            self.now,
            Event::Input {
                node,
                incarnation,
                input,
            },
        );
    }
}

//! The workload as kafkasim processes: one `Host` per node, its callers' requests and its answers
//! travel over the engine's FIFO links with the uniform latency model.

use std::fmt;
use std::hint::black_box;
use std::time::Instant;

use kafkasim::disk::{Disk, DiskModel};
use kafkasim::net::{LatencyModel, NetworkModel};
use kafkasim::sim::{Ctx, NodeId, Process, SimDuration, SimTime, Simulator, World};
use rand::RngExt;

use crate::workload::{DURATION_US, LATENCY_US_MAX, LATENCY_US_MIN, Outcome, Workload};

/// A request from one of the sender's callers, or the answer to it.
#[derive(Clone, Debug)]
pub enum Msg {
    /// A caller's request.
    Request { caller: u32 },
    /// The answer, back to the caller that asked.
    Response { caller: u32 },
}

/// The workload records nothing.
#[derive(Hash)]
pub enum Nothing {}

impl fmt::Display for Nothing {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

/// Configuration of one host.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Hosts in the run.
    pub hosts: usize,
    /// Callers on this host.
    pub callers: u32,
}

/// One host: a server that answers at once and `callers` closed-loop callers.
pub struct Host {
    spec: Spec,
    /// Volatile: messages delivered to this host.
    pub deliveries: u64,
}

impl Host {
    fn call(&self, ctx: &mut Ctx<'_, Self>, caller: u32) {
        let me = ctx.node().index();
        let pick = ctx.rng().random_range(0..self.spec.hosts - 1);
        let to = if pick >= me { pick + 1 } else { pick };
        ctx.send(NodeId::from_index(to), Msg::Request { caller });
    }
}

impl Process for Host {
    type Msg = Msg;
    type Timer = ();
    type Observation = Nothing;
    type Spec = Spec;

    fn boot(_node: NodeId, spec: &Spec, _disk: &Disk) -> Self {
        Host {
            spec: *spec,
            deliveries: 0,
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        for caller in 0..self.spec.callers {
            self.call(ctx, caller);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        self.deliveries += 1;
        match msg {
            Msg::Request { caller } => ctx.send(from, Msg::Response { caller }),
            Msg::Response { caller } => self.call(ctx, caller),
        }
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, _timer: ()) {}
}

/// Runs the workload on kafkasim's engine.
pub fn run(workload: Workload) -> Outcome {
    let spec = Spec {
        hosts: workload.hosts,
        callers: workload.callers as u32,
    };
    let world = World::<Host> {
        seed: workload.seed,
        names: (0..workload.hosts).map(|i| format!("host-{i}")).collect(),
        specs: vec![spec; workload.hosts],
        network: NetworkModel {
            latency: LatencyModel {
                min: SimDuration::from_micros(LATENCY_US_MIN),
                max: SimDuration::from_micros(LATENCY_US_MAX),
                ..LatencyModel::uniform_ms(0, 0)
            },
            loss_ppm: 0,
        },
        disk: DiskModel::default(),
        keep_log: false,
        keep_observations: false,
    };
    #[allow(clippy::disallowed_methods)] // benchmarks measure wall time
    let start = Instant::now();
    let mut sim = Simulator::new(world);
    sim.run_until(SimTime::from_micros(DURATION_US))
        .expect("no invariant breaks");
    let deliveries = (0..workload.hosts)
        .filter_map(|i| sim.process(NodeId::from_index(i)))
        .map(|host| host.deliveries)
        .sum();
    Outcome {
        deliveries: black_box(deliveries),
        wall: start.elapsed(),
    }
}

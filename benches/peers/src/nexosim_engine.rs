//! The workload as nexosim models on the single-threaded executor: one `Host` model per host with
//! one `Output` port per other host. A send schedules an event on the sender after the drawn
//! latency; that event pushes the message through the output port into the receiver's mailbox.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nexosim::model::{Context, Model, schedulable};
use nexosim::ports::Output;
use nexosim::simulation::{Mailbox, SimInit};
use nexosim::time::MonotonicTime;
use serde::{Deserialize, Serialize};

use crate::workload::{DURATION_US, Outcome, SplitMix, Workload};

/// Deliveries of the current run, over all hosts (nexosim owns the models once they are added).
static DELIVERIES: AtomicU64 = AtomicU64::new(0);

/// A request from one of the sender's callers, or the answer to it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Msg {
    /// A caller's request, with the requesting host.
    Request { from: u32, caller: u32 },
    /// The answer, back to the caller that asked.
    Response { caller: u32 },
}

/// One host: a server that answers at once and `callers` closed-loop callers.
#[derive(Serialize, Deserialize)]
pub struct Host {
    me: usize,
    hosts: usize,
    callers: u32,
    rng: SplitMix,
    /// One port per host (its own stays unconnected).
    links: Vec<Output<Msg>>,
}

#[Model]
impl Host {
    /// Receives a request or a response.
    pub fn receive(&mut self, msg: Msg, cx: &Context<Self>) {
        DELIVERIES.fetch_add(1, Ordering::Relaxed);
        match msg {
            Msg::Request { from, caller } => self.send(cx, from as usize, Msg::Response { caller }),
            Msg::Response { caller } => self.call(cx, caller),
        }
    }

    #[nexosim(init)]
    async fn init(&mut self, cx: &Context<Self>) {
        for caller in 0..self.callers {
            self.call(cx, caller);
        }
    }

    /// Puts a message on the wire once its latency has passed.
    #[nexosim(schedulable)]
    async fn transmit(&mut self, (to, msg): (u32, Msg)) {
        self.links[to as usize].send(msg).await;
    }
}

impl Host {
    fn call(&mut self, cx: &Context<Self>, caller: u32) {
        let to = self.rng.other_host(self.me, self.hosts);
        let from = self.me as u32;
        self.send(cx, to, Msg::Request { from, caller });
    }

    fn send(&mut self, cx: &Context<Self>, to: usize, msg: Msg) {
        let delay = Duration::from_micros(self.rng.latency_us());
        cx.schedule_event(delay, schedulable!(Self::transmit), (to as u32, msg))
            .expect("the delay is positive");
    }
}

/// Runs the workload on nexosim with one thread.
pub fn run(workload: Workload) -> Outcome {
    let n = workload.hosts;
    DELIVERIES.store(0, Ordering::Relaxed);
    #[allow(clippy::disallowed_methods)] // benchmarks measure wall time
    let start = Instant::now();
    // Room for every message a host can be sent at one instant, so no sender waits.
    let capacity = (n * workload.callers).next_power_of_two();
    let mailboxes: Vec<Mailbox<Host>> = (0..n).map(|_| Mailbox::with_capacity(capacity)).collect();
    let hosts: Vec<Host> = (0..n)
        .map(|me| {
            let mut links: Vec<Output<Msg>> = (0..n).map(|_| Output::default()).collect();
            for (to, link) in links.iter_mut().enumerate() {
                if to != me {
                    link.connect(Host::receive, &mailboxes[to]);
                }
            }
            Host {
                me,
                hosts: n,
                callers: workload.callers as u32,
                rng: SplitMix::new(workload.seed, me as u64 + 1),
                links,
            }
        })
        .collect();
    let mut bench = SimInit::with_num_threads(1);
    for (me, (host, mailbox)) in hosts.into_iter().zip(mailboxes).enumerate() {
        bench = bench.add_model(host, mailbox, &format!("host-{me}"));
    }
    let mut simulation = bench
        .init(MonotonicTime::EPOCH)
        .expect("the bench is valid");
    simulation
        .step_until(Duration::from_micros(DURATION_US))
        .expect("the run completes");
    Outcome {
        deliveries: black_box(DELIVERIES.load(Ordering::Relaxed)),
        wall: start.elapsed(),
    }
}

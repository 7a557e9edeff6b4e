//! The workload on turmoil over UDP: every host binds a server socket that answers each request
//! and one socket per caller; the simulation steps in 1 ms ticks until the simulated minute ends.
//!
//! turmoil draws a message's latency as `min + (max - min) * Exp(rate)`, capped at `max` and
//! rounded down to whole milliseconds; it has no uniform distribution. The rate is set to 1.3 so
//! that the mean delay comes near 5.5 ms, the mean of the uniform 1–10 ms the other engines draw,
//! and the runs deliver about as much per simulated second.

use std::cell::Cell;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use turmoil::net::UdpSocket;

use crate::workload::{DURATION_US, LATENCY_US_MAX, LATENCY_US_MIN, Outcome, SplitMix, Workload};

/// The server port of every host.
const SERVER_PORT: u16 = 1;
/// The first caller port (caller c binds `CALLER_PORT + c`).
const CALLER_PORT: u16 = 1_000;
/// Exponential rate of turmoil's latency draw that gives about a 5.5 ms mean in 1–10 ms.
const LATENCY_CURVE: f64 = 1.3;

fn name(host: usize) -> String {
    format!("host-{host}")
}

async fn serve(socket: UdpSocket, deliveries: Rc<Cell<u64>>) -> turmoil::Result {
    let mut buf = [0u8; 8];
    loop {
        let (len, from) = socket.recv_from(&mut buf).await?;
        deliveries.set(deliveries.get() + 1);
        socket.send_to(&buf[..len], from).await?;
    }
}

async fn call(
    socket: UdpSocket,
    peers: Rc<Vec<IpAddr>>,
    me: usize,
    mut rng: SplitMix,
    deliveries: Rc<Cell<u64>>,
) -> turmoil::Result {
    let mut buf = [0u8; 8];
    loop {
        let to = peers[rng.other_host(me, peers.len())];
        socket.send_to(&buf, (to, SERVER_PORT)).await?;
        socket.recv_from(&mut buf).await?;
        deliveries.set(deliveries.get() + 1);
    }
}

/// Runs the workload on turmoil.
pub fn run(workload: Workload) -> Outcome {
    let n = workload.hosts;
    let deliveries = Rc::new(Cell::new(0u64));
    #[allow(clippy::disallowed_methods)] // benchmarks measure wall time
    let start = Instant::now();
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_micros(DURATION_US) * 2)
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_micros(LATENCY_US_MIN))
        .max_message_latency(Duration::from_micros(LATENCY_US_MAX))
        .udp_capacity(n * workload.callers * 4)
        .rng_seed(workload.seed)
        .build();
    sim.set_message_latency_curve(LATENCY_CURVE);
    for me in 0..n {
        let deliveries = deliveries.clone();
        let callers = workload.callers;
        let seed = workload.seed;
        sim.host(name(me), move || {
            let deliveries = deliveries.clone();
            async move {
                let peers: Rc<Vec<IpAddr>> =
                    Rc::new((0..n).map(|h| turmoil::lookup(name(h))).collect());
                let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
                for caller in 0..callers {
                    let socket = UdpSocket::bind((any, CALLER_PORT + caller as u16)).await?;
                    let rng = SplitMix::new(seed, (me * callers + caller) as u64 + 1);
                    let task = call(socket, peers.clone(), me, rng, deliveries.clone());
                    tokio::task::spawn_local(task);
                }
                serve(UdpSocket::bind((any, SERVER_PORT)).await?, deliveries).await
            }
        });
    }
    let end = Duration::from_micros(DURATION_US);
    while sim.elapsed() < end {
        sim.step().expect("the hosts run");
    }
    Outcome {
        deliveries: black_box(deliveries.get()),
        wall: start.elapsed(),
    }
}

//! The heap-only baseline: the same workload with nothing but a binary heap of deliveries ordered
//! by `(time, sequence number)` and a SplitMix draw per send — the floor any engine pays.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Instant;

use crate::workload::{DURATION_US, Outcome, SplitMix, Workload};

/// One message in flight: delivery time, sequence number, destination, source, caller and
/// whether it is a request.
type Delivery = (u64, u64, u32, u32, u32, bool);

/// Runs the workload on a bare `BinaryHeap`.
pub fn run(workload: Workload) -> Outcome {
    let hosts = workload.hosts;
    #[allow(clippy::disallowed_methods)] // benchmarks measure wall time
    let start = Instant::now();
    let mut rng = SplitMix::new(workload.seed, 0);
    let mut heap: BinaryHeap<Reverse<Delivery>> = BinaryHeap::new();
    let mut seq = 0u64;
    for host in 0..hosts {
        for caller in 0..workload.callers as u32 {
            let to = rng.other_host(host, hosts) as u32;
            heap.push(Reverse((
                rng.latency_us(),
                seq,
                to,
                host as u32,
                caller,
                true,
            )));
            seq += 1;
        }
    }
    let mut deliveries = 0u64;
    while let Some(Reverse((time, _, to, from, caller, request))) = heap.pop() {
        if time > DURATION_US {
            break;
        }
        deliveries += 1;
        let (next_to, next_request) = if request {
            (from, false)
        } else {
            (rng.other_host(to as usize, hosts) as u32, true)
        };
        let at = time + rng.latency_us();
        heap.push(Reverse((at, seq, next_to, to, caller, next_request)));
        seq += 1;
    }
    Outcome {
        deliveries: black_box(deliveries),
        wall: start.elapsed(),
    }
}

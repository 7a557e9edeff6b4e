//! Properties of the network and the disk, over random latencies, fault schedules and writes.

mod common;

use common::pingpong::{Arrival, PING_LOG, PingPong, full_mesh};
use kafkasim::disk::{Disk, DiskModel, SyncTicket};
use kafkasim::faults::FaultAction;
use kafkasim::net::{LatencyModel, NetworkModel};
use kafkasim::sim::{NodeId, RootRng, SimDuration, SimTime, Simulator, Stream, World};
use proptest::prelude::*;

fn world(n: usize, seed: u64, latency: LatencyModel) -> World<PingPong> {
    World {
        seed,
        names: (0..n).map(|i| format!("node-{i}")).collect(),
        specs: full_mesh(n, SimDuration::from_millis(2), false),
        network: NetworkModel {
            latency,
            loss_ppm: 0,
        },
        disk: DiskModel::default(),
        keep_log: false,
        keep_observations: false,
    }
}

fn latency() -> impl Strategy<Value = LatencyModel> {
    (0u64..20_000, 0u64..20_000, 0u32..200_000, 0u64..100_000).prop_map(|(a, b, tail, t)| {
        LatencyModel {
            min: SimDuration::from_micros(a.min(b)),
            max: SimDuration::from_micros(a.max(b)),
            tail_ppm: tail,
            tail_min: SimDuration::from_micros(a.max(b)),
            tail_max: SimDuration::from_micros(a.max(b) + t),
        }
    })
}

fn arrivals(sim: &Simulator<PingPong>, n: usize) -> Vec<(NodeId, Vec<Arrival>)> {
    (0..n)
        .map(NodeId::from_index)
        .map(|node| (node, sim.process(node).expect("up").arrivals.clone()))
        .collect()
}

/// A link fault for the schedule: 0 cut, 1 partition in two, 2 isolate, 3 heal.
fn link_fault(kind: u8, a: usize, b: usize, n: usize) -> FaultAction {
    let (a, b) = (a % n, b % n);
    let node = NodeId::from_index;
    match kind % 4 {
        0 if a != b => FaultAction::Cut {
            from: node(a),
            to: node(b),
        },
        1 => {
            let (left, right): (Vec<_>, Vec<_>) = (0..n).map(node).partition(|x| x.index() <= a);
            FaultAction::Partition(vec![left, right])
        }
        2 => FaultAction::Isolate(node(a)),
        _ => FaultAction::Heal,
    }
}

/// Whether `from → to` is cut by the faults applied at or before `at`.
fn cut_at(faults: &[(SimTime, FaultAction)], from: NodeId, to: NodeId, at: SimTime) -> bool {
    let mut cut = false;
    for (_, fault) in faults.iter().filter(|(t, _)| *t <= at) {
        cut = match fault {
            FaultAction::Heal => false,
            FaultAction::Cut { from: f, to: g } if (*f, *g) == (from, to) => true,
            FaultAction::Isolate(x) if *x == from || *x == to => true,
            FaultAction::Partition(groups) => {
                let side = |x: NodeId| groups.iter().position(|g| g.contains(&x));
                cut || (side(from).is_some() && side(to).is_some() && side(from) != side(to))
            }
            _ => cut,
        };
    }
    cut
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn each_link_delivers_in_fifo_order(seed: u64, n in 2usize..6, latency in latency()) {
        let mut sim = Simulator::new(world(n, seed, latency));
        sim.run_until(SimTime::from_millis(300)).unwrap();
        for (node, arrivals) in arrivals(&sim, n) {
            for from in (0..n).map(NodeId::from_index) {
                let seqs: Vec<u64> =
                    arrivals.iter().filter(|a| a.from == from).map(|a| a.seq).collect();
                prop_assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{from} -> {node}: {seqs:?}");
            }
            prop_assert!(arrivals.windows(2).all(|w| w[0].at <= w[1].at));
        }
    }

    /// A message sent over a cut link waits for TCP's SYN retries: it arrives only once the
    /// link is up again, never across a cut.
    #[test]
    fn nothing_crosses_a_cut_link_and_delivery_resumes_after_heal(
        seed: u64,
        n in 2usize..6,
        latency in latency(),
        schedule in prop::collection::vec((0u8..4, 0usize..6, 0usize..6), 1..8),
    ) {
        let mut sim = Simulator::new(world(n, seed, latency));
        for (i, &(kind, a, b)) in schedule.iter().enumerate() {
            // Faults at .5 ms offsets: pings go out on whole-millisecond ticks far less often.
            let at = SimTime::from_micros(20_500 + 40_000 * i as u64);
            sim.schedule_fault(at, link_fault(kind, a, b, n));
        }
        let healed_at = SimTime::from_micros(20_500 + 40_000 * schedule.len() as u64);
        sim.schedule_fault(healed_at, FaultAction::Heal);
        // Every attempt began after the first fault, less than a second before the heal: its
        // first SYN retry, a second after it began, finds the links up.
        sim.run_until(healed_at + SimDuration::from_millis(1_300)).unwrap();
        let faults = sim.faults().to_vec();
        for (node, arrivals) in arrivals(&sim, n) {
            for a in &arrivals {
                // Sent while cut, it waited for the link to come up: it left after a heal.
                let left_after = if cut_at(&faults, a.from, node, a.sent_at) {
                    let heal = faults
                        .iter()
                        .filter(|(t, f)| matches!(f, FaultAction::Heal) && *t <= a.at)
                        .map(|(t, _)| *t)
                        .next_back();
                    prop_assert!(
                        heal.is_some_and(|h| h > a.sent_at),
                        "{a:?} sent while cut arrived with no heal between"
                    );
                    heal.unwrap_or(a.sent_at)
                } else {
                    a.sent_at
                };
                let crossed = faults.iter().any(|(t, f)| {
                    *t >= left_after && *t <= a.at && cut_at(&[(*t, f.clone())], a.from, node, *t)
                });
                prop_assert!(!crossed, "{a:?} to {node} crossed a cut");
            }
            let after_heal = arrivals.iter().filter(|a| a.sent_at > healed_at).count();
            prop_assert!(after_heal > 0, "{node} hears nothing after the heal");
        }
    }

    #[test]
    fn kill_keeps_written_bytes_and_power_off_keeps_durable_bytes(
        seed: u64,
        kill_ms in 1u64..200,
        power_off_ms in 1u64..200,
    ) {
        let mut sim = Simulator::new(world(3, seed, LatencyModel::uniform_ms(1, 3)));
        let (a, b) = (NodeId::from_index(0), NodeId::from_index(1));
        sim.run_until(SimTime::from_millis(kill_ms)).unwrap();
        let written = sim.disk(a).read(PING_LOG).map(<[u8]>::to_vec);
        sim.apply_fault(FaultAction::Kill(a));
        prop_assert_eq!(sim.disk(a).read(PING_LOG).map(<[u8]>::to_vec), written);
        sim.run_until(SimTime::from_millis(kill_ms + power_off_ms)).unwrap();
        let durable = sim.disk(b).durable_len(PING_LOG);
        let content = sim.disk(b).read(PING_LOG).map(<[u8]>::to_vec).unwrap_or_default();
        sim.apply_fault(FaultAction::PowerOff { node: b, torn: false });
        let after = sim.disk(b).read(PING_LOG).map(<[u8]>::to_vec).unwrap_or_default();
        prop_assert_eq!(&after[..], &content[..durable]);
    }
}

/// One disk operation for the model test.
#[derive(Clone, Debug)]
enum Op {
    Append(Vec<u8>),
    BeginSync,
    CompleteSync(usize),
    Truncate(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..16).prop_map(Op::Append),
        2 => Just(Op::BeginSync),
        2 => (0usize..8).prop_map(Op::CompleteSync),
        1 => (0usize..64).prop_map(Op::Truncate),
    ]
}

proptest! {
    #[test]
    fn after_power_off_exactly_the_durable_bytes_remain(
        ops in prop::collection::vec(op(), 0..40),
        torn_tail: bool,
        seed: u64,
    ) {
        let mut disk = Disk::new(DiskModel::default());
        let (mut written, mut durable) = (Vec::<u8>::new(), 0usize);
        let mut pending: Vec<SyncTicket> = Vec::new();
        for op in ops {
            match op {
                Op::Append(bytes) => {
                    disk.append("f", &bytes);
                    written.extend_from_slice(&bytes);
                }
                Op::BeginSync => pending.push(disk.begin_sync("f")),
                Op::CompleteSync(i) if !pending.is_empty() => {
                    let ticket = pending.remove(i % pending.len());
                    disk.complete_sync(&ticket);
                    durable = durable.max(ticket.len.min(written.len()));
                }
                Op::CompleteSync(_) => {}
                Op::Truncate(len) => {
                    disk.truncate("f", len);
                    written.truncate(len);
                    durable = durable.min(len);
                }
            }
            prop_assert_eq!(disk.read("f").unwrap_or_default(), &written[..]);
            prop_assert_eq!(disk.durable_len("f"), durable);
        }
        disk.power_off(torn_tail, &mut RootRng::new(seed).fork(Stream::Disk));
        let after = disk.read("f").unwrap_or_default().to_vec();
        if torn_tail {
            prop_assert!(after.len() >= durable && after.len() <= written.len());
            prop_assert_eq!(&after[..], &written[..after.len()]);
        } else {
            prop_assert_eq!(&after[..], &written[..durable]);
        }
        for ticket in pending {
            disk.complete_sync(&ticket);
        }
        prop_assert_eq!(disk.durable_len("f"), after.len(), "syncs before power-off are void");
    }
}

//! The virtual network: directed links between nodes, each delivering in FIFO order as a TCP
//! connection does. A message's delay is drawn from the latency model and its delivery time is
//! `max(now + delay, last delivery on this link)`.
//!
//! Reachability is a petgraph directed adjacency matrix: an edge `a → b` means `a`'s packets
//! reach `b`. Partitions remove edges (both directions, or one for a one-way cut); heal restores
//! them all. Each unordered pair of nodes shares one connection with a generation number; closing
//! it (a cut, or a peer killed) bumps the generation, so everything still in flight on it is
//! dropped at delivery, and both ends are told the connection closed — which is how clients see
//! disconnects. A client that closes a connection itself (a request timed out) closes it the way
//! TCP does: what it already sent still arrives (its bytes precede the FIN) and may be served,
//! but nothing comes back on the old connection.
//!
//! A send over a link that is down opens a connection that cannot complete: TCP sends its SYN
//! again [`SYN_RETRIES`] (1, 3 and 7 s after the first, Linux's initial 1 s timeout doubling), and
//! the message, with everything sent after it on the link, waits. At the first retry that finds
//! the link up the connection is made and they leave in order; if none does before
//! [`CONNECT_GIVE_UP`] (Kafka's `socket.connection.setup.timeout.ms`) they are dropped, and the
//! sender learns only through its own timeout. A close of the connection (a crash, the sender
//! giving up) drops them too.
//!
//! Also modelled: uniform latency with an optional long tail, random packet loss (in parts per
//! million: no floats in simulation decisions) as TCP sees it — a lost message is retransmitted
//! after [`TCP_RTO_MIN`], doubling, and everything behind it on the link waits; after
//! [`MAX_RETRANSMISSIONS`] the connection resets — and slow-link faults adding delay for a while.
//! Left out: bandwidth and message size (a message costs latency only), and duplication.

use petgraph::graph::NodeIndex;
use petgraph::matrix_graph::DiMatrix;
use rand::RngExt;

use crate::sim::{NodeId, SimDuration, SimRng, SimTime};

/// One part per million, the unit of every probability in simulation code.
pub const PPM: u32 = 1_000_000;

/// How long a message takes on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencyModel {
    /// Fastest one-way delay.
    pub min: SimDuration,
    /// Slowest ordinary one-way delay (uniform between min and max).
    pub max: SimDuration,
    /// Chance, in parts per million, that a message takes the long tail instead.
    pub tail_ppm: u32,
    /// Fastest long-tail delay.
    pub tail_min: SimDuration,
    /// Slowest long-tail delay.
    pub tail_max: SimDuration,
}

impl LatencyModel {
    /// Uniform delay in `[min_ms, max_ms]` milliseconds and no tail.
    pub fn uniform_ms(min_ms: u64, max_ms: u64) -> LatencyModel {
        LatencyModel {
            min: SimDuration::from_millis(min_ms),
            max: SimDuration::from_millis(max_ms),
            tail_ppm: 0,
            tail_min: SimDuration::ZERO,
            tail_max: SimDuration::ZERO,
        }
    }

    fn draw(&self, rng: &mut SimRng) -> SimDuration {
        let (min, max) = if self.tail_ppm > 0 && rng.random_range(0..PPM) < self.tail_ppm {
            (self.tail_min, self.tail_max)
        } else {
            (self.min, self.max)
        };
        SimDuration::from_micros(rng.random_range(min.as_micros()..=max.as_micros()))
    }
}

/// The whole network's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkModel {
    /// Delay of each message.
    pub latency: LatencyModel,
    /// Chance, in parts per million, that a message is lost.
    pub loss_ppm: u32,
}

impl NetworkModel {
    /// The model a scenario's `[network]` section describes.
    pub fn from_scenario(network: &crate::scenario::Network) -> NetworkModel {
        let range = |r: &crate::scenario::RangeMs| {
            (
                SimDuration::from_millis(r.min_ms),
                SimDuration::from_millis(r.max_ms),
            )
        };
        let (min, max) = range(&network.latency_ms);
        let (tail_min, tail_max) = range(&network.tail_latency_ms);
        let tail_ppm = network.tail_ppm();
        let latency = LatencyModel {
            min,
            max,
            tail_ppm,
            tail_min,
            tail_max,
        };
        NetworkModel {
            latency,
            loss_ppm: network.loss_ppm(),
        }
    }
}

/// What became of a sent message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// It will arrive at `at` unless its connection closes first.
    Deliver {
        /// Arrival time.
        at: SimTime,
        /// The connection generation it travels on.
        generation: u32,
    },
    /// The link is down: it waits for a connection, whose next SYN is sent at `retry_at`.
    Connecting {
        /// When to look again (a SYN retry).
        retry_at: SimTime,
        /// When the connection attempt began.
        since: SimTime,
        /// The connection generation the message waits on.
        generation: u32,
    },
    /// Lost so often that TCP gave up: the connection resets (both ends hear the close).
    Reset,
}

/// TCP's minimum retransmission timeout (Linux `TCP_RTO_MIN`): a lost segment is sent again after
/// it, then after twice as long, and so on.
pub const TCP_RTO_MIN: SimDuration = SimDuration::from_millis(200);

/// Retransmissions before the connection is given up (Linux gives up after about 15, minutes
/// later; eight already take 51 s).
pub const MAX_RETRANSMISSIONS: u32 = 8;

/// After the first SYN, the times TCP sends it again, relative to the first (Linux: an initial
/// timeout of 1 s, doubling).
pub const SYN_RETRIES: [SimDuration; 3] = [
    SimDuration::from_millis(1_000),
    SimDuration::from_millis(3_000),
    SimDuration::from_millis(7_000),
];

/// How long a connection attempt may take before the client gives it up (Kafka's
/// `socket.connection.setup.timeout.ms`).
pub const CONNECT_GIVE_UP: SimDuration =
    SimDuration::from_millis(crate::protocol::SOCKET_CONNECTION_SETUP_TIMEOUT_MS);

/// What a SYN retry found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// The link is up: the connection is made, and the message leaves now.
    Connected,
    /// Still down: try again at this time.
    Again(SimTime),
    /// Given up (past [`CONNECT_GIVE_UP`], or the connection closed meanwhile): dropped.
    GaveUp,
}

/// State of one directed link.
#[derive(Clone, Copy, Debug, Default)]
struct Link {
    /// Latest delivery scheduled on this link; keeps delivery FIFO.
    last_delivery: SimTime,
    /// Extra delay of a slow-link fault, and when it ends.
    slow_extra: SimDuration,
    slow_until: SimTime,
    /// A connection attempt over the link while it was down: when it began, and on which
    /// connection generation. What is sent meanwhile waits behind it.
    connecting: Option<(SimTime, u32)>,
}

/// State of the connection shared by an unordered pair of nodes.
#[derive(Clone, Copy, Debug, Default)]
struct Connection {
    /// Bumped on every close; in-flight messages of older generations are dropped.
    generation: u32,
    /// After a graceful close by one end: that end, and the generation whose messages from it
    /// are still delivered.
    draining: Option<(NodeId, u32)>,
    /// Whether a message was sent since the last close (so a close is worth announcing).
    open: bool,
}

/// The virtual network between `n` nodes.
pub struct Network {
    n: usize,
    model: NetworkModel,
    /// Edge `a → b` present: `a` reaches `b`.
    reach: DiMatrix<(), ()>,
    /// Directed links, indexed `from * n + to`.
    links: Vec<Link>,
    /// Connections, indexed `min * n + max`.
    connections: Vec<Connection>,
}

impl Network {
    /// A fully connected network of `n` nodes.
    pub fn new(n: usize, model: NetworkModel) -> Network {
        assert!(
            model.latency.min <= model.latency.max,
            "inverted latency range"
        );
        assert!(
            model.latency.tail_min <= model.latency.tail_max,
            "inverted tail range"
        );
        assert!(n <= usize::from(u16::MAX), "at most 65 535 nodes");
        let mut reach = DiMatrix::with_capacity(n);
        for _ in 0..n {
            reach.add_node(());
        }
        let mut network = Network {
            n,
            model,
            reach,
            links: vec![Link::default(); n * n],
            connections: vec![Connection::default(); n * n],
        };
        network.heal();
        network
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the network has no nodes.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Whether packets from `from` currently reach `to`.
    pub fn reaches(&self, from: NodeId, to: NodeId) -> bool {
        self.reach.has_edge(index(from), index(to))
    }

    /// Sends a message: decides whether and when it arrives.
    pub fn send(
        &mut self,
        now: SimTime,
        from: NodeId,
        to: NodeId,
        rng: &mut SimRng,
    ) -> SendOutcome {
        let link = from.index() * self.n + to.index();
        // Most sends find no attempt pending and the link up: two lookups.
        if let Some((since, g)) = self.links[link].connecting {
            let generation = self.connections[pair(from, to, self.n)].generation;
            if g == generation {
                return match next_syn(since, now) {
                    Some(retry_at) => SendOutcome::Connecting {
                        retry_at,
                        since,
                        generation,
                    },
                    // Sent as the attempt is given up: it waits for the next one.
                    None => self.begin_connecting(now, from, to),
                };
            }
            // The attempt's connection closed since: it is over.
            self.links[link].connecting = None;
        }
        if !self.reaches(from, to) {
            return self.begin_connecting(now, from, to);
        }
        // Over TCP a lost packet is retransmitted, and what follows it on the connection waits:
        // loss shows as delay, never as a gap (and as a reset when TCP gives up).
        let mut retransmission = SimDuration::ZERO;
        let mut rto = TCP_RTO_MIN;
        let mut sends = 0;
        while self.model.loss_ppm > 0 && rng.random_range(0..PPM) < self.model.loss_ppm {
            sends += 1;
            if sends > MAX_RETRANSMISSIONS {
                self.close(from, to);
                return SendOutcome::Reset;
            }
            retransmission = retransmission + rto;
            rto = rto + rto;
        }
        let mut delay = self.model.latency.draw(rng) + retransmission;
        let link = &mut self.links[from.index() * self.n + to.index()];
        if now < link.slow_until {
            delay = delay + link.slow_extra;
        }
        let at = (now + delay).max(link.last_delivery);
        link.last_delivery = at;
        let connection = &mut self.connections[pair(from, to, self.n)];
        connection.open = true;
        SendOutcome::Deliver {
            at,
            generation: connection.generation,
        }
    }

    /// Starts a connection attempt over the down link `from → to` at `now`.
    fn begin_connecting(&mut self, now: SimTime, from: NodeId, to: NodeId) -> SendOutcome {
        let generation = self.connections[pair(from, to, self.n)].generation;
        self.links[from.index() * self.n + to.index()].connecting = Some((now, generation));
        SendOutcome::Connecting {
            retry_at: now + SYN_RETRIES[0],
            since: now,
            generation,
        }
    }

    /// A SYN retry at `now` of the attempt `from → to` begun at `since` on `generation`: whether
    /// the connection is made (the waiting message is then sent with [`Network::send`]), must
    /// wait for the next retry, or is given up.
    pub fn retry_connect(
        &mut self,
        now: SimTime,
        from: NodeId,
        to: NodeId,
        since: SimTime,
        generation: u32,
    ) -> Retry {
        let retry = if self.connections[pair(from, to, self.n)].generation != generation {
            Retry::GaveUp
        } else if self.reaches(from, to) {
            Retry::Connected
        } else {
            next_syn(since, now + SimDuration::from_micros(1)).map_or(Retry::GaveUp, Retry::Again)
        };
        // A made or abandoned attempt no longer holds back what is sent after it.
        let link = &mut self.links[from.index() * self.n + to.index()];
        if link.connecting == Some((since, generation)) && !matches!(retry, Retry::Again(_)) {
            link.connecting = None;
        }
        retry
    }

    /// Whether a message sent on `generation` arrives: `None` if its connection closed since;
    /// `Some(true)` if it travels on a connection `from` closed gracefully since it was sent (it
    /// is delivered, but nothing answers on it); `Some(false)` otherwise.
    pub fn arrival(&self, from: NodeId, to: NodeId, generation: u32) -> Option<bool> {
        let connection = &self.connections[pair(from, to, self.n)];
        if connection.generation == generation {
            Some(false)
        } else if connection.draining == Some((from, generation)) {
            Some(true)
        } else {
            None
        }
    }

    /// Closes the connection between `a` and `b`; returns whether it was open.
    pub fn close(&mut self, a: NodeId, b: NodeId) -> bool {
        let connection = &mut self.connections[pair(a, b, self.n)];
        connection.generation = connection.generation.wrapping_add(1);
        connection.draining = None;
        std::mem::replace(&mut connection.open, false)
    }

    /// `closer` closes its connection to `peer` (TCP's FIN): messages `closer` already sent still
    /// arrive, messages toward it are dropped, and a new connection's messages may overtake the
    /// old one's. Returns whether the connection was open.
    pub fn close_gracefully(&mut self, closer: NodeId, peer: NodeId) -> bool {
        let connection = &mut self.connections[pair(closer, peer, self.n)];
        let draining = (closer, connection.generation);
        let was_open = self.close(closer, peer);
        self.connections[pair(closer, peer, self.n)].draining = Some(draining);
        // The next connection's messages are not ordered behind the old one's.
        for (from, to) in [(closer, peer), (peer, closer)] {
            self.links[from.index() * self.n + to.index()].last_delivery = SimTime::ZERO;
        }
        was_open
    }

    /// Closes every connection of `node`; returns the peers whose connection was open.
    pub fn close_all(&mut self, node: NodeId) -> Vec<NodeId> {
        (0..self.n)
            .map(NodeId::from_index)
            .filter(|&peer| peer != node)
            .filter(|&peer| self.close(node, peer))
            .collect()
    }

    /// Cuts the one-way link `from → to`; returns whether their connection was open (and is
    /// now closed). Cutting an already-cut link changes nothing.
    pub fn cut(&mut self, from: NodeId, to: NodeId) -> bool {
        if from == to || !self.reaches(from, to) {
            return false;
        }
        self.reach.remove_edge(index(from), index(to));
        self.close(from, to)
    }

    /// Stops random message loss (the run's final heal: the settle phase runs without faults).
    pub fn stop_loss(&mut self) {
        self.model.loss_ppm = 0;
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        for a in 0..self.n {
            for b in 0..self.n {
                if a != b {
                    let (a, b) = (NodeId::from_index(a), NodeId::from_index(b));
                    self.reach.update_edge(index(a), index(b), ());
                }
            }
        }
    }

    /// Adds `extra` delay to the link `from → to` until `until`.
    pub fn slow_link(&mut self, from: NodeId, to: NodeId, extra: SimDuration, until: SimTime) {
        let link = &mut self.links[from.index() * self.n + to.index()];
        link.slow_extra = extra;
        link.slow_until = until;
    }

    /// Every directed link that is currently cut, in order.
    pub fn cut_links(&self) -> Vec<(NodeId, NodeId)> {
        let mut cut = Vec::new();
        for a in 0..self.n {
            for b in 0..self.n {
                let (a, b) = (NodeId::from_index(a), NodeId::from_index(b));
                if a != b && !self.reaches(a, b) {
                    cut.push((a, b));
                }
            }
        }
        cut
    }
}

/// The first SYN retry of an attempt begun at `since` at or after `now`, unless the attempt is
/// given up by then.
fn next_syn(since: SimTime, now: SimTime) -> Option<SimTime> {
    SYN_RETRIES
        .iter()
        .map(|&after| since + after)
        .find(|&at| at >= now)
        .filter(|&at| at <= since + CONNECT_GIVE_UP)
}

/// Matrix node index (petgraph's `MatrixGraph` defaults to `u16` indices: 65 535 nodes).
fn index(node: NodeId) -> NodeIndex<u16> {
    NodeIndex::new(node.index())
}

fn pair(a: NodeId, b: NodeId, n: usize) -> usize {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    lo.index() * n + hi.index()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{RootRng, Stream};

    fn net(n: usize) -> Network {
        let model = NetworkModel {
            latency: LatencyModel::uniform_ms(1, 5),
            loss_ppm: 0,
        };
        Network::new(n, model)
    }

    /// Two nodes with `a → b` cut and a message sent over it at `at`: its attempt's
    /// (first retry, start, generation).
    fn waiting(net: &mut Network, rng: &mut SimRng, at: SimTime) -> (SimTime, SimTime, u32) {
        let (a, b) = (NodeId::from_index(0), NodeId::from_index(1));
        net.cut(a, b);
        match net.send(at, a, b, rng) {
            SendOutcome::Connecting {
                retry_at,
                since,
                generation,
            } => (retry_at, since, generation),
            other => panic!("a down link makes the message wait for a connection: {other:?}"),
        }
    }

    #[test]
    fn a_send_over_a_down_link_waits_for_the_first_syn_retry_that_finds_it_up() {
        let mut net = net(2);
        let mut rng = RootRng::new(3).fork(Stream::Network);
        let (a, b) = (NodeId::from_index(0), NodeId::from_index(1));
        let ms = SimTime::from_millis;
        let (retry_at, since, generation) = waiting(&mut net, &mut rng, ms(100));
        assert_eq!((retry_at, since), (ms(1_100), ms(100)));
        // Sent later, while the attempt is pending: it waits for the same retries.
        let later = net.send(ms(1_500), a, b, &mut rng);
        assert_eq!(
            later,
            SendOutcome::Connecting {
                retry_at: ms(3_100),
                since,
                generation
            }
        );
        assert_eq!(
            net.retry_connect(ms(1_100), a, b, since, generation),
            Retry::Again(ms(3_100))
        );
        net.heal();
        // Healed: still waiting, even for a new message, until the next SYN.
        assert!(matches!(
            net.send(ms(2_000), a, b, &mut rng),
            SendOutcome::Connecting { retry_at, .. } if retry_at == ms(3_100)
        ));
        assert_eq!(
            net.retry_connect(ms(3_100), a, b, since, generation),
            Retry::Connected
        );
        assert!(matches!(
            net.send(ms(3_100), a, b, &mut rng),
            SendOutcome::Deliver { .. }
        ));
    }

    #[test]
    fn a_connection_attempt_is_given_up_after_the_setup_timeout_or_a_close() {
        let mut net = net(2);
        let mut rng = RootRng::new(3).fork(Stream::Network);
        let (a, b) = (NodeId::from_index(0), NodeId::from_index(1));
        let ms = SimTime::from_millis;
        let (_, since, generation) = waiting(&mut net, &mut rng, ms(0));
        assert_eq!(
            net.retry_connect(ms(3_000), a, b, since, generation),
            Retry::Again(ms(7_000))
        );
        // The last SYN within the 10 s finds the link still down.
        assert_eq!(
            net.retry_connect(ms(7_000), a, b, since, generation),
            Retry::GaveUp
        );
        // A new send starts a new attempt; closing the connection gives that one up.
        let (_, since, generation) = waiting(&mut net, &mut rng, ms(8_000));
        assert_eq!(since, ms(8_000));
        net.close(a, b);
        net.heal();
        assert_eq!(
            net.retry_connect(ms(9_000), a, b, since, generation),
            Retry::GaveUp
        );
    }

    #[test]
    fn one_way_cut_closes_the_connection_and_keeps_the_other_direction() {
        let mut net = net(3);
        let mut rng = RootRng::new(3).fork(Stream::Network);
        let (a, b) = (NodeId::from_index(0), NodeId::from_index(1));
        let SendOutcome::Deliver { generation, .. } = net.send(SimTime::ZERO, a, b, &mut rng)
        else {
            panic!("connected nodes deliver");
        };
        assert!(net.cut(a, b), "the connection was open");
        assert_eq!(net.arrival(a, b, generation), None);
        assert!(matches!(
            net.send(SimTime::ZERO, a, b, &mut rng),
            SendOutcome::Connecting { .. }
        ));
        assert!(matches!(
            net.send(SimTime::ZERO, b, a, &mut rng),
            SendOutcome::Deliver { .. }
        ));
        assert_eq!(net.cut_links(), [(a, b)]);
        net.heal();
        assert!(net.cut_links().is_empty());
    }

    #[test]
    fn a_graceful_close_delivers_what_the_closer_sent_and_drops_what_comes_back() {
        let mut net = net(2);
        let mut rng = RootRng::new(5).fork(Stream::Network);
        let (client, broker) = (NodeId::from_index(0), NodeId::from_index(1));
        let generation = |outcome| match outcome {
            SendOutcome::Deliver { generation, .. } => generation,
            other => panic!("connected nodes deliver: {other:?}"),
        };
        let request = generation(net.send(SimTime::ZERO, client, broker, &mut rng));
        let response = generation(net.send(SimTime::ZERO, broker, client, &mut rng));
        assert!(
            net.close_gracefully(client, broker),
            "the connection was open"
        );
        assert_eq!(
            net.arrival(client, broker, request),
            Some(true),
            "the request still arrives, on a connection its client closed"
        );
        assert_eq!(
            net.arrival(broker, client, response),
            None,
            "the answer is dropped"
        );
        net.close(client, broker);
        assert_eq!(
            net.arrival(client, broker, request),
            None,
            "a later close drops it too"
        );
    }
}

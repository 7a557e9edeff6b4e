//! One request at a time per connection, as Kafka's network layer serves them: after reading a
//! request from a connection the broker stops reading it (the channel is muted) until that
//! request's response is on its way, so responses leave in request order even when a request
//! waits in a purgatory (an acks=all produce, an `InitProducerId` waiting for an id block) and a
//! later one could be answered at once. Requests that arrive meanwhile wait in the connection's
//! queue; a closed connection drops them. A request its client sent before closing the
//! connection itself (a timed-out request) still arrives and is served, but holds nothing: the
//! client's next requests come on a new connection, and the old one's answers go nowhere.
//!
//! Fetch long polls do not hold their connection here: the run's readers send one fetch per
//! partition where Kafka sends one per broker with every partition in it, and a follower's
//! per-partition `OffsetsForLeaderEpoch` goes beside its fetch where Kafka's fetcher thread sends
//! it between two fetches, so holding the connection behind a long poll would serialize what
//! Kafka does not.

use std::collections::VecDeque;

use super::server::Broker;
use crate::node::{Msg, Node};
use crate::protocol::Request;
use crate::sim::{Ctx, NodeId};

impl Broker {
    /// A request arrived from `from`: serve it now, or queue it behind the one in service.
    pub(super) fn accept_request(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        from: NodeId,
        request: Request,
    ) {
        if self.queued.contains_key(&from) || self.awaiting(from) {
            self.queued.entry(from).or_default().push_back(request);
            return;
        }
        self.on_request(ctx, from, request);
    }

    /// Serves queued requests whose connection's request in service has been answered; run
    /// after every handler.
    pub fn pump_requests(&mut self, ctx: &mut Ctx<'_, Node>) {
        while let Some(peer) = self.queued.keys().copied().find(|&p| !self.awaiting(p)) {
            let queue = self.queued.get_mut(&peer).expect("a queued peer");
            let request = queue.pop_front().expect("queues are never empty");
            if queue.is_empty() {
                self.queued.remove(&peer);
            }
            self.on_request(ctx, peer, request);
        }
    }

    /// A message `from` sent before it closed that connection: a request is served at once,
    /// outside the connection queue of `from` (whose connection now is a new one), and what
    /// waits in a purgatory for it holds nothing and answers no one, as Kafka serves what it
    /// read from a channel before its close and drops the responses.
    pub fn on_drained_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        let Msg::Request(request) = msg else {
            return self.on_message(ctx, from, msg);
        };
        self.serving_drained = true;
        self.on_request(ctx, from, request);
        self.serving_drained = false;
    }

    /// `peer`'s connection closed. Responses go back on the connection a request came in on,
    /// so what waits for one (produces, long polls, `InitProducerId`s) has no one to answer, and
    /// what it queued is gone with it.
    pub(super) fn drop_connection(&mut self, peer: NodeId) {
        self.fetches.retain(|f| f.from != peer);
        self.produces.retain(|p| p.client != peer || p.orphan);
        self.drop_producer_id_waiters(peer);
        self.queued.remove(&peer);
    }

    /// Whether a request from `peer` is in service, waiting to be answered.
    fn awaiting(&self, peer: NodeId) -> bool {
        self.produces.iter().any(|p| p.client == peer && !p.orphan)
            || self.producer_ids_waiting_for(peer)
    }
}

/// Requests waiting behind the one in service, per connection (never empty).
pub(super) type Queued = std::collections::BTreeMap<NodeId, VecDeque<Request>>;

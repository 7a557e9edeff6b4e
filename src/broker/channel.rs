//! The controller's channel to each broker. Kafka's controller keeps one queue per broker and a
//! send thread that resends the head request until the broker answers, so a `LeaderAndIsr` sent
//! into a partition arrives once the partition heals. Here a request stays at the head until the
//! broker acknowledges it and is resent every [`RESEND_MS`]; a queued `UpdateMetadata` is
//! replaced by a newer one, and queued `LeaderAndIsr`s join into one request, as Kafka's batch
//! does (both are idempotent: brokers fence by epochs). Channels of brokers
//! the controller no longer counts as alive are dropped.

use std::collections::{BTreeMap, VecDeque};

use super::server::{Broker, BrokerTimer};
use crate::node::{Msg, Node, Timer, millis};
use crate::protocol::{BrokerId, Request};
use crate::sim::{Ctx, SimTime};

/// How long the controller waits for an acknowledgement before resending.
pub const RESEND_MS: u64 = 1_000;

/// The queue to one broker.
#[derive(Debug, Default)]
pub(super) struct Channel {
    queue: VecDeque<Request>,
    /// The head's correlation id and when it was last sent, while unacknowledged.
    in_flight: Option<(u64, SimTime)>,
}

fn set_correlation(request: &mut Request, id: u64) {
    match request {
        Request::LeaderAndIsr { correlation, .. } | Request::UpdateMetadata { correlation, .. } => {
            *correlation = id;
        }
        _ => unreachable!("only controller requests travel on a controller channel"),
    }
}

impl Broker {
    /// Queues a controller request for `broker` (applied at once when it is this broker).
    pub(super) fn send_controller_request(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        broker: BrokerId,
        request: Request,
    ) {
        if broker == self.id {
            return self.on_request(ctx, self.broker_node(broker), request);
        }
        let channel = self.channels.entry(broker).or_default();
        let replaces_queued_metadata = matches!(request, Request::UpdateMetadata { .. })
            && channel.queue.len() > usize::from(channel.in_flight.is_some())
            && matches!(channel.queue.back(), Some(Request::UpdateMetadata { .. }));
        if replaces_queued_metadata {
            channel.queue.pop_back();
        }
        // Kafka's controller sends one LeaderAndIsr per broker for a batch of partitions: a new
        // one joins the last queued one (not yet sent) that only UpdateMetadata follows — the
        // UpdateMetadata that comes after it is replaced by a newer one anyway — a newer state
        // replacing an older of its partition.
        if let Request::LeaderAndIsr {
            controller_epoch,
            partitions: new,
            ..
        } = &request
        {
            let sent = usize::from(channel.in_flight.is_some());
            // Channels carry only LeaderAndIsr and UpdateMetadata: the last queued LeaderAndIsr
            // has only UpdateMetadata behind it.
            let target = channel
                .queue
                .iter_mut()
                .skip(sent)
                .rev()
                .find(|r| matches!(r, Request::LeaderAndIsr { .. }));
            if let Some(Request::LeaderAndIsr {
                controller_epoch: queued_epoch,
                partitions,
                ..
            }) = target
                && queued_epoch == controller_epoch
            {
                for state in new {
                    match partitions.iter_mut().find(|p| p.tp == state.tp) {
                        Some(older) => *older = state.clone(),
                        None => partitions.push(state.clone()),
                    }
                }
                return self.pump(ctx, broker);
            }
        }
        channel.queue.push_back(request);
        self.pump(ctx, broker);
    }

    /// Sends the head of a channel if nothing is in flight on it.
    fn pump(&mut self, ctx: &mut Ctx<'_, Node>, broker: BrokerId) {
        let id = self.next_id();
        let node = self.broker_node(broker);
        let Some(channel) = self.channels.get_mut(&broker) else {
            return;
        };
        if channel.in_flight.is_some() {
            return;
        }
        let Some(head) = channel.queue.front_mut() else {
            return;
        };
        set_correlation(head, id);
        channel.in_flight = Some((id, ctx.now()));
        ctx.send(node, Msg::Request(head.clone()));
        if !self.resend_armed {
            self.resend_armed = true;
            ctx.set_timer(
                millis(RESEND_MS),
                Timer::Broker(BrokerTimer::ControllerResend),
            );
        }
    }

    /// A broker acknowledged a controller request.
    pub(super) fn on_controller_ack(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        broker: BrokerId,
        correlation: u64,
    ) {
        let Some(channel) = self.channels.get_mut(&broker) else {
            return;
        };
        if channel.in_flight.is_some_and(|(id, _)| id == correlation) {
            channel.in_flight = None;
            channel.queue.pop_front();
            self.pump(ctx, broker);
        }
    }

    /// Resends every head unacknowledged for [`RESEND_MS`]; re-arms while any is waiting.
    pub(super) fn resend_controller_requests(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.resend_armed = false;
        let now = ctx.now();
        let live: Vec<BrokerId> = self
            .controller
            .as_ref()
            .map(|c| c.live().iter().copied().collect())
            .unwrap_or_default();
        self.channels.retain(|broker, _| live.contains(broker));
        let nodes: BTreeMap<BrokerId, crate::sim::NodeId> = self
            .channels
            .keys()
            .map(|&b| (b, self.broker_node(b)))
            .collect();
        for (broker, channel) in &mut self.channels {
            if let Some((_, sent)) = &mut channel.in_flight
                && now.saturating_since(*sent) >= millis(RESEND_MS)
            {
                *sent = now;
                let head = channel
                    .queue
                    .front()
                    .expect("in flight implies a head")
                    .clone();
                ctx.send(nodes[broker], Msg::Request(head));
            }
        }
        if self.channels.values().any(|c| c.in_flight.is_some()) {
            self.resend_armed = true;
            ctx.set_timer(
                millis(RESEND_MS),
                Timer::Broker(BrokerTimer::ControllerResend),
            );
        }
    }
}

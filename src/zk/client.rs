//! The ZooKeeper client a broker embeds: it numbers requests, remembers why each was sent (a
//! caller-chosen tag), handles `Connect` and `Ping` itself and pairs every other response with
//! its tag. Like every process here it does no I/O: the broker sends the [`ZkRequest`]s it
//! returns and feeds back the [`ZkResponse`]s it receives.
//!
//! Fault model: when the connection to the server closes, every request in flight is lost
//! *indefinitely* — ZooKeeper's `CONNECTIONLOSS`: it may or may not have been applied — and is
//! handed back to the caller by [`ZkClient::on_connection_closed`]. The session is kept: the
//! next request simply carries it again (a session outlives its connection until it times out
//! on the server). Watch events in flight are lost too, so after a connection loss the broker
//! re-reads what it watches with `watch = true`. When a response says `SessionExpired` the
//! session is gone with its ephemerals; [`ZkClient::session_expired`] turns true and the broker
//! must [`ZkClient::connect`] again and re-register (a new session).
//!
//! The client-side connection timeout (ZooKeeper declares the connection lost after two thirds
//! of the session timeout without a reply) is the broker's: it calls
//! [`ZkClient::on_connection_closed`] then. Left out: server lists and `SetWatches`. Pings are sent every third of the session
//! timeout whether or not other requests flowed, which costs a message and keeps the rule free
//! of clocks in [`ZkClient::request`].

use std::collections::BTreeMap;

use super::protocol::{ZkError, ZkOp, ZkReply, ZkRequest, ZkResponse};
use crate::sim::{NodeId, SimDuration, SimTime};

/// Why a request is in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Purpose<T> {
    /// A `Connect`, handled by the client.
    Connect,
    /// A `Ping`, handled by the client.
    Ping,
    /// A caller's operation, with the caller's tag.
    Op(T),
}

/// A request in flight: its purpose and the session it was sent in.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pending<T> {
    purpose: Purpose<T>,
    session: Option<u64>,
}

/// A broker's ZooKeeper client state machine; `T` tags each request with why it was sent.
#[derive(Clone, Debug)]
pub struct ZkClient<T> {
    /// The service's node.
    server: NodeId,
    /// The timeout to ask for (`zookeeper.session.timeout.ms`).
    requested_timeout_ms: u64,
    /// The live session and its negotiated timeout.
    session: Option<(u64, u64)>,
    /// Set when the server said the session expired; cleared by `connect`.
    expired: bool,
    /// The next request number.
    next_xid: u64,
    /// Requests in flight by xid.
    pending: BTreeMap<u64, Pending<T>>,
    /// Operations found lost (older than an answered one), for [`ZkClient::take_lost`].
    lost: Vec<T>,
    /// When the last ping was sent in the current session.
    last_ping: Option<SimTime>,
}

impl<T> ZkClient<T> {
    /// The most requests one client keeps in flight; more is a bug in the embedding broker.
    pub const MAX_IN_FLIGHT: usize = 1_024;

    /// A client of the service at `server` that will ask for this session timeout.
    pub fn new(server: NodeId, session_timeout_ms: u64) -> ZkClient<T> {
        assert!(session_timeout_ms > 0, "a session timeout is positive");
        ZkClient {
            server,
            requested_timeout_ms: session_timeout_ms,
            session: None,
            expired: false,
            next_xid: 1,
            pending: BTreeMap::new(),
            lost: Vec::new(),
            last_ping: None,
        }
    }

    /// The service's node, where every request goes.
    pub fn server(&self) -> NodeId {
        self.server
    }

    /// The live session's id, once connected.
    pub fn session(&self) -> Option<u64> {
        self.session.map(|(id, _)| id)
    }

    /// Whether a session is established and usable.
    pub fn is_connected(&self) -> bool {
        self.session.is_some()
    }

    /// Whether a `Connect` is in flight.
    pub fn is_connecting(&self) -> bool {
        self.pending
            .values()
            .any(|p| matches!(p.purpose, Purpose::Connect))
    }

    /// Whether the server said the session expired (the broker must connect and re-register).
    pub fn session_expired(&self) -> bool {
        self.expired
    }

    /// The negotiated session timeout, or the requested one before connecting.
    pub fn session_timeout_ms(&self) -> u64 {
        self.session.map_or(self.requested_timeout_ms, |(_, t)| t)
    }

    /// How many requests are in flight, pings and connects included.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// A request for a new session; any old session is abandoned to time out on the server.
    pub fn connect(&mut self) -> ZkRequest {
        self.session = None;
        self.expired = false;
        self.last_ping = None;
        let op = ZkOp::Connect {
            session_timeout_ms: self.requested_timeout_ms,
        };
        self.send(op, Purpose::Connect)
    }

    /// A request running `op` (not `Connect` or `Ping`: [`ZkClient::connect`] and
    /// [`ZkClient::ping`] send those) in the session, remembered with `tag`; `None` if not
    /// connected.
    pub fn request(&mut self, op: ZkOp, tag: T) -> Option<ZkRequest> {
        assert!(
            !matches!(op, ZkOp::Connect { .. } | ZkOp::Ping),
            "connect() and ping() send those"
        );
        self.session?;
        Some(self.send(op, Purpose::Op(tag)))
    }

    /// How often to ping: a third of the session timeout.
    pub fn ping_interval(&self) -> SimDuration {
        SimDuration::from_millis(self.session_timeout_ms() / 3)
    }

    /// Whether a ping should be sent at `now` (connected, and none sent for a ping interval).
    pub fn ping_due(&self, now: SimTime) -> bool {
        self.is_connected()
            && self
                .last_ping
                .is_none_or(|at| now.saturating_since(at) >= self.ping_interval())
    }

    /// A ping keeping the session alive; call only when connected.
    pub fn ping(&mut self, now: SimTime) -> ZkRequest {
        assert!(self.is_connected(), "ping needs a session");
        self.last_ping = Some(now);
        self.send(ZkOp::Ping, Purpose::Ping)
    }

    /// Takes a response: handles `Connect` and `Ping` answers itself (`None`) and returns the
    /// tag and result of any other request; stale or unknown xids give `None`.
    pub fn on_response(&mut self, resp: ZkResponse) -> Option<(T, Result<ZkReply, ZkError>)> {
        let pending = self.pending.remove(&resp.xid)?;
        // The server answers one connection in order: anything older still pending never
        // reached it (it was sent into a partition) and will never be answered.
        let newer = self.pending.split_off(&resp.xid);
        let older = std::mem::replace(&mut self.pending, newer);
        self.lost
            .extend(older.into_values().filter_map(|p| match p.purpose {
                Purpose::Op(tag) => Some(tag),
                Purpose::Connect | Purpose::Ping => None,
            }));
        let current = pending.session.is_some() && pending.session == self.session();
        if current && resp.result == Err(ZkError::SessionExpired) {
            self.session = None;
            self.expired = true;
        }
        match pending.purpose {
            Purpose::Connect => {
                if let Ok(ZkReply::Connected {
                    session,
                    timeout_ms,
                }) = resp.result
                {
                    self.session = Some((session, timeout_ms));
                }
                None
            }
            Purpose::Ping => None,
            Purpose::Op(tag) => {
                if current && resp.result == Ok(ZkReply::Closed) {
                    self.session = None;
                }
                Some((tag, resp.result))
            }
        }
    }

    /// Takes the operations that a later answer proved lost: they were sent while the
    /// connection was cut and never reached the server, so their outcome is "not applied".
    pub fn take_lost(&mut self) -> Vec<T> {
        std::mem::take(&mut self.lost)
    }

    /// The connection closed: returns the tags of the operations in flight, whose outcome is
    /// unknown (`CONNECTIONLOSS`). The session is kept; a `Connect` in flight is lost with it.
    pub fn on_connection_closed(&mut self) -> Vec<T> {
        let pending = std::mem::take(&mut self.pending);
        pending
            .into_values()
            .filter_map(|p| match p.purpose {
                Purpose::Op(tag) => Some(tag),
                Purpose::Connect | Purpose::Ping => None,
            })
            .collect()
    }

    fn send(&mut self, op: ZkOp, purpose: Purpose<T>) -> ZkRequest {
        assert!(
            self.pending.len() < Self::MAX_IN_FLIGHT,
            "more than {} ZooKeeper requests in flight",
            Self::MAX_IN_FLIGHT
        );
        let xid = self.next_xid;
        self.next_xid += 1;
        let session = match op {
            ZkOp::Connect { .. } => None,
            _ => self.session(),
        };
        self.pending.insert(xid, Pending { purpose, session });
        ZkRequest { xid, session, op }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn respond(xid: u64, result: Result<ZkReply, ZkError>) -> ZkResponse {
        ZkResponse { xid, result }
    }

    fn connected(client: &mut ZkClient<&'static str>, session: u64) {
        let req = client.connect();
        assert_eq!(req.session, None);
        let reply = ZkReply::Connected {
            session,
            timeout_ms: 6_000,
        };
        assert_eq!(client.on_response(respond(req.xid, Ok(reply))), None);
        assert_eq!(client.session(), Some(session));
    }

    #[test]
    fn pings_come_every_third_of_the_negotiated_timeout() {
        let mut client: ZkClient<&str> = ZkClient::new(NodeId::from_index(0), 9_000);
        assert!(!client.ping_due(SimTime::ZERO), "no session, no ping");
        connected(&mut client, 1);
        assert_eq!(client.ping_interval(), SimDuration::from_millis(2_000));
        assert!(client.ping_due(SimTime::ZERO));
        let ping = client.ping(SimTime::ZERO);
        assert_eq!((ping.session, ping.op), (Some(1), ZkOp::Ping));
        assert!(!client.ping_due(SimTime::from_millis(1_999)));
        assert!(client.ping_due(SimTime::from_millis(2_000)));
        assert_eq!(
            client.on_response(respond(ping.xid, Ok(ZkReply::Pong))),
            None
        );
        assert_eq!(client.in_flight(), 0);
    }

    #[test]
    fn a_stale_session_expiry_does_not_expire_the_new_session() {
        let mut client: ZkClient<&str> = ZkClient::new(NodeId::from_index(0), 6_000);
        connected(&mut client, 1);
        let old = client.request(ZkOp::CloseSession, "old").unwrap();
        let ping = client.ping(SimTime::ZERO);
        let expired = Err(ZkError::SessionExpired);
        assert_eq!(client.on_response(respond(ping.xid, expired.clone())), None);
        assert!(client.session_expired() && !client.is_connected());
        // The server answers in order: the older request, still unanswered, was lost.
        assert_eq!(client.take_lost(), ["old"]);
        assert_eq!(client.request(ZkOp::CloseSession, "x"), None);
        connected(&mut client, 2);
        assert!(!client.session_expired());
        assert_eq!(
            client.on_response(respond(old.xid, expired)),
            None,
            "no longer pending"
        );
        assert_eq!(
            client.session(),
            Some(2),
            "a stale answer leaves the new session"
        );
    }

    #[test]
    fn closing_the_session_forgets_it_without_expiry() {
        let mut client: ZkClient<u8> = ZkClient::new(NodeId::from_index(0), 6_000);
        let req = client.connect();
        assert!(client.is_connecting());
        assert!(client.on_connection_closed().is_empty());
        assert!(!client.is_connecting() && !client.is_connected());
        client.on_response(respond(req.xid, Ok(ZkReply::Pong)));
        assert_eq!(
            client.session(),
            None,
            "a lost connect's late answer is ignored"
        );
        let req = client.connect();
        let reply = ZkReply::Connected {
            session: 4,
            timeout_ms: 6_000,
        };
        client.on_response(respond(req.xid, Ok(reply)));
        let close = client.request(ZkOp::CloseSession, 7).unwrap();
        let answer = client.on_response(respond(close.xid, Ok(ZkReply::Closed)));
        assert_eq!(answer, Some((7, Ok(ZkReply::Closed))));
        assert!(!client.is_connected() && !client.session_expired());
    }
}

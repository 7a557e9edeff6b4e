//! Group commit: every write is appended to the transaction log at once, and what reveals it —
//! its response, the watch events it fired, and any later reply — is held until an fsync
//! covering it completes, as ZooKeeper's `SyncRequestProcessor` acknowledges only after
//! `fsync`. At most one sync is in flight; writes arriving meanwhile share the next one.
//!
//! Holding *every* reply behind the writes applied before it keeps answers in request order per
//! client and means no client ever sees state a power-off could take back: reads see the
//! applied tree, but their answers leave only once that tree is durable. A single server is
//! thereby linearizable for everything it ever revealed.
//!
//! Fault model: a kill or power-off drops the held replies with the process (their clients saw
//! nothing and must treat the requests as lost); the simulator never delivers a sync of an
//! earlier incarnation. Left out: a bound of its own on the held queue, which holds at most what
//! the clients' in-flight windows allow.

use std::collections::VecDeque;

use super::ZkOutput;
use super::protocol::ZkToClient;
use super::txnlog::LOG_FILE;
use crate::sim::{DiskOp, NodeId};

/// Sync bookkeeping and the replies waiting for durability.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    /// The token of the next sync to issue; tokens start at 1 in every incarnation.
    next_token: u64,
    /// The sync issued and not yet completed.
    in_flight: Option<u64>,
    /// Whether something was written that no issued sync covers.
    dirty: bool,
    /// Messages in send order, each with the token whose completion releases it.
    held: VecDeque<(u64, NodeId, ZkToClient)>,
}

impl Default for GroupCommit {
    fn default() -> Self {
        GroupCommit {
            next_token: 1,
            in_flight: None,
            dirty: false,
            held: VecDeque::new(),
        }
    }
}

impl GroupCommit {
    /// Notes that the log holds bytes no issued sync covers.
    pub fn written(&mut self) {
        self.dirty = true;
    }

    /// The sync that must complete before anything sent now may leave, if any.
    fn barrier(&self) -> Option<u64> {
        if self.dirty {
            Some(self.next_token)
        } else {
            self.in_flight
        }
    }

    /// Sends `msg` to `to` now, or once everything written so far is durable.
    pub fn send(&mut self, to: NodeId, msg: ZkToClient, out: &mut ZkOutput) {
        match self.barrier() {
            Some(token) => self.held.push_back((token, to, msg)),
            None => out.sends.push((to, msg)),
        }
    }

    /// Issues a sync of the log if something is unsynced and no sync is in flight.
    pub fn flush(&mut self, out: &mut ZkOutput) {
        if !self.dirty || self.in_flight.is_some() {
            return;
        }
        let token = self.next_token;
        out.disk.push(DiskOp::Sync {
            file: LOG_FILE.into(),
            token,
        });
        self.in_flight = Some(token);
        self.next_token += 1;
        self.dirty = false;
    }

    /// A sync completed: releases what it covers and starts the next sync; false if the token
    /// is not the sync in flight (then nothing changes).
    pub fn sync_done(&mut self, token: u64, out: &mut ZkOutput) -> bool {
        if self.in_flight != Some(token) {
            return false;
        }
        self.in_flight = None;
        while self.held.front().is_some_and(|(t, _, _)| *t <= token) {
            let (_, to, msg) = self.held.pop_front().expect("front exists");
            out.sends.push((to, msg));
        }
        self.flush(out);
        true
    }

    /// Drops held responses to `peer`, whose connection closed (watch events stay: they belong
    /// to the session, which outlives its connection).
    pub fn drop_responses_to(&mut self, peer: NodeId) {
        self.held
            .retain(|(_, to, msg)| *to != peer || matches!(msg, ZkToClient::Watch(_)));
    }

    /// How many messages wait for a sync.
    pub fn held_len(&self) -> usize {
        self.held.len()
    }

    /// Checks that held messages wait for syncs in order and that each one will come.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut last = 0;
        for (token, to, _) in &self.held {
            if *token < last {
                return Err(format!("held message to {to} out of token order"));
            }
            last = *token;
        }
        match self.barrier() {
            None if !self.held.is_empty() => Err("messages held with no sync to come".into()),
            Some(b) if last > b => Err(format!("held for token {last} past barrier {b}")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::protocol::{ZkReply, ZkResponse};

    fn pong(xid: u64) -> ZkToClient {
        ZkToClient::Response(ZkResponse {
            xid,
            result: Ok(ZkReply::Pong),
        })
    }

    #[test]
    fn writes_share_a_sync_and_replies_wait_in_order() {
        let (mut commit, mut out) = (GroupCommit::default(), ZkOutput::default());
        let client = NodeId::from_index(1);
        commit.send(client, pong(1), &mut out);
        assert_eq!(out.sends.len(), 1, "nothing unsynced: answered at once");
        commit.written();
        commit.send(client, pong(2), &mut out);
        commit.written();
        commit.send(client, pong(3), &mut out);
        commit.flush(&mut out);
        assert_eq!(out.disk.len(), 1, "one sync for two writes");
        commit.written();
        commit.send(client, pong(4), &mut out);
        commit.flush(&mut out);
        assert_eq!(out.disk.len(), 1, "the next sync waits for the first");
        commit.check_invariants().unwrap();
        assert!(!commit.sync_done(9, &mut out), "unknown tokens are ignored");
        assert!(commit.sync_done(1, &mut out));
        assert_eq!(out.sends.len(), 3);
        assert_eq!(out.disk.len(), 2, "the second sync starts");
        assert!(commit.sync_done(2, &mut out));
        assert_eq!(out.sends, [1, 2, 3, 4].map(|x| (client, pong(x))));
        assert_eq!(commit.held_len(), 0);
    }

    #[test]
    fn a_closed_connection_drops_held_responses_only() {
        let (mut commit, mut out) = (GroupCommit::default(), ZkOutput::default());
        let (a, b) = (NodeId::from_index(1), NodeId::from_index(2));
        commit.written();
        commit.send(a, pong(1), &mut out);
        commit.send(b, pong(2), &mut out);
        let event = crate::zk::protocol::WatchEvent {
            path: "/a".into(),
            kind: crate::zk::protocol::WatchKind::NodeDeleted,
        };
        commit.send(a, ZkToClient::Watch(event.clone()), &mut out);
        commit.drop_responses_to(a);
        commit.flush(&mut out);
        commit.sync_done(1, &mut out);
        assert_eq!(out.sends, [(b, pong(2)), (a, ZkToClient::Watch(event))]);
    }
}

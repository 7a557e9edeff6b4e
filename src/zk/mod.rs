//! The ZooKeeper-style metadata service Kafka (ZK mode) keeps its cluster state in: sessions
//! with timeouts, ephemeral znodes (`/brokers/ids/N`, `/controller`), versioned conditional
//! updates (Kafka's zk-version fence against zombie controllers and leaders) and one-shot
//! watches. Data values are JSON text the service stores without reading.
//!
//! It is a sans-I/O *component*: [`ZkServer`]'s handlers take `now` and push sends, timers,
//! disk operations and notes into a [`ZkOutput`] that the process wrapping it turns into
//! effects. Brokers embed a [`ZkClient`] to number requests and pair responses with their
//! purpose.
//!
//! Fault model: one server, which can be killed (it loses only volatile state: watches, held
//! replies, session clocks), powered off (it also loses log transactions never fsynced, whose
//! clients were never answered), paused or partitioned (its sessions then expire once it hears
//! nothing for their timeout). Every write is in `zk/txnlog` and acknowledged only after a
//! group-commit fsync; restart replays the log.
//!
//! Left out: ensembles and leader election among ZooKeeper servers, ACLs, sequential and
//! container nodes, multi-ops, snapshots, and the client library's reconnect-to-another-server
//! and `SetWatches` logic.
//!
//! ```
//! use kafkasim::disk::{Disk, DiskModel};
//! use kafkasim::sim::{DiskOp, NodeId, SimTime};
//! use kafkasim::zk::{ZkClient, ZkOutput, ZkServer, ZkToClient};
//!
//! let disk = Disk::new(DiskModel::default());
//! let (now, broker) = (SimTime::ZERO, NodeId::from_index(1));
//! let mut server = ZkServer::boot(&disk);
//! let mut out = ZkOutput::default();
//! server.on_start(now, &mut out);
//! let mut client: ZkClient<&str> = ZkClient::new(NodeId::from_index(0), 18_000);
//! out.clear();
//! server.on_request(now, broker, client.connect(), &mut out);
//! assert!(out.sends.is_empty(), "a new session is answered only once it is durable");
//! assert!(matches!(out.disk[1], DiskOp::Sync { token: 1, .. }));
//! server.on_sync_done(now, 1, &mut out);
//! let Some((_, ZkToClient::Response(resp))) = out.sends.pop() else { panic!() };
//! assert_eq!(client.on_response(resp), None);
//! assert_eq!(client.session(), Some(1));
//! ```

mod client;
mod commit;
mod database;
mod protocol;
mod server;
mod tree;
mod txnlog;
mod watches;

pub use client::ZkClient;
pub use protocol::{
    Stat, WatchEvent, WatchKind, ZkError, ZkOp, ZkReply, ZkRequest, ZkResponse, ZkToClient,
    session_name,
};
pub use server::ZkServer;
pub use tree::{DataTree, Znode};
pub use txnlog::LOG_FILE;

use crate::sim::{DiskOp, NodeId, SimDuration};

/// The service's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZkTimer {
    /// The periodic session-expiry check, every [`ZkServer::TICK_MS`].
    Tick,
}

/// What one handler asks the wrapping process to do, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZkOutput {
    /// Messages to clients.
    pub sends: Vec<(NodeId, ZkToClient)>,
    /// Timers to set, each after its delay.
    pub timers: Vec<(SimDuration, ZkTimer)>,
    /// Operations on the service's own disk, to apply in order.
    pub disk: Vec<DiskOp>,
    /// One-line observations of rare events for the short log.
    pub notes: Vec<String>,
}

impl ZkOutput {
    /// Empties every buffer, keeping their allocations.
    pub fn clear(&mut self) {
        self.sends.clear();
        self.timers.clear();
        self.disk.clear();
        self.notes.clear();
    }
}

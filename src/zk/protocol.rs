//! The messages between ZooKeeper clients (brokers) and the metadata service: requests carrying
//! an `xid` and a session, replies or errors in ZooKeeper's words, and one-shot watch events.
//!
//! Fault model: none here; these are plain values. A request may be lost with its connection,
//! in which case the client never learns whether it was applied (ZooKeeper's `CONNECTIONLOSS`,
//! see [`super::ZkClient::on_connection_closed`]).
//!
//! Left out: ACLs, sequential and container nodes, multi-ops, `sync`, `getACL`, chroot and the
//! `Stat` fields Kafka never reads (`ctime`, `cversion`, `aversion`, `dataLength`, …).

use std::fmt;

/// A client request: `xid` pairs it with its response; `session` is `None` only for `Connect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkRequest {
    /// The client's request number, echoed in the response.
    pub xid: u64,
    /// The session the request runs in (`None` only for [`ZkOp::Connect`]).
    pub session: Option<u64>,
    /// What to do.
    pub op: ZkOp,
}

/// The operations of the service, named after ZooKeeper's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkOp {
    /// Creates a new session with this requested timeout.
    Connect {
        /// `zookeeper.session.timeout.ms` as the client asks for it.
        session_timeout_ms: u64,
    },
    /// Keeps the session alive.
    Ping,
    /// Creates a znode whose parent exists; an ephemeral one belongs to the request's session.
    Create {
        /// Absolute path, like `/brokers/ids/0`.
        path: String,
        /// JSON text, stored as is.
        data: String,
        /// Whether the node dies with its session.
        ephemeral: bool,
    },
    /// Deletes a childless znode, only at this version if one is given.
    Delete {
        /// Absolute path.
        path: String,
        /// Expected version, or `None` for any (ZooKeeper's -1).
        version: Option<i32>,
    },
    /// Replaces a znode's data, only at this version if one is given (Kafka's zk-version fence).
    SetData {
        /// Absolute path.
        path: String,
        /// The new JSON text.
        data: String,
        /// Expected version, or `None` for any (ZooKeeper's -1).
        version: Option<i32>,
    },
    /// Reads a znode's data, optionally leaving a data watch.
    GetData {
        /// Absolute path.
        path: String,
        /// Leave a one-shot data watch (only if the node exists).
        watch: bool,
    },
    /// Lists a znode's children, optionally leaving a child watch.
    GetChildren {
        /// Absolute path.
        path: String,
        /// Leave a one-shot child watch (only if the node exists).
        watch: bool,
    },
    /// Tells whether a znode exists, optionally leaving a data watch (even if it does not).
    Exists {
        /// Absolute path.
        path: String,
        /// Leave a one-shot data watch; on an absent node it fires `NodeCreated`.
        watch: bool,
    },
    /// Ends the session now, deleting its ephemerals.
    CloseSession,
}

impl ZkOp {
    /// The operation's name as ZooKeeper's `OpCode` spells it, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            ZkOp::Connect { .. } => "createSession",
            ZkOp::Ping => "ping",
            ZkOp::Create { .. } => "create",
            ZkOp::Delete { .. } => "delete",
            ZkOp::SetData { .. } => "setData",
            ZkOp::GetData { .. } => "getData",
            ZkOp::GetChildren { .. } => "getChildren",
            ZkOp::Exists { .. } => "exists",
            ZkOp::CloseSession => "closeSession",
        }
    }
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkResponse {
    /// The request's `xid`.
    pub xid: u64,
    /// The reply, or why the request failed.
    pub result: Result<ZkReply, ZkError>,
}

/// A successful reply, one variant per kind of request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkReply {
    /// A new session and the timeout the server granted.
    Connected {
        /// The session id.
        session: u64,
        /// The negotiated session timeout.
        timeout_ms: u64,
    },
    /// The answer to a ping.
    Pong,
    /// The node was created.
    Created {
        /// Its path.
        path: String,
    },
    /// The node was deleted.
    Deleted,
    /// The node's stat after a `SetData`.
    Stat(Stat),
    /// A node's data and stat.
    Data {
        /// The JSON text.
        data: String,
        /// Its stat.
        stat: Stat,
    },
    /// A node's children's names, sorted.
    Children(Vec<String>),
    /// The node's stat, or `None` if it does not exist.
    Exists(Option<Stat>),
    /// The session is closed.
    Closed,
}

/// The parts of ZooKeeper's `Stat` that Kafka reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Data version: 0 at creation, bumped by every `SetData` (Kafka's "zk version").
    pub version: i32,
    /// The zxid of the transaction that created the node.
    pub czxid: u64,
    /// The zxid of the transaction that last changed the node's data.
    pub mzxid: u64,
    /// The owning session of an ephemeral node.
    pub ephemeral_owner: Option<u64>,
}

/// Why a request failed, as ZooKeeper's `KeeperException.Code` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ZkError {
    /// The node (or, for `Create`, its parent) does not exist.
    NoNode,
    /// The node already exists.
    NodeExists,
    /// The expected version is not the node's version.
    BadVersion,
    /// The node has children.
    NotEmpty,
    /// The session is unknown: it expired or was closed.
    SessionExpired,
    /// An ephemeral node cannot have children.
    NoChildrenForEphemerals,
    /// The path is malformed (not absolute, empty component, trailing slash) or is the root.
    BadArguments,
}

/// ZooKeeper's own message, as `KeeperException.getMessage` prints it.
impl fmt::Display for ZkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ZkError::NoNode => "NoNode",
            ZkError::NodeExists => "NodeExists",
            ZkError::BadVersion => "BadVersion",
            ZkError::NotEmpty => "Directory not empty",
            ZkError::SessionExpired => "Session expired",
            ZkError::NoChildrenForEphemerals => "NoChildrenForEphemerals",
            ZkError::BadArguments => "BadArguments",
        };
        write!(f, "KeeperErrorCode = {text}")
    }
}

impl std::error::Error for ZkError {}

/// A one-shot watch firing: what happened to which path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WatchEvent {
    /// The watched path.
    pub path: String,
    /// What happened.
    pub kind: WatchKind,
}

/// ZooKeeper's `Watcher.Event.EventType` for node events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WatchKind {
    /// A node watched by `Exists` was created.
    NodeCreated,
    /// A watched node was deleted (fires data and child watches).
    NodeDeleted,
    /// A watched node's data changed.
    NodeDataChanged,
    /// A node watched by `GetChildren` gained or lost a child.
    NodeChildrenChanged,
}

impl fmt::Display for WatchEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}", self.kind, self.path)
    }
}

/// Everything the service sends to a client node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkToClient {
    /// The answer to a request.
    Response(ZkResponse),
    /// A watch fired.
    Watch(WatchEvent),
}

/// A session id as ZooKeeper prints it: `0x1f`.
pub fn session_name(session: u64) -> String {
    format!("0x{session:x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_zookeeper_prints_them() {
        let table = [
            (ZkError::NoNode, "KeeperErrorCode = NoNode"),
            (ZkError::NodeExists, "KeeperErrorCode = NodeExists"),
            (ZkError::BadVersion, "KeeperErrorCode = BadVersion"),
            (ZkError::NotEmpty, "KeeperErrorCode = Directory not empty"),
            (ZkError::SessionExpired, "KeeperErrorCode = Session expired"),
            (
                ZkError::NoChildrenForEphemerals,
                "KeeperErrorCode = NoChildrenForEphemerals",
            ),
            (ZkError::BadArguments, "KeeperErrorCode = BadArguments"),
        ];
        for (error, text) in table {
            assert_eq!(error.to_string(), text);
        }
        assert_eq!(session_name(31), "0x1f");
        assert_eq!(ZkOp::Ping.name(), "ping");
        let event = WatchEvent {
            path: "/controller".into(),
            kind: WatchKind::NodeDeleted,
        };
        assert_eq!(event.to_string(), "NodeDeleted /controller");
    }
}

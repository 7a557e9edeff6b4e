//! The ZooKeeper server: one node, linearizable, answering [`ZkRequest`]s from brokers. Writes
//! (session create and close, create, delete, set) get a zxid, are applied to the
//! [`Database`] and appended to the transaction log, and are answered once a group-commit fsync
//! covers them. Sessions expire when silent for longer than their timeout, checked every
//! [`ZkServer::TICK_MS`]; an ending session takes its ephemerals and watches with it.
//!
//! Fault model: a kill loses the volatile parts (watches, held replies, last-heard times) and
//! nothing written; a power-off may also lose the log's unsynced tail — transactions no client
//! was ever told about, since every reply waits behind the writes before it. On boot the server
//! replays the log, cuts a torn last line, fsyncs anything the page cache kept unsynced before
//! answering, and restarts every session's timeout (as ZooKeeper does on a leader change). A
//! connection closing ends nothing: a session outlives its connection until it times out.
//!
//! Left out: replication (a ZooKeeper ensemble is one node here), ACLs, quotas, snapshots,
//! read-only mode and the session-timeout bounds of `tickTime` (the requested timeout is kept,
//! raised to at least two expiry ticks).

use super::commit::GroupCommit;
use super::database::{Change, Database};
use super::protocol::{ZkError, ZkOp, ZkReply, ZkRequest, ZkResponse, ZkToClient, session_name};
use super::tree::{DataTree, validate_path};
use super::txnlog::{LOG_FILE, Txn, TxnRecord, read_log};
use super::watches::{WatchTable, WatchType};
use super::{ZkOutput, ZkTimer};
use crate::disk::Disk;
use crate::sim::{DiskOp, NodeId, SimDuration, SimTime};

/// What boot found on disk, acted on by `on_start`.
#[derive(Clone, Debug, Default)]
struct Recovery {
    /// Transactions replayed.
    replayed: usize,
    /// A torn last line: keep this many bytes, drop that many.
    torn: Option<(usize, usize)>,
    /// Whether the log has written bytes that were never synced (kept by a kill).
    unsynced: bool,
}

/// The metadata service: a single linearizable ZooKeeper server.
#[derive(Clone, Debug)]
pub struct ZkServer {
    /// Durable: tree, sessions, zxid and session counters (rebuilt from `zk/txnlog`).
    db: Database,
    /// Volatile: one-shot watches.
    watches: WatchTable,
    /// Volatile: the sync in flight and the replies waiting for it.
    commit: GroupCommit,
    /// Volatile: what boot found, for `on_start`.
    recovery: Recovery,
    /// Volatile: the zxid up to which the tree's invariants were last checked.
    checked_zxid: Option<u64>,
}

impl ZkServer {
    /// How often sessions are checked for expiry (ZooKeeper expires at tick granularity).
    pub const TICK_MS: u64 = 200;
    /// The smallest session timeout granted: two expiry ticks.
    pub const MIN_SESSION_TIMEOUT_MS: u64 = 2 * ZkServer::TICK_MS;

    /// Rebuilds the tree and sessions from the transaction log on `disk`, ignoring a torn last
    /// line; panics if the log is corrupt, which the virtual disk cannot cause.
    pub fn boot(disk: &Disk) -> ZkServer {
        let bytes = disk.read(LOG_FILE).unwrap_or_default();
        let contents = read_log(bytes).unwrap_or_else(|e| panic!("{e}"));
        let mut db = Database::new();
        for record in &contents.records {
            if let Err(e) = db.apply(record) {
                panic!("{LOG_FILE}: zxid {} does not replay: {e}", record.zxid);
            }
        }
        let torn = (contents.torn_len > 0).then_some((contents.valid_len, contents.torn_len));
        let recovery = Recovery {
            replayed: contents.records.len(),
            torn,
            unsynced: disk.durable_len(LOG_FILE) < contents.valid_len,
        };
        ZkServer {
            db,
            watches: WatchTable::default(),
            commit: GroupCommit::default(),
            recovery,
            checked_zxid: None,
        }
    }

    /// Starts the expiry tick, restarts session timeouts from `now` and repairs the log.
    pub fn on_start(&mut self, now: SimTime, out: &mut ZkOutput) {
        self.db.restart_sessions(now);
        let recovery = std::mem::take(&mut self.recovery);
        if let Some((keep_len, torn_len)) = recovery.torn {
            out.disk.push(DiskOp::Truncate {
                file: LOG_FILE.into(),
                len: keep_len,
            });
            out.notes
                .push(format!("ignored a torn last txn ({torn_len} bytes)"));
        }
        if recovery.unsynced {
            self.commit.written();
            self.commit.flush(out);
        }
        out.notes.push(format!(
            "booted from {LOG_FILE}: {} txns (zxid 0x{:x}), {} sessions, {} znodes",
            recovery.replayed,
            self.db.last_zxid(),
            self.db.sessions().count(),
            self.db.tree.len(),
        ));
        out.timers.push((Self::tick(), ZkTimer::Tick));
    }

    /// Handles one request from `from`; the response leaves once every earlier write is durable.
    pub fn on_request(&mut self, now: SimTime, from: NodeId, req: ZkRequest, out: &mut ZkOutput) {
        let ZkRequest { xid, session, op } = req;
        let result = match (op, session) {
            (ZkOp::Connect { session_timeout_ms }, _) => {
                Ok(self.connect(now, from, session_timeout_ms, out))
            }
            (op, Some(id)) if self.db.touch(id, now, from) => self.execute(id, op, out),
            _ => Err(ZkError::SessionExpired),
        };
        let response = ZkToClient::Response(ZkResponse { xid, result });
        self.commit.send(from, response, out);
        self.commit.flush(out);
    }

    /// Runs the periodic expiry check and re-arms it.
    pub fn on_timer(&mut self, now: SimTime, timer: ZkTimer, out: &mut ZkOutput) {
        match timer {
            ZkTimer::Tick => {
                for id in self.db.expired(now) {
                    self.end_session(id, "expired", out);
                }
                out.timers.push((Self::tick(), ZkTimer::Tick));
            }
        }
        self.commit.flush(out);
    }

    /// Learns that the log sync with `token` is durable and releases what waited for it.
    pub fn on_sync_done(&mut self, _now: SimTime, token: u64, out: &mut ZkOutput) {
        self.commit.sync_done(token, out);
    }

    /// Learns that the connection to `peer` closed: its held responses are dropped (the client
    /// fails those requests itself), but its session lives on until it times out.
    pub fn on_connection_closed(&mut self, _now: SimTime, peer: NodeId, _out: &mut ZkOutput) {
        self.commit.drop_responses_to(peer);
    }

    /// Checks the tree and sessions (when a transaction changed them since the last check),
    /// watches and held replies for consistency.
    pub fn check_invariants(&mut self) -> Result<(), String> {
        // The tree and the sessions' ephemerals change only by applying a transaction, which
        // moves the zxid: an unchanged zxid leaves nothing new to check there.
        let zxid = self.db.last_zxid();
        if self.checked_zxid != Some(zxid) {
            self.db.check_invariants()?;
            self.checked_zxid = Some(zxid);
        }
        self.check_volatile_invariants()
    }

    /// Checks every invariant, the whole tree included.
    pub fn check_all_invariants(&self) -> Result<(), String> {
        self.db.check_invariants()?;
        self.check_volatile_invariants()
    }

    fn check_volatile_invariants(&self) -> Result<(), String> {
        self.commit.check_invariants()?;
        for id in self.watches.sessions() {
            match self.db.session(id) {
                Some(s) if s.owner.is_some() => {}
                _ => {
                    return Err(format!(
                        "watch of session {} with no owner",
                        session_name(id)
                    ));
                }
            }
        }
        Ok(())
    }

    /// The data tree, for god's-eye checks.
    pub fn tree(&self) -> &DataTree {
        &self.db.tree
    }

    /// The ids of the live sessions, in order.
    pub fn session_ids(&self) -> Vec<u64> {
        self.db.sessions().map(|(id, _)| id).collect()
    }

    /// A live session's negotiated timeout.
    pub fn session_timeout_ms(&self, session: u64) -> Option<u64> {
        self.db.session(session).map(|s| s.timeout_ms)
    }

    /// The zxid of the last applied transaction.
    pub fn last_zxid(&self) -> u64 {
        self.db.last_zxid()
    }

    /// How many watches are set.
    pub fn watch_count(&self) -> usize {
        self.watches.len()
    }

    /// How many replies and events wait for a sync.
    pub fn held_count(&self) -> usize {
        self.commit.held_len()
    }

    fn tick() -> SimDuration {
        SimDuration::from_millis(Self::TICK_MS)
    }

    fn connect(
        &mut self,
        now: SimTime,
        from: NodeId,
        requested_ms: u64,
        out: &mut ZkOutput,
    ) -> ZkReply {
        let session = self.db.next_session();
        let timeout_ms = requested_ms.max(Self::MIN_SESSION_TIMEOUT_MS);
        self.commit_txn(
            Txn::CreateSession {
                session,
                timeout_ms,
            },
            out,
        )
        .expect("a fresh session id always applies");
        let touched = self.db.touch(session, now, from);
        assert!(touched, "the new session exists");
        let name = session_name(session);
        out.notes.push(format!(
            "session {name} created for {from} (timeout {timeout_ms} ms)"
        ));
        ZkReply::Connected {
            session,
            timeout_ms,
        }
    }

    /// Runs an operation of a live session.
    fn execute(&mut self, session: u64, op: ZkOp, out: &mut ZkOutput) -> Result<ZkReply, ZkError> {
        match op {
            ZkOp::Connect { .. } => unreachable!("connect is handled before sessions"),
            ZkOp::Ping => Ok(ZkReply::Pong),
            ZkOp::Create {
                path,
                data,
                ephemeral,
            } => self.create(session, path, data, ephemeral, out),
            ZkOp::Delete { path, version } => {
                self.db.tree.check_version(&path, version)?;
                self.commit_txn(Txn::Delete { path: path.clone() }, out)?;
                out.notes.push(format!("deleted {path}"));
                Ok(ZkReply::Deleted)
            }
            ZkOp::SetData {
                path,
                data,
                version,
            } => {
                self.db.tree.check_version(&path, version)?;
                self.commit_txn(
                    Txn::SetData {
                        path: path.clone(),
                        data,
                    },
                    out,
                )?;
                let node = self.db.tree.get(&path).expect("just set");
                Ok(ZkReply::Stat(node.stat))
            }
            ZkOp::GetData { path, watch } => self.get_data(session, &path, watch),
            ZkOp::GetChildren { path, watch } => self.get_children(session, &path, watch),
            ZkOp::Exists { path, watch } => self.exists(session, &path, watch),
            ZkOp::CloseSession => {
                self.end_session(session, "closed", out);
                Ok(ZkReply::Closed)
            }
        }
    }

    fn create(
        &mut self,
        session: u64,
        path: String,
        data: String,
        ephemeral: bool,
        out: &mut ZkOutput,
    ) -> Result<ZkReply, ZkError> {
        let ephemeral_owner = ephemeral.then_some(session);
        let txn = Txn::Create {
            path: path.clone(),
            data,
            ephemeral_owner,
        };
        self.commit_txn(txn, out)?;
        let note = match ephemeral_owner {
            Some(id) => format!("created {path} (ephemeral of {})", session_name(id)),
            None => format!("created {path}"),
        };
        out.notes.push(note);
        Ok(ZkReply::Created { path })
    }

    fn get_data(&mut self, session: u64, path: &str, watch: bool) -> Result<ZkReply, ZkError> {
        validate_path(path)?;
        let node = self.db.tree.get(path).ok_or(ZkError::NoNode)?;
        let reply = ZkReply::Data {
            data: node.data.clone(),
            stat: node.stat,
        };
        if watch {
            self.watches.add(WatchType::Data, path, session);
        }
        Ok(reply)
    }

    fn get_children(&mut self, session: u64, path: &str, watch: bool) -> Result<ZkReply, ZkError> {
        validate_path(path)?;
        let children = self.db.tree.children(path).ok_or(ZkError::NoNode)?;
        if watch {
            self.watches.add(WatchType::Children, path, session);
        }
        Ok(ZkReply::Children(children))
    }

    fn exists(&mut self, session: u64, path: &str, watch: bool) -> Result<ZkReply, ZkError> {
        validate_path(path)?;
        let stat = self.db.tree.get(path).map(|n| n.stat);
        if watch {
            self.watches.add(WatchType::Data, path, session);
        }
        Ok(ZkReply::Exists(stat))
    }

    /// Ends a session (closed by its client or expired): its watches go, then its ephemerals.
    fn end_session(&mut self, session: u64, how: &str, out: &mut ZkOutput) {
        let owner = self.db.session(session).and_then(|s| s.owner);
        self.watches.remove_session(session);
        let changes = self
            .commit_txn(Txn::CloseSession { session }, out)
            .expect("ending a live session always applies");
        let owner = owner.map_or("unknown".to_owned(), |n| n.to_string());
        let mut note = format!("session {} {how} (owner {owner})", session_name(session));
        let deleted: Vec<&str> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Deleted(path) => Some(path.as_str()),
                _ => None,
            })
            .collect();
        if !deleted.is_empty() {
            note.push_str(&format!(", deleted {}", deleted.join(", ")));
        }
        out.notes.push(note);
    }

    /// Applies a transaction, appends it to the log and fires the watches it triggers; the
    /// events wait for the sync like every reply. On error nothing is logged or changed.
    fn commit_txn(&mut self, txn: Txn, out: &mut ZkOutput) -> Result<Vec<Change>, ZkError> {
        let record = TxnRecord {
            zxid: self.db.last_zxid() + 1,
            txn,
        };
        let changes = self.db.apply(&record)?;
        out.disk.push(DiskOp::Append {
            file: LOG_FILE.into(),
            bytes: record.encode(),
        });
        self.commit.written();
        for change in &changes {
            for (session, event) in self.watches.trigger(change) {
                let owner = self.db.session(session).and_then(|s| s.owner);
                let owner = owner.expect("a session with a watch has an owner");
                self.commit.send(owner, ZkToClient::Watch(event), out);
            }
        }
        Ok(changes)
    }
}

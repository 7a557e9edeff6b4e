//! The service's durable state — the data tree, the sessions with their ephemerals, the last
//! zxid and the session-id counter — and the one function that changes it, [`Database::apply`],
//! used both live and when replaying the transaction log, so a restarted server rebuilds exactly
//! the state it had acknowledged (ZooKeeper's `ZKDatabase`).
//!
//! Fault model: everything here is rebuilt from `zk/txnlog` on boot except each session's
//! last-heard time and owner node, which are volatile: a restart gives every restored session a
//! fresh timeout from the restart time, as ZooKeeper does after a leader change.
//!
//! Left out: snapshots, ACLs and session ownership by server (there is one server).

use std::collections::{BTreeMap, BTreeSet};

use super::protocol::{ZkError, session_name};
use super::tree::DataTree;
use super::txnlog::{Txn, TxnRecord};
use crate::sim::{NodeId, SimDuration, SimTime};

/// One session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Durable: the negotiated timeout.
    pub timeout_ms: u64,
    /// Durable (derived from the tree): the paths of the ephemerals it owns.
    pub ephemerals: BTreeSet<String>,
    /// Volatile: when the service last heard from the session (reset on restart).
    pub last_heard: SimTime,
    /// Volatile: the node its last request came from, where its watch events go.
    pub owner: Option<NodeId>,
}

/// What a transaction did to the tree, for firing watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A znode was created at this path.
    Created(String),
    /// The znode at this path was deleted.
    Deleted(String),
    /// The data of the znode at this path changed.
    DataChanged(String),
}

/// The durable state of the service.
#[derive(Clone, Debug, Default)]
pub struct Database {
    /// The znodes.
    pub tree: DataTree,
    /// Sessions by id (a `BTreeMap`, so expiry walks them in id order).
    sessions: BTreeMap<u64, Session>,
    /// The zxid of the last applied transaction (0 before any).
    last_zxid: u64,
    /// The id the next session gets; ids start at 1.
    next_session: u64,
}

impl Database {
    /// An empty database: the root only, no sessions.
    pub fn new() -> Database {
        Database {
            next_session: 1,
            ..Database::default()
        }
    }

    /// The zxid of the last applied transaction.
    pub fn last_zxid(&self) -> u64 {
        self.last_zxid
    }

    /// The id the next `CreateSession` will use.
    pub fn next_session(&self) -> u64 {
        self.next_session
    }

    /// The session with this id, if it is alive.
    pub fn session(&self, id: u64) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// Every live session in id order.
    pub fn sessions(&self) -> impl Iterator<Item = (u64, &Session)> {
        self.sessions.iter().map(|(&id, s)| (id, s))
    }

    /// Records that the session was heard from `from` at `now`; false if it is not alive.
    pub fn touch(&mut self, id: u64, now: SimTime, from: NodeId) -> bool {
        let Some(session) = self.sessions.get_mut(&id) else {
            return false;
        };
        session.last_heard = session.last_heard.max(now);
        session.owner = Some(from);
        true
    }

    /// Starts every session's timeout afresh at `now` (after a restart).
    pub fn restart_sessions(&mut self, now: SimTime) {
        for session in self.sessions.values_mut() {
            session.last_heard = now;
            session.owner = None;
        }
    }

    /// The sessions silent for longer than their timeout at `now`, in id order.
    pub fn expired(&self, now: SimTime) -> Vec<u64> {
        let silent_too_long = |s: &Session| {
            now.saturating_since(s.last_heard) > SimDuration::from_millis(s.timeout_ms)
        };
        let silent = self.sessions.iter().filter(|(_, s)| silent_too_long(s));
        silent.map(|(&id, _)| id).collect()
    }

    /// Applies one transaction; on error nothing changes. Live callers check the request's
    /// preconditions (versions) first; replay expects every logged transaction to apply.
    pub fn apply(&mut self, record: &TxnRecord) -> Result<Vec<Change>, ZkError> {
        assert_eq!(record.zxid, self.last_zxid + 1, "zxids are consecutive");
        let changes = match &record.txn {
            Txn::CreateSession {
                session,
                timeout_ms,
            } => self.create_session(*session, *timeout_ms),
            Txn::CloseSession { session } => self.close_session(*session)?,
            Txn::Create {
                path,
                data,
                ephemeral_owner,
            } => self.create(path, data, *ephemeral_owner, record.zxid)?,
            Txn::Delete { path } => self.delete(path)?,
            Txn::SetData { path, data } => {
                self.tree.set_data(path, data, record.zxid)?;
                vec![Change::DataChanged(path.clone())]
            }
        };
        self.last_zxid = record.zxid;
        Ok(changes)
    }

    fn create_session(&mut self, id: u64, timeout_ms: u64) -> Vec<Change> {
        assert!(id >= self.next_session, "session {id} reused");
        let session = Session {
            timeout_ms,
            ephemerals: BTreeSet::new(),
            last_heard: SimTime::ZERO,
            owner: None,
        };
        self.sessions.insert(id, session);
        self.next_session = id + 1;
        Vec::new()
    }

    fn close_session(&mut self, id: u64) -> Result<Vec<Change>, ZkError> {
        let session = self.sessions.remove(&id).ok_or(ZkError::SessionExpired)?;
        let mut changes = Vec::new();
        for path in session.ephemerals {
            let node = self.tree.delete(&path).expect("an ephemeral is a leaf");
            assert_eq!(node.stat.ephemeral_owner, Some(id), "{path} owner");
            changes.push(Change::Deleted(path));
        }
        Ok(changes)
    }

    fn create(
        &mut self,
        path: &str,
        data: &str,
        owner: Option<u64>,
        zxid: u64,
    ) -> Result<Vec<Change>, ZkError> {
        if let Some(id) = owner
            && !self.sessions.contains_key(&id)
        {
            return Err(ZkError::SessionExpired);
        }
        self.tree.create(path, data, owner, zxid)?;
        if let Some(id) = owner {
            let session = self.sessions.get_mut(&id).expect("checked above");
            session.ephemerals.insert(path.to_owned());
        }
        Ok(vec![Change::Created(path.to_owned())])
    }

    fn delete(&mut self, path: &str) -> Result<Vec<Change>, ZkError> {
        let node = self.tree.delete(path)?;
        if let Some(id) = node.stat.ephemeral_owner {
            let session = self
                .sessions
                .get_mut(&id)
                .expect("an ephemeral's owner is alive");
            let owned = session.ephemerals.remove(path);
            assert!(owned, "{path} missing from its owner's ephemerals");
        }
        Ok(vec![Change::Deleted(path.to_owned())])
    }

    /// Checks the tree, that ephemerals and their owners agree, and that counters lead.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.tree.check_invariants()?;
        for (path, node) in self.tree.iter() {
            if node.stat.mzxid > self.last_zxid {
                return Err(format!("{path} changed at zxid {} > last", node.stat.mzxid));
            }
            if let Some(id) = node.stat.ephemeral_owner {
                let owned = self
                    .sessions
                    .get(&id)
                    .is_some_and(|s| s.ephemerals.contains(path));
                if !owned {
                    let name = session_name(id);
                    return Err(format!("ephemeral {path} owned by dead session {name}"));
                }
            }
        }
        for (&id, session) in &self.sessions {
            if id >= self.next_session {
                return Err(format!(
                    "session {} not below the counter",
                    session_name(id)
                ));
            }
            for path in &session.ephemerals {
                let owner = self.tree.get(path).and_then(|n| n.stat.ephemeral_owner);
                if owner != Some(id) {
                    return Err(format!("{} lists {path}, not its own", session_name(id)));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(db: &mut Database, txn: Txn) -> Result<Vec<Change>, ZkError> {
        let zxid = db.last_zxid() + 1;
        db.apply(&TxnRecord { zxid, txn })
    }

    fn create(path: &str, owner: Option<u64>) -> Txn {
        Txn::Create {
            path: path.into(),
            data: String::new(),
            ephemeral_owner: owner,
        }
    }

    #[test]
    fn closing_a_session_deletes_its_ephemerals_in_path_order() {
        let mut db = Database::new();
        let session = Txn::CreateSession {
            session: 1,
            timeout_ms: 6_000,
        };
        apply(&mut db, session).unwrap();
        apply(&mut db, create("/b", Some(1))).unwrap();
        apply(&mut db, create("/a", Some(1))).unwrap();
        apply(&mut db, create("/p", None)).unwrap();
        assert_eq!(
            apply(&mut db, create("/x", Some(9))),
            Err(ZkError::SessionExpired)
        );
        db.check_invariants().unwrap();
        let changes = apply(&mut db, Txn::CloseSession { session: 1 }).unwrap();
        let deleted = [Change::Deleted("/a".into()), Change::Deleted("/b".into())];
        assert_eq!(changes, deleted);
        assert_eq!(db.tree.children("/").unwrap(), ["p"]);
        assert_eq!((db.last_zxid(), db.next_session()), (5, 2));
        db.check_invariants().unwrap();
    }

    #[test]
    fn sessions_expire_only_after_their_timeout_of_silence() {
        let mut db = Database::new();
        let session = Txn::CreateSession {
            session: 1,
            timeout_ms: 1_000,
        };
        apply(&mut db, session).unwrap();
        assert!(db.touch(1, SimTime::from_millis(500), NodeId::from_index(3)));
        assert!(!db.touch(2, SimTime::from_millis(500), NodeId::from_index(3)));
        assert!(db.expired(SimTime::from_millis(1_500)).is_empty());
        assert_eq!(db.expired(SimTime::from_millis(1_501)), [1]);
        db.restart_sessions(SimTime::from_millis(2_000));
        assert!(db.expired(SimTime::from_millis(2_900)).is_empty());
        assert_eq!(db.session(1).unwrap().owner, None);
    }
}

//! The metadata service, specified by driving [`ZkServer`] by hand: a small harness applies its
//! disk operations to a real [`Disk`], completes syncs when a test says so, fires the expiry
//! tick as time advances and collects what it sends to each client node.

use std::collections::BTreeMap;

use kafkasim::disk::{Disk, DiskModel, SyncTicket};
use kafkasim::sim::{DiskOp, NodeId, RootRng, SimDuration, SimTime, Stream};
use kafkasim::zk::{
    LOG_FILE, WatchEvent, WatchKind, ZkClient, ZkError, ZkOp, ZkOutput, ZkReply, ZkRequest,
    ZkResponse, ZkServer, ZkTimer, ZkToClient,
};
use proptest::prelude::*;

type Reply = Result<ZkReply, ZkError>;

/// The service on node 0 with its disk, driven by hand.
struct Zk {
    server: ZkServer,
    disk: Disk,
    now: SimTime,
    out: ZkOutput,
    /// Everything sent, per destination node, in order.
    inbox: BTreeMap<NodeId, Vec<ZkToClient>>,
    /// Syncs issued and not yet completed, with their tokens.
    syncs: Vec<(SyncTicket, u64)>,
    next_tick: Option<SimTime>,
    notes: Vec<String>,
    next_xid: u64,
}

fn node(i: usize) -> NodeId {
    NodeId::from_index(i)
}

impl Zk {
    fn new() -> Zk {
        Zk::boot(Disk::new(DiskModel::default()), SimTime::ZERO)
    }

    fn boot(disk: Disk, now: SimTime) -> Zk {
        let mut zk = Zk {
            server: ZkServer::boot(&disk),
            disk,
            now,
            out: ZkOutput::default(),
            inbox: BTreeMap::new(),
            syncs: Vec::new(),
            next_tick: None,
            notes: Vec::new(),
            next_xid: 1,
        };
        zk.server.on_start(now, &mut zk.out);
        zk.drain();
        zk.sync();
        zk
    }

    /// Applies the server's output: disk ops, sends, timers, notes; then checks invariants.
    fn drain(&mut self) {
        for op in self.out.disk.drain(..) {
            match op {
                DiskOp::Append { file, bytes } => self.disk.append(&file, &bytes),
                DiskOp::Truncate { file, len } => self.disk.truncate(&file, len),
                DiskOp::Delete { file } => self.disk.delete(&file),
                DiskOp::Sync { file, token } => {
                    self.syncs.push((self.disk.begin_sync(&file), token))
                }
                DiskOp::WriteAtomic { .. } => panic!("the service writes no atomic files"),
            }
        }
        for (to, msg) in self.out.sends.drain(..) {
            self.inbox.entry(to).or_default().push(msg);
        }
        for (after, ZkTimer::Tick) in self.out.timers.drain(..) {
            assert_eq!(self.next_tick, None, "one tick armed at a time");
            self.next_tick = Some(self.now + after);
        }
        self.notes.append(&mut self.out.notes);
        self.server.check_invariants().expect("invariants hold");
    }

    /// Completes every sync in flight, and those they start, in order.
    fn sync(&mut self) {
        while !self.syncs.is_empty() {
            let (ticket, token) = self.syncs.remove(0);
            self.disk.complete_sync(&ticket);
            self.server.on_sync_done(self.now, token, &mut self.out);
            self.drain();
        }
    }

    /// Sends a request without completing syncs; returns its xid.
    fn send(&mut self, from: usize, session: Option<u64>, op: ZkOp) -> u64 {
        let xid = self.next_xid;
        self.next_xid += 1;
        let req = ZkRequest { xid, session, op };
        self.server
            .on_request(self.now, node(from), req, &mut self.out);
        self.drain();
        xid
    }

    /// Takes the response to `xid` out of `to`'s inbox, if it has arrived.
    fn response(&mut self, to: usize, xid: u64) -> Option<Reply> {
        let inbox = self.inbox.entry(node(to)).or_default();
        let at = inbox
            .iter()
            .position(|m| matches!(m, ZkToClient::Response(r) if r.xid == xid))?;
        match inbox.remove(at) {
            ZkToClient::Response(r) => Some(r.result),
            ZkToClient::Watch(_) => unreachable!(),
        }
    }

    /// Sends a request, completes the syncs and returns the response.
    fn call(&mut self, from: usize, session: u64, op: ZkOp) -> Reply {
        let xid = self.send(from, Some(session), op);
        self.sync();
        self.response(from, xid).expect("answered once synced")
    }

    fn connect(&mut self, from: usize, timeout_ms: u64) -> u64 {
        let xid = self.send(
            from,
            None,
            ZkOp::Connect {
                session_timeout_ms: timeout_ms,
            },
        );
        self.sync();
        match self.response(from, xid) {
            Some(Ok(ZkReply::Connected { session, .. })) => session,
            other => panic!("connect failed: {other:?}"),
        }
    }

    /// The watch events `to` received so far, taken out of its inbox.
    fn events(&mut self, to: usize) -> Vec<WatchEvent> {
        let inbox = self.inbox.entry(node(to)).or_default();
        let (events, rest): (Vec<_>, Vec<_>) = inbox
            .drain(..)
            .partition(|m| matches!(m, ZkToClient::Watch(_)));
        *inbox = rest;
        let events = events.into_iter().map(|m| match m {
            ZkToClient::Watch(event) => event,
            ZkToClient::Response(_) => unreachable!(),
        });
        events.collect()
    }

    /// Moves time forward `ms`, firing the expiry tick on time and syncing after each.
    fn advance(&mut self, ms: u64) {
        let until = self.now + SimDuration::from_millis(ms);
        while let Some(at) = self.next_tick.filter(|&at| at <= until) {
            self.now = at;
            self.next_tick = None;
            self.server.on_timer(self.now, ZkTimer::Tick, &mut self.out);
            self.drain();
            self.sync();
        }
        self.now = until;
    }

    /// Kills the service (the page cache survives; syncs in flight still finish) and boots it.
    fn kill_and_restart(self) -> Zk {
        let mut disk = self.disk;
        for (ticket, _) in &self.syncs {
            disk.complete_sync(ticket);
        }
        Zk::boot(disk, self.now)
    }

    /// Cuts the power (unsynced bytes are lost, torn if asked) and boots the service.
    fn power_off_and_restart(self, torn_tail: bool, seed: u64) -> Zk {
        let mut disk = self.disk;
        disk.power_off(torn_tail, &mut RootRng::new(seed).fork(Stream::Disk));
        Zk::boot(disk, self.now)
    }

    fn data(&self, path: &str) -> Option<(String, i32)> {
        let node = self.server.tree().get(path)?;
        Some((node.data.clone(), node.stat.version))
    }
}

fn create(path: &str, data: &str) -> ZkOp {
    ZkOp::Create {
        path: path.into(),
        data: data.into(),
        ephemeral: false,
    }
}

fn ephemeral(path: &str, data: &str) -> ZkOp {
    ZkOp::Create {
        path: path.into(),
        data: data.into(),
        ephemeral: true,
    }
}

fn set(path: &str, data: &str, version: Option<i32>) -> ZkOp {
    ZkOp::SetData {
        path: path.into(),
        data: data.into(),
        version,
    }
}

fn get(path: &str, watch: bool) -> ZkOp {
    ZkOp::GetData {
        path: path.into(),
        watch,
    }
}

fn exists(path: &str, watch: bool) -> ZkOp {
    ZkOp::Exists {
        path: path.into(),
        watch,
    }
}

fn children(path: &str, watch: bool) -> ZkOp {
    ZkOp::GetChildren {
        path: path.into(),
        watch,
    }
}

fn delete(path: &str, version: Option<i32>) -> ZkOp {
    ZkOp::Delete {
        path: path.into(),
        version,
    }
}

fn event(path: &str, kind: WatchKind) -> WatchEvent {
    WatchEvent {
        path: path.into(),
        kind,
    }
}

fn created(path: &str) -> Reply {
    Ok(ZkReply::Created { path: path.into() })
}

fn version_of(reply: Reply) -> i32 {
    match reply {
        Ok(ZkReply::Stat(stat) | ZkReply::Data { stat, .. }) => stat.version,
        other => panic!("no stat in {other:?}"),
    }
}

const STATE: &str = "/brokers/topics/orders/partitions/0/state";

/// The partition-state path of the tests, with its parents.
fn make_state_path(zk: &mut Zk, s: u64) {
    for path in ["/brokers", "/brokers/topics", "/brokers/topics/orders"] {
        assert_eq!(zk.call(1, s, create(path, "")), created(path));
    }
    let partitions = "/brokers/topics/orders/partitions";
    assert_eq!(zk.call(1, s, create(partitions, "")), created(partitions));
    let p0 = "/brokers/topics/orders/partitions/0";
    assert_eq!(zk.call(1, s, create(p0, "")), created(p0));
}

#[test]
fn create_get_and_set_with_versions_and_a_zombie_controllers_stale_write_is_rejected() {
    let mut zk = Zk::new();
    let (old, new) = (zk.connect(1, 6_000), zk.connect(2, 6_000));
    make_state_path(&mut zk, old);
    let isr = r#"{"leader":1,"leader_epoch":0,"isr":[1,2]}"#;
    assert_eq!(zk.call(1, old, create(STATE, isr)), created(STATE));
    let Ok(ZkReply::Data { data, stat }) = zk.call(2, new, get(STATE, false)) else {
        panic!("state readable")
    };
    assert_eq!(
        (data.as_str(), stat.version, stat.ephemeral_owner),
        (isr, 0, None)
    );
    assert_eq!(stat.czxid, stat.mzxid);
    // The new controller's conditional write wins and bumps the version...
    let moved = r#"{"leader":2,"leader_epoch":1,"isr":[2]}"#;
    assert_eq!(version_of(zk.call(2, new, set(STATE, moved, Some(0)))), 1);
    // ...so the zombie's write at the version it read is fenced.
    let zombie = r#"{"leader":1,"leader_epoch":1,"isr":[1]}"#;
    assert_eq!(
        zk.call(1, old, set(STATE, zombie, Some(0))),
        Err(ZkError::BadVersion)
    );
    assert_eq!(zk.data(STATE), Some((moved.to_owned(), 1)));
    assert_eq!(
        version_of(zk.call(1, old, set(STATE, "{}", None))),
        2,
        "unconditional"
    );
    assert_eq!(
        zk.call(1, old, set("/nope", "{}", None)),
        Err(ZkError::NoNode)
    );
    assert_eq!(
        zk.call(1, old, delete(STATE, Some(1))),
        Err(ZkError::BadVersion)
    );
    assert_eq!(
        zk.call(1, old, delete(STATE, Some(2))),
        Ok(ZkReply::Deleted)
    );
    assert_eq!(zk.call(1, old, get(STATE, false)), Err(ZkError::NoNode));
}

#[test]
fn parents_must_exist_ephemerals_have_no_children_and_only_leaves_are_deleted() {
    let mut zk = Zk::new();
    let s = zk.connect(1, 6_000);
    let r = |zk: &mut Zk, op| zk.call(1, s, op);
    assert_eq!(r(&mut zk, create("/brokers/ids", "")), Err(ZkError::NoNode));
    assert_eq!(r(&mut zk, create("/brokers", "")), created("/brokers"));
    assert_eq!(r(&mut zk, create("/brokers", "")), Err(ZkError::NodeExists));
    assert_eq!(
        r(&mut zk, create("brokers/x", "")),
        Err(ZkError::BadArguments)
    );
    assert_eq!(
        r(&mut zk, create("/brokers/", "")),
        Err(ZkError::BadArguments)
    );
    assert_eq!(
        r(&mut zk, ephemeral("/controller", "")),
        created("/controller")
    );
    let child = create("/controller/x", "");
    assert_eq!(r(&mut zk, child), Err(ZkError::NoChildrenForEphemerals));
    assert_eq!(
        r(&mut zk, create("/brokers/ids", "")),
        created("/brokers/ids")
    );
    assert_eq!(r(&mut zk, delete("/brokers", None)), Err(ZkError::NotEmpty));
    assert_eq!(r(&mut zk, delete("/", None)), Err(ZkError::BadArguments));
    assert_eq!(
        r(&mut zk, delete("/brokers/ids/9", None)),
        Err(ZkError::NoNode)
    );
    assert_eq!(
        r(&mut zk, exists("/", false)).map(|r| matches!(r, ZkReply::Exists(Some(_)))),
        Ok(true)
    );
}

#[test]
fn children_are_listed_sorted() {
    let mut zk = Zk::new();
    let s = zk.connect(1, 6_000);
    zk.call(1, s, create("/brokers", "")).unwrap();
    zk.call(1, s, create("/brokers/ids", "")).unwrap();
    for id in ["2", "10", "0", "1"] {
        zk.call(1, s, ephemeral(&format!("/brokers/ids/{id}"), "{}"))
            .unwrap();
    }
    let listed = zk.call(1, s, children("/brokers/ids", false));
    assert_eq!(
        listed,
        Ok(ZkReply::Children(vec![
            "0".into(),
            "1".into(),
            "10".into(),
            "2".into()
        ]))
    );
    assert_eq!(
        zk.call(1, s, children("/", false)),
        Ok(ZkReply::Children(vec!["brokers".into()]))
    );
    assert_eq!(zk.call(1, s, children("/nope", true)), Err(ZkError::NoNode));
    assert_eq!(zk.server.watch_count(), 0, "no watch on a missing node");
}

#[test]
fn ephemerals_vanish_when_their_session_expires_and_watchers_are_told() {
    let mut zk = Zk::new();
    let (broker, controller) = (zk.connect(1, 6_000), zk.connect(2, 6_000));
    zk.call(1, broker, create("/brokers", "")).unwrap();
    zk.call(1, broker, create("/brokers/ids", "")).unwrap();
    zk.call(1, broker, ephemeral("/brokers/ids/1", "{}"))
        .unwrap();
    zk.call(1, broker, ephemeral("/controller", r#"{"brokerid":1}"#))
        .unwrap();
    zk.call(2, controller, children("/brokers/ids", true))
        .unwrap();
    zk.call(2, controller, exists("/controller", true)).unwrap();
    // Broker 1 falls silent; broker 2 keeps pinging.
    for _ in 0..6 {
        zk.advance(1_000);
        assert_eq!(zk.call(2, controller, ZkOp::Ping), Ok(ZkReply::Pong));
    }
    assert_eq!(
        zk.server.session_ids(),
        [broker, controller],
        "6 s is not past 6 s"
    );
    zk.advance(1_000);
    assert_eq!(zk.server.session_ids(), [controller]);
    assert_eq!(zk.data("/brokers/ids/1"), None);
    assert_eq!(zk.data("/controller"), None);
    let mut told = zk.events(2);
    told.sort();
    let expected = [
        event("/brokers/ids", WatchKind::NodeChildrenChanged),
        event("/controller", WatchKind::NodeDeleted),
    ];
    assert_eq!(told, expected);
    assert_eq!(zk.call(1, broker, ZkOp::Ping), Err(ZkError::SessionExpired));
    let note = zk
        .notes
        .iter()
        .find(|n| n.contains("expired"))
        .expect("noted");
    assert_eq!(
        note,
        "session 0x1 expired (owner n1), deleted /brokers/ids/1, /controller"
    );
}

#[test]
fn a_session_survives_its_connection_closing_but_not_its_timeout() {
    let mut zk = Zk::new();
    let s = zk.connect(1, 4_000);
    zk.call(1, s, ephemeral("/controller", "{}")).unwrap();
    zk.advance(1_000);
    zk.server.on_connection_closed(zk.now, node(1), &mut zk.out);
    zk.drain();
    zk.advance(2_000);
    assert_eq!(
        zk.call(1, s, ZkOp::Ping),
        Ok(ZkReply::Pong),
        "reconnected in time"
    );
    zk.server.on_connection_closed(zk.now, node(1), &mut zk.out);
    zk.drain();
    zk.advance(4_000);
    assert!(
        zk.data("/controller").is_some(),
        "silent for exactly the timeout"
    );
    zk.advance(ZkServer::TICK_MS);
    assert_eq!(
        zk.data("/controller"),
        None,
        "expired at the first tick past the timeout"
    );
}

#[test]
fn pings_keep_a_session_alive_and_expiry_waits_for_a_tick() {
    let mut zk = Zk::new();
    let s = zk.connect(1, 1_000);
    for _ in 0..20 {
        zk.advance(333);
        assert_eq!(zk.call(1, s, ZkOp::Ping), Ok(ZkReply::Pong));
    }
    assert_eq!(zk.server.session_ids(), [s]);
    zk.advance(1_000);
    assert_eq!(
        zk.server.session_ids(),
        [s],
        "silence of exactly the timeout is allowed"
    );
    zk.advance(ZkServer::TICK_MS);
    assert!(zk.server.session_ids().is_empty());
    let tiny = zk.connect(1, 1);
    assert_eq!(
        zk.server.session_timeout_ms(tiny),
        Some(ZkServer::MIN_SESSION_TIMEOUT_MS)
    );
}

#[test]
fn watches_are_one_shot_and_go_to_the_sessions_node() {
    let mut zk = Zk::new();
    let (writer, reader) = (zk.connect(1, 6_000), zk.connect(3, 6_000));
    zk.call(1, writer, create("/config", "a")).unwrap();
    zk.call(3, reader, get("/config", true)).unwrap();
    zk.call(3, reader, get("/config", true)).unwrap();
    zk.call(1, writer, set("/config", "b", None)).unwrap();
    zk.call(1, writer, set("/config", "c", None)).unwrap();
    assert_eq!(zk.events(3), [event("/config", WatchKind::NodeDataChanged)]);
    assert!(zk.events(1).is_empty(), "the writer set no watch");
    zk.call(3, reader, exists("/absent", true)).unwrap();
    zk.call(3, reader, children("/config", true)).unwrap();
    zk.call(1, writer, create("/absent", "")).unwrap();
    zk.call(1, writer, create("/config/x", "")).unwrap();
    assert_eq!(
        zk.events(3),
        [
            event("/absent", WatchKind::NodeCreated),
            event("/config", WatchKind::NodeChildrenChanged)
        ]
    );
    zk.call(3, reader, get("/absent", true)).unwrap();
    zk.call(3, reader, children("/absent", true)).unwrap();
    zk.call(1, writer, delete("/absent", None)).unwrap();
    assert_eq!(
        zk.events(3),
        [event("/absent", WatchKind::NodeDeleted)],
        "one event for both"
    );
    assert_eq!(zk.server.watch_count(), 0);
}

#[test]
fn a_closed_session_loses_its_ephemerals_and_watches_at_once() {
    let mut zk = Zk::new();
    let (a, b) = (zk.connect(1, 6_000), zk.connect(2, 6_000));
    zk.call(1, a, ephemeral("/controller", "{}")).unwrap();
    zk.call(1, a, exists("/other", true)).unwrap();
    zk.call(2, b, get("/controller", true)).unwrap();
    assert_eq!(zk.call(1, a, ZkOp::CloseSession), Ok(ZkReply::Closed));
    assert_eq!(zk.data("/controller"), None);
    assert_eq!(zk.events(2), [event("/controller", WatchKind::NodeDeleted)]);
    assert_eq!(zk.server.watch_count(), 0);
    assert_eq!(zk.call(1, a, get("/", false)), Err(ZkError::SessionExpired));
    assert_eq!(zk.call(1, 99, ZkOp::Ping), Err(ZkError::SessionExpired));
    assert_eq!(zk.connect(1, 6_000), 3, "session ids count on");
}

#[test]
fn responses_to_writes_wait_for_the_sync_and_writes_share_syncs() {
    let mut zk = Zk::new();
    let s = zk.connect(1, 6_000);
    let first = zk.send(1, Some(s), create("/a", "1"));
    let second = zk.send(1, Some(s), create("/b", "2"));
    let read = zk.send(1, Some(s), get("/a", false));
    assert_eq!(zk.syncs.len(), 1, "one sync in flight");
    assert_eq!(zk.response(1, first), None, "not durable yet");
    assert_eq!(
        zk.response(1, read),
        None,
        "a read waits behind earlier writes"
    );
    assert_eq!(zk.server.held_count(), 3);
    let (ticket, token) = zk.syncs.remove(0);
    zk.disk.complete_sync(&ticket);
    zk.server.on_sync_done(zk.now, token, &mut zk.out);
    zk.drain();
    assert_eq!(zk.response(1, first), Some(created("/a")));
    assert_eq!(
        zk.response(1, second),
        None,
        "written after the first sync began"
    );
    assert_eq!(zk.syncs.len(), 1, "the second sync covers the rest");
    zk.sync();
    assert_eq!(zk.response(1, second), Some(created("/b")));
    assert!(matches!(
        zk.response(1, read),
        Some(Ok(ZkReply::Data { .. }))
    ));
    let ping = zk.send(1, Some(s), ZkOp::Ping);
    assert_eq!(
        zk.response(1, ping),
        Some(Ok(ZkReply::Pong)),
        "nothing unsynced: at once"
    );
}

#[test]
fn restart_from_the_txn_log_keeps_the_tree_and_sessions() {
    let mut zk = Zk::new();
    let (a, b) = (zk.connect(1, 6_000), zk.connect(2, 6_000));
    zk.call(1, a, create("/brokers", "")).unwrap();
    zk.call(1, a, ephemeral("/controller", r#"{"brokerid":1}"#))
        .unwrap();
    zk.call(2, b, set("/brokers", "v", None)).unwrap();
    zk.call(2, b, get("/controller", true)).unwrap();
    // A write that reached the page cache but whose sync has not finished survives a kill.
    let unsynced = zk.send(1, Some(a), create("/kept", ""));
    zk.advance(5_000);
    let zxid = zk.server.last_zxid();
    let mut zk = zk.kill_and_restart();
    assert_eq!(
        zk.response(1, unsynced),
        None,
        "its client was never answered"
    );
    assert_eq!(zk.server.last_zxid(), zxid);
    assert_eq!(zk.server.session_ids(), [a, b]);
    assert_eq!(zk.data("/brokers"), Some(("v".into(), 1)));
    assert!(zk.data("/kept").is_some());
    let owner = zk
        .server
        .tree()
        .get("/controller")
        .unwrap()
        .stat
        .ephemeral_owner;
    assert_eq!(owner, Some(a));
    assert_eq!(zk.server.watch_count(), 0, "watches are volatile");
    assert_eq!(
        zk.disk.durable_len(LOG_FILE),
        zk.disk.written_len(LOG_FILE),
        "boot syncs"
    );
    // Timeouts restart from the restart: 5 s of silence before it does not count.
    zk.advance(5_000);
    assert_eq!(zk.server.session_ids(), [a, b]);
    assert_eq!(zk.call(2, b, ZkOp::Ping), Ok(ZkReply::Pong));
    zk.advance(1_200);
    assert_eq!(zk.server.session_ids(), [b]);
    assert_eq!(zk.data("/controller"), None);
    assert_eq!(zk.connect(1, 6_000), 3, "the session counter is durable");
}

#[test]
fn a_torn_last_line_is_ignored_and_cut_on_restart() {
    let mut zk = Zk::new();
    let s = zk.connect(1, 6_000);
    zk.call(1, s, create("/a", "x")).unwrap();
    let good_len = zk.disk.written_len(LOG_FILE);
    zk.disk.append(LOG_FILE, br#"{"zxid":3,"op":"create","pa"#);
    let mut zk = zk.kill_and_restart();
    assert_eq!(
        zk.disk.written_len(LOG_FILE),
        good_len,
        "the fragment is cut"
    );
    assert!(
        zk.notes
            .iter()
            .any(|n| n == "ignored a torn last txn (27 bytes)"),
        "{:?}",
        zk.notes
    );
    zk.call(1, s, create("/b", "y")).unwrap();
    let zk = zk.kill_and_restart();
    assert_eq!(zk.data("/a"), Some(("x".into(), 0)));
    assert_eq!(zk.data("/b"), Some(("y".into(), 0)));
}

/// Boots a service with one session and two acknowledged writes, then sends three writes whose
/// sync never completes before the power goes; returns their xids and senders.
fn acked_then_unsynced() -> (Zk, u64, [(usize, u64); 3]) {
    let mut zk = Zk::new();
    let s = zk.connect(1, 6_000);
    zk.call(1, s, create("/acked", "1")).unwrap();
    zk.call(1, s, set("/acked", "2", Some(0))).unwrap();
    let unsynced = [
        (1, zk.send(1, Some(s), create("/lost", ""))),
        (1, zk.send(1, Some(s), set("/acked", "3", Some(1)))),
        (
            2,
            zk.send(
                2,
                None,
                ZkOp::Connect {
                    session_timeout_ms: 6_000,
                },
            ),
        ),
    ];
    (zk, s, unsynced)
}

#[test]
fn a_power_off_before_the_sync_loses_exactly_the_unanswered_writes() {
    let (zk, s, unsynced) = acked_then_unsynced();
    let mut zk = zk.power_off_and_restart(false, 1);
    for (to, xid) in unsynced {
        assert_eq!(zk.response(to, xid), None, "never answered");
    }
    assert_eq!(zk.data("/acked"), Some(("2".into(), 1)));
    assert_eq!(zk.data("/lost"), None);
    assert_eq!(zk.server.session_ids(), [s]);
    assert_eq!(zk.connect(2, 6_000), 2, "the lost session id is reused");
}

#[test]
fn a_torn_power_off_keeps_the_answered_writes_and_a_prefix_of_the_rest() {
    let mut kept_counts = Vec::new();
    for seed in 0..16 {
        let (zk, s, _) = acked_then_unsynced();
        let zk = zk.power_off_and_restart(true, seed);
        let lost_kept = zk.data("/lost").is_some();
        let set_kept = zk.data("/acked") == Some(("3".into(), 2));
        let session_kept = zk.server.session_ids().len() == 2;
        if !set_kept {
            assert_eq!(zk.data("/acked"), Some(("2".into(), 1)), "seed {seed}");
        }
        assert!(
            lost_kept >= set_kept && set_kept >= session_kept,
            "seed {seed}: a prefix"
        );
        assert_eq!(zk.server.session_ids()[0], s);
        kept_counts
            .push(usize::from(lost_kept) + usize::from(set_kept) + usize::from(session_kept));
    }
    let (lost_all, kept_some) = (kept_counts.contains(&0), kept_counts.iter().any(|&k| k > 0));
    assert!(
        lost_all && kept_some,
        "both outcomes occur: {kept_counts:?}"
    );
}

#[test]
fn the_short_log_tells_of_boots_sessions_and_znodes() {
    let mut zk = Zk::new();
    let s = zk.connect(4, 6_000);
    zk.call(4, s, create("/brokers", "")).unwrap();
    zk.call(4, s, ephemeral("/controller", "{}")).unwrap();
    zk.call(4, s, set("/brokers", "x", None)).unwrap();
    zk.call(4, s, get("/brokers", false)).unwrap();
    zk.call(4, s, delete("/brokers", None)).unwrap();
    zk.call(4, s, ZkOp::CloseSession).unwrap();
    let mut notes = std::mem::take(&mut zk.notes);
    notes.extend(zk.kill_and_restart().notes);
    assert_eq!(
        notes,
        [
            "booted from zk/txnlog: 0 txns (zxid 0x0), 0 sessions, 1 znodes",
            "session 0x1 created for n4 (timeout 6000 ms)",
            "created /brokers",
            "created /controller (ephemeral of 0x1)",
            "deleted /brokers",
            "session 0x1 closed (owner n4), deleted /controller",
            "booted from zk/txnlog: 6 txns (zxid 0x6), 0 sessions, 1 znodes",
        ]
    );
}

/// Runs one request of `client` through the server and back.
fn round_trip<T>(
    zk: &mut Zk,
    from: usize,
    client: &mut ZkClient<T>,
    req: ZkRequest,
) -> Option<(T, Reply)> {
    let xid = req.xid;
    zk.server.on_request(zk.now, node(from), req, &mut zk.out);
    zk.drain();
    zk.sync();
    let result = zk.response(from, xid).expect("answered");
    client.on_response(ZkResponse { xid, result })
}

#[test]
fn zk_client_pairs_responses_with_tags_and_reports_session_expiry() {
    let mut zk = Zk::new();
    let mut client: ZkClient<&str> = ZkClient::new(node(0), 1_500);
    assert_eq!(
        client.request(ZkOp::CloseSession, "early"),
        None,
        "not connected"
    );
    let req = client.connect();
    assert_eq!(round_trip(&mut zk, 1, &mut client, req), None);
    assert_eq!(client.session(), Some(1));
    let req = client
        .request(ephemeral("/brokers", "{}"), "register")
        .unwrap();
    assert_eq!(
        round_trip(&mut zk, 1, &mut client, req),
        Some(("register", created("/brokers")))
    );
    // Pinging when due keeps the session; silence past the timeout loses it.
    for _ in 0..10 {
        zk.advance(100);
        if client.ping_due(zk.now) {
            let ping = client.ping(zk.now);
            assert_eq!(round_trip(&mut zk, 1, &mut client, ping), None);
        }
    }
    assert_eq!(zk.server.session_ids(), [1]);
    zk.advance(1_700);
    let req = client.request(get("/brokers", false), "read").unwrap();
    let answer = round_trip(&mut zk, 1, &mut client, req);
    assert_eq!(answer, Some(("read", Err(ZkError::SessionExpired))));
    assert!(client.session_expired() && !client.is_connected());
    let req = client.connect();
    round_trip(&mut zk, 1, &mut client, req);
    assert_eq!(
        (client.session(), client.session_expired()),
        (Some(2), false)
    );
}

#[test]
fn zk_client_fails_requests_in_flight_on_connection_loss_and_keeps_its_session() {
    let mut zk = Zk::new();
    let mut client: ZkClient<u32> = ZkClient::new(node(0), 6_000);
    let req = client.connect();
    round_trip(&mut zk, 1, &mut client, req);
    let a = client.request(create("/a", ""), 10).unwrap();
    let b = client.request(exists("/a", false), 11).unwrap();
    for req in [a.clone(), b] {
        zk.server.on_request(zk.now, node(1), req, &mut zk.out);
        zk.drain();
    }
    zk.server.on_connection_closed(zk.now, node(1), &mut zk.out);
    zk.drain();
    assert_eq!(
        client.on_connection_closed(),
        [10, 11],
        "outcome unknown: CONNECTIONLOSS"
    );
    zk.sync();
    assert_eq!(
        zk.response(1, a.xid),
        None,
        "the server dropped the held answers"
    );
    assert!(zk.data("/a").is_some(), "yet the create was applied");
    let req = client.request(exists("/a", false), 12).unwrap();
    assert_eq!(
        req.session,
        Some(1),
        "the same session, over a new connection"
    );
    let (tag, reply) = round_trip(&mut zk, 1, &mut client, req).unwrap();
    assert_eq!(
        (tag, matches!(reply, Ok(ZkReply::Exists(Some(_))))),
        (12, true)
    );
}

/// A step of the model-based property test, from session slot `s` on path `PATHS[p]`.
#[derive(Clone, Debug)]
enum Step {
    Create {
        s: usize,
        p: usize,
        eph: bool,
        d: u8,
    },
    Delete {
        s: usize,
        p: usize,
        v: Option<i32>,
    },
    Set {
        s: usize,
        p: usize,
        v: Option<i32>,
        d: u8,
    },
    Get {
        s: usize,
        p: usize,
    },
    Children {
        s: usize,
        p: usize,
    },
    Close {
        s: usize,
    },
    Restart,
}

const PATHS: [&str; 6] = ["/a", "/b", "/a/x", "/a/y", "/b/z", "/a/x/q"];

fn step() -> impl Strategy<Value = Step> {
    let (s, p, v) = (0..3usize, 0..PATHS.len(), proptest::option::of(0..3i32));
    prop_oneof![
        4 => (s.clone(), p.clone(), any::<bool>(), any::<u8>())
            .prop_map(|(s, p, eph, d)| Step::Create { s, p, eph, d }),
        2 => (s.clone(), p.clone(), v.clone()).prop_map(|(s, p, v)| Step::Delete { s, p, v }),
        3 => (s.clone(), p.clone(), v, any::<u8>())
            .prop_map(|(s, p, v, d)| Step::Set { s, p, v, d }),
        2 => (s.clone(), p.clone()).prop_map(|(s, p)| Step::Get { s, p }),
        1 => (s.clone(), p).prop_map(|(s, p)| Step::Children { s, p }),
        1 => s.prop_map(|s| Step::Close { s }),
        1 => Just(Step::Restart),
    ]
}

/// The model: path → (data, version, owning slot's session).
type Model = BTreeMap<String, (String, i32, Option<u64>)>;

fn parent(path: &str) -> &str {
    &path[..path.rfind('/').unwrap()]
}

fn model_create(m: &mut Model, path: &str, data: String, owner: Option<u64>) -> Reply {
    let parent = parent(path);
    match m.get(parent) {
        _ if m.contains_key(path) => Err(ZkError::NodeExists),
        None if !parent.is_empty() => Err(ZkError::NoNode),
        Some((_, _, Some(_))) => Err(ZkError::NoChildrenForEphemerals),
        _ => {
            m.insert(path.into(), (data, 0, owner));
            created(path)
        }
    }
}

fn model_delete(m: &mut Model, path: &str, v: Option<i32>) -> Reply {
    let (_, version, _) = m.get(path).ok_or(ZkError::NoNode)?;
    if v.is_some_and(|v| v != *version) {
        return Err(ZkError::BadVersion);
    }
    let prefix = format!("{path}/");
    if m.keys().any(|k| k.starts_with(&prefix)) {
        return Err(ZkError::NotEmpty);
    }
    m.remove(path);
    Ok(ZkReply::Deleted)
}

fn model_set(m: &mut Model, path: &str, v: Option<i32>, data: String) -> Result<i32, ZkError> {
    let (old, version, _) = m.get_mut(path).ok_or(ZkError::NoNode)?;
    if v.is_some_and(|v| v != *version) {
        return Err(ZkError::BadVersion);
    }
    (*old, *version) = (data, *version + 1);
    Ok(*version)
}

/// Runs one step against both; returns the new harness (a restart replaces it).
fn run_step(mut zk: Zk, m: &mut Model, sessions: &mut [u64; 3], step: Step) -> Zk {
    let from = |s: usize| s + 1;
    match step {
        Step::Create { s, p, eph, d } => {
            let (path, data) = (PATHS[p], d.to_string());
            let op = if eph {
                ephemeral(path, &data)
            } else {
                create(path, &data)
            };
            let expected = model_create(m, path, data, eph.then_some(sessions[s]));
            assert_eq!(zk.call(from(s), sessions[s], op), expected, "create {path}");
        }
        Step::Delete { s, p, v } => {
            let expected = model_delete(m, PATHS[p], v);
            assert_eq!(zk.call(from(s), sessions[s], delete(PATHS[p], v)), expected);
        }
        Step::Set { s, p, v, d } => {
            let expected = model_set(m, PATHS[p], v, d.to_string());
            let got = zk.call(from(s), sessions[s], set(PATHS[p], &d.to_string(), v));
            assert_eq!(got.map(version_of_ok), expected, "set {}", PATHS[p]);
        }
        Step::Get { s, p } => {
            let got = zk.call(from(s), sessions[s], get(PATHS[p], false));
            let expected = m
                .get(PATHS[p])
                .map(|(d, v, _)| (d.clone(), *v))
                .ok_or(ZkError::NoNode);
            let got = got.map(|r| match r {
                ZkReply::Data { data, stat } => (data, stat.version),
                other => panic!("{other:?}"),
            });
            assert_eq!(got, expected);
        }
        Step::Children { s, p } => {
            let got = zk.call(from(s), sessions[s], children(PATHS[p], false));
            let prefix = format!("{}/", PATHS[p]);
            let names = m
                .keys()
                .filter_map(|k| k.strip_prefix(&prefix))
                .filter(|k| !k.contains('/'));
            let names = names.map(str::to_owned).collect();
            let expected = if m.contains_key(PATHS[p]) {
                Ok(ZkReply::Children(names))
            } else {
                Err(ZkError::NoNode)
            };
            assert_eq!(got, expected);
        }
        Step::Close { s } => {
            assert_eq!(
                zk.call(from(s), sessions[s], ZkOp::CloseSession),
                Ok(ZkReply::Closed)
            );
            m.retain(|_, (_, _, owner)| *owner != Some(sessions[s]));
            sessions[s] = zk.connect(from(s), 60_000);
        }
        Step::Restart => zk = zk.kill_and_restart(),
    }
    zk
}

fn version_of_ok(reply: ZkReply) -> i32 {
    version_of(Ok(reply))
}

fn assert_agrees(zk: &Zk, m: &Model) {
    let tree: Model = zk
        .server
        .tree()
        .iter()
        .filter(|(path, _)| *path != "/")
        .map(|(path, n)| {
            (
                path.to_owned(),
                (n.data.clone(), n.stat.version, n.stat.ephemeral_owner),
            )
        })
        .collect();
    assert_eq!(&tree, m);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_ops_from_three_sessions_agree_with_a_btreemap_model(
        steps in proptest::collection::vec(step(), 1..60)
    ) {
        let mut zk = Zk::new();
        let mut sessions = [1, 2, 3].map(|i| zk.connect(i, 60_000));
        let mut model = Model::new();
        for step in steps {
            zk = run_step(zk, &mut model, &mut sessions, step);
            assert_agrees(&zk, &model);
        }
        let zk = zk.kill_and_restart();
        assert_agrees(&zk, &model);
    }
}

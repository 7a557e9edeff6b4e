//! One-shot watches, as ZooKeeper's `WatchManager` keeps them: a data watch (left by `GetData`
//! or `Exists`) and a child watch (left by `GetChildren`) per session and path. A change fires
//! and removes every matching watch; a session that holds both kinds on a deleted node hears
//! one `NodeDeleted`, not two.
//!
//! Fault model: watches are volatile. A restart of the service loses them all, and a session's
//! watches go with it when it closes or expires. Events in flight are lost with a connection, so
//! a client re-reads with `watch = true` after reconnecting (what ZooKeeper's client does with
//! `SetWatches`).
//!
//! Left out: persistent and recursive watches (ZooKeeper 3.6), `removeWatches`.

use std::collections::{BTreeMap, BTreeSet};

use super::database::Change;
use super::protocol::{WatchEvent, WatchKind};
use super::tree::split_path;

/// Watches by path; `BTreeMap`/`BTreeSet` so firing order is by path, then session id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchTable {
    /// Data watches: fire `NodeCreated`, `NodeDataChanged` or `NodeDeleted` for their path.
    data: BTreeMap<String, BTreeSet<u64>>,
    /// Child watches: fire `NodeChildrenChanged` or `NodeDeleted` for their path.
    child: BTreeMap<String, BTreeSet<u64>>,
}

/// Which table a watch lives in (ZooKeeper's `WatcherType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchType {
    /// Left by `GetData` and `Exists`.
    Data,
    /// Left by `GetChildren`.
    Children,
}

impl WatchTable {
    /// Leaves a one-shot watch of this type on `path` for `session`.
    pub fn add(&mut self, kind: WatchType, path: &str, session: u64) {
        self.table(kind)
            .entry(path.to_owned())
            .or_default()
            .insert(session);
    }

    /// Fires and removes the watches a change triggers: `(session, event)` pairs in order.
    pub fn trigger(&mut self, change: &Change) -> Vec<(u64, WatchEvent)> {
        let mut fired = Vec::new();
        match change {
            Change::Created(path) => {
                self.fire(WatchType::Data, path, WatchKind::NodeCreated, &mut fired);
                self.fire_parent(path, &mut fired);
            }
            Change::Deleted(path) => {
                self.fire(WatchType::Data, path, WatchKind::NodeDeleted, &mut fired);
                self.fire(
                    WatchType::Children,
                    path,
                    WatchKind::NodeDeleted,
                    &mut fired,
                );
                self.fire_parent(path, &mut fired);
            }
            Change::DataChanged(path) => {
                self.fire(
                    WatchType::Data,
                    path,
                    WatchKind::NodeDataChanged,
                    &mut fired,
                );
            }
        }
        fired
    }

    /// Forgets every watch of a session that ended.
    pub fn remove_session(&mut self, session: u64) {
        for table in [&mut self.data, &mut self.child] {
            table.retain(|_, sessions| {
                sessions.remove(&session);
                !sessions.is_empty()
            });
        }
    }

    /// How many watches are set, both kinds.
    pub fn len(&self) -> usize {
        self.data
            .values()
            .chain(self.child.values())
            .map(BTreeSet::len)
            .sum()
    }

    /// Every session holding a watch, for invariant checks.
    pub fn sessions(&self) -> BTreeSet<u64> {
        let all = self.data.values().chain(self.child.values());
        all.flatten().copied().collect()
    }

    fn table(&mut self, kind: WatchType) -> &mut BTreeMap<String, BTreeSet<u64>> {
        match kind {
            WatchType::Data => &mut self.data,
            WatchType::Children => &mut self.child,
        }
    }

    fn fire(
        &mut self,
        kind: WatchType,
        path: &str,
        event: WatchKind,
        fired: &mut Vec<(u64, WatchEvent)>,
    ) {
        let Some(sessions) = self.table(kind).remove(path) else {
            return;
        };
        for session in sessions {
            let event = WatchEvent {
                path: path.to_owned(),
                kind: event,
            };
            // ZooKeeper suppresses the second NodeDeleted to a watcher holding both kinds.
            if !fired.contains(&(session, event.clone())) {
                fired.push((session, event));
            }
        }
    }

    fn fire_parent(&mut self, path: &str, fired: &mut Vec<(u64, WatchEvent)>) {
        if let Some((parent, _)) = split_path(path) {
            let kind = WatchKind::NodeChildrenChanged;
            self.fire(WatchType::Children, parent, kind, fired);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(path: &str, kind: WatchKind) -> WatchEvent {
        WatchEvent {
            path: path.into(),
            kind,
        }
    }

    #[test]
    fn a_delete_fires_data_child_and_parent_watches_once_each() {
        let mut watches = WatchTable::default();
        watches.add(WatchType::Data, "/a/b", 1);
        watches.add(WatchType::Children, "/a/b", 1);
        watches.add(WatchType::Children, "/a/b", 2);
        watches.add(WatchType::Children, "/a", 3);
        assert_eq!(watches.len(), 4);
        let fired = watches.trigger(&Change::Deleted("/a/b".into()));
        assert_eq!(
            fired,
            [
                (1, event("/a/b", WatchKind::NodeDeleted)),
                (2, event("/a/b", WatchKind::NodeDeleted)),
                (3, event("/a", WatchKind::NodeChildrenChanged)),
            ]
        );
        assert_eq!(watches.len(), 0, "watches are one-shot");
    }

    #[test]
    fn create_and_set_fire_only_their_watches() {
        let mut watches = WatchTable::default();
        watches.add(WatchType::Data, "/c", 1);
        watches.add(WatchType::Children, "/c", 2);
        let fired = watches.trigger(&Change::Created("/c".into()));
        assert_eq!(fired, [(1, event("/c", WatchKind::NodeCreated))]);
        watches.add(WatchType::Data, "/c", 1);
        let fired = watches.trigger(&Change::DataChanged("/c".into()));
        assert_eq!(fired, [(1, event("/c", WatchKind::NodeDataChanged))]);
        assert_eq!(watches.sessions(), BTreeSet::from([2]));
        watches.remove_session(2);
        assert_eq!(watches.len(), 0);
    }
}

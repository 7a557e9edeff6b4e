//! The data tree: znodes by absolute path, each with its JSON data, its [`Stat`] and the names
//! of its children. It is ZooKeeper's `DataTree` without sessions, watches or ACLs: the
//! [`super::database`] layer applies transactions to it and the server fires watches from the
//! changes it reports.
//!
//! Fault model: none; the tree is rebuilt from the transaction log on every boot. Every mutation
//! validates first and changes nothing on error, so a failed request leaves no trace.
//!
//! Left out: sequential nodes, `cversion`/`pzxid`, data size limits and quotas.

use std::collections::{BTreeMap, BTreeSet};

use super::protocol::{Stat, ZkError};

/// The root path, which always exists and cannot be deleted.
pub const ROOT: &str = "/";

/// One znode: its data, stat and children's names (a `BTreeSet`, so listings come sorted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Znode {
    /// The JSON text, not interpreted.
    pub data: String,
    /// Version, zxids and ephemeral owner.
    pub stat: Stat,
    /// The names (last path components) of the children.
    pub children: BTreeSet<String>,
}

/// The znodes by path; a `BTreeMap` so every walk is ordered and deterministic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataTree {
    nodes: BTreeMap<String, Znode>,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

/// Splits a valid non-root path into its parent and its last component.
pub fn split_path(path: &str) -> Option<(&str, &str)> {
    if path == ROOT {
        return None;
    }
    let cut = path.rfind('/')?;
    let parent = if cut == 0 { ROOT } else { &path[..cut] };
    Some((parent, &path[cut + 1..]))
}

/// Checks that a path is absolute, has no empty component and no trailing slash.
pub fn validate_path(path: &str) -> Result<(), ZkError> {
    if path == ROOT {
        return Ok(());
    }
    let ok = path.starts_with('/')
        && path[1..]
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if ok {
        Ok(())
    } else {
        Err(ZkError::BadArguments)
    }
}

impl DataTree {
    /// A tree holding only the root.
    pub fn new() -> DataTree {
        let root = Znode {
            data: String::new(),
            stat: Stat {
                version: 0,
                czxid: 0,
                mzxid: 0,
                ephemeral_owner: None,
            },
            children: BTreeSet::new(),
        };
        DataTree {
            nodes: BTreeMap::from([(ROOT.to_owned(), root)]),
        }
    }

    /// The znode at `path`, if any.
    pub fn get(&self, path: &str) -> Option<&Znode> {
        self.nodes.get(path)
    }

    /// The sorted names of a znode's children, or `None` if it does not exist.
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.nodes
            .get(path)
            .map(|n| n.children.iter().cloned().collect())
    }

    /// How many znodes there are, the root included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether only the root exists.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() == 1
    }

    /// Every znode in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Znode)> {
        self.nodes.iter().map(|(p, n)| (p.as_str(), n))
    }

    /// Checks that `path` exists at `version` (any version if `None`).
    pub fn check_version(&self, path: &str, version: Option<i32>) -> Result<(), ZkError> {
        validate_path(path)?;
        let node = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        match version {
            Some(v) if v != node.stat.version => Err(ZkError::BadVersion),
            _ => Ok(()),
        }
    }

    /// Whether `create` would succeed, without changing anything.
    pub fn check_create(&self, path: &str) -> Result<(), ZkError> {
        validate_path(path)?;
        let (parent, _) = split_path(path).ok_or(ZkError::NodeExists)?;
        if self.nodes.contains_key(path) {
            return Err(ZkError::NodeExists);
        }
        let parent = self.nodes.get(parent).ok_or(ZkError::NoNode)?;
        if parent.stat.ephemeral_owner.is_some() {
            return Err(ZkError::NoChildrenForEphemerals);
        }
        Ok(())
    }

    /// Creates a znode at version 0 under an existing, persistent parent.
    pub fn create(
        &mut self,
        path: &str,
        data: &str,
        ephemeral_owner: Option<u64>,
        zxid: u64,
    ) -> Result<(), ZkError> {
        self.check_create(path)?;
        let (parent, name) = split_path(path).expect("checked: not the root");
        let node = Znode {
            data: data.to_owned(),
            stat: Stat {
                version: 0,
                czxid: zxid,
                mzxid: zxid,
                ephemeral_owner,
            },
            children: BTreeSet::new(),
        };
        let parent = self.nodes.get_mut(parent).expect("checked: parent exists");
        let fresh = parent.children.insert(name.to_owned());
        assert!(fresh, "child {name} listed before it existed");
        self.nodes.insert(path.to_owned(), node);
        Ok(())
    }

    /// Whether `delete` would succeed, without changing anything.
    pub fn check_delete(&self, path: &str) -> Result<(), ZkError> {
        validate_path(path)?;
        if path == ROOT {
            return Err(ZkError::BadArguments);
        }
        let node = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        if !node.children.is_empty() {
            return Err(ZkError::NotEmpty);
        }
        Ok(())
    }

    /// Deletes a childless znode and returns it.
    pub fn delete(&mut self, path: &str) -> Result<Znode, ZkError> {
        self.check_delete(path)?;
        let (parent, name) = split_path(path).expect("checked: not the root");
        let parent = self.nodes.get_mut(parent).expect("a node's parent exists");
        let listed = parent.children.remove(name);
        assert!(listed, "deleted {path} was not listed by its parent");
        Ok(self.nodes.remove(path).expect("checked: exists"))
    }

    /// Replaces a znode's data, bumps its version and returns the new stat.
    pub fn set_data(&mut self, path: &str, data: &str, zxid: u64) -> Result<Stat, ZkError> {
        validate_path(path)?;
        let node = self.nodes.get_mut(path).ok_or(ZkError::NoNode)?;
        assert!(
            zxid > node.stat.mzxid,
            "zxid {zxid} does not advance {path}"
        );
        node.data = data.to_owned();
        node.stat.version = node.stat.version.checked_add(1).expect("version overflow");
        node.stat.mzxid = zxid;
        Ok(node.stat)
    }

    /// Checks the tree's shape: parents list exactly their children, ephemerals are leaves,
    /// versions are non-negative and `czxid <= mzxid`.
    pub fn check_invariants(&self) -> Result<(), String> {
        if !self.nodes.contains_key(ROOT) {
            return Err("the root is missing".into());
        }
        let mut listed = 0;
        for (path, node) in &self.nodes {
            if node.stat.version < 0 || node.stat.czxid > node.stat.mzxid {
                return Err(format!("{path}: bad stat {:?}", node.stat));
            }
            if node.stat.ephemeral_owner.is_some() && !node.children.is_empty() {
                return Err(format!("ephemeral {path} has children"));
            }
            listed += node.children.len();
            if let Some((parent, name)) = split_path(path) {
                let listed = self
                    .nodes
                    .get(parent)
                    .is_some_and(|p| p.children.contains(name));
                if !listed {
                    return Err(format!("{path} is not listed by its parent"));
                }
            }
        }
        // Every node but the root is listed by its parent, each under its own name: so if the
        // parents list as many children as there are such nodes, none lists a missing child.
        if listed != self.nodes.len() - 1 {
            let missing = self.nodes.iter().find_map(|(path, node)| {
                node.children
                    .iter()
                    .find(|child| !self.nodes.contains_key(&join(path, child)))
                    .map(|child| format!("{path} lists missing child {child}"))
            });
            return Err(missing.unwrap_or_else(|| "children miscounted".into()));
        }
        Ok(())
    }
}

/// The path of child `name` of `parent`.
pub fn join(parent: &str, name: &str) -> String {
    if parent == ROOT {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_and_validate_like_zookeeper() {
        assert_eq!(split_path("/brokers/ids/0"), Some(("/brokers/ids", "0")));
        assert_eq!(split_path("/controller"), Some(("/", "controller")));
        assert_eq!(split_path("/"), None);
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        for bad in ["", "a", "/a/", "//a", "/a//b", "/a/./b", "/.."] {
            assert_eq!(validate_path(bad), Err(ZkError::BadArguments), "{bad:?}");
        }
        assert_eq!(validate_path("/brokers/ids/0"), Ok(()));
    }

    #[test]
    fn create_needs_a_persistent_parent_and_a_free_path() {
        let mut tree = DataTree::new();
        assert_eq!(tree.create("/a/b", "", None, 1), Err(ZkError::NoNode));
        tree.create("/a", "x", None, 1).unwrap();
        assert_eq!(tree.create("/a", "y", None, 2), Err(ZkError::NodeExists));
        assert_eq!(tree.create("/", "", None, 2), Err(ZkError::NodeExists));
        tree.create("/e", "", Some(7), 2).unwrap();
        assert_eq!(
            tree.create("/e/c", "", None, 3),
            Err(ZkError::NoChildrenForEphemerals)
        );
        tree.create("/a/z", "", None, 3).unwrap();
        tree.create("/a/b", "", None, 4).unwrap();
        assert_eq!(tree.children("/a").unwrap(), ["b", "z"]);
        assert_eq!(tree.children("/").unwrap(), ["a", "e"]);
        assert_eq!(tree.len(), 5);
        tree.check_invariants().unwrap();
    }

    #[test]
    fn the_invariant_check_finds_a_missing_child_and_an_unlisted_node() {
        let mut tree = DataTree::new();
        tree.create("/a", "", None, 1).unwrap();
        tree.create("/a/b", "", None, 2).unwrap();
        tree.check_invariants().unwrap();
        let mut missing = tree.clone();
        missing.nodes.remove("/a/b");
        assert_eq!(
            missing.check_invariants(),
            Err("/a lists missing child b".into())
        );
        let mut unlisted = tree.clone();
        unlisted.nodes.get_mut("/a").unwrap().children.clear();
        assert_eq!(
            unlisted.check_invariants(),
            Err("/a/b is not listed by its parent".into())
        );
    }

    #[test]
    fn set_data_bumps_the_version_and_delete_needs_no_children() {
        let mut tree = DataTree::new();
        tree.create("/a", "x", None, 1).unwrap();
        tree.create("/a/b", "", None, 2).unwrap();
        let stat = tree.set_data("/a", "y", 3).unwrap();
        assert_eq!((stat.version, stat.czxid, stat.mzxid), (1, 1, 3));
        assert_eq!(tree.check_version("/a", Some(0)), Err(ZkError::BadVersion));
        assert_eq!(tree.check_version("/a", Some(1)), Ok(()));
        assert_eq!(tree.check_version("/nope", None), Err(ZkError::NoNode));
        assert_eq!(tree.delete("/a"), Err(ZkError::NotEmpty));
        assert_eq!(tree.delete("/"), Err(ZkError::BadArguments));
        tree.delete("/a/b").unwrap();
        assert_eq!(tree.delete("/a").unwrap().data, "y");
        assert!(tree.is_empty());
        tree.check_invariants().unwrap();
    }
}

//! The virtual disk of one node: named files, each with a *written* length (what the page cache
//! holds, what reads see) and a *durable* length (what has reached the platter through a sync).
//!
//! Fault model:
//! - `kill` (the process dies): the OS page cache survives, so every written byte survives. The
//!   disk itself is untouched; only the process state is lost.
//! - `power-off` (the machine loses power): every file is cut back to its durable length, or,
//!   with torn tails enabled, to a random point between its durable and written lengths, as when
//!   the kernel had flushed part of the dirty pages. Recovery must cope with the torn tail.
//! - `slow-disk`: syncs take longer by a fixed amount for a while.
//!
//! Deliberately left out: a capacity limit (no `ENOSPC`), bit rot, and lost or reordered writes
//! within the written length. Truncation and deletion are metadata operations made durable at
//! once (as a journaling file system commits them); a file created but never synced survives a
//! power-off empty. Atomic replacement (Kafka's checkpoint files: write a temporary file, fsync,
//! rename) is modelled as a write that becomes visible and durable together when its sync
//! completes.

use std::collections::BTreeMap;

use rand::RngExt;

use crate::sim::{SimDuration, SimRng, SimTime};

/// One file: the bytes in the page cache, of which a prefix is durable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct File {
    /// Written bytes, as reads see them.
    data: Vec<u8>,
    /// `data[..durable_len]` survives a power-off.
    durable_len: usize,
}

/// A sync in progress: the file and the written length it will make durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncTicket {
    /// The file being synced.
    pub file: String,
    /// The written length when the sync was issued; fsync covers nothing written later.
    pub len: usize,
    /// The disk's power epoch when the sync was issued; a power-off cancels the sync.
    pub power_epoch: u64,
}

/// How long syncs take on this disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskModel {
    /// Fastest sync.
    pub sync_latency_min: SimDuration,
    /// Slowest sync (uniform between the two).
    pub sync_latency_max: SimDuration,
}

impl Default for DiskModel {
    fn default() -> Self {
        DiskModel {
            sync_latency_min: SimDuration::from_millis(1),
            sync_latency_max: SimDuration::from_millis(10),
        }
    }
}

impl DiskModel {
    /// The model a scenario's `[disk]` section describes.
    pub fn from_scenario(disk: &crate::scenario::Disk) -> DiskModel {
        DiskModel {
            sync_latency_min: SimDuration::from_millis(disk.sync_latency_ms.min_ms),
            sync_latency_max: SimDuration::from_millis(disk.sync_latency_ms.max_ms),
        }
    }
}

/// A node's disk: files by name, kept in a `BTreeMap` so listing is ordered and deterministic.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    /// Every file's slot in `slots`, by name.
    names: BTreeMap<String, usize>,
    /// The files with their names, by slot; `None` marks a free slot listed in `free`.
    slots: Vec<Option<(String, File)>>,
    /// Free slots, reused last-in first-out.
    free: Vec<usize>,
    /// A file's slot by a 64-bit hash of its name (the first file to have that hash): a lookup
    /// compares one word per step here instead of long paths with a common prefix, then checks
    /// the name once; a name whose hash another file took is found through `names`.
    by_hash: BTreeMap<u64, usize>,
    model: DiskModel,
    /// Extra sync latency of a slow-disk fault, and when it ends.
    slow: Option<(SimDuration, SimTime)>,
    /// Bumped by every power-off; syncs issued before it never complete.
    power_epoch: u64,
}

impl Disk {
    /// An empty disk with this sync model.
    pub fn new(model: DiskModel) -> Disk {
        assert!(
            model.sync_latency_min <= model.sync_latency_max,
            "inverted sync latency"
        );
        Disk {
            model,
            ..Disk::default()
        }
    }

    /// The slot of the file called `name`, if it exists.
    fn slot_of(&self, name: &str) -> Option<usize> {
        match self.by_hash.get(&name_hash(name)) {
            Some(&slot) if self.slots[slot].as_ref().is_some_and(|(n, _)| n == name) => Some(slot),
            _ => self.names.get(name).copied(),
        }
    }

    /// The file called `name`, if it exists.
    fn file(&self, name: &str) -> Option<&File> {
        let slot = self.slot_of(name)?;
        self.slots[slot].as_ref().map(|(_, file)| file)
    }

    /// The file called `name`, to change, if it exists.
    fn file_mut(&mut self, name: &str) -> Option<&mut File> {
        let slot = self.slot_of(name)?;
        self.slots[slot].as_mut().map(|(_, file)| file)
    }

    /// The file called `name`, created empty if it does not exist.
    fn file_or_create(&mut self, name: &str) -> &mut File {
        let slot = match self.slot_of(name) {
            Some(slot) => slot,
            None => self.create(name, File::default()),
        };
        &mut self.slots[slot].as_mut().expect("a live slot").1
    }

    /// Adds a file that does not exist yet; returns its slot.
    fn create(&mut self, name: &str, file: File) -> usize {
        debug_assert!(!self.names.contains_key(name), "{name} exists");
        let entry = Some((name.to_owned(), file));
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = entry;
                slot
            }
            None => {
                self.slots.push(entry);
                self.slots.len() - 1
            }
        };
        self.names.insert(name.to_owned(), slot);
        self.by_hash.entry(name_hash(name)).or_insert(slot);
        slot
    }

    /// The written bytes of a file, as a read sees them.
    pub fn read(&self, name: &str) -> Option<&[u8]> {
        self.file(name).map(|f| f.data.as_slice())
    }

    /// Whether the file exists.
    pub fn exists(&self, name: &str) -> bool {
        self.slot_of(name).is_some()
    }

    /// The written length of a file (0 if absent).
    pub fn written_len(&self, name: &str) -> usize {
        self.file(name).map_or(0, |f| f.data.len())
    }

    /// The durable length of a file (0 if absent).
    pub fn durable_len(&self, name: &str) -> usize {
        self.file(name).map_or(0, |f| f.durable_len)
    }

    /// Names of the files starting with `prefix`, in order.
    pub fn list<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.names
            .range(prefix.to_owned()..)
            .map(|(name, _)| name.as_str())
            .take_while(move |name| name.starts_with(prefix))
    }

    /// Appends to a file's page cache, creating the file if needed.
    pub fn append(&mut self, name: &str, bytes: &[u8]) {
        let file = self.file_or_create(name);
        file.data.extend_from_slice(bytes);
        file.check();
    }

    /// Cuts a file to `len` bytes (no-op if it is shorter); durable at once.
    pub fn truncate(&mut self, name: &str, len: usize) {
        if let Some(file) = self.file_mut(name) {
            file.data.truncate(len);
            file.durable_len = file.durable_len.min(len);
            file.check();
        }
    }

    /// Removes a file; durable at once.
    pub fn delete(&mut self, name: &str) {
        let Some(slot) = self.names.remove(name) else {
            return;
        };
        self.slots[slot] = None;
        self.free.push(slot);
        let hash = name_hash(name);
        if self.by_hash.get(&hash) == Some(&slot) {
            self.by_hash.remove(&hash);
        }
    }

    /// Starts an fsync of what is written now; [`Disk::complete_sync`] applies it.
    pub fn begin_sync(&self, name: &str) -> SyncTicket {
        SyncTicket {
            file: name.to_owned(),
            len: self.written_len(name),
            power_epoch: self.power_epoch,
        }
    }

    /// Makes a ticket's bytes durable, unless a power-off came in between.
    pub fn complete_sync(&mut self, ticket: &SyncTicket) {
        if ticket.power_epoch != self.power_epoch {
            return;
        }
        if let Some(file) = self.file_mut(&ticket.file) {
            // The file may have been truncated below the ticket since the sync began.
            file.durable_len = file.durable_len.max(ticket.len.min(file.data.len()));
            file.check();
        }
    }

    /// Replaces a file's whole content durably, as a completed write-fsync-rename does.
    pub fn replace_durably(&mut self, name: &str, bytes: Vec<u8>) {
        let durable_len = bytes.len();
        let file = File {
            data: bytes,
            durable_len,
        };
        match self.file_mut(name) {
            Some(old) => *old = file,
            None => {
                self.create(name, file);
            }
        }
    }

    /// The disk's power epoch, bumped by every power-off.
    pub fn power_epoch(&self) -> u64 {
        self.power_epoch
    }

    /// How long a sync issued now takes, slow-disk faults included.
    pub fn sync_delay(&self, now: SimTime, rng: &mut SimRng) -> SimDuration {
        let (min, max) = (self.model.sync_latency_min, self.model.sync_latency_max);
        let base = SimDuration::from_micros(rng.random_range(min.as_micros()..=max.as_micros()));
        match self.slow {
            Some((extra, until)) if now < until => base + extra,
            _ => base,
        }
    }

    /// Makes syncs slower by `extra` until `until`.
    pub fn slow_down(&mut self, extra: SimDuration, until: SimTime) {
        self.slow = Some((extra, until));
    }

    /// Loses power: every file falls back to its durable length, or with `torn_tail` to a
    /// random point between its durable and written lengths.
    pub fn power_off(&mut self, torn_tail: bool, rng: &mut SimRng) {
        self.power_epoch += 1;
        self.slow = None;
        // In name order: a torn tail draws from the RNG per file.
        let order: Vec<usize> = self.names.values().copied().collect();
        for slot in order {
            let (_, file) = self.slots[slot]
                .as_mut()
                .expect("a named slot holds a file");
            let keep = if torn_tail && file.data.len() > file.durable_len {
                rng.random_range(file.durable_len..=file.data.len())
            } else {
                file.durable_len
            };
            file.data.truncate(keep);
            file.durable_len = keep;
        }
    }
}

/// A 64-bit hash of a file name, for [`Disk`]'s lookup by hash.
fn name_hash(name: &str) -> u64 {
    crate::trace::mix_bytes(crate::trace::TRACE_HASH_SEED, name.as_bytes())
}

impl File {
    fn check(&self) {
        assert!(
            self.durable_len <= self.data.len(),
            "durable length past written length"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{RootRng, Stream};

    fn rng() -> SimRng {
        RootRng::new(1).fork(Stream::Disk)
    }

    #[test]
    fn power_off_keeps_only_synced_bytes() {
        let mut disk = Disk::new(DiskModel::default());
        disk.append("a.log", b"hello");
        let ticket = disk.begin_sync("a.log");
        disk.append("a.log", b" world");
        disk.complete_sync(&ticket);
        assert_eq!(disk.durable_len("a.log"), 5);
        disk.power_off(false, &mut rng());
        assert_eq!(disk.read("a.log"), Some(&b"hello"[..]));
    }

    #[test]
    fn sync_cancelled_by_power_off_and_clamped_by_truncate() {
        let mut disk = Disk::new(DiskModel::default());
        disk.append("a", b"0123456789");
        let stale = disk.begin_sync("a");
        disk.power_off(false, &mut rng());
        disk.append("a", b"xy");
        disk.complete_sync(&stale);
        assert_eq!(disk.durable_len("a"), 0);
        let ticket = disk.begin_sync("a");
        disk.truncate("a", 1);
        disk.complete_sync(&ticket);
        assert_eq!((disk.written_len("a"), disk.durable_len("a")), (1, 1));
    }

    #[test]
    fn a_deleted_file_is_gone_and_its_slot_serves_the_next_one() {
        let mut disk = Disk::new(DiskModel::default());
        disk.append("t-0/a.log", b"aa");
        disk.append("t-0/b.log", b"bbb");
        disk.delete("t-0/a.log");
        assert!(!disk.exists("t-0/a.log"));
        assert_eq!(disk.read("t-0/a.log"), None);
        disk.append("t-0/c.log", b"c");
        disk.replace_durably("t-0/a.log", b"new".to_vec());
        assert_eq!(disk.read("t-0/a.log"), Some(&b"new"[..]));
        assert_eq!(disk.read("t-0/b.log"), Some(&b"bbb"[..]));
        assert_eq!(disk.read("t-0/c.log"), Some(&b"c"[..]));
        let names: Vec<&str> = disk.list("t-0/").collect();
        assert_eq!(names, ["t-0/a.log", "t-0/b.log", "t-0/c.log"]);
        assert_eq!(
            (disk.durable_len("t-0/a.log"), disk.durable_len("t-0/b.log")),
            (3, 0)
        );
    }

    #[test]
    fn lists_by_prefix_in_order() {
        let mut disk = Disk::new(DiskModel::default());
        for name in ["t-1/b", "t-0/b", "t-0/a", "u/a"] {
            disk.append(name, b"");
        }
        assert_eq!(disk.list("t-0/").collect::<Vec<_>>(), ["t-0/a", "t-0/b"]);
        disk.delete("t-0/a");
        assert!(!disk.exists("t-0/a"));
    }
}

//! The reductions shrinking tries, each a run of the candidate scenario with the seed.

use toml_edit::{DocumentMut, Item, Table, value};

use super::Work;
use super::document::{entries, is_number, set_number, with_faults, without_node};

/// The scenario being shrunk: the document without its `[[fault]]` entries, and those.
pub(super) struct State {
    pub(super) doc: DocumentMut,
    pub(super) faults: Vec<Table>,
}

impl State {
    /// Runs every reduction once; returns whether any succeeded.
    pub(super) fn round(&mut self, work: &mut Work, progress: &mut dyn FnMut(&str)) -> bool {
        let mut changed = self.drop_faults(work, progress);
        for section in ["producer", "consumer", "pipeline"] {
            changed |= self.drop_entries(work, section, progress);
        }
        changed |= self.reduce_brokers(work, progress);
        changed |= self.reduce_numbers(work, "topic", "partitions", progress);
        changed |= self.reduce_numbers(work, "producer", "records", progress);
        changed |= self.shorten(work, progress);
        changed
    }

    fn try_doc(&self, work: &mut Work, doc: &DocumentMut, faults: &[Table]) -> bool {
        work.reproduces(&with_faults(doc, faults))
    }

    /// Delta debugging over the faults: remove chunks while the anomaly stays.
    fn drop_faults(&mut self, work: &mut Work, progress: &mut dyn FnMut(&str)) -> bool {
        let before = self.faults.len();
        let mut faults = std::mem::take(&mut self.faults);
        let mut chunks = 2;
        while !faults.is_empty() {
            let size = faults.len().div_ceil(chunks);
            let mut reduced = false;
            for start in (0..faults.len()).step_by(size) {
                let mut candidate = faults[..start].to_vec();
                candidate.extend_from_slice(&faults[(start + size).min(faults.len())..]);
                if self.try_doc(work, &self.doc, &candidate) {
                    faults = candidate;
                    chunks = (chunks - 1).max(2);
                    reduced = true;
                    break;
                }
            }
            if !reduced {
                if chunks >= faults.len() {
                    break;
                }
                chunks = (chunks * 2).min(faults.len());
            }
        }
        self.faults = faults;
        let changed = self.faults.len() < before;
        if changed {
            progress(&format!("faults: {before} -> {}", self.faults.len()));
        }
        changed
    }

    /// Removes whole `[[section]]` entries (and the faults that name their nodes).
    fn drop_entries(
        &mut self,
        work: &mut Work,
        section: &str,
        progress: &mut dyn FnMut(&str),
    ) -> bool {
        let mut changed = false;
        let mut index = 0;
        while index < entries(&self.doc, section).len() {
            let name = entries(&self.doc, section)[index].clone();
            let mut doc = self.doc.clone();
            if let Some(aot) = doc.get_mut(section).and_then(Item::as_array_of_tables_mut) {
                aot.remove(index);
                if aot.is_empty() {
                    doc.remove(section);
                }
            }
            let faults = without_node(&self.faults, |node| {
                node == name
                    || node
                        .strip_prefix(&format!("{name}-"))
                        .is_some_and(is_number)
            });
            if self.try_doc(work, &doc, &faults) {
                progress(&format!("removed {section} {name}"));
                self.doc = doc;
                self.faults = faults;
                changed = true;
            } else {
                index += 1;
            }
        }
        changed
    }

    /// Removes the highest-numbered broker while the anomaly stays.
    fn reduce_brokers(&mut self, work: &mut Work, progress: &mut dyn FnMut(&str)) -> bool {
        let mut changed = false;
        loop {
            let brokers = self.doc["cluster"]["brokers"].as_integer().unwrap_or(1);
            if brokers <= 1 {
                return changed;
            }
            let mut doc = self.doc.clone();
            doc["cluster"]["brokers"] = value(brokers - 1);
            let gone = format!("broker-{}", brokers - 1);
            let faults = without_node(&self.faults, |node| node == gone);
            if !self.try_doc(work, &doc, &faults) {
                return changed;
            }
            progress(&format!("brokers: {brokers} -> {}", brokers - 1));
            self.doc = doc;
            self.faults = faults;
            changed = true;
        }
    }

    /// Lowers `key` of each `[[section]]` entry by bisection while the anomaly stays.
    fn reduce_numbers(
        &mut self,
        work: &mut Work,
        section: &str,
        key: &str,
        progress: &mut dyn FnMut(&str),
    ) -> bool {
        let mut changed = false;
        for index in 0..entries(&self.doc, section).len() {
            let Some(start) = self.doc[section][index].get(key).and_then(Item::as_integer) else {
                continue;
            };
            let high = self.bisect(work, 1, start, |doc, n| {
                set_number(doc, section, index, key, n)
            });
            if high < start {
                let name = &entries(&self.doc, section)[index];
                progress(&format!("{section} {name} {key}: {start} -> {high}"));
                changed = true;
            }
        }
        changed
    }

    /// The lowest number in `low..=high` that `edit` can set while the anomaly stays, found by
    /// bisection (`high` works already); the document keeps the last edit that worked.
    fn bisect(
        &mut self,
        work: &mut Work,
        mut low: i64,
        mut high: i64,
        edit: impl Fn(&mut DocumentMut, i64),
    ) -> i64 {
        while low < high {
            let mid = low + (high - low) / 2;
            let mut doc = self.doc.clone();
            edit(&mut doc, mid);
            if self.try_doc(work, &doc, &self.faults) {
                high = mid;
                self.doc = doc;
            } else {
                low = mid + 1;
            }
        }
        high
    }

    /// Shortens the safety phase by bisection, not before the last timed fault.
    fn shorten(&mut self, work: &mut Work, progress: &mut dyn FnMut(&str)) -> bool {
        let Some(start) = self.doc.get("duration_ms").and_then(Item::as_integer) else {
            return false;
        };
        let last_fault = self
            .faults
            .iter()
            .filter_map(|f| f.get("at_ms").and_then(Item::as_integer))
            .max()
            .unwrap_or(0);
        let high = self.bisect(work, last_fault + 1, start, |doc, n| {
            doc["duration_ms"] = value(n)
        });
        let changed = high < start;
        if changed {
            progress(&format!("duration_ms: {start} -> {high}"));
        }
        changed
    }
}
